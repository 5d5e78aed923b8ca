package limit

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/store"
)

// Quotas is the in-memory QuotaEngine. Counts live in memory and are written to the
// durable store by Flush (every quota_flush_interval and on shutdown), so a clean
// restart loses nothing and a crash loses at most one flush interval of counting.
type Quotas struct {
	shards  [shardCount]quotaShard
	store   store.CounterStore
	flushMu sync.Mutex // orders Flush against Reset so a reset counter is not resurrected
	now     func() time.Time
}

type quotaShard struct {
	mu    sync.Mutex
	m     map[Key]*quotaCount
	dirty []Key
}

type quotaCount struct {
	used     int64
	renewsAt int64 // unix nanoseconds; 0 means the period never ends
	dirty    bool
}

// NewQuotas returns empty quotas persisted to cs (nil: memory only).
func NewQuotas(cs store.CounterStore) *Quotas {
	q := &Quotas{store: cs, now: time.Now}
	for i := range q.shards {
		q.shards[i].m = map[Key]*quotaCount{}
	}
	return q
}

// WithClock makes the quotas read time from now (tests move it by hand) and returns
// them.
func (q *Quotas) WithClock(now func() time.Time) *Quotas {
	q.now = now
	return q
}

// QuotaState is a counter's state after a charge or a read.
type QuotaState struct {
	Allowed bool
	// Remaining is quota_max minus the requests counted in this period (never < 0).
	Remaining int64
	// RenewsAt is when the period ends (zero: never).
	RenewsAt time.Time
}

// Charge implements QuotaEngine; it never fails.
func (q *Quotas) Charge(_ context.Context, k Key, max, renewal int64) (QuotaState, error) {
	return q.charge(k, max, renewal), nil
}

func (q *Quotas) charge(k Key, max, renewal int64) QuotaState {
	sh := &q.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := q.now().UnixNano() // under the lock, as in Sliding.Allow
	c := sh.m[k]
	if c == nil {
		c = &quotaCount{renewsAt: periodEnd(t, renewal)}
		sh.m[k] = c
	} else if c.renewsAt != 0 && t >= c.renewsAt {
		c.used = 0
		c.renewsAt = periodEnd(t, renewal)
	}
	st := QuotaState{RenewsAt: fromNanos(c.renewsAt)}
	if c.used >= max {
		return st
	}
	c.used++
	if !c.dirty && q.store != nil { // memory-only counts have nowhere to be flushed
		c.dirty = true
		sh.dirty = append(sh.dirty, k)
	}
	st.Allowed = true
	st.Remaining = max - c.used
	return st
}

// Peek implements QuotaEngine; it never fails.
func (q *Quotas) Peek(_ context.Context, k Key, max int64) (st QuotaState, found bool, err error) {
	sh := &q.shards[shardOf(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := q.now().UnixNano()
	c := sh.m[k]
	if c == nil || (c.renewsAt != 0 && t >= c.renewsAt) {
		return QuotaState{Allowed: max > 0, Remaining: max}, false, nil
	}
	return QuotaState{Allowed: c.used < max, Remaining: clamp(max - c.used), RenewsAt: fromNanos(c.renewsAt)}, true, nil
}

func clamp(n int64) int64 { return max(n, 0) }

func periodEnd(t, renewal int64) int64 {
	if renewal <= 0 {
		return 0
	}
	if renewal > (math.MaxInt64-t)/int64(time.Second) {
		return math.MaxInt64 // saturate: a period this long never ends in practice
	}
	return t + renewal*int64(time.Second)
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// counterName is how a counter is named in the store: hash, then scope.
func counterName(k Key) string { return k.Hash.String() + "/" + k.Scope }

func parseCounterName(s string) (Key, bool) {
	hs, scope, ok := strings.Cut(s, "/")
	if !ok {
		return Key{}, false
	}
	h, ok := keys.ParseHash(hs)
	return Key{Hash: h, Scope: scope}, ok
}

// Reset implements QuotaEngine: it forgets every quota counter of one key, in memory
// and in the store.
func (q *Quotas) Reset(ctx context.Context, h keys.Hash) error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	sh := &q.shards[h[0]]
	sh.mu.Lock()
	for k := range sh.m {
		if k.Hash == h {
			delete(sh.m, k)
		}
	}
	sh.mu.Unlock()
	if q.store == nil {
		return nil
	}
	if err := q.store.DeleteCounters(ctx, h.String()+"/"); err != nil {
		return fmt.Errorf("reset quota counters: %w", err)
	}
	return nil
}

// Flush writes every counter changed since the last flush to the store.
func (q *Quotas) Flush(ctx context.Context) error {
	if q.store == nil {
		return nil
	}
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	var out []store.Counter
	for i := range q.shards {
		sh := &q.shards[i]
		sh.mu.Lock()
		for _, k := range sh.dirty {
			c := sh.m[k]
			if c == nil || !c.dirty {
				continue
			}
			c.dirty = false
			out = append(out, store.Counter{Name: counterName(k), Used: c.used, RenewsAt: fromNanos(c.renewsAt)})
		}
		sh.dirty = sh.dirty[:0]
		sh.mu.Unlock()
	}
	if len(out) == 0 {
		return nil
	}
	if err := q.store.SaveCounters(ctx, out); err != nil {
		// Mark them dirty again so the next flush retries.
		for _, c := range out {
			k, _ := parseCounterName(c.Name)
			sh := &q.shards[shardOf(k)]
			sh.mu.Lock()
			if e := sh.m[k]; e != nil && !e.dirty {
				e.dirty = true
				sh.dirty = append(sh.dirty, k)
			}
			sh.mu.Unlock()
		}
		return fmt.Errorf("flush quota counters: %w", err)
	}
	return nil
}

// Load reads persisted counters into memory; call it before serving.
func (q *Quotas) Load(ctx context.Context) error {
	if q.store == nil {
		return nil
	}
	cs, err := q.store.LoadCounters(ctx)
	if err != nil {
		return fmt.Errorf("load quota counters: %w", err)
	}
	for _, c := range cs {
		k, ok := parseCounterName(c.Name)
		if !ok {
			continue
		}
		var renews int64
		if !c.RenewsAt.IsZero() {
			renews = c.RenewsAt.UnixNano()
		}
		sh := &q.shards[shardOf(k)]
		sh.mu.Lock()
		sh.m[k] = &quotaCount{used: c.Used, renewsAt: renews}
		sh.mu.Unlock()
	}
	return nil
}

// Sweep implements Sweeper: it drops counters whose period has ended; the next
// request starts a new one.
func (q *Quotas) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range q.shards {
		sh := &q.shards[i]
		sh.mu.Lock()
		for k, c := range sh.m {
			if c.renewsAt != 0 && t >= c.renewsAt && !c.dirty {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}
