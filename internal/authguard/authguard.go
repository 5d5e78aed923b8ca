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
//   - Several processes behind one load balancer can share the count (Options.Shared,
//     in Redis), so that spreading guesses over them gains nothing. Each process
//     counts in memory as well, and decides by the stricter of the two: if the
//     shared count cannot be reached the throttle holds per process, as it would
//     without one, and says so once in the log rather than failing open quietly.
package authguard

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	shared Shared
	// sharedDown is set while the shared count fails, so that the outage is
	// logged when it starts and ends, not per attempt.
	sharedDown atomic.Bool

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
	// Shared, when set, is a count of failures several processes share; the
	// Guard keeps its own count too (see the package comment).
	Shared Shared
}

// Shared counts failures across processes. Its window is fixed: it starts at a
// key's first failure and lasts Window, so a key that reached Max waits for the end
// of that window, then has Max attempts again.
type Shared interface {
	// Fail counts one failure of key in its current window (starting one of
	// length window if none runs) and returns the failures in it, this one
	// included, and the time left in it.
	Fail(ctx context.Context, key string, window time.Duration) (n int64, left time.Duration, err error)
	// Count returns key's failures in its current window and the time left in
	// it (0 and 0 when none runs).
	Count(ctx context.Context, key string) (n int64, left time.Duration, err error)
}

// New returns a Guard.
func New(o Options) *Guard {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Guard{
		door: o.Door, max: cmp.Or(o.Max, 10), window: cmp.Or(o.Window, time.Minute), log: o.Log,
		every: cmp.Or(o.ReportEvery, 10*time.Second), failures: map[string][]time.Time{}, counts: map[string]int{}, shared: o.Shared,
	}
}

// sharedKey names key in the shared count: doors do not share budgets.
func (g *Guard) sharedKey(key string) string { return g.door + "\x00" + key }

// sharedResult notes whether the shared count answered, logging the changes, and
// reports whether it did.
func (g *Guard) sharedResult(err error) bool {
	if err != nil {
		if !g.sharedDown.Swap(true) {
			g.log.Warn("the shared failed-authentication count does not answer; each process throttles on its own count until it does",
				"door", g.door, "error", err.Error())
		}
		return false
	}
	if g.sharedDown.Swap(false) {
		g.log.Info("the shared failed-authentication count answers again", "door", g.door)
	}
	return true
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
func (g *Guard) Blocked(ctx context.Context, key string, now time.Time) time.Duration {
	wait := g.blockedHere(key, now)
	if g.shared != nil {
		n, left, err := g.shared.Count(ctx, g.sharedKey(key))
		if g.sharedResult(err) && n >= int64(g.max) {
			wait = max(wait, left)
		}
	}
	return wait
}

func (g *Guard) blockedHere(key string, now time.Time) time.Duration {
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
func (g *Guard) Fail(ctx context.Context, key, addr string, now time.Time) time.Duration {
	wait := g.failHere(key, addr, now)
	if g.shared != nil {
		n, left, err := g.shared.Fail(ctx, g.sharedKey(key), g.window)
		if g.sharedResult(err) && n > int64(g.max) {
			wait = max(wait, left)
		}
	}
	return wait
}

func (g *Guard) failHere(key, addr string, now time.Time) time.Duration {
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
