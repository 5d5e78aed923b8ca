package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDatabasesAreSeparate checks that each DSN names an empty database of its own
// on a server that runs as someone other than root.
func TestDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := connect(t, pgtest.DSN(t)), connect(t, pgtest.DSN(t))
	if _, err := a.Exec(t.Context(), `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a table created in one test database is visible in another")
	}
	var super string
	if err := a.QueryRow(t.Context(), `SELECT current_setting('is_superuser')`).Scan(&super); err != nil || super != "on" {
		t.Errorf("is_superuser = %q, %v; tests connect as the superuser", super, err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestStopAndStart: a server of a test's own refuses connections once stopped and,
// started again, answers on the same port with the data committed before.
func TestStopAndStart(t *testing.T) {
	t.Parallel()
	p := pgtest.New(t)
	dsn := p.DSN(t)
	c := connect(t, dsn)
	if _, err := c.Exec(t.Context(), `CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
	if _, err := pgx.Connect(t.Context(), dsn); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	p.Start(t)
	var x int
	if err := connect(t, dsn).QueryRow(t.Context(), `SELECT x FROM kept`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("after the restart: x = %d, %v; want the row committed before", x, err)
	}
}
