package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t)) })
}

// TestConformanceSimpleProtocol runs the suite in the query mode that works
// behind a transaction-pooling PgBouncer (no prepared statements kept on a
// connection), which Open's documentation offers.
func TestConformanceSimpleProtocol(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgtest.DSN(t)+"&default_query_exec_mode=simple_protocol")
	})
}

// TestConformanceOtherCollation runs the suite in a database whose default
// collation orders "B" after "a" (ICU's en-US), as production databases often do:
// the schema's "C" columns must keep the store's byte order anyway.
func TestConformanceOtherCollation(t *testing.T) {
	t.Parallel()
	const icu = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
	probe := pgtest.DSN(t, icu)
	pool, err := pgxpool.New(t.Context(), probe)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var before bool
	if err := pool.QueryRow(t.Context(), `SELECT 'B' > 'a'`).Scan(&before); err != nil || !before {
		t.Fatalf("probe: 'B' > 'a' = %v, %v; want true under en-US", before, err)
	}
	t.Run("byte order", func(t *testing.T) {
		db := open(t, pgtest.DSN(t, icu))
		ctx := t.Context()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for _, h := range []string{"ab", "B", "a", "Ab", "_x"} {
			if err := db.CreateKey(ctx, store.Key{Hash: h, OrgID: "o", Session: []byte("{}"), CreatedAt: at, UpdatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			f    store.KeyFilter
			want []string
		}{
			{store.KeyFilter{}, []string{"Ab", "B", "_x", "a", "ab"}}, // ties by hash, byte order
			{store.KeyFilter{HashPrefix: "a"}, []string{"a", "ab"}},   // "Ab" sorts between a and b in en-US
		} {
			ks, err := db.ListKeys(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range ks {
				got = append(got, k.Hash)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ListKeys(%+v) (-want +got):\n%s", tt.f, diff)
			}
		}
	})
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t, icu)) })
}

// TestConcurrentOpen starts several processes' worth of Opens on one empty
// database at once: all succeed, and each migration is applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				err = db.Ping(context.Background())
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	want, err := postgres.EmbeddedMigrationsForTest()
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedVersions(t, dsn); len(got) != want || got[len(got)-1] != want {
		t.Errorf("schema_migrations versions = %v, want 1..%d once each", got, want)
	}
}

func appliedVersions(t *testing.T, dsn string) []int {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	return versions(t, pool)
}

func versions(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, _ := pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPI(t.Context(), store.API{ID: "x", RouteKey: "/x", Definition: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dsn)
	if _, err := db.GetAPI(t.Context(), "x"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// TestMigrations runs the migration steps on files of the test's own: in order,
// each once, a failing one rolled back, and a database newer than the binary
// refused.
func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	two := fstest.MapFS{
		"0001_a.sql": {Data: []byte(`CREATE TABLE a (x int); INSERT INTO a VALUES (1);`)},
		"0002_b.sql": {Data: []byte(`CREATE TABLE b (y int);`)},
	}
	for range 2 { // the second run finds nothing to do
		if err := postgres.MigrateForTest(ctx, pool, two); err != nil {
			t.Fatal(err)
		}
	}
	three := fstest.MapFS{"0003_c.sql": {Data: []byte(`INSERT INTO a VALUES (3); CREATE TABLE c (`)}}
	for k, v := range two {
		three[k] = v
	}
	if err := postgres.MigrateForTest(ctx, pool, three); err == nil || !strings.Contains(err.Error(), "0003_c") {
		t.Fatalf("broken migration: got %v, want an error naming 0003_c", err)
	}
	var rowsInA int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&rowsInA); err != nil || rowsInA != 1 {
		t.Errorf("rows in a = %d, %v; the failed step's insert must be rolled back", rowsInA, err)
	}
	three["0003_c.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO a VALUES (3); CREATE TABLE c (z int);`)}
	if err := postgres.MigrateForTest(ctx, pool, three); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, versions(t, pool)); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if err := postgres.MigrateForTest(ctx, pool, two); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("database newer than the binary: got %v", err)
	}
}

