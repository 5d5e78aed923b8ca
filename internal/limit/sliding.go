package limit

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// MaxSlidingCapacity caps the per-counter log of the sliding limiter. A log holds one
// timestamp (8 bytes) per request admitted in the current window, growing as needed;
// counters with a larger rate are served by GCRA instead, which needs 8 bytes
// whatever the rate.
const MaxSlidingCapacity = 10_000

// Sliding is an exact sliding-window limiter: at most `rate` admitted requests in any
// interval of `per` seconds, with no burst at window edges. It keeps a ring of the
// admission times inside the window.
type Sliding struct {
	shards [shardCount]shard[slidingLog]
	gcra   *GCRA
	now    func() time.Time
}

type slidingLog struct {
	times    []int64 // ring buffer of admission times, unix nanoseconds
	head, n  int
	capacity int // the rate: the ring grows up to this many slots
	window   int64
	lastSeen int64
}

// initialSlots is the ring's starting size. Rings grow by doubling as a counter's
// traffic needs them, so a key with a large rate that sends little costs little.
const initialSlots = 8

// push records an admission, growing the ring when it is full but below capacity.
func (l *slidingLog) push(t int64) {
	if l.n == len(l.times) {
		grown := make([]int64, min(max(2*len(l.times), initialSlots), l.capacity))
		for i := 0; i < l.n; i++ {
			grown[i] = l.times[(l.head+i)%len(l.times)]
		}
		l.times, l.head = grown, 0
	}
	l.times[(l.head+l.n)%len(l.times)] = t
	l.n++
}

// NewSliding returns an empty sliding-window limiter.
func NewSliding() *Sliding {
	s := &Sliding{gcra: NewGCRA(), now: time.Now}
	for i := range s.shards {
		s.shards[i].m = map[Key]*slidingLog{}
	}
	return s
}

// WithClock makes the limiter read time from now (tests move it by hand) and
// returns it.
func (s *Sliding) WithClock(now func() time.Time) *Sliding {
	s.now = now
	s.gcra.now = now
	return s
}

// Allow implements RateLimiter; it never fails.
func (s *Sliding) Allow(_ context.Context, k Key, rate, per float64) (Decision, error) {
	return s.allow(k, rate, per), nil
}

func (s *Sliding) allow(k Key, rate, per float64) Decision {
	capacity, window := Normalise(rate, per)
	if capacity > MaxSlidingCapacity {
		return s.gcra.allow(k, rate, per)
	}
	w := int64(window)
	sh := &s.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// The clock is read under the lock, so admissions are recorded in the order
	// they were decided and at the moment they were: read before the lock, a
	// request that queued behind others would be recorded earlier than it was
	// admitted, leave the window early and let more than `rate` through in some
	// interval of `per`.
	t := s.now().UnixNano()
	l := sh.m[k]
	if l == nil {
		l = &slidingLog{times: make([]int64, min(int(capacity), initialSlots)), capacity: int(capacity), window: w}
		sh.m[k] = l
	} else if l.capacity != int(capacity) || l.window != w {
		// A changed limit (an operator edited the key or its policy) applies to
		// the admissions already logged: a fresh log would let a lowered limit
		// admit more than it allows in one window. push grows the ring to a
		// raised capacity; a lowered one refuses until enough have left.
		l.capacity, l.window = int(capacity), w
	}
	l.lastSeen = t
	// Drop admissions that have left the window.
	for l.n > 0 && l.times[l.head] <= t-w {
		l.head = (l.head + 1) % len(l.times)
		l.n--
	}
	d := Decision{Limit: capacity, At: t}
	if int64(l.n) >= capacity {
		d.RetryAfter = time.Duration(l.times[l.head] + w - t)
		d.Reset = d.RetryAfter
		return d
	}
	l.push(t)
	d.Allowed = true
	d.Remaining = capacity - int64(l.n)
	d.Reset = time.Duration(l.times[l.head] + w - t)
	return d
}

// Reset implements RateLimiter.
func (s *Sliding) Reset(ctx context.Context, h keys.Hash) error {
	forget(&s.shards[h[0]], h)
	return s.gcra.Reset(ctx, h)
}

// Sweep implements Sweeper.
func (s *Sliding) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, l := range sh.m {
			if l.lastSeen <= t-l.window {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
	s.gcra.Sweep(now)
}

// GCRA is the generic cell rate algorithm (a token bucket in one timestamp): O(1)
// memory per counter. It admits a burst of up to `rate` requests at once and then one
// request every per/rate seconds, so unlike Sliding an interval of `per` seconds can
// see up to 2*rate-1 admissions (a full burst, then the refill).
type GCRA struct {
	shards [shardCount]shard[gcraCell]
	now    func() time.Time
}

type gcraCell struct {
	tat      int64 // theoretical arrival time, unix nanoseconds
	interval int64
}

// NewGCRA returns an empty GCRA limiter.
func NewGCRA() *GCRA {
	g := &GCRA{now: time.Now}
	for i := range g.shards {
		g.shards[i].m = map[Key]*gcraCell{}
	}
	return g
}

// WithClock makes the limiter read time from now and returns it.
func (g *GCRA) WithClock(now func() time.Time) *GCRA {
	g.now = now
	return g
}

// Allow implements RateLimiter; it never fails.
func (g *GCRA) Allow(_ context.Context, k Key, rate, per float64) (Decision, error) {
	return g.allow(k, rate, per), nil
}

func (g *GCRA) allow(k Key, rate, per float64) Decision {
	capacity, window := Normalise(rate, per)
	interval := int64(window) / capacity
	if interval <= 0 {
		interval = 1
	}
	tau := int64(window) - interval // burst tolerance: capacity-1 requests ahead
	sh := &g.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := g.now().UnixNano() // under the lock, as in Sliding.Allow
	c := sh.m[k]
	if c == nil {
		c = &gcraCell{tat: t, interval: interval}
		sh.m[k] = c
	} else if c.interval != interval {
		// A changed limit carries the backlog over, counted in requests, as
		// Sliding keeps its log: the admissions so far count against the new limit.
		if c.tat > t {
			c.tat = t + int64(float64(c.tat-t)*float64(interval)/float64(c.interval))
		}
		c.interval = interval
	}
	tat := max(c.tat, t)
	d := Decision{Limit: capacity, At: t}
	if tat-t > tau {
		d.RetryAfter = time.Duration(tat - t - tau)
		d.Reset = d.RetryAfter
		return d
	}
	c.tat = tat + interval
	d.Allowed = true
	d.Remaining = (tau - (c.tat - t) + interval) / interval
	d.Reset = time.Duration(c.tat - t)
	return d
}

// Reset implements RateLimiter.
func (g *GCRA) Reset(_ context.Context, h keys.Hash) error {
	forget(&g.shards[h[0]], h)
	return nil
}

// Sweep implements Sweeper.
func (g *GCRA) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		for k, c := range sh.m {
			if c.tat <= t {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}
