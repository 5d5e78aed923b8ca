package sqlite_test

import (
	"path/filepath"
	"testing"
	"unicode/utf8"

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
		name, in, want string
		ok             bool
	}{
		{"ascii", "ab/", "ab0", true},
		{"hex f", "ff", "fg", true},
		{"DEL stays UTF-8", "a\x7f", "a\u0080", true},
		{"two-byte rune", "aé", "aê", true},
		{"below surrogates", "a\ud7ff", "a\ue000", true},
		{"highest rune carries", "a\U0010ffff", "b", true},
		{"only highest runes", "\U0010ffff\U0010ffff", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sqlite.PrefixUpperBoundForTest(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("prefixUpperBound(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
			if ok && !utf8.ValidString(got) {
				t.Errorf("prefixUpperBound(%q) = %q is not UTF-8", tt.in, got)
			}
		})
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
