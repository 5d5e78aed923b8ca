// Package redislimit holds the rate limiter and quota engine a cluster shares: every
// decision is one Lua script call, atomic in Redis, timed by Redis' own clock (TIME),
// so gateways behind a load balancer admit together what one node would, whatever
// their clocks say. Both implement the limit interfaces and run the limittest suite.
//
// Keys: every counter of one API key carries the key's hash as a Redis Cluster hash
// tag ("{...}"), so they live in one slot and Reset is one script call; an index set
// per key names its counters. Counters expire with their window or period, so idle
// keys cost Redis nothing.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
)

// Options configure both engines.
type Options struct {
	// Prefix starts every Redis key (default "tollgate:"), so several
	// installations can share one Redis.
	Prefix string
	// Now, when set, replaces Redis' clock: the time is sent with every call.
	// Only for tests that move time by hand; production leaves it nil.
	Now func() time.Time
}

func (o Options) prefix() string {
	if o.Prefix == "" {
		return "tollgate:"
	}
	return o.Prefix
}

// nowArg is the time argument of a script: microseconds from Options.Now, or -1 for
// "read TIME".
func (o Options) nowArg() int64 {
	if o.Now == nil {
		return -1
	}
	return o.Now().UnixMicro()
}

// tag is the hash tag that keeps one API key's counters in one Redis Cluster slot:
// its hash, or the scope for API-level counters (which have no key).
func tag(k limit.Key) string {
	if k.Hash == (keys.Hash{}) {
		return k.Scope
	}
	return k.Hash.String()
}

// clockLua reads the script's clock: the test-supplied time, or Redis TIME in
// microseconds (exact in a Lua double until the year 2255).
const clockLua = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- remember names key in its API key's index, which lives as long as the
-- longest-lived counter it names (ttl_ms < 0: for ever).
local function remember(index, key, ttl_ms)
  local before = redis.call('PTTL', index) -- -2: missing, -1: no expiry
  redis.call('SADD', index, key)
  if ttl_ms < 0 then
    redis.call('PERSIST', index)
  elseif before == -2 or (before >= 0 and before < ttl_ms) then
    redis.call('PEXPIRE', index, ttl_ms)
  end
end
`

// slidingLua is the exact sliding log, as limit.Sliding keeps it in memory: a sorted
// set of admission times; entries at or before now-window have left. Refused
// requests are not recorded.
// KEYS: counter, index. ARGV: now (µs or -1), capacity, window (µs).
var slidingLua = redis.NewScript(clockLua + `
local cap = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local n = redis.call('ZCARD', KEYS[1])
local admitted = 0
if n < cap then
  -- Members must be unique: no entry leaves while now stands still, so the count
  -- tells apart admissions within one microsecond.
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), string.format('%.0f-%d', now, n))
  local ttl = math.ceil(window / 1000) + 1
  redis.call('PEXPIRE', KEYS[1], ttl)
  remember(KEYS[2], KEYS[1], ttl)
  n = n + 1
  admitted = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {admitted, n, reset, now}
`)

// gcraLua is the generic cell rate algorithm, as limit.GCRA: one theoretical arrival
// time per counter.
// KEYS: counter, index. ARGV: now, interval (µs), tau (µs).
var gcraLua = redis.NewScript(clockLua + `
local interval = tonumber(ARGV[2])
local tau = tonumber(ARGV[3])
-- The cell holds "tat:interval". A changed limit carries the backlog over, counted
-- in requests: the admissions made so far count against the new limit.
local tat = now
local cell = redis.call('GET', KEYS[1])
if cell then
  local t, was = string.match(cell, '^(%d+):(%d+)$')
  if t then
    tat = tonumber(t)
    was = tonumber(was)
    if was ~= interval and was > 0 and tat > now then tat = now + (tat - now) * interval / was end
  end
end
if tat < now then tat = now end
if tat - now > tau then
  return {0, 0, tat - now - tau, now}
