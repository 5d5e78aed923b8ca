package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPI(t.Context(), store.API{ID: "x", RouteKey: "/x", Definition: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetAPI(t.Context(), "x"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestPrefixUpperBound(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{{"ab/", "ab0", true}, {"a\xff", "b", true}, {"\xff\xff", "", false}, {"x", "y", true}} {
		got, ok := sqlite.PrefixUpperBoundForTest(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("prefixUpperBound(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
}
