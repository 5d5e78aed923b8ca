// Package redisbus carries change events between the processes of a cluster over
// Redis pub/sub. A Bus is an events.Publisher and events.Subscriber: an event is
// delivered to this process's subscribers at once (so a change is live here before
// the call that made it returns) and published for the others. Pub/sub delivers at
// most once, so a subscriber that was disconnected cannot know what it missed: after
// every reconnect the Bus hands its subscribers an events.FlushAll, and cached
// sessions expire anyway (--session-cache-ttl), so a lost event costs a reload, never
// a revoked key served for ever.
package redisbus

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/events"
)

// DefaultChannel is the pub/sub channel events travel on.
const DefaultChannel = "tollgate:events"

// Bus is one process's end of the cluster's event channel.
type Bus struct {
	c       redis.UniversalClient
	channel string
	origin  string // this process, so it does not deliver its own events twice
	local   events.Bus
	log     *slog.Logger
	// subscribed is closed once Run first listens on the channel.
	subscribed chan struct{}
}

// New returns a bus on c; channel "" is DefaultChannel. Call Run to receive other
// processes' events.
func New(c redis.UniversalClient, channel string, log *slog.Logger) *Bus {
	if channel == "" {
		channel = DefaultChannel
	}
	return &Bus{c: c, channel: channel, origin: rand.Text(), log: log, subscribed: make(chan struct{})}
}

// Subscribed is closed once Run listens on the channel: from then on, no other
// process's event is missed unless the connection drops (which FlushAll covers).
func (b *Bus) Subscribed() <-chan struct{} { return b.subscribed }

// wire is an event on the channel. Kinds travel by name, so a process that does not
// know a newer kind can tell (and flush) rather than misread it.
type wire struct {
	Origin  string `json:"o"`
	Kind    string `json:"k"`
	APIID   string `json:"a,omitempty"`
	KeyHash string `json:"h,omitempty"`
	Policy  string `json:"p,omitempty"`
}

var kinds = map[string]events.Kind{}

func init() {
	for _, k := range []events.Kind{events.APIsChanged, events.KeyChanged, events.FlushAll, events.PolicyChanged} {
		kinds[k.String()] = k
	}
}

// Subscribe implements events.Subscriber.
func (b *Bus) Subscribe(fn func(events.Event)) (cancel func()) { return b.local.Subscribe(fn) }

// Publish implements events.Publisher: local subscribers first, then the cluster. A
// failed publish is logged; the other processes' caches then catch up when their
// entries expire.
func (b *Bus) Publish(e events.Event) {
	b.local.Publish(e)
	msg, err := json.Marshal(wire{Origin: b.origin, Kind: e.Kind.String(), APIID: e.APIID, KeyHash: e.KeyHash, Policy: e.PolicyID})
	if err != nil {
		b.log.Error("encode change event", "error", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.c.Publish(ctx, b.channel, msg).Err(); err != nil {
		b.log.Error("publish change event; other nodes see it when their cached sessions expire and their routes reload (--session-cache-ttl)",
			"kind", e.Kind.String(), "error", err.Error())
	}
}

// Run receives the cluster's events until ctx ends. After any interruption it
// delivers events.FlushAll locally once it is subscribed again.
func (b *Bus) Run(ctx context.Context) error {
	ps := b.c.Subscribe(ctx, b.channel)
	// Receive does not return when ctx ends while it waits on the socket; closing
	// the subscription does.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	defer ps.Close()
	subscribed, missed := false, false
	for {
		m, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !missed {
				b.log.Warn("change events interrupted; caches will be flushed on reconnect", "error", err.Error())
			}
			missed = true
			// go-redis reconnects on the next Receive; do not spin while Redis is away.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			// Also on the first subscription: what changed between the node's
			// start (routes loaded, maybe already serving) and now was missed.
			if subscribed || missed {
				b.log.Info("change events resumed; flushing caches")
			}
			b.local.Publish(events.Event{Kind: events.FlushAll})
			if !subscribed {
				close(b.subscribed)
			}
			subscribed, missed = true, false
		case *redis.Message:
			b.deliver(m.Payload)
		}
	}
}

func (b *Bus) deliver(payload string) {
	var w wire
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		b.log.Warn("unreadable change event; flushing caches", "error", err.Error())
		b.local.Publish(events.Event{Kind: events.FlushAll})
		return
	}
	if w.Origin == b.origin {
		return
	}
	k, ok := kinds[w.Kind]
	if !ok {
		b.log.Warn("unknown change event kind; flushing caches", "kind", w.Kind)
		k = events.FlushAll
	}
	b.local.Publish(events.Event{Kind: k, APIID: w.APIID, KeyHash: w.KeyHash, PolicyID: w.Policy})
}
