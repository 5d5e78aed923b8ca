package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

// TestPolicyCache: store reads happen once per policy per TTL; a flush (a policy
// change event) forces a read; missing policies are remembered, failures are not;
// a read that raced with a flush is not cached.
func TestPolicyCache(t *testing.T) {
	const ttl = int64(30e9)
	doc := []byte(`{"id":"p","name":"P","rate":1,"per":1}`)
	type step struct {
		id      string
		at      int64 // nanoseconds
		flush   bool  // flush before the lookup
		failing bool  // the store fails this read
		found   bool
		err     bool
		reads   int // store reads so far
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a fresh entry answers without the store", []step{
			{id: "p", at: 0, found: true, reads: 1},
			{id: "p", at: ttl - 1, found: true, reads: 1},
		}},
		{"an entry older than the TTL is read again", []step{
			{id: "p", at: 0, found: true, reads: 1},
			{id: "p", at: ttl, found: true, reads: 2},
		}},
		{"a flush forces a read", []step{
			{id: "p", at: 0, found: true, reads: 1},
			{id: "p", at: 1, flush: true, found: true, reads: 2},
		}},
		{"a missing policy is remembered", []step{
			{id: "gone", at: 0, reads: 1},
			{id: "gone", at: 1, reads: 1},
		}},
		{"a failing store is not remembered", []step{
			{id: "p", at: 0, failing: true, err: true, reads: 1},
			{id: "p", at: 1, found: true, reads: 2},
			{id: "p", at: 2, found: true, reads: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newPolicyCache(ttl)
			reads := 0
			failing := false
			read := func(_ context.Context, id string) (store.Policy, error) {
				reads++
				switch {
				case failing:
					return store.Policy{}, errors.New("store down")
				case id == "p":
					return store.Policy{ID: "p", Document: doc}, nil
				}
				return store.Policy{}, store.ErrNotFound
			}
			for i, s := range tt.steps {
				if s.flush {
					c.flush()
				}
				failing = s.failing
				row, found, err := c.get(t.Context(), s.id, s.at, read)
				if found != s.found || (err != nil) != s.err || reads != s.reads || (found && row.ID != s.id) {
					t.Fatalf("step %d: found=%v err=%v reads=%d, want found=%v err=%v reads=%d", i, found, err, reads, s.found, s.err, s.reads)
				}
			}
		})
	}
	t.Run("a read that raced with a flush is not cached", func(t *testing.T) {
		c := newPolicyCache(ttl)
		reads := 0
		read := func(context.Context, string) (store.Policy, error) {
			reads++
			if reads == 1 {
				c.flush() // the policy changed while it was being read
			}
			return store.Policy{ID: "p", Document: doc}, nil
		}
		for range 2 {
			if _, _, err := c.get(t.Context(), "p", 0, read); err != nil {
				t.Fatal(err)
			}
		}
		if reads != 2 {
			t.Fatalf("%d store reads, want 2: the racing read was cached", reads)
		}
	})
}
