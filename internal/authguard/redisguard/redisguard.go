// Package redisguard is authguard's shared failure count in Redis, for the
// processes of a cluster: every failure is one script call (an INCR that starts the
// key's expiry at the window's first failure), every check one more.
package redisguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/authguard"
)

// prefix starts every key this package writes.
const prefix = "tollgate:authfail:"

// failScript counts a failure and returns the count and the milliseconds left. The
// expiry is set with the first failure only, so failures while blocked do not
// lengthen the wait; a key found without one (written by hand, or by a Redis that
// lost it) gets the window again rather than living for ever.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	left = tonumber(ARGV[1])
end
return {n, left}`)

// countScript returns the count and the milliseconds left, 0 and 0 for no key.
var countScript = redis.NewScript(`
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), math.max(redis.call('PTTL', KEYS[1]), 0)}`)

// Counter is an authguard.Shared in Redis.
type Counter struct{ c redis.UniversalClient }

var _ authguard.Shared = (*Counter)(nil)

// New returns a Counter on c.
func New(c redis.UniversalClient) *Counter { return &Counter{c: c} }

// redisKey names a throttle key by hash: the keys hold e-mail addresses and client
// addresses, which have no business in Redis in clear.
func redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(sum[:16])
}

// Fail counts one failure of key.
func (c *Counter) Fail(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	return reply(failScript.Run(ctx, c.c, []string{redisKey(key)}, window.Milliseconds()))
}

// Count returns key's failures in its current window.
func (c *Counter) Count(ctx context.Context, key string) (int64, time.Duration, error) {
	return reply(countScript.Run(ctx, c.c, []string{redisKey(key)}))
}

func reply(cmd *redis.Cmd) (int64, time.Duration, error) {
	v, err := cmd.Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("redis failure count: %w", err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redis failure count: reply of %d values, want 2", len(v))
	}
	return v[0], time.Duration(v[1]) * time.Millisecond, nil
}
