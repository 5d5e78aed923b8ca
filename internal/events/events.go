// Package events carries change notifications (an API or a key changed) from the code
// that changes durable data to the code that caches it. On one node the Bus delivers
// in-process and synchronously, so a change is live before the management call that made
// it returns; a cluster transport (Redis pub/sub) plugs in behind the same interface.
package events

import "sync"

// Kind says what changed.
type Kind int

const (
	// APIsChanged means API definitions were created, replaced or deleted.
	APIsChanged Kind = iota + 1
	// KeyChanged means the key whose hash is in Event.KeyHash was updated or deleted.
	KeyChanged
)

// Event is one change notification.
type Event struct {
	Kind Kind
	// APIID names the API for APIsChanged when one API changed; empty means "some".
	APIID string
	// KeyHash names the key for KeyChanged.
	KeyHash string
}

// Publisher sends events.
type Publisher interface {
	Publish(Event)
}

// Bus is an in-process, synchronous publish/subscribe hub. Subscribers run on the
// publisher's goroutine and must be quick and must not publish.
type Bus struct {
	mu   sync.RWMutex
	subs []func(Event)
}

// Subscribe registers fn for every later event.
func (b *Bus) Subscribe(fn func(Event)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, fn)
}

// Publish delivers e to every subscriber before returning.
func (b *Bus) Publish(e Event) {
	b.mu.RLock()
	subs := b.subs
	b.mu.RUnlock()
	for _, fn := range subs {
		fn(e)
	}
}
