// Package limittest is the conformance suite for rate limiters and quota engines, as
// storetest is for stores: every engine (in memory, Redis) runs the same cases, so
// they admit the same requests. Engines are driven by a fast-forward Clock the suite
// moves by hand; an engine whose clock lives elsewhere (a Redis server's TIME) takes
// the suite's time instead in tests. Engines keep time to the microsecond at least,
// so the edges are tested a microsecond apart.
package limittest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
)

// Clock is a manual clock: Now returns the time Advance last left it at, and Wait
// returns once Advance has moved it far enough. It is safe for concurrent use, and
// cheap (one atomic load), since engines read it under their locks and benchmarks
// run on it.
type Clock struct {
	ns atomic.Int64
	// pending counts waiters, so that Advance takes no lock when there are none.
	pending atomic.Int64
	mu      sync.Mutex
	waiters map[*waiter]struct{}
	// changed is closed (and replaced) whenever the set of waiters changes.
	changed chan struct{}
}

type waiter struct {
	at   int64
	done chan struct{}
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock {
	c := &Clock{waiters: map[*waiter]struct{}{}, changed: make(chan struct{})}
	c.ns.Store(t.UnixNano())
	return c
}

// Now reads the clock (in UTC).
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward by d, ending the waits it passes.
func (c *Clock) Advance(d time.Duration) {
	now := c.ns.Add(int64(d))
	if c.pending.Load() == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.waiters {
		if w.at <= now {
			close(w.done)
			c.removeLocked(w)
		}
	}
}

// Wait blocks until the clock has moved d past its reading now, or ctx ends (it
// then returns ctx's error): the waits a gateway on this clock makes.
func (c *Clock) Wait(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	w := &waiter{at: c.ns.Load() + int64(d), done: make(chan struct{})}
	// Checked under the lock Advance takes to end waits: an Advance either
	// sees this waiter or moved the clock before this reading.
	if w.at <= c.ns.Load() {
		c.mu.Unlock()
		return nil
	}
	c.waiters[w] = struct{}{}
	c.pending.Add(1)
	c.notifyLocked()
	c.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.waiters[w]; !ok {
			return nil // Advance ended it first
		}
		c.removeLocked(w)
		return ctx.Err()
	}
}

func (c *Clock) removeLocked(w *waiter) {
	delete(c.waiters, w)
	c.pending.Add(-1)
	c.notifyLocked()
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// AwaitWaiting blocks until exactly n Waits are pending, or ctx ends: a test knows
// so, without sleeping, that requests are parked on the clock (or have stopped
// waiting) before it moves time.
func (c *Clock) AwaitWaiting(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, changed := len(c.waiters), c.changed
		c.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d waits pending, want %d: %w", got, n, ctx.Err())
		}
	}
}

// Start is where every case's clock begins.
var Start = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// RateFactory returns a fresh, empty limiter that reads time from now. It is called
// once per case.
type RateFactory func(t *testing.T, now func() time.Time) limit.RateLimiter

// QuotaFactory returns a fresh, empty quota engine that reads time from now.
type QuotaFactory func(t *testing.T, now func() time.Time) limit.QuotaEngine

// RateOptions describe the limiter's algorithm, where algorithms may differ.
type RateOptions struct {
	// SlidingWindow: at most rate admissions in any interval of per seconds (no
	// burst at a window edge). Without it the limiter is a token bucket (GCRA):
	// a burst of rate, then one request every per/rate seconds.
	SlidingWindow bool
}

func counter(name string) limit.Key { return limit.Key{Hash: keys.Sum(name)} }

// rig is one case's limiter and clock, with helpers that fail the test on error.
type rig struct {
	t     *testing.T
	clock *Clock
	rl    limit.RateLimiter
}

func (r *rig) allow(k limit.Key, rate, per float64) limit.Decision {
	r.t.Helper()
	d, err := r.rl.Allow(r.t.Context(), k, rate, per)
	if err != nil {
		r.t.Fatalf("Allow: %v", err)
	}
	return d
}

// admit asks n times and returns how many were admitted.
func (r *rig) admit(k limit.Key, rate, per float64, n int) int {
	r.t.Helper()
	got := 0
	for range n {
		if r.allow(k, rate, per).Allowed {
			got++
		}
	}
	return got
}

