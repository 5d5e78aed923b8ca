package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tollgate/tollgate/internal/store"
)

// CreateWebSession inserts a web session.
func (d *DB) CreateWebSession(ctx context.Context, s store.WebSession) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO web_sessions (token_hash, user_id, stamp, csrf, created_at, seen_at, flash)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.TokenHash, s.UserID, blob(s.Stamp), s.CSRF, ts(s.CreatedAt), ts(s.SeenAt), blob(s.Flash))
	return writeErr("create web session", err)
}

// GetWebSession returns a web session by its token's hash.
func (d *DB) GetWebSession(ctx context.Context, tokenHash string) (store.WebSession, error) {
	if !storable(tokenHash) {
		return store.WebSession{}, store.ErrNotFound
	}
	s, err := queryOne(ctx, d.pool, func(row pgx.CollectableRow) (store.WebSession, error) {
		var s store.WebSession
		var c, seen pgtype.Timestamptz
		err := row.Scan(&s.TokenHash, &s.UserID, &s.Stamp, &s.CSRF, &c, &seen, &s.Flash)
		s.CreatedAt, s.SeenAt = fromTS(c), fromTS(seen)
		return s, err
	}, `SELECT token_hash, user_id, stamp, csrf, created_at, seen_at, flash FROM web_sessions WHERE token_hash = $1`, tokenHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.WebSession{}, store.ErrNotFound
	}
	if err != nil {
		return store.WebSession{}, wrap("get web session", err)
	}
	return s, nil
}

// TouchWebSession records when a session was last used.
func (d *DB) TouchWebSession(ctx context.Context, tokenHash string, seen time.Time) error {
	tag, err := d.pool.Exec(ctx, `UPDATE web_sessions SET seen_at = $1 WHERE token_hash = $2`, ts(seen), tokenHash)
	if err != nil {
		return wrap("touch web session", err)
	}
	return affectedOne(tag)
}

// SetWebSessionFlash replaces a session's flash.
func (d *DB) SetWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) error {
	tag, err := d.pool.Exec(ctx, `UPDATE web_sessions SET flash = $1 WHERE token_hash = $2`, blob(flash), tokenHash)
	if err != nil {
		return wrap("set web session flash", err)
	}
	return affectedOne(tag)
}

// ClearWebSessionFlash empties a session's flash if it still holds flash.
func (d *DB) ClearWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) (bool, error) {
	tag, err := d.pool.Exec(ctx, `UPDATE web_sessions SET flash = ''::bytea WHERE token_hash = $1 AND flash = $2 AND length(flash) > 0`,
		tokenHash, blob(flash))
	if err != nil {
		return false, wrap("clear web session flash", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteWebSession removes a session, if it exists.
func (d *DB) DeleteWebSession(ctx context.Context, tokenHash string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM web_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return wrap("delete web session", err)
	}
	return nil
}

// DeleteUserWebSessions removes every session of a user.
func (d *DB) DeleteUserWebSessions(ctx context.Context, userID string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM web_sessions WHERE user_id = $1`, userID); err != nil {
		return wrap("delete user web sessions", err)
	}
	return nil
}

// SweepWebSessions removes idle and too old sessions.
func (d *DB) SweepWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM web_sessions WHERE seen_at < $1 OR created_at < $2`, ts(seenBefore), ts(createdBefore))
	if err != nil {
		return 0, wrap("sweep web sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateKeyDisplay inserts a one-time key display.
func (d *DB) CreateKeyDisplay(ctx context.Context, k store.KeyDisplay) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO key_displays (id_hash, user_id, sealed, expires_at) VALUES ($1, $2, $3, $4)`,
		k.IDHash, k.UserID, blob(k.Sealed), ts(k.ExpiresAt))
	return writeErr("create key display", err)
}

// TakeKeyDisplay removes and returns a display of userID's that has not expired,
// in one statement, so that two takers cannot both get it.
func (d *DB) TakeKeyDisplay(ctx context.Context, idHash, userID string, now time.Time) (store.KeyDisplay, error) {
	if !storable(idHash) || !storable(userID) {
		return store.KeyDisplay{}, store.ErrNotFound
	}
	k, err := queryOne(ctx, d.pool, func(row pgx.CollectableRow) (store.KeyDisplay, error) {
		var k store.KeyDisplay
		var exp pgtype.Timestamptz
		err := row.Scan(&k.IDHash, &k.UserID, &k.Sealed, &exp)
		k.ExpiresAt = fromTS(exp)
		return k, err
	}, `DELETE FROM key_displays WHERE id_hash = $1 AND user_id = $2 AND expires_at > $3
		RETURNING id_hash, user_id, sealed, expires_at`, idHash, userID, ts(now))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.KeyDisplay{}, store.ErrNotFound
	}
	if err != nil {
		return store.KeyDisplay{}, wrap("take key display", err)
	}
	return k, nil
}

// SweepKeyDisplays removes expired displays.
func (d *DB) SweepKeyDisplays(ctx context.Context, now time.Time) (int, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM key_displays WHERE expires_at <= $1`, ts(now))
	if err != nil {
		return 0, wrap("sweep key displays", err)
	}
	return int(tag.RowsAffected()), nil
}
