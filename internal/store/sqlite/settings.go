package sqlite

import (
	"context"
	"fmt"
	"time"
)

// InitSetting implements store.SettingStore.
func (d *DB) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := d.db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, value, ts(time.Now())); err != nil {
		return "", writeErr("init setting", err)
	}
	var stored string
	if err := d.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored); err != nil {
		return "", fmt.Errorf("read setting: %w", err)
	}
	return stored, nil
}

// PutSetting implements store.SettingStore.
func (d *DB) PutSetting(ctx context.Context, name, value string) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, ts(time.Now()))
	return writeErr("put setting", err)
}
