package gateway

import (
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/session"
)

// sessionCache keeps compiled sessions by key hash so that the request path does not
// touch the store. Entries are dropped by change events (a key updated or deleted on
// this node is refused or updated on the very next request), and live at most ttl
// anyway: an event lost on its way from another node can keep a revoked key alive
// for that long, never longer. Unknown keys are cached too, briefly, so a client
// trying random keys costs one store read per key per negativeTTL rather than one per
// request.
//
// When the store cannot be read (stale-if-error), a session whose ttl has passed is
// used for staleIfError more, so a store outage does not turn every known key away;
// a key dropped or flushed by a change event is gone for good (the entry no longer
// exists to be used stale), so a revocation received during the outage holds. Keys
// never seen, and keys known not to exist, are not served stale: without the store
// no decision is possible (503).
type sessionCache struct {
	shards                         [256]cacheShard
	ttl, negativeTTL, staleIfError time.Duration
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[keys.Hash]cacheEntry
	// gen increases on every drop, so a store read that raced with a change does not
	// put its stale result back.
	gen       uint64
	negatives int
}

type cacheEntry struct {
	c     *session.Compiled // nil: the key does not exist
	until int64             // unix nanoseconds: the entry is not used from then on
	// staleUntil is when the entry may no longer stand in for a store that
	// cannot be read: ttl plus staleIfError after the store last said so.
	staleUntil int64
}

// staleRetry is how often a session used stale is looked up again: a store that
// is down costs one failed read per key per interval, not one per request.
const staleRetry = time.Second

// maxNegativesPerShard bounds memory spent remembering unknown keys (256 shards ×
// 4096 = about 1M entries, ~60 MB at worst). A full shard forgets its negatives.
const maxNegativesPerShard = 4096

func newSessionCache(ttl, negativeTTL, staleIfError time.Duration) *sessionCache {
	c := &sessionCache{ttl: ttl, negativeTTL: negativeTTL, staleIfError: staleIfError}
	for i := range c.shards {
		c.shards[i].m = map[keys.Hash]cacheEntry{}
	}
	return c
}

// get returns the cached entry and whether there is a usable one, plus the shard
// generation to hand back to put after a store read.
func (c *sessionCache) get(h keys.Hash, now int64) (cacheEntry, bool, uint64) {
	sh := &c.shards[h[0]]
	sh.mu.RLock()
	e, ok := sh.m[h]
	gen := sh.gen
	sh.mu.RUnlock()
	if ok && now >= e.until {
		ok = false
	}
	return e, ok, gen
}

// put caches a store read unless the key changed since gen was read.
func (c *sessionCache) put(h keys.Hash, compiled *session.Compiled, now int64, gen uint64) {
	sh := &c.shards[h[0]]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if compiled == nil {
		if sh.negatives >= maxNegativesPerShard {
			for k, e := range sh.m {
				if e.c == nil {
					delete(sh.m, k)
				}
			}
			sh.negatives = 0
		}
		if old, ok := sh.m[h]; !ok || old.c != nil {
			sh.negatives++
		}
		sh.m[h] = cacheEntry{until: now + int64(c.negativeTTL)}
		return
	}
	if old, ok := sh.m[h]; ok && old.c == nil {
		sh.negatives--
	}
	sh.m[h] = cacheEntry{c: compiled, until: now + int64(c.ttl), staleUntil: now + int64(c.ttl+c.staleIfError)}
}

// stale returns the session cached for h past its ttl, for a store read that
// failed, when it is within staleIfError. A change event that dropped the key, even
// while the read was failing, removed the entry, so it cannot come back here. It is
// then used for staleRetry (at most its remaining staleness) before the store is
// tried again.
func (c *sessionCache) stale(h keys.Hash, now int64) (*session.Compiled, bool) {
	sh := &c.shards[h[0]]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[h]
	if !ok || e.c == nil || now >= e.staleUntil {
		return nil, false
	}
	e.until = min(now+int64(min(staleRetry, c.ttl)), e.staleUntil)
	sh.m[h] = e
	return e.c, true
}

// drop forgets one key.
func (c *sessionCache) drop(h keys.Hash) {
	sh := &c.shards[h[0]]
	sh.mu.Lock()
	if old, ok := sh.m[h]; ok && old.c == nil {
		sh.negatives--
	}
	delete(sh.m, h)
	sh.gen++
	sh.mu.Unlock()
}

// flush forgets everything.
func (c *sessionCache) flush() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m = map[keys.Hash]cacheEntry{}
		sh.negatives = 0
		sh.gen++
		sh.mu.Unlock()
	}
}
