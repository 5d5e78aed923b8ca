// Package events carries change notifications (an API or a key changed) from the code
// that changes durable data to the code that caches it. On one node the Bus delivers
// in-process and synchronously, so a change is live before the management call that made
// it returns; a cluster transport (Redis pub/sub) plugs in behind the same two
// interfaces, Publisher and Subscriber.
package events

import "sync"

// Kind says what changed.
type Kind int

const (
	// APIsChanged means API definitions were created, replaced or deleted.
	APIsChanged Kind = iota + 1
	// KeyChanged means the key whose hash is in Event.KeyHash was updated or deleted.
	KeyChanged
	// FlushAll means anything may have changed: a subscriber drops every cache and
	// reloads. A transport sends it to its own subscribers when it may have missed
	// events (it reconnected, or its queue overflowed), so a lost event costs a
	// reload instead of a stale cache.
	FlushAll
	// PolicyChanged means the policy whose id is in Event.PolicyID was created,
	// updated or deleted: every key that applies it may enforce other limits.
	PolicyChanged
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case APIsChanged:
		return "apis_changed"
	case KeyChanged:
		return "key_changed"
	case FlushAll:
		return "flush_all"
	case PolicyChanged:
		return "policy_changed"
	}
	return "unknown"
}

// Event is one change notification.
type Event struct {
	Kind Kind
	// APIID names the API for APIsChanged when one API changed; empty means "some".
	APIID string
	// KeyHash names the key for KeyChanged.
	KeyHash string
	// PolicyID names the policy for PolicyChanged.
	PolicyID string
}

// Publisher sends events.
type Publisher interface {
	Publish(Event)
}

// Subscriber delivers events to handlers. A handler must be quick and must not
// publish; it runs once per event, in the order events were published.
type Subscriber interface {
	// Subscribe registers fn for every later event and returns a function that
	// stops the delivery.
	Subscribe(fn func(Event)) (cancel func())
}

// PubSub is both ends: what a node's event transport offers.
type PubSub interface {
	Publisher
	Subscriber
}

// Bus is an in-process, synchronous publish/subscribe hub: subscribers run on the
// publisher's goroutine, before Publish returns. It implements both Publisher and
// Subscriber.
type Bus struct {
	mu sync.RWMutex
	// subs is replaced, never modified in place, so Publish can range over the
	// slice it read without holding the lock.
	subs []*subscription
}

type subscription struct{ fn func(Event) }

// Subscribe implements Subscriber.
func (b *Bus) Subscribe(fn func(Event)) (cancel func()) {
	s := &subscription{fn: fn}
	b.mu.Lock()
	b.subs = append(b.subs[:len(b.subs):len(b.subs)], s)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		kept := make([]*subscription, 0, len(b.subs))
		for _, o := range b.subs {
			if o != s {
				kept = append(kept, o)
			}
		}
		b.subs = kept
	}
}

// Publish delivers e to every subscriber before returning.
func (b *Bus) Publish(e Event) {
	b.mu.RLock()
	subs := b.subs
	b.mu.RUnlock()
	for _, s := range subs {
		s.fn(e)
	}
}
