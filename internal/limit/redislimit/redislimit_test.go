package redislimit_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/limit/limittest"
	"github.com/tollgate/tollgate/internal/limit/redislimit"
	"github.com/tollgate/tollgate/internal/redistest"
)

// client connects to a real redis-server started for this test.
func client(t *testing.T) redis.UniversalClient {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redistest.Start(t)}})
	t.Cleanup(func() { c.Close() })
	return c
}

// opts gives every case its own key prefix, so cases on one server start empty.
func opts(t *testing.T, now func() time.Time) redislimit.Options {
	return redislimit.Options{Prefix: "t:" + t.Name() + ":", Now: now}
}

func TestRedisSlidingConformance(t *testing.T) {
	c := client(t)
	limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
		return redislimit.NewRateLimiter(c, "sliding", opts(t, now))
	}, limittest.RateOptions{SlidingWindow: true})
}

func TestRedisGCRAConformance(t *testing.T) {
	c := client(t)
	limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
		return redislimit.NewRateLimiter(c, "gcra", opts(t, now))
	}, limittest.RateOptions{})
}

func TestRedisQuotasConformance(t *testing.T) {
	c := client(t)
	limittest.QuotaEngine(t, func(t *testing.T, now func() time.Time) limit.QuotaEngine {
		return redislimit.NewQuotas(c, opts(t, now))
	})
}

// TestRedisClock runs on Redis' own clock (TIME), as production does.
func TestRedisClock(t *testing.T) {
	c := client(t)
	rl := redislimit.NewRateLimiter(c, "sliding", redislimit.Options{Prefix: "clock:"})
	k := limit.Key{Hash: keys.Sum("clock")}
	for i := range 2 {
		if d, err := rl.Allow(t.Context(), k, 2, 60); err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	d, err := rl.Allow(t.Context(), k, 2, 60)
	if err != nil || d.Allowed || d.RetryAfter <= 50*time.Second || d.RetryAfter > 60*time.Second {
		t.Fatalf("3rd request: %+v %v, want refused for about a minute", d, err)
	}
	if at := time.Unix(0, d.At); time.Since(at).Abs() > time.Minute {
		t.Fatalf("decision time %v is not Redis' clock", at)
	}
	q := redislimit.NewQuotas(c, redislimit.Options{Prefix: "clock:"})
	st, err := q.Charge(t.Context(), k, 5, 3600)
	if err != nil || !st.Allowed || st.Remaining != 4 || time.Until(st.RenewsAt) < 59*time.Minute {
		t.Fatalf("quota: %+v %v", st, err)
	}
}

// TestRedisCountersExpire checks that idle counters leave Redis with their window or
// period, and that Reset leaves nothing of the key behind.
func TestRedisCountersExpire(t *testing.T) {
	c := client(t)
	o := redislimit.Options{Prefix: "ttl:"}
	k := limit.Key{Hash: keys.Sum("ttl"), Scope: "api-1"}
	if _, err := redislimit.NewRateLimiter(c, "sliding", o).Allow(t.Context(), k, 5, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := redislimit.NewQuotas(c, o).Charge(t.Context(), k, 5, 3600); err != nil {
		t.Fatal(err)
	}
	names, err := c.Keys(t.Context(), "ttl:*").Result()
	if err != nil || len(names) != 4 {
		t.Fatalf("keys %q (%v), want two counters and two indexes", names, err)
	}
	for _, n := range names {
		ttl, err := c.PTTL(t.Context(), n).Result()
		if err != nil || ttl <= 0 || ttl > time.Hour+time.Second {
			t.Errorf("%s: ttl %v (%v), want one bounded by its window or period", n, ttl, err)
		}
	}
	if err := redislimit.NewRateLimiter(c, "sliding", o).Reset(t.Context(), k.Hash); err != nil {
		t.Fatal(err)
	}
	if err := redislimit.NewQuotas(c, o).Reset(t.Context(), k.Hash); err != nil {
		t.Fatal(err)
	}
	if left, _ := c.Keys(t.Context(), "ttl:*").Result(); len(left) != 0 {
		t.Fatalf("after Reset: %q left", left)
	}
}

// TestRedisDown checks that an unreachable Redis is an error, never a decision.
func TestRedisDown(t *testing.T) {
	addr := redistest.Start(t)
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	// The server closes the connection instead of answering SHUTDOWN.
	_ = c.Do(t.Context(), "SHUTDOWN", "NOSAVE").Err()
	k := limit.Key{Hash: keys.Sum("down")}
	if d, err := redislimit.NewRateLimiter(c, "sliding", redislimit.Options{}).Allow(t.Context(), k, 5, 10); err == nil {
		t.Fatalf("Allow with Redis down: %+v and no error", d)
	}
	if st, err := redislimit.NewQuotas(c, redislimit.Options{}).Charge(t.Context(), k, 5, 10); err == nil {
		t.Fatalf("Charge with Redis down: %+v and no error", st)
	}
}

// TestRedisTopologies runs the conformance suites on a 3-master Redis Cluster
// (each key's counters must share a slot: a script over two slots fails with
// CROSSSLOT) and through a Sentinel, as `--redis a,b,c` and
// `--redis-sentinel-master` connect.
func TestRedisTopologies(t *testing.T) {
	sentinel, master, _ := redistest.StartSentinel(t)
	topologies := map[string]*redis.UniversalOptions{
		"cluster":  {Addrs: redistest.StartCluster(t)},
		"sentinel": {Addrs: []string{sentinel}, MasterName: master},
	}
	for name, o := range topologies {
		c := redis.NewUniversalClient(o)
		t.Cleanup(func() { c.Close() })
		t.Run(name+"/sliding", func(t *testing.T) {
			limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
				return redislimit.NewRateLimiter(c, "sliding", opts(t, now))
			}, limittest.RateOptions{SlidingWindow: true})
		})
		t.Run(name+"/gcra", func(t *testing.T) {
			limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
				return redislimit.NewRateLimiter(c, "gcra", opts(t, now))
			}, limittest.RateOptions{})
		})
		t.Run(name+"/quotas", func(t *testing.T) {
			limittest.QuotaEngine(t, func(t *testing.T, now func() time.Time) limit.QuotaEngine {
				return redislimit.NewQuotas(c, opts(t, now))
			})
		})
	}
}
