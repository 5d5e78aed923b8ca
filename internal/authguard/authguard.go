// Package authguard slows down and reports failed authentication without locking out
// the innocent. Every door that checks a credential (the control API's secret, the
// Dashboard API's access keys, the Admin API's secret, web logins) uses one Guard.
//
// The scheme:
//   - A credential that is right is always accepted, whatever failed before from the
//     same address: the control secret, admin secret and access keys are long random
//     strings, so checking them is cheap and guessing them is hopeless at any rate,
//     and refusing them would let one bad client behind a shared NAT lock out everyone.
//   - Wrong credentials from one throttle key (the client address for secrets and
//     access keys; the account and address together for passwords) beyond Max in
//     Window are answered 429 until the oldest failure ages out.
//   - Passwords are short and guessable, so a throttled (account, address) pair is
//     refused before the password is checked: other accounts from that address and
//     the same account from elsewhere are unaffected.
//   - Failures are logged as one line per interval and door (how many, from how many
//     addresses, the busiest few), never one line per request, so a flood cannot
//     fill the disk.
package authguard

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxTracked bounds memory under a flood from many addresses: past it, the oldest
// state is dropped wholesale (an attacker gains at most a fresh budget).
const maxTracked = 100_000

// Guard throttles and reports one door's failed authentications.
type Guard struct {
	// Door names the entry point in log lines ("control API", "dashboard API"...).
	door   string
	max    int
	window time.Duration
	log    *slog.Logger
	every  time.Duration

	mu       sync.Mutex
	failures map[string][]time.Time
	// The current reporting interval.
	counts  map[string]int
	total   int
	blocked int
	timer   *time.Timer
}

// Options configure a Guard.
type Options struct {
	// Door names the entry point in log lines.
	Door string
	// Max failures per throttle key within Window before 429s; defaults 10 and 1m.
	Max    int
	Window time.Duration
	// Log receives the aggregated failure lines; nil discards them.
	Log *slog.Logger
	// ReportEvery is the aggregation interval; default 10 s.
	ReportEvery time.Duration
}

// New returns a Guard.
func New(o Options) *Guard {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Guard{
		door: o.Door, max: cmp.Or(o.Max, 10), window: cmp.Or(o.Window, time.Minute), log: o.Log,
		every: cmp.Or(o.ReportEvery, 10*time.Second), failures: map[string][]time.Time{}, counts: map[string]int{},
	}
}

// prune drops failures of key that left the window; callers hold mu.
func (g *Guard) prune(key string, now time.Time) []time.Time {
	ts := g.failures[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= g.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(g.failures, key)
	} else {
		g.failures[key] = ts
	}
	return ts
}

// Blocked reports how long key must wait before another attempt is considered (0:
// it may try now).
func (g *Guard) Blocked(key string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	ts := g.prune(key, now)
	if len(ts) < g.max {
		return 0
	}
	return ts[0].Add(g.window).Sub(now)
}

// Fail records a failed attempt under the throttle key and, for the report, from
// addr. It returns how long key must wait when it was already blocked (the first Max
// failures return 0); an attempt made while blocked is reported but does not
// lengthen the wait.
func (g *Guard) Fail(key, addr string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	ts := g.prune(key, now)
	g.note(addr)
	if len(ts) >= g.max {
		g.blocked++
		return ts[0].Add(g.window).Sub(now)
	}
	if len(g.failures) >= maxTracked {
		clear(g.failures)
	}
	g.failures[key] = append(ts, now)
	return 0
}

// note counts a failure for the current report; callers hold mu.
func (g *Guard) note(addr string) {
	g.total++
	if _, ok := g.counts[addr]; ok || len(g.counts) < maxTracked {
		g.counts[addr]++
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(g.every, g.report)
	}
}

// report logs the interval's failures as one line and starts a new interval.
func (g *Guard) report() {
	g.mu.Lock()
	total, blocked, counts := g.total, g.blocked, g.counts
	g.total, g.blocked, g.counts, g.timer = 0, 0, map[string]int{}, nil
	g.mu.Unlock()
	if total == 0 {
		return
	}
	g.log.Warn("failed authentication", "door", g.door, "failures", total, "throttled", blocked,
		"addresses", len(counts), "top", top(counts, 3), "interval", g.every.String())
}

// Flush logs what the current interval has gathered now (for shutdown and tests).
func (g *Guard) Flush() {
	g.mu.Lock()
	if g.timer != nil {
		g.timer.Stop()
	}
	g.mu.Unlock()
	g.report()
}

// top renders the n busiest addresses as "addr (count), ...".
func top(counts map[string]int, n int) string {
	addrs := make([]string, 0, len(counts))
	for a := range counts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, a := range addrs[:min(n, len(addrs))] {
		parts = append(parts, fmt.Sprintf("%s (%d)", a, counts[a]))
	}
	return strings.Join(parts, ", ")
}
