package postgres

import (
	"context"
)

// InitSetting implements store.SettingStore: one statement, so nodes starting
// together agree on the first value written.
func (d *DB) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := d.pool.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", writeErr("init setting", err)
	}
	var stored string
	if err := d.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&stored); err != nil {
		return "", wrap("read setting", err)
	}
	return stored, nil
}

// PutSetting implements store.SettingStore.
func (d *DB) PutSetting(ctx context.Context, name, value string) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`, name, value)
	return writeErr("put setting", err)
}
