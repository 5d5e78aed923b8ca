package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	// A key search takes one of two plans (the trigram index, or a scan), chosen by
	// cost; the suite's stores are small, so each plan is also forced: all must
	// give the suite's answers.
	for _, tt := range []struct {
		name  string
		force func(*sqlite.DB)
	}{
		{"chosen plan", func(*sqlite.DB) {}},
		{"trigram searches", sqlite.TrigramSearchesForTest},
		{"scanned searches", sqlite.ScanSearchesForTest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				tt.force(db)
				return db
			})
		})
	}
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

// TestAliasMigration checks that keys stored before the alias column existed are
// found by alias once the migration has copied it out of their sessions, folded as
// strings.ToLower folds (SQLite's lower() would leave "É" alone).
func TestAliasMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.MigrateToForTest(ctx, raw, 3); err != nil {
		t.Fatal(err)
	}
	for i, sess := range []string{
		`{"org_id":"o","alias":"École Key"}`,
		`{"org_id":"o","alias":""}`,
		`{"org_id":"o"}`,
		`{"org_id":"o","alias":7}`,
		`not json`,
	} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO keys (hash, org_id, session, created_at, updated_at) VALUES (?, 'o', ?, ?, ?)`,
			fmt.Sprint("h", i), []byte(sess), i, i); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	// A key created after the migration gets a search id of its own.
	if err := db.CreateKey(ctx, store.Key{Hash: "h9", OrgID: "o", Alias: "new école", Session: []byte("{}"), CreatedAt: time.Unix(9, 0)}); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountKeys(ctx, store.KeyFilter{OrgID: "o"}); err != nil || n != 6 {
		t.Errorf("CountKeys(o) = %d, %v; want 6", n, err)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"éCOLE", []string{"h9", "h0"}},
		{"key", []string{"h0"}},
		{"7", nil},
	} {
		t.Run(tt.query, func(t *testing.T) {
			ks, err := db.ListKeys(ctx, store.KeyFilter{Query: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range ks {
				got = append(got, k.Hash)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if k, err := db.GetKey(ctx, "h0"); err != nil || k.Alias != "École Key" {
		t.Errorf("GetKey(h0) = alias %q, %v; want the session's alias", k.Alias, err)
	}
}

// FuzzKeyQuery checks KeyFilter.Query, built into SQL from a user's search box,
// against the filter the dashboard ran in Go before the store did it: alias
// contains the query or hash starts with it, both folded by strings.ToLower. Both
// search plans (trigram index and scan) must agree with it.
func FuzzKeyQuery(f *testing.F) {
	aliases := []string{"Team Alpha", "50% off", "5000 off", "under_score", `back\slash`, "ÉCOLE", "İstanbul",
		"kelvin \u212a", `say "hi" * OR x:y`, "日本語のキー", "", "nul\x00inside", "bad \ufffd", "ab", "aaaa"}
	open := func(scan bool) *sqlite.DB {
		db, err := sqlite.Open(f.Context(), filepath.Join(f.TempDir(), fmt.Sprint("scan-", scan, ".db")))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { db.Close() })
		if scan {
			sqlite.ScanSearchesForTest(db)
		} else {
			sqlite.TrigramSearchesForTest(db)
		}
		for i, a := range aliases {
			k := store.Key{Hash: fmt.Sprintf("%02x%x", i, sha256.Sum256([]byte(a))), OrgID: "o", Alias: a, Session: []byte("{}"), CreatedAt: time.Unix(int64(i), 0)}
			if err := db.CreateKey(f.Context(), k); err != nil {
				f.Fatal(err)
			}
		}
		return db
	}
	dbs := []*sqlite.DB{open(false), open(true)}
	want := func(q string) []string {
		lq := strings.ToLower(q)
		var out []string
		for i := len(aliases) - 1; i >= 0; i-- { // newest first
			h := fmt.Sprintf("%02x%x", i, sha256.Sum256([]byte(aliases[i])))
			// As store.KeyFilter says: a query with a NUL matches nothing, and a
			// NUL in an alias is searched as U+FFFD.
			alias := strings.ReplaceAll(strings.ToLower(aliases[i]), "\x00", "\ufffd")
			if lq == "" || (!strings.Contains(lq, "\x00") && (strings.HasPrefix(h, lq) || strings.Contains(alias, lq))) {
				out = append(out, h)
			}
		}
		return out
	}
	for _, q := range []string{"", "alpha", "50%", "%", "_", `\`, "école", "İST", "i̇st", "K", "\u212a", `"hi"`, `"`, "本語", "nul", "\x00",
		"\xff", "\ufffd", "0", "0a", "aa", "aaa", "ff"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for i, db := range dbs {
			ks, err := db.ListKeys(t.Context(), store.KeyFilter{OrgID: "o", Query: q})
			if err != nil {
				t.Fatalf("plan %d: ListKeys(%q): %v", i, q, err)
			}
			var got []string
			for _, k := range ks {
				got = append(got, k.Hash)
			}
			if diff := cmp.Diff(want(q), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan %d: ListKeys(%q) (-want +got):\n%s", i, q, diff)
			}
			if n, err := db.CountKeys(t.Context(), store.KeyFilter{OrgID: "o", Query: q}); err != nil || n != len(got) {
				t.Errorf("plan %d: CountKeys(%q) = %d, %v; want %d", i, q, n, err, len(got))
			}
		}
	})
}

// TestCheckpoint checks that the trigram index merged by Checkpoint still answers
// searches after keys were written, renamed and deleted one by one.
func TestCheckpoint(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatalf("empty: %v", err)
	}
	key := func(i int, alias string) store.Key {
		return store.Key{Hash: fmt.Sprintf("%04x", i), OrgID: "o", Alias: alias, Session: []byte("{}"), CreatedAt: time.Unix(int64(i), 0)}
	}
	const n = 60
	for i := range n {
		if err := db.CreateKey(ctx, key(i, fmt.Sprintf("alias-%03d", i))); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%10 == 3:
			if err := db.UpdateKey(ctx, key(i, fmt.Sprintf("renamed-%03d", i))); err != nil {
				t.Fatal(err)
			}
		case i%10 == 7:
			if err := db.DeleteKey(ctx, fmt.Sprintf("%04x", i)); err != nil {
				t.Fatal(err)
			}
		}
		if i%20 == 19 {
			if err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range n {
		renamed, deleted := i%10 == 3, i%10 == 7
		for q, found := range map[string]bool{
			fmt.Sprintf("alias-%03d", i):   !renamed && !deleted,
			fmt.Sprintf("renamed-%03d", i): renamed,
		} {
			want := 0
			if found {
				want = 1
			}
			if got, err := db.CountKeys(ctx, store.KeyFilter{Query: q}); err != nil || got != want {
				t.Errorf("CountKeys(%q) = %d, %v; want %d", q, got, err, want)
			}
		}
	}
}

// TestOpenPathWithURISyntax: a data dir whose name holds URI syntax opens the file in
// that very directory.
func TestOpenPathWithURISyntax(t *testing.T) {
	for _, name := range []string{"run#01", "what?", "50%41"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			db, err := sqlite.Open(t.Context(), filepath.Join(dir, "t.db"))
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := os.Stat(filepath.Join(dir, "t.db")); err != nil {
				t.Fatalf("the database is not where it was asked for: %v", err)
			}
		})
	}
}