func TestMigrationNames(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"gap":        {"0001_a.sql": {}, "0003_c.sql": {}},
		"repeat":     {"0001_a.sql": {}, "0001_b.sql": {}},
		"unnumbered": {"init.sql": {}},
		"short":      {"1_a.sql": {}},
	} {
		// A nil pool: the names are checked before any connection is made.
		if err := postgres.MigrateForTest(t.Context(), nil, fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTextPostgreSQLCannotHold: lookups by text that is not valid UTF-8 or holds a
// NUL (a login form can send both) find nothing instead of failing.
func TestTextPostgreSQLCannotHold(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.DSN(t))
	ctx := t.Context()
	for _, s := range []string{"a\x00b", "\xff"} {
		if _, err := db.GetUserByEmail(ctx, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByEmail(%q) = %v, want ErrNotFound", s, err)
		}
		if _, err := db.GetAPI(ctx, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAPI(%q) = %v, want ErrNotFound", s, err)
		}
		if err := db.DeleteKey(ctx, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteKey(%q) = %v, want ErrNotFound", s, err)
		}
		if ks, err := db.ListKeys(ctx, store.KeyFilter{OrgID: s}); err != nil || len(ks) != 0 {
			t.Errorf("ListKeys(org %q) = %v, %v; want none", s, ks, err)
		}
		if _, n, err := db.ListAudit(ctx, s, 0, 0); err != nil || n != 0 {
			t.Errorf("ListAudit(%q) = %d, %v; want none", s, n, err)
		}
	}
}

// TestZeroTimes: "never" is stored as NULL and the zero time of a required column
// reads back as zero.
func TestZeroTimes(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.DSN(t))
	ctx := t.Context()
	if err := db.CreateAPI(ctx, store.API{ID: "z", RouteKey: "/z", Definition: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	a, err := db.GetAPI(ctx, "z")
	if err != nil || !a.CreatedAt.IsZero() || !a.UpdatedAt.IsZero() {
		t.Errorf("zero times read back as %v, %v (%v)", a.CreatedAt, a.UpdatedAt, err)
	}
	if err := db.SaveCounters(ctx, []store.Counter{{Name: "c", Used: 1}}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.LoadCounters(ctx)
	if err != nil || len(cs) != 1 || !cs[0].RenewsAt.IsZero() {
		t.Errorf("counter that never renews = %+v, %v", cs, err)
	}
}

// TestKeySearchReadsMatches: a search of three or more characters finds its
// candidates through the trigram index (and the hash prefix through the primary
// key) rather than reading every key of the organisation.
func TestKeySearchReadsMatches(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO keys (hash, org_id, alias, alias_fold, session, created_at, updated_at)
		SELECT md5(i::text), 'o' || (i % 3), convert_to('key ' || md5((-i)::text), 'UTF8'), 'key ' || md5((-i)::text),
			-- sessions of a realistic size (a few hundred bytes) fill the pages a scan reads
			convert_to(repeat('x', 500), 'UTF8'), now() - i * interval '1 second', now()
		FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE keys`); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.KeyFilter{{Query: "c0ffee"}, {Query: "C0FFEE", OrgID: "o1", Limit: 20}} {
		q, args := postgres.ListKeysSQLForTest(f)
		rows, _ := pool.Query(ctx, "EXPLAIN "+q, args...)
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, "keys_alias_trgm") || !strings.Contains(p, "keys_pkey") {
			t.Errorf("plan for %+v does not search through the trigram index and the primary key:\n%s", f, p)
		}
	}
}

// TestServerDown: with the server stopped, every kind of call fails with
// store.ErrUnavailable (so the doors answer 503, never "not found" or a refusal);
// what was acknowledged before is all there after a restart, what failed during the
// outage is not there at all, and the same pool works again without reopening.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := pgtest.New(t)
	db := open(t, srv.DSN(t))
	ctx := t.Context()
	now := time.Now()
	if err := db.CreateOrg(ctx, store.Org{ID: "o1", Name: "one", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	before := store.Key{Hash: "h-before", OrgID: "o1", Alias: "before", Session: []byte(`{"alias":"before"}`), APIIDs: []string{"a"}, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateKey(ctx, before); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	during := before
	during.Hash, during.Alias = "h-during", "during"
	changed := before
	changed.Alias, changed.Session, changed.APIIDs = "changed", []byte(`{"alias":"changed"}`), []string{"b"}
	calls := []struct {
		name string
		call func() error
	}{
		{"get key", func() error { _, err := db.GetKey(ctx, before.Hash); return err }},
		{"list keys", func() error { _, err := db.ListKeys(ctx, store.KeyFilter{}); return err }},
		{"count keys", func() error { _, err := db.CountKeys(ctx, store.KeyFilter{}); return err }},
		{"create key", func() error { return db.CreateKey(ctx, during) }},
		{"update key (a transaction)", func() error { return db.UpdateKey(ctx, changed) }},
		{"delete key", func() error { return db.DeleteKey(ctx, before.Hash) }},
		{"list APIs", func() error { _, err := db.ListAPIs(ctx); return err }},
		{"get user", func() error { _, err := db.GetUser(ctx, "u1"); return err }},
		{"create org", func() error { return db.CreateOrg(ctx, store.Org{ID: "o2", Name: "two", CreatedAt: now}) }},
		{"save counters (a transaction)", func() error { return db.SaveCounters(ctx, []store.Counter{{Name: "c", Used: 1}}) }},
		{"create policy (a transaction)", func() error {
			return db.CreatePolicy(ctx, store.Policy{ID: "p1", MID: "m1", OrgID: "o1", Name: "p", Document: []byte(`{}`), CreatedAt: now, UpdatedAt: now}, nil)
		}},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server stopped: %v, want store.ErrUnavailable", c.name, err)
		}
	}
	srv.Start(t)
	got, err := db.GetKey(ctx, before.Hash)
	if err != nil {
		t.Fatalf("the key written before the outage, after the restart: %v", err)
	}
	if got.Alias != "before" || !slices.Equal(got.APIIDs, []string{"a"}) {
		t.Errorf("the key written before the outage changed: %+v", got)
	}
	for _, gone := range []func() error{
		func() error { _, err := db.GetKey(ctx, during.Hash); return err },
		func() error { _, err := db.GetOrg(ctx, "o2"); return err },
		func() error { _, err := db.GetPolicy(ctx, "p1"); return err },
	} {
		if err := gone(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a write refused during the outage: %v, want it absent", err)
		}
	}
	if n, err := db.CountKeys(ctx, store.KeyFilter{}); err != nil || n != 1 {
		t.Errorf("keys after the restart: %d, %v; want the one written before", n, err)
	}
	if err := db.UpdateKey(ctx, changed); err != nil {
		t.Fatalf("a write once the server is back: %v", err)
	}
}
