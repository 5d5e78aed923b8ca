package redisbus_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/events/redisbus"
	"github.com/tollgate/tollgate/internal/redistest"
)

// recorder collects the events one subscriber sees and signals each arrival.
type recorder struct {
	mu  sync.Mutex
	got []events.Event
	ch  chan events.Event
}

func record(sub events.Subscriber) *recorder {
	r := &recorder{ch: make(chan events.Event, 1024)}
	sub.Subscribe(func(e events.Event) {
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
		r.ch <- e
	})
	return r
}

// next waits (bounded) for the next event.
func (r *recorder) next(t testing.TB) events.Event {
	t.Helper()
	select {
	case e := <-r.ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return events.Event{}
	}
}

// node is one process's bus, running until the test ends.
func node(t testing.TB, addr string) (*redisbus.Bus, redis.UniversalClient) {
	t.Helper()
	return nodeOn(t, &redis.UniversalOptions{Addrs: []string{addr}})
}

// nodeOn is node on any Redis topology.
func nodeOn(t testing.TB, o *redis.UniversalOptions) (*redisbus.Bus, redis.UniversalClient) {
	t.Helper()
	c := redis.NewUniversalClient(o)
	b := redisbus.New(c, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	select {
	case <-b.Subscribed():
	case <-time.After(5 * time.Second):
		t.Fatal("bus did not subscribe within 5 s")
	}
	return b, c
}

func TestEventsReachEveryProcessOnce(t *testing.T) {
	addr := redistest.Start(t)
	a, _ := node(t, addr)
	b, _ := node(t, addr)
	reachEveryProcessOnce(t, a, b)
}

// TestEventsOnRedisCluster: on a 3-master Redis Cluster, two processes whose
// clients start from different masters still hear each other (pub/sub spans
// the cluster).
func TestEventsOnRedisCluster(t *testing.T) {
	masters := redistest.StartCluster(t)
	a, _ := nodeOn(t, &redis.UniversalOptions{Addrs: masters})
	b, _ := nodeOn(t, &redis.UniversalOptions{Addrs: []string{masters[2], masters[1], masters[0]}})
	reachEveryProcessOnce(t, a, b)
}

func reachEveryProcessOnce(t *testing.T, a, b *redisbus.Bus) {
	t.Helper()
	atA, atB := record(a), record(b)
	sent := []events.Event{
		{Kind: events.KeyChanged, KeyHash: "abc"},
		{Kind: events.APIsChanged, APIID: "api-1"},
		{Kind: events.FlushAll},
	}
	for _, e := range sent {
		a.Publish(e)
		if got := atA.next(t); got != e {
			t.Fatalf("publisher's own subscriber got %+v, want %+v", got, e)
		}
		if got := atB.next(t); got != e {
			t.Fatalf("other process got %+v, want %+v", got, e)
		}
	}
	// A's events must not come back to A through Redis: send one from B and
	// check it is the next thing A sees.
	mark := events.Event{Kind: events.KeyChanged, KeyHash: "mark"}
	b.Publish(mark)
	if got := atA.next(t); got != mark {
		t.Fatalf("A saw %+v (an echo of its own event?), want %+v", got, mark)
	}
	// A policy change travels with its policy id.
	pol := events.Event{Kind: events.PolicyChanged, PolicyID: "free"}
	b.Publish(pol)
	if got := atA.next(t); got != pol {
		t.Fatalf("A saw %+v, want %+v", got, pol)
	}
}

func TestUnreadableEventsFlush(t *testing.T) {
	addr := redistest.Start(t)
	b, c := node(t, addr)
	at := record(b)
	for _, payload := range []string{`not json`, `{"o":"other","k":"tariff_changed"}`} {
		if err := c.Publish(t.Context(), redisbus.DefaultChannel, payload).Err(); err != nil {
			t.Fatal(err)
		}
		if got := at.next(t); got.Kind != events.FlushAll {
			t.Fatalf("%s: got %+v, want FlushAll", payload, got)
		}
	}
}

// TestReconnectFlushes drops the bus's pub/sub connection, as a Redis restart or a
// network partition would: what was published meanwhile is lost, so the bus must
// tell its subscribers to flush once it is back.
func TestReconnectFlushes(t *testing.T) {
	addr := redistest.Start(t)
	b, c := node(t, addr)
	at := record(b)
	if err := c.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	if got := at.next(t); got.Kind != events.FlushAll {
		t.Fatalf("after a reconnect: %+v, want FlushAll", got)
	}
	// And events flow again.
	other, _ := node(t, addr)
	e := events.Event{Kind: events.KeyChanged, KeyHash: "after"}
	other.Publish(e)
	if got := at.next(t); got != e {
		t.Fatalf("after the reconnect: %+v, want %+v", got, e)
	}
}

// BenchmarkPropagation measures how long an event takes from Publish on one process
// to delivery on another over loopback Redis, one event at a time; it reports the
// p50 and p99 besides ns/op.
func BenchmarkPropagation(b *testing.B) {
	addr := redistest.Start(b)
	a, _ := node(b, addr)
	other, _ := node(b, addr)
	at := record(other)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		a.Publish(events.Event{Kind: events.KeyChanged, KeyHash: "x"})
		at.next(b)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
