package events

import (
	"slices"
	"testing"
)

func TestBusDeliversInOrderUntilCancelled(t *testing.T) {
	var b Bus
	var got []string
	cancelA := b.Subscribe(func(e Event) { got = append(got, "a:"+e.Kind.String()) })
	b.Subscribe(func(e Event) { got = append(got, "b:"+e.Kind.String()) })
	b.Publish(Event{Kind: KeyChanged})
	cancelA()
	cancelA() // twice is harmless
	b.Publish(Event{Kind: FlushAll})
	want := []string{"a:key_changed", "b:key_changed", "b:flush_all"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}
