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
type sessionCache struct {
	shards           [256]cacheShard
	ttl, negativeTTL time.Duration
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
}

// maxNegativesPerShard bounds memory spent remembering unknown keys (256 shards ×
// 4096 = about 1M entries, ~60 MB at worst). A full shard forgets its negatives.
const maxNegativesPerShard = 4096

func newSessionCache(ttl, negativeTTL time.Duration) *sessionCache {
	c := &sessionCache{ttl: ttl, negativeTTL: negativeTTL}
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
	sh.m[h] = cacheEntry{c: compiled, until: now + int64(c.ttl)}
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
