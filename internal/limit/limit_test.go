package limit

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func key(s string) Key { return Key{Hash: keys.Sum(s)} }

// TestSweep checks that idle counters leave memory (the conformance suite covers
// what the limiters admit).
func TestSweep(t *testing.T) {
	s := NewSliding()
	k := key("r")
	allowAt(s, k, 1, 10, t0)
	allowAt(s, Key{Hash: k.Hash, Scope: "api1"}, 1, 10, t0)
	s.Sweep(t0.Add(11 * time.Second))
	if n := len(s.shards[k.Hash[0]].m); n != 0 {
		t.Fatalf("sweep left %d counters", n)
	}
	q := NewQuotas(nil).WithClock(func() time.Time { return t0 })
	q.charge(k, 5, 10)
	q.Sweep(t0.Add(9 * time.Second))
	if n := len(q.shards[k.Hash[0]].m); n != 1 {
		t.Fatalf("sweep dropped a counter whose period is still running (%d left)", n)
	}
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	q.Sweep(t0.Add(10 * time.Second))
	if n := len(q.shards[k.Hash[0]].m); n != 0 {
		t.Fatalf("sweep left %d ended quota counters", n)
	}
}

func TestQuotaPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := func() time.Time { return t0 }
	q := NewQuotas(db).WithClock(at)
	k, scoped := key("p"), Key{Hash: keys.Sum("p"), Scope: "api-1"}
	for i := 0; i < 4; i++ {
		q.charge(k, 10, 3600)
	}
	q.charge(scoped, 5, 0)
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	q2 := NewQuotas(db).WithClock(at)
	if err := q2.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, found, _ := q2.Peek(t.Context(), k, 10); !found || st.Remaining != 6 || !st.RenewsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after reload: %+v found=%v", st, found)
	}
	if st, _, _ := q2.Peek(t.Context(), scoped, 5); st.Remaining != 4 {
		t.Fatalf("scoped after reload: %+v", st)
	}
	if err := q2.Reset(t.Context(), k.Hash); err != nil {
		t.Fatal(err)
	}
	q3 := NewQuotas(db).WithClock(at)
	if err := q3.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := q3.Peek(t.Context(), k, 10); found {
		t.Fatal("reset counter came back from the store")
	}
}

func BenchmarkSlidingAllow(b *testing.B) {
	s := NewSliding()
	k := key("bench")
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		allowAt(s, k, 1000, 1, now)
	}
}

func BenchmarkGCRAAllow(b *testing.B) {
	g := NewGCRA()
	k := key("bench")
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		allowAt(g, k, 1000, 1, now)
	}
}

func BenchmarkQuotaCharge(b *testing.B) {
	q := NewQuotas(nil)
	k := key("bench")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = q.Charge(ctx, k, 1<<62, 3600)
	}
}

// TestSlidingRingGrows checks that a large rate costs memory only as traffic fills
// it, and that order survives the growth.
func TestSlidingRingGrows(t *testing.T) {
	s := NewSliding()
	k := key("grow")
	for i := 0; i < 3; i++ {
		allowAt(s, k, 5000, 10, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if l := s.shards[shardOf(k)].m[k]; len(l.times) != initialSlots {
		t.Fatalf("ring of %d slots after 3 requests, want %d", len(l.times), initialSlots)
	}
	// Fill to the limit across several growths.
	admitted := 3
	for i := 3; admitted < 5000; i++ {
		if allowAt(s, k, 5000, 10, t0.Add(time.Duration(i)*time.Millisecond)).Allowed {
			admitted++
		}
	}
	if d := allowAt(s, k, 5000, 10, t0.Add(4999*time.Millisecond)); d.Allowed {
		t.Fatal("admitted more than the rate within the window")
	}
	if d := allowAt(s, k, 5000, 10, t0.Add(10*time.Second)); !d.Allowed {
		t.Fatal("the oldest admission did not leave the window in order")
	}
}

// TestSlidingRingWrapsThenGrows grows a ring whose contents wrap around its end.
func TestSlidingRingWrapsThenGrows(t *testing.T) {
	s := NewSliding()
	k := key("wrap")
	// 8 admissions fill the initial ring; the first 4 then leave the 1 s window.
	for i := 0; i < initialSlots; i++ {
		allowAt(s, k, 100, 1, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	// Now at 1.35 s: entries at 0-300 ms have left; 4 new ones wrap around the end,
	// then one more forces growth with head in the middle of the ring.
	at := t0.Add(1350 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if !allowAt(s, k, 100, 1, at).Allowed {
			t.Fatalf("admission %d refused", i)
		}
	}
	l := s.shards[shardOf(k)].m[k]
	if l.n != 9 || len(l.times) != 2*initialSlots {
		t.Fatalf("n=%d slots=%d", l.n, len(l.times))
	}
	for i := 1; i < l.n; i++ {
		if l.times[(l.head+i)%len(l.times)] < l.times[(l.head+i-1)%len(l.times)] {
			t.Fatal("admission times out of order after growth")
		}
	}
}

// allowAt asks rl for a decision with its clock reading t. Not for concurrent use.
func allowAt(rl RateLimiter, k Key, rate, per float64, t time.Time) Decision {
	clock := func() time.Time { return t }
	switch l := rl.(type) {
	case *Sliding:
		return l.WithClock(clock).allow(k, rate, per)
	case *GCRA:
		return l.WithClock(clock).allow(k, rate, per)
	}
	panic("allowAt: not an in-memory limiter")
}

// TestNoWindowHoldsMoreThanRate hammers one counter from many goroutines on the real
// clock and checks every admission's recorded time: no interval of `per` may hold
// more than `rate` of them. Reading the clock before taking the lock broke this
// (admissions were recorded out of order, earlier than decided).
func TestNoWindowHoldsMoreThanRate(t *testing.T) {
	const (
		rate     = 50
		per      = 0.02 // 20 ms: many windows pass during the test
		workers  = 64
		maxCalls = 200_000 // per worker: bounds the test on a very fast machine
		runFor   = 200 * time.Millisecond
	)
	s := NewSliding()
	k := key("flood")
	times := make([][]int64, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < maxCalls && time.Since(start) < runFor; i++ {
				if d := s.allow(k, rate, per); d.Allowed {
					times[w] = append(times[w], d.At)
				}
			}
		})
	}
	wg.Wait()
	var all []int64
	for _, ts := range times {
		all = append(all, ts...)
	}
	slices.Sort(all)
	if len(all) <= rate {
		t.Fatalf("only %d admissions: the test did not span several windows", len(all))
	}
	window := int64(per * float64(time.Second))
	for i := rate; i < len(all); i++ {
		// all[i-rate] .. all[i] are rate+1 admissions; they must span at least
		// a whole window.
		if all[i]-all[i-rate] < window {
			t.Fatalf("%d admissions within %v (from %d to %d), limit %d per %v",
				rate+1, time.Duration(all[i]-all[i-rate]), all[i-rate], all[i], rate, time.Duration(window))
		}
	}
}
