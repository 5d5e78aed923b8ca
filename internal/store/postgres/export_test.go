package postgres

import (
	"context"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/store"
)

// MigrateForTest runs the migrations in fsys (NNNN_what.sql files) on pool, as
// Open runs the embedded ones.
func MigrateForTest(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	return migrate(ctx, pool, ms)
}

// EmbeddedMigrationsForTest is how many migrations Open applies.
func EmbeddedMigrationsForTest() (int, error) {
	ms, err := embeddedMigrations()
	return len(ms), err
}

// ListKeysSQLForTest returns the statement and arguments ListKeys runs for f.
func ListKeysSQLForTest(f store.KeyFilter) (string, []any) {
	q, a := listKeysSQL(f)
	return q, a
}
