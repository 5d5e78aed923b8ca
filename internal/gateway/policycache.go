package gateway

import (
	"context"
	"errors"
	"sync"

	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// policyCache holds the stored policies keys apply, so that compiling a session
// does not read each of its policies from the store again: a policy change
// recompiles every cached key that applies it on its next request, and without
// the cache each would read the same rows. Entries are the stored documents,
// decoded per compile, so that no two sessions share a decoded policy's maps and
// slices (Apply builds on them). A policy change or a flush empties the cache;
// entries also expire after the session cache's TTL, so a lost event has the
// same bound here as for sessions. Missing policies are remembered too (the keys
// that name them are refused), store failures are not.
type policyCache struct {
	ttl int64 // nanoseconds
	mu  sync.Mutex
	// gen increases on every flush, so a store read that raced with a change
	// is not cached (as in sessionCache).
	gen uint64
	m   map[string]policyEntry
}

type policyEntry struct {
	row   store.Policy
	found bool
	at    int64 // unix nanoseconds of the store read
}

// maxCachedPolicies bounds the cache: ids come from keys, and a deployment
// with more distinct policies than this in use simply reads the rest.
const maxCachedPolicies = 10_000

func newPolicyCache(ttlNanos int64) *policyCache {
	return &policyCache{ttl: ttlNanos, m: map[string]policyEntry{}}
}

// flush forgets every policy.
func (c *policyCache) flush() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// get returns the stored policy id (found false: there is none), reading the
// store through read when the cache has no fresh entry.
func (c *policyCache) get(ctx context.Context, id string, now int64, read func(context.Context, string) (store.Policy, error)) (store.Policy, bool, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now-e.at < c.ttl {
		return e.row, e.found, nil
	}
	row, err := read(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Policy{}, false, err
	}
	c.mu.Lock()
	if c.gen == gen && (len(c.m) < maxCachedPolicies || ok) {
		c.m[id] = policyEntry{row: row, found: found, at: now}
	}
	c.mu.Unlock()
	return row, found, nil
}

// policyLookup resolves policy ids for one compile through the cache; the
// first store failure is kept in err (the compile then answers 503).
type policyLookup struct {
	ctx   context.Context
	cache *policyCache
	read  func(context.Context, string) (store.Policy, error)
	now   int64
	err   error
}

// Lookup implements policy.Lookup.
func (l *policyLookup) Lookup(id string) (*policy.Policy, bool) {
	row, found, err := l.cache.get(l.ctx, id, l.now, l.read)
	if err != nil {
		if l.err == nil {
			l.err = err
		}
		return nil, false
	}
	if !found {
		return nil, false
	}
	p, err := policy.Decode(row.Document)
	if err != nil {
		// A stored policy that no longer decodes applies nothing: the key
		// is refused, as for a missing one.
		return nil, false
	}
	return p, true
}
