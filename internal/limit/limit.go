// Package limit holds Tollgate's rate-limit and quota engines. Rate limiters answer
// "may this request go now?" for a counter; Quotas count requests per renewal period
// and persist the counts. Both key their counters by the key's hash plus a scope (""
// for session-level limits shared by all of a key's APIs, or an API id).
//
// The in-memory engines here serve a single node. They take a shard lock per call and
// allocate nothing for a counter that already exists.
package limit

import (
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
// Allow reads the clock itself, under the counter's lock, so that the moment a
// request is decided and the moment recorded for it are the same.
type RateLimiter interface {
	Allow(k Key, rate, per float64) Decision
	// ResetHash forgets every counter of one key (after it is updated or deleted).
	ResetHash(h keys.Hash)
	// Sweep drops counters idle long enough to hold no state.
	Sweep(now time.Time)
}

// normalise turns rate per per-seconds into an integer capacity and a window, so
// that "0.5 per second" means "1 per 2 seconds" rather than nothing at all.
func normalise(rate, per float64) (capacity int64, window time.Duration) {
	if rate < 1 {
		per = per / rate
		rate = 1
	}
	capacity = int64(math.Floor(rate))
	window = time.Duration(per * float64(time.Second))
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