// RateLimiter runs the rate limiter cases against engines made by newLimiter.
func RateLimiter(t *testing.T, newLimiter RateFactory, opts RateOptions) {
	cases := []struct {
		name string
		run  func(t *testing.T, r *rig)
	}{
		{"a burst of rate is admitted, the next refused with RetryAfter", func(t *testing.T, r *rig) {
			k := counter("burst")
			for i := range 5 {
				d := r.allow(k, 5, 10)
				if !d.Allowed || d.Limit != 5 || d.Remaining != int64(4-i) {
					t.Fatalf("request %d: %+v, want admitted with limit 5, remaining %d", i, d, 4-i)
				}
			}
			d := r.allow(k, 5, 10)
			if d.Allowed || d.RetryAfter <= 0 || d.Remaining != 0 {
				t.Fatalf("request 6: %+v, want refused with a RetryAfter", d)
			}
		}},
		{"exact at the window edge: refused 1µs before RetryAfter, admitted at it", func(t *testing.T, r *rig) {
			k := counter("edge")
			r.admit(k, 3, 10, 3)
			d := r.allow(k, 3, 10)
			if d.Allowed {
				t.Fatal("4th request admitted")
			}
			r.clock.Advance(d.RetryAfter - time.Microsecond)
			if r.allow(k, 3, 10).Allowed {
				t.Fatalf("admitted 1µs before RetryAfter (%v)", d.RetryAfter)
			}
			r.clock.Advance(time.Microsecond)
			if !r.allow(k, 3, 10).Allowed {
				t.Fatalf("refused at RetryAfter (%v)", d.RetryAfter)
			}
		}},
		{"refused requests are not counted", func(t *testing.T, r *rig) {
			k := counter("refused")
			if !r.allow(k, 1, 1).Allowed {
				t.Fatal("first request refused")
			}
			for range 10 {
				r.clock.Advance(90 * time.Millisecond)
				if r.allow(k, 1, 1).Allowed {
					t.Fatal("admitted a 2nd request within the second")
				}
			}
			r.clock.Advance(100 * time.Millisecond) // 1 s after the admission
			if !r.allow(k, 1, 1).Allowed {
				t.Fatal("refused requests were counted: still refused after a full window")
			}
		}},
		{"the full rate renews after per seconds", func(t *testing.T, r *rig) {
			k := counter("renew")
			if n := r.admit(k, 4, 2, 10); n != 4 {
				t.Fatalf("admitted %d of 10, want 4", n)
			}
			r.clock.Advance(2 * time.Second)
			if n := r.admit(k, 4, 2, 10); n != 4 {
				t.Fatalf("after a window: admitted %d of 10, want 4", n)
			}
		}},
		{"a fractional rate: 0.5 per second is 1 per 2 seconds", func(t *testing.T, r *rig) {
			k := counter("fraction")
			if !r.allow(k, 0.5, 1).Allowed {
				t.Fatal("first refused")
			}
			r.clock.Advance(time.Second)
			if r.allow(k, 0.5, 1).Allowed {
				t.Fatal("admitted after 1 s")
			}
			r.clock.Advance(time.Second)
			if !r.allow(k, 0.5, 1).Allowed {
				t.Fatal("refused after 2 s")
			}
		}},
		{"a changed limit counts the admissions made so far; across algorithms it does not fail", func(t *testing.T, r *rig) {
			k := counter("changed")
			if n := r.admit(k, 4, 60, 3); n != 3 {
				t.Fatalf("at 4 per minute: %d of 3 admitted", n)
			}
			// Lowered, as when an operator edits a key or its policy: the 3
			// admitted count, so a lower limit never admits more in one window.
			if n := r.admit(k, 2, 60, 3); n != 0 {
				t.Fatalf("lowered to 2 per minute after 3: %d of 3 admitted, want none", n)
			}
			// Raised: the new limit applies at once, the 3 still counted.
			if n := r.admit(k, 5, 60, 4); n != 2 {
				t.Fatalf("raised to 5 per minute after 3: %d of 4 admitted, want 2", n)
			}
			// A different window: the admissions still count within it.
			if n := r.admit(k, 6, 120, 4); n != 1 {
				t.Fatalf("6 per 2 minutes after 5: %d of 4 admitted, want 1", n)
			}
			// Past MaxSlidingCapacity the sliding limiter serves the counter
			// with GCRA: a counter of the other kind must not break it.
			if d := r.allow(k, 2*limit.MaxSlidingCapacity, 60); !d.Allowed {
				t.Fatalf("raised to %d per minute: %+v", 2*limit.MaxSlidingCapacity, d)
			}
		}},
		{"counters are independent by key and by scope", func(t *testing.T, r *rig) {
			a, b := counter("a"), counter("b")
			scoped := limit.Key{Hash: a.Hash, Scope: "api-1"}
			api := limit.APIKey("api:api-1")
			for _, k := range []limit.Key{a, b, scoped, api} {
				if n := r.admit(k, 2, 60, 3); n != 2 {
					t.Fatalf("counter %+v: admitted %d of 3, want 2", k, n)
				}
			}
		}},
		{"Reset clears every scope of one key and nothing else", func(t *testing.T, r *rig) {
			a, b := counter("reset-a"), counter("reset-b")
			scoped := limit.Key{Hash: a.Hash, Scope: "api-1"}
			for _, k := range []limit.Key{a, scoped, b} {
				r.admit(k, 1, 60, 1)
			}
			if err := r.rl.Reset(t.Context(), a.Hash); err != nil {
				t.Fatal(err)
			}
			if !r.allow(a, 1, 60).Allowed || !r.allow(scoped, 1, 60).Allowed {
				t.Fatal("Reset did not clear every scope of the key")
			}
			if r.allow(b, 1, 60).Allowed {
				t.Fatal("Reset of one key cleared another")
			}
		}},
		{"concurrent requests: exactly rate admitted", func(t *testing.T, r *rig) {
			const rate = 100
			k := counter("concurrent")
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for range 20 {
						d, err := r.rl.Allow(t.Context(), k, rate, 60)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							admitted.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := admitted.Load(); got != rate {
				t.Fatalf("admitted %d of 640, want exactly %d", got, rate)
			}
		}},
	}
	if opts.SlidingWindow {
		cases = append(cases, struct {
			name string
			run  func(t *testing.T, r *rig)
		}{"sliding: no burst at a window edge, each admission leaves per seconds after it", func(t *testing.T, r *rig) {
			k := counter("sliding")
			r.clock.Advance(9 * time.Second)
			r.admit(k, 2, 10, 1)
			r.clock.Advance(500 * time.Millisecond)
			r.admit(k, 2, 10, 1)
			r.clock.Advance(500 * time.Millisecond) // 10 s: a fixed window would reopen here
			if r.allow(k, 2, 10).Allowed {
				t.Fatal("admitted a 3rd request within 10 s")
			}
			r.clock.Advance(9 * time.Second) // 19 s: the 9 s admission has left
			if !r.allow(k, 2, 10).Allowed {
				t.Fatal("refused once the first admission left the window")
			}
			if r.allow(k, 2, 10).Allowed {
				t.Fatal("admitted two for one slot")
			}
			r.clock.Advance(500 * time.Millisecond) // 19.5 s: the second has left
			if !r.allow(k, 2, 10).Allowed {
				t.Fatal("refused once the second admission left the window")
			}
		}})
	} else {
		cases = append(cases, struct {
			name string
			run  func(t *testing.T, r *rig)
		}{"token bucket: after a burst, one request every per/rate seconds", func(t *testing.T, r *rig) {
			k := counter("bucket")
			r.admit(k, 5, 10, 5)
			d := r.allow(k, 5, 10)
			if d.Allowed || d.RetryAfter != 2*time.Second {
				t.Fatalf("after the burst: %+v, want refused with RetryAfter 2s", d)
			}
			r.clock.Advance(2 * time.Second)
			if n := r.admit(k, 5, 10, 3); n != 1 {
				t.Fatalf("one interval later: admitted %d, want 1", n)
			}
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := NewClock(Start)
			c.run(t, &rig{t: t, clock: clock, rl: newLimiter(t, clock.Now)})
		})
	}
}

// quotaRig is one quota case's engine and clock.
type quotaRig struct {
	t     *testing.T
	clock *Clock
	q     limit.QuotaEngine
}

func (r *quotaRig) charge(k limit.Key, max, renewal int64) limit.QuotaState {
	r.t.Helper()
	st, err := r.q.Charge(r.t.Context(), k, max, renewal)
	if err != nil {
		r.t.Fatalf("Charge: %v", err)
	}
	return st
}

func (r *quotaRig) peek(k limit.Key, max int64) (limit.QuotaState, bool) {
	r.t.Helper()
	st, found, err := r.q.Peek(r.t.Context(), k, max)
	if err != nil {
		r.t.Fatalf("Peek: %v", err)
	}
	return st, found
}

// QuotaEngine runs the quota cases against engines made by newEngine.
func QuotaEngine(t *testing.T, newEngine QuotaFactory) {
	cases := []struct {
		name string
		run  func(t *testing.T, r *quotaRig)
	}{
		{"charges count down; the period ends renewal seconds after the first", func(t *testing.T, r *quotaRig) {
			k := counter("count")
			first := r.clock.Now()
			for i := int64(1); i <= 3; i++ {
				st := r.charge(k, 3, 60)
				if !st.Allowed || st.Remaining != 3-i || !st.RenewsAt.Equal(first.Add(60*time.Second)) {
					t.Fatalf("charge %d: %+v", i, st)
				}
				r.clock.Advance(time.Second)
			}
			if st := r.charge(k, 3, 60); st.Allowed || st.Remaining != 0 {
				t.Fatalf("over quota: %+v", st)
			}
		}},
		{"refused charges are not counted", func(t *testing.T, r *quotaRig) {
			k := counter("refused")
			r.charge(k, 2, 60)
			r.charge(k, 2, 60)
			for range 5 {
				r.charge(k, 2, 60)
			}
			// Raising the maximum shows what was counted: 2, not 7.
			if st := r.charge(k, 4, 60); !st.Allowed || st.Remaining != 1 {
				t.Fatalf("with max 4 after 2 admitted and 5 refused: %+v, want remaining 1", st)
			}
		}},
		{"periods renew lazily, at the first request after the end", func(t *testing.T, r *quotaRig) {
			k := counter("renew")
			r.charge(k, 1, 60)
			r.clock.Advance(60*time.Second - time.Microsecond)
			if r.charge(k, 1, 60).Allowed {
				t.Fatal("renewed before the period ended")
			}
			r.clock.Advance(30 * time.Second)
			renewed := r.clock.Now()
			st := r.charge(k, 1, 60)
			if !st.Allowed || st.Remaining != 0 || !st.RenewsAt.Equal(renewed.Add(60*time.Second)) {
				t.Fatalf("after the period: %+v, want a new period from %v", st, renewed)
			}
		}},
		{"renewal <= 0 never renews", func(t *testing.T, r *quotaRig) {
			k := counter("never")
			if st := r.charge(k, 1, -1); !st.Allowed || !st.RenewsAt.IsZero() {
				t.Fatalf("first: %+v", st)
			}
			r.clock.Advance(1000 * time.Hour)
			if r.charge(k, 1, -1).Allowed {
				t.Fatal("a quota without renewal renewed")
			}
		}},
		{"Peek reads without charging", func(t *testing.T, r *quotaRig) {
			k := counter("peek")
			if st, found := r.peek(k, 5); found || st.Remaining != 5 || !st.Allowed {
				t.Fatalf("unused: %+v found=%v", st, found)
			}
			r.charge(k, 5, 60)
			r.charge(k, 5, 60)
			for range 3 {
				if st, found := r.peek(k, 5); !found || st.Remaining != 3 {
					t.Fatalf("after 2 charges: %+v found=%v", st, found)
				}
			}
			if st, _ := r.peek(k, 1); st.Remaining != 0 || st.Allowed {
				t.Fatalf("max lowered below the count: %+v, want remaining 0 (never negative)", st)
			}
			r.clock.Advance(60 * time.Second)
			if st, found := r.peek(k, 5); found || st.Remaining != 5 {
				t.Fatalf("after the period: %+v found=%v", st, found)
			}
		}},
		{"counters are independent by key and scope", func(t *testing.T, r *quotaRig) {
			a := counter("a")
			for _, k := range []limit.Key{a, counter("b"), {Hash: a.Hash, Scope: "api-1"}} {
				r.charge(k, 1, 60)
				if st, found := r.peek(k, 1); !found || st.Remaining != 0 {
					t.Fatalf("counter %+v: %+v found=%v", k, st, found)
				}
			}
			if st, _ := r.peek(limit.Key{Hash: a.Hash, Scope: "api-2"}, 1); st.Remaining != 1 {
				t.Fatal("an unused scope shows another scope's count")
			}
		}},
		{"Reset clears every scope of one key and nothing else", func(t *testing.T, r *quotaRig) {
			a, b := counter("reset-a"), counter("reset-b")
			scoped := limit.Key{Hash: a.Hash, Scope: "api-1"}
			for _, k := range []limit.Key{a, scoped, b} {
				r.charge(k, 1, 60)
			}
			if err := r.q.Reset(t.Context(), a.Hash); err != nil {
				t.Fatal(err)
			}
			if !r.charge(a, 1, 60).Allowed || !r.charge(scoped, 1, 60).Allowed {
				t.Fatal("Reset did not clear every scope of the key")
			}
			if r.charge(b, 1, 60).Allowed {
				t.Fatal("Reset of one key cleared another")
			}
		}},
		{"concurrent charges: exactly max admitted", func(t *testing.T, r *quotaRig) {
			k := counter("concurrent")
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for range 40 {
						st, err := r.q.Charge(t.Context(), k, 1000, 3600)
						if err != nil {
							t.Error(err)
							return
						}
						if st.Allowed {
							admitted.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := admitted.Load(); got != 1000 {
				t.Fatalf("admitted %d of 1280, want exactly 1000", got)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := NewClock(Start)
			c.run(t, &quotaRig{t: t, clock: clock, q: newEngine(t, clock.Now)})
		})
	}
}
