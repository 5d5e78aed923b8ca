package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// CreateWebSession inserts a web session.
func (d *DB) CreateWebSession(ctx context.Context, s store.WebSession) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO web_sessions (token_hash, user_id, stamp, csrf, created_at, seen_at, flash)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.TokenHash, s.UserID, blob(s.Stamp), s.CSRF, ts(s.CreatedAt), ts(s.SeenAt), blob(s.Flash))
	return writeErr("create web session", err)
}

// GetWebSession returns a web session by its token's hash.
func (d *DB) GetWebSession(ctx context.Context, tokenHash string) (store.WebSession, error) {
	var s store.WebSession
	var c, seen int64
	err := d.db.QueryRowContext(ctx, `SELECT token_hash, user_id, stamp, csrf, created_at, seen_at, flash FROM web_sessions WHERE token_hash = ?`,
		tokenHash).Scan(&s.TokenHash, &s.UserID, &s.Stamp, &s.CSRF, &c, &seen, &s.Flash)
	if errors.Is(err, sql.ErrNoRows) {
		return s, store.ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("get web session: %w", err)
	}
	s.CreatedAt, s.SeenAt = fromTS(c), fromTS(seen)
	return s, nil
}

// TouchWebSession records when a session was last used.
func (d *DB) TouchWebSession(ctx context.Context, tokenHash string, seen time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE web_sessions SET seen_at = ? WHERE token_hash = ?`, ts(seen), tokenHash)
	if err != nil {
		return fmt.Errorf("touch web session: %w", err)
	}
	return affectedOne(res)
}

// SetWebSessionFlash replaces a session's flash.
func (d *DB) SetWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) error {
	res, err := d.db.ExecContext(ctx, `UPDATE web_sessions SET flash = ? WHERE token_hash = ?`, blob(flash), tokenHash)
	if err != nil {
		return fmt.Errorf("set web session flash: %w", err)
	}
	return affectedOne(res)
}

// ClearWebSessionFlash empties a session's flash if it still holds flash.
func (d *DB) ClearWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) (bool, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE web_sessions SET flash = X'' WHERE token_hash = ? AND flash = ? AND length(flash) > 0`,
		tokenHash, blob(flash))
	if err != nil {
		return false, fmt.Errorf("clear web session flash: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// DeleteWebSession removes a session, if it exists.
func (d *DB) DeleteWebSession(ctx context.Context, tokenHash string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete web session: %w", err)
	}
	return nil
}

// DeleteUserWebSessions removes every session of a user.
func (d *DB) DeleteUserWebSessions(ctx context.Context, userID string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete user web sessions: %w", err)
	}
	return nil
}

// SweepWebSessions removes idle and too old sessions.
func (d *DB) SweepWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE seen_at < ? OR created_at < ?`, ts(seenBefore), ts(createdBefore))
	if err != nil {
		return 0, fmt.Errorf("sweep web sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CreateKeyDisplay inserts a one-time key display.
func (d *DB) CreateKeyDisplay(ctx context.Context, k store.KeyDisplay) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO key_displays (id_hash, user_id, sealed, expires_at) VALUES (?, ?, ?, ?)`,
		k.IDHash, k.UserID, blob(k.Sealed), ts(k.ExpiresAt))
	return writeErr("create key display", err)
}

// TakeKeyDisplay removes and returns a display of userID's that has not expired,
// in one statement, so that two takers cannot both get it.
func (d *DB) TakeKeyDisplay(ctx context.Context, idHash, userID string, now time.Time) (store.KeyDisplay, error) {
	var k store.KeyDisplay
	var exp int64
	err := d.db.QueryRowContext(ctx, `DELETE FROM key_displays WHERE id_hash = ? AND user_id = ? AND expires_at > ?
		RETURNING id_hash, user_id, sealed, expires_at`, idHash, userID, ts(now)).Scan(&k.IDHash, &k.UserID, &k.Sealed, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return k, store.ErrNotFound
	}
	if err != nil {
		return k, fmt.Errorf("take key display: %w", err)
	}
	k.ExpiresAt = fromTS(exp)
	return k, nil
}

// SweepKeyDisplays removes expired displays.
func (d *DB) SweepKeyDisplays(ctx context.Context, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM key_displays WHERE expires_at <= ?`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("sweep key displays: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
