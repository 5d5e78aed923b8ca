// Package limit holds Tollgate's rate-limit and quota engines behind two interfaces,
// RateLimiter and QuotaEngine. Rate limiters answer "may this request go now?" for a
// counter; quota engines count requests per renewal period. Both key their counters by
// the key's hash plus a scope ("" for session-level limits shared by all of a key's
// APIs, or an API id).
//
// Every call takes a context and may fail: a shared backend (Redis) can time out, and
// the gateway must then answer "limits unavailable" rather than guess. The in-memory
// engines here serve a single node and never fail; they take a shard lock per call and
// allocate nothing for a counter that already exists. limittest is the conformance
// suite every engine runs.
package limit

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// Key names one counter.
type Key struct {
	Hash  keys.Hash
	Scope string
}

// APIKey is the counter of an API-level (global_rate_limit) limit: a zero hash with the
// scope "api:" + id, which no key's counter can collide with.
func APIKey(scope string) Key { return Key{Scope: scope} }

// Decision is a rate limiter's answer.
type Decision struct {
	Allowed bool
	// At is when the decision was made (Unix nanoseconds, read under the counter's
	// lock): for an admission, the time recorded in the window.
	At int64
	// Limit is the number of requests the window admits.
	Limit int64
	// Remaining is how many more requests would be admitted right now.
	Remaining int64
	// RetryAfter, when refused, is how long until a request would be admitted.
	RetryAfter time.Duration
	// Reset is how long until the window has room again (the oldest admitted request
	// leaves it).
	Reset time.Duration
}

// RateLimiter decides whether a request on a counter is admitted, recording it if so.
// Refused requests are not recorded, so a client that backs off recovers at once
// instead of being locked out by its own rejected traffic.
//
// Allow reads the clock itself (in memory: under the counter's lock; in Redis: the
// server's clock), so that the moment a request is decided and the moment recorded
// for it are the same. An error means no decision could be made.
type RateLimiter interface {
	Allow(ctx context.Context, k Key, rate, per float64) (Decision, error)
	// Reset forgets every counter of one key (after it is updated or deleted).
	Reset(ctx context.Context, h keys.Hash) error
}

// QuotaEngine counts requests against quota_max per renewal period. Periods renew
// lazily, as Tyk's do: a period starts at the first request after the previous one
// ended, not on a calendar boundary. Like RateLimiter it reads its own clock.
type QuotaEngine interface {
	// Charge counts one request against max per renewal seconds (<= 0: never
	// renews) if the period has room. A refused request is not counted.
	Charge(ctx context.Context, k Key, max, renewal int64) (QuotaState, error)
	// Peek returns a counter's state without charging it; found is false when the
	// counter has not been used in its current period.
	Peek(ctx context.Context, k Key, max int64) (st QuotaState, found bool, err error)
	// Reset forgets every quota counter of one key.
	Reset(ctx context.Context, h keys.Hash) error
}

// UnavailableError marks a failure of the backend itself (unreachable, timed out),
// as opposed to one call it refused: only the former makes a Fallback switch to
// local limits.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "limits backend unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err says the backend is unavailable.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// Sweeper is implemented by engines that keep counters in this process's memory:
// Sweep drops counters idle long enough to hold no state.
type Sweeper interface {
	Sweep(now time.Time)
}

// Normalise turns rate per per-seconds into an integer capacity and a window, so
// that "0.5 per second" means "1 per 2 seconds" rather than nothing at all.
func Normalise(rate, per float64) (capacity int64, window time.Duration) {
	if rate < 1 {
		per = per / rate
		rate = 1
	}
	capacity = int64(math.Floor(rate))
	// Saturate rather than overflow: a window too long for int64 nanoseconds
	// must stay long (validation refuses such limits; this is the last guard).
	if ns := per * float64(time.Second); ns >= math.MaxInt64 {
		window = math.MaxInt64
	} else {
		window = time.Duration(ns)
	}
	if window <= 0 {
		window = time.Nanosecond
	}
	return capacity, window
}

const shardCount = 256

func shardOf(k Key) int {
	if k.Hash == (keys.Hash{}) {
		// API-level counters: spread by scope.
		var h uint32 = 2166136261
		for i := 0; i < len(k.Scope); i++ {
			h = (h ^ uint32(k.Scope[i])) * 16777619
		}
		return int(h % shardCount)
	}
	return int(k.Hash[0])
}

type shard[E any] struct {
	mu sync.Mutex
	m  map[Key]*E
}

// forget drops every counter of one key from its shard (a key's counters all live in
// the shard its hash picks).
func forget[E any](sh *shard[E], h keys.Hash) {
	sh.mu.Lock()
	for k := range sh.m {
		if k.Hash == h {
			delete(sh.m, k)
		}
	}
	sh.mu.Unlock()
}