end
local next = tat + interval
local ttl = math.ceil((next - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f:%.0f', next, interval), 'PX', ttl)
remember(KEYS[2], KEYS[1], ttl)
return {1, math.floor((tau - (next - now) + interval) / interval), next - now, now}
`)

// resetLua deletes every counter an index names, and the index.
// KEYS: index.
var resetLua = redis.NewScript(`
local ks = redis.call('SMEMBERS', KEYS[1])
for i = 1, #ks do redis.call('DEL', ks[i]) end
redis.call('DEL', KEYS[1])
return #ks
`)

// RateLimiter is the shared limit.RateLimiter: an exact sliding window (as
// limit.Sliding) or GCRA (as limit.GCRA), and like Sliding it serves counters above
// limit.MaxSlidingCapacity with GCRA, whose state does not grow with the rate.
type RateLimiter struct {
	c    redis.UniversalClient
	opts Options
	gcra bool
}

// NewRateLimiter returns a limiter on c; algorithm is "sliding" or "gcra".
func NewRateLimiter(c redis.UniversalClient, algorithm string, opts Options) *RateLimiter {
	return &RateLimiter{c: c, opts: opts, gcra: algorithm == "gcra"}
}

// keys names a counter and its key's index. The algorithm is part of the name, so
// a sliding log (a sorted set) and a GCRA cell (a string) never meet under one
// name; the limit is not: a changed limit (an operator edits the key or its
// policy) applies to the admissions already counted, as in memory, so a lowered
// limit never admits more than it allows in one window.
func (r *RateLimiter) keys(k limit.Key, algo string) []string {
	base := r.opts.prefix() + "{" + tag(k) + "}:rl"
	return []string{base + ":" + algo + ":" + k.Scope, base}
}

// classify marks a failure to reach Redis as limit.UnavailableError; a reply
// error (the server refused this call) stays an error of this request alone.
func classify(what string, err error) error {
	var reply redis.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, &limit.UnavailableError{Err: err})
}

// Allow implements limit.RateLimiter.
func (r *RateLimiter) Allow(ctx context.Context, k limit.Key, rate, per float64) (limit.Decision, error) {
	capacity, window := limit.Normalise(rate, per)
	windowUS := max(window.Microseconds(), 1)
	var (
		vals []int64
		err  error
	)
	if r.gcra || capacity > limit.MaxSlidingCapacity {
		interval := max(windowUS/capacity, 1)
		vals, err = gcraLua.Run(ctx, r.c, r.keys(k, "g"), r.opts.nowArg(), interval, windowUS-interval).Int64Slice()
	} else {
		vals, err = slidingLua.Run(ctx, r.c, r.keys(k, "s"), r.opts.nowArg(), capacity, windowUS).Int64Slice()
	}
	if err != nil {
		return limit.Decision{}, classify("redis rate limit", err)
	}
	if len(vals) != 4 {
		return limit.Decision{}, fmt.Errorf("redis rate limit: script returned %d values", len(vals))
	}
	d := limit.Decision{Allowed: vals[0] == 1, Limit: capacity, At: vals[3] * 1000, Reset: time.Duration(vals[2]) * time.Microsecond}
	switch {
	case !d.Allowed:
		d.RetryAfter = d.Reset
	case r.gcra || capacity > limit.MaxSlidingCapacity:
		d.Remaining = vals[1]
	default:
		d.Remaining = capacity - vals[1]
	}
	return d, nil
}

// Reset implements limit.RateLimiter.
func (r *RateLimiter) Reset(ctx context.Context, h keys.Hash) error {
	if err := resetLua.Run(ctx, r.c, r.keys(limit.Key{Hash: h}, "")[1:]).Err(); err != nil {
		return classify("redis reset rate limits", err)
	}
	return nil
}

// chargeLua counts one request against a quota, renewing a period that has ended
// (lazily, as limit.Quotas does). A refused request is not counted.
// KEYS: counter, index. ARGV: now, max, renewal (µs; <= 0 never renews).
// Returns {allowed, remaining, renews_at µs (0: never)}.
var chargeLua = redis.NewScript(clockLua + `
local max = tonumber(ARGV[2])
local renewal = tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 'used', 'renews')
local used = tonumber(st[1] or '0')
local renews = tonumber(st[2] or '-1')
if renews < 0 or (renews > 0 and now >= renews) then
  used = 0
  renews = 0
  if renewal > 0 then renews = now + renewal end
end
if used >= max then
  return {0, 0, renews}
end
used = used + 1
redis.call('HSET', KEYS[1], 'used', used, 'renews', string.format('%.0f', renews))
local ttl = -1
if renews > 0 then
  ttl = math.ceil((renews - now) / 1000) + 1
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
remember(KEYS[2], KEYS[1], ttl)
return {1, max - used, renews}
`)

// peekLua reads a quota without charging it.
// KEYS: counter. ARGV: now. Returns {found, used, renews_at µs}.
var peekLua = redis.NewScript(clockLua + `
local st = redis.call('HMGET', KEYS[1], 'used', 'renews')
if not st[1] then return {0, 0, 0} end
local renews = tonumber(st[2])
if renews > 0 and now >= renews then return {0, 0, 0} end
return {1, tonumber(st[1]), renews}
`)

// Quotas is the shared limit.QuotaEngine: counts are atomic increments in Redis,
// never a node's copy written back, so no count is lost between gateways.
type Quotas struct {
	c    redis.UniversalClient
	opts Options
}

// NewQuotas returns a quota engine on c.
func NewQuotas(c redis.UniversalClient, opts Options) *Quotas {
	return &Quotas{c: c, opts: opts}
}

func (q *Quotas) keys(k limit.Key) []string {
	base := q.opts.prefix() + "{" + tag(k) + "}:q"
	return []string{base + ":" + k.Scope, base}
}

func renewsAt(us int64) time.Time {
	if us <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// Charge implements limit.QuotaEngine.
func (q *Quotas) Charge(ctx context.Context, k limit.Key, quotaMax, renewal int64) (limit.QuotaState, error) {
	renewalUS := int64(-1)
	if renewal > 0 {
		renewalUS = min(renewal, math.MaxInt64/int64(time.Second)) * int64(time.Second/time.Microsecond)
	}
	vals, err := chargeLua.Run(ctx, q.c, q.keys(k), q.opts.nowArg(), quotaMax, renewalUS).Int64Slice()
	if err != nil {
		return limit.QuotaState{}, classify("redis quota", err)
	}
	if len(vals) != 3 {
		return limit.QuotaState{}, fmt.Errorf("redis quota: script returned %d values", len(vals))
	}
	return limit.QuotaState{Allowed: vals[0] == 1, Remaining: vals[1], RenewsAt: renewsAt(vals[2])}, nil
}

// Peek implements limit.QuotaEngine.
func (q *Quotas) Peek(ctx context.Context, k limit.Key, quotaMax int64) (limit.QuotaState, bool, error) {
	vals, err := peekLua.Run(ctx, q.c, q.keys(k)[:1], q.opts.nowArg()).Int64Slice()
	if err != nil {
		return limit.QuotaState{}, false, classify("redis quota", err)
	}
	if len(vals) != 3 {
		return limit.QuotaState{}, false, fmt.Errorf("redis quota: script returned %d values", len(vals))
	}
	if vals[0] == 0 {
		return limit.QuotaState{Allowed: quotaMax > 0, Remaining: quotaMax}, false, nil
	}
	used := vals[1]
	return limit.QuotaState{Allowed: used < quotaMax, Remaining: max(quotaMax-used, 0), RenewsAt: renewsAt(vals[2])}, true, nil
}

// Reset implements limit.QuotaEngine.
func (q *Quotas) Reset(ctx context.Context, h keys.Hash) error {
	if err := resetLua.Run(ctx, q.c, q.keys(limit.Key{Hash: h})[1:]).Err(); err != nil {
		return classify("redis reset quotas", err)
	}
	return nil
}
