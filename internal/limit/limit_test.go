package limit

import (
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func key(s string) Key { return Key{Hash: keys.Sum(s)} }

// step is one request at an offset from t0 and whether it must be admitted.
type step struct {
	at    time.Duration
	admit bool
}

func TestSlidingWindow(t *testing.T) {
	tests := []struct {
		name      string
		rate, per float64
		steps     []step
	}{
		{"rate 3 per 10s: 3 pass, 4th refused", 3, 10, []step{{0, true}, {time.Second, true}, {2 * time.Second, true}, {3 * time.Second, false}}},
		{"no 2x burst at a window edge", 2, 10, []step{
			{9 * time.Second, true}, {9500 * time.Millisecond, true}, // end of one "fixed" window
			{10 * time.Second, false}, {11 * time.Second, false}, // a fixed window would admit these
			{19 * time.Second, true}, {19499 * time.Millisecond, false}, {19500 * time.Millisecond, true},
		}},
		{"refused requests do not count", 1, 1, []step{
			{0, true}, {100 * time.Millisecond, false}, {500 * time.Millisecond, false}, {900 * time.Millisecond, false}, {time.Second, true},
		}},
		{"fractional rate: 0.5 per second is 1 per 2s", 0.5, 1, []step{{0, true}, {time.Second, false}, {2 * time.Second, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSliding()
			k := key(tt.name)
			for i, st := range tt.steps {
				d := allowAt(s, k, tt.rate, tt.per, t0.Add(st.at))
				if d.Allowed != st.admit {
					t.Fatalf("step %d at %v: allowed=%v, want %v (%+v)", i, st.at, d.Allowed, st.admit, d)
				}
				if !d.Allowed && d.RetryAfter <= 0 {
					t.Fatalf("step %d: refused without RetryAfter", i)
				}
			}
		})
	}
}

func TestSlidingRetryAfter(t *testing.T) {
	s := NewSliding()
	k := key("ra")
	allowAt(s, k, 2, 10, t0)
	allowAt(s, k, 2, 10, t0.Add(4*time.Second))
	d := allowAt(s, k, 2, 10, t0.Add(5*time.Second))
	if d.Allowed || d.RetryAfter != 5*time.Second {
		t.Fatalf("got %+v, want refused with RetryAfter 5s", d)
	}
	if d := allowAt(s, k, 2, 10, t0.Add(10*time.Second)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at RetryAfter: %+v", d)
	}
}

func TestGCRABurstAndRefill(t *testing.T) {
	g := NewGCRA()
	k := key("g")
	for i := 0; i < 5; i++ {
		if d := allowAt(g, k, 5, 10, t0); !d.Allowed || d.Remaining != int64(4-i) {
			t.Fatalf("burst %d: %+v", i, d)
		}
	}
	d := allowAt(g, k, 5, 10, t0)
	if d.Allowed || d.RetryAfter != 2*time.Second {
		t.Fatalf("after burst: %+v, want RetryAfter 2s", d)
	}
	if d := allowAt(g, k, 5, 10, t0.Add(2*time.Second)); !d.Allowed {
		t.Fatalf("after one interval: %+v", d)
	}
	if d := allowAt(g, k, 5, 10, t0.Add(2*time.Second)); d.Allowed {
		t.Fatalf("second in same interval admitted: %+v", d)
	}
}

// TestConcurrentExactness hammers one counter from 64 goroutines: exactly `rate`
// requests may be admitted in one window, for both limiters.
func TestConcurrentExactness(t *testing.T) {
	fixed := func() time.Time { return t0 }
	for name, rl := range map[string]RateLimiter{"sliding": NewSliding().WithClock(fixed), "gcra": NewGCRA().WithClock(fixed)} {
		t.Run(name, func(t *testing.T) {
			const rate = 100
			k := key(name)
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for g := 0; g < 64; g++ {
				wg.Go(func() {
					for i := 0; i < 50; i++ {
						if rl.Allow(k, rate, 60).Allowed {
							admitted.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := admitted.Load(); got != rate {
				t.Fatalf("admitted %d of 3200, want exactly %d", got, rate)
			}
		})
	}
}

func TestResetAndSweep(t *testing.T) {
	s := NewSliding()
	k := key("r")
	other := Key{Hash: k.Hash, Scope: "api1"}
	allowAt(s, k, 1, 10, t0)
	allowAt(s, other, 1, 10, t0)
	s.ResetHash(k.Hash)
	if !allowAt(s, k, 1, 10, t0).Allowed || !allowAt(s, other, 1, 10, t0).Allowed {
		t.Fatal("ResetHash did not clear every scope of the key")
	}
	s.Sweep(t0.Add(11 * time.Second))
	if n := len(s.shards[k.Hash[0]].m); n != 0 {
		t.Fatalf("sweep left %d counters", n)
	}
}

func TestQuota(t *testing.T) {
	q := NewQuotas(nil)
	k := key("q")
	for i := int64(1); i <= 3; i++ {
		st := q.Charge(k, 3, 60, t0.Add(time.Duration(i)*time.Second))
		if !st.Allowed || st.Remaining != 3-i || !st.RenewsAt.Equal(t0.Add(61*time.Second)) {
			t.Fatalf("charge %d: %+v", i, st)
		}
	}
	if st := q.Charge(k, 3, 60, t0.Add(30*time.Second)); st.Allowed || st.Remaining != 0 {
		t.Fatalf("over quota: %+v", st)
	}
	// The period renews lazily at the first request after it ends.
	st := q.Charge(k, 3, 60, t0.Add(61*time.Second))
	if !st.Allowed || st.Remaining != 2 || !st.RenewsAt.Equal(t0.Add(121*time.Second)) {
		t.Fatalf("after renewal: %+v", st)
	}
	// Never renews.
	n := key("never")
	q.Charge(n, 1, -1, t0)
	if st := q.Charge(n, 1, -1, t0.Add(1000*time.Hour)); st.Allowed {
		t.Fatal("quota with no renewal renewed")
	}
}

func TestQuotaConcurrentExactness(t *testing.T) {
	q := NewQuotas(nil)
	k := key("cq")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Go(func() {
			for i := 0; i < 40; i++ {
				if q.Charge(k, 1000, 3600, t0).Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 1000 {
		t.Fatalf("admitted %d, want exactly 1000", got)
	}
}

func TestQuotaPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := NewQuotas(db)
	k, scoped := key("p"), Key{Hash: keys.Sum("p"), Scope: "api-1"}
	for i := 0; i < 4; i++ {
		q.Charge(k, 10, 3600, t0)
	}
	q.Charge(scoped, 5, 0, t0)
	if err := q.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	q2 := NewQuotas(db)
	if err := q2.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, found := q2.Peek(k, 10, t0); !found || st.Remaining != 6 || !st.RenewsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after reload: %+v found=%v", st, found)
	}
	if st, _ := q2.Peek(scoped, 5, t0); st.Remaining != 4 {
		t.Fatalf("scoped after reload: %+v", st)
	}
	if err := q2.ResetHash(t.Context(), k.Hash); err != nil {
		t.Fatal(err)
	}
	q3 := NewQuotas(db)
	if err := q3.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, found := q3.Peek(k, 10, t0); found {
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
	b.ReportAllocs()
	for b.Loop() {
		q.Charge(k, 1<<62, 3600, t0)
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
		l.WithClock(clock)
	case *GCRA:
		l.WithClock(clock)
	}
	return rl.Allow(k, rate, per)
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
				if d := s.Allow(k, rate, per); d.Allowed {
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
