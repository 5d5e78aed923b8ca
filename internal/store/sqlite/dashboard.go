package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// CreateOrg inserts an organisation.
func (d *DB) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)`, o.ID, o.Name, ts(o.CreatedAt))
	return writeErr("create org", err)
}

// DeleteEmptyOrg implements store.OrgStore.
func (d *DB) DeleteEmptyOrg(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM orgs WHERE id = ?1
		AND NOT EXISTS (SELECT 1 FROM users WHERE org_id = ?1) AND NOT EXISTS (SELECT 1 FROM apis WHERE org_id = ?1)
		AND NOT EXISTS (SELECT 1 FROM keys WHERE org_id = ?1) AND NOT EXISTS (SELECT 1 FROM policies WHERE org_id = ?1)
		AND NOT EXISTS (SELECT 1 FROM deleted_apis WHERE org_id = ?1)`, id)
	if err != nil {
		return writeErr("delete org", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// GetOrg returns one organisation.
func (d *DB) GetOrg(ctx context.Context, id string) (store.Org, error) {
	var o store.Org
	var c int64
	err := d.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM orgs WHERE id = ?`, id).Scan(&o.ID, &o.Name, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return o, store.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("get org: %w", err)
	}
	o.CreatedAt = fromTS(c)
	return o, nil
}

// ListOrgs returns every organisation, oldest first.
func (d *DB) ListOrgs(ctx context.Context) ([]store.Org, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, created_at FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	defer rows.Close()
	var out []store.Org
	for rows.Next() {
		var o store.Org
		var c int64
		if err := rows.Scan(&o.ID, &o.Name, &c); err != nil {
			return nil, fmt.Errorf("list orgs: %w", err)
		}
		o.CreatedAt = fromTS(c)
		out = append(out, o)
	}
	return out, rows.Err()
}

const userColumns = `id, org_id, email, first_name, last_name, password_hash, access_key_hash, access_key_enc, permissions, active, created_at, updated_at, last_login`

func scanUser(sc interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var active int
	var c, up, ll int64
	err := sc.Scan(&u.ID, &u.OrgID, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.AccessKeyHash, &u.AccessKeyEnc, &u.Permissions, &active, &c, &up, &ll)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("read user: %w", err)
	}
	u.Active = active != 0
	u.CreatedAt, u.UpdatedAt = fromTS(c), fromTS(up)
	if ll != 0 {
		u.LastLogin = fromTS(ll)
	}
	return u, nil
}

// blob keeps a nil byte slice from becoming SQL NULL in NOT NULL columns.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tsOpt stores the zero time as 0 (for "never", such as a user who never logged in).
func tsOpt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ts(t)
}

// CreateUser inserts a user.
func (d *DB) CreateUser(ctx context.Context, u store.User) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Email, u.FirstName, u.LastName, blob(u.PasswordHash), u.AccessKeyHash, blob(u.AccessKeyEnc), blob(u.Permissions),
		boolInt(u.Active), ts(u.CreatedAt), ts(u.UpdatedAt), tsOpt(u.LastLogin))
	return writeErr("create user", err)
}

// UpdateUser replaces a user, keeping its creation time and organisation.
func (d *DB) UpdateUser(ctx context.Context, u store.User) error {
	res, err := d.db.ExecContext(ctx, `UPDATE users SET email = ?, first_name = ?, last_name = ?, password_hash = ?, access_key_hash = ?,
		access_key_enc = ?, permissions = ?, active = ?, updated_at = ?, last_login = ? WHERE id = ?`,
		u.Email, u.FirstName, u.LastName, blob(u.PasswordHash), u.AccessKeyHash, blob(u.AccessKeyEnc), blob(u.Permissions), boolInt(u.Active),
		ts(u.UpdatedAt), tsOpt(u.LastLogin), u.ID)
	if err != nil {
		return writeErr("update user", err)
	}
	return affectedOne(res)
}

// GetUser returns a user by id.
func (d *DB) GetUser(ctx context.Context, id string) (store.User, error) {
	return scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// GetUserByEmail returns a user by (lower-case) e-mail.
func (d *DB) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
}

// GetUserByAccessKeyHash returns the user owning an access key.
func (d *DB) GetUserByAccessKeyHash(ctx context.Context, hash string) (store.User, error) {
	return scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE access_key_hash = ?`, hash))
}

// ListUsers lists users of one organisation ("" for all), oldest first.
func (d *DB) ListUsers(ctx context.Context, orgID string) ([]store.User, error) {
	q := `SELECT ` + userColumns + ` FROM users`
	var args []any
	if orgID != "" {
		q += ` WHERE org_id = ?`
		args = append(args, orgID)
	}
	rows, err := d.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser removes a user.
func (d *DB) DeleteUser(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	return affectedOne(res)
}

// CountUsers counts every user.
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// AppendAudit records an audit entry.
func (d *DB) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO audit (at, org_id, actor_id, actor_email, action, object_type, object_id, remote_addr, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ts(e.At), e.OrgID, e.ActorID, e.ActorEmail, e.Action, e.ObjectType, e.ObjectID, e.RemoteAddr, e.Detail)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// ListAudit returns entries newest first and the total count.
func (d *DB) ListAudit(ctx context.Context, orgID string, limit, offset int) ([]store.AuditEntry, int, error) {
	where, args := "", []any{}
	if orgID != "" {
		where, args = ` WHERE org_id = ?`, append(args, orgID)
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit: %w", err)
	}
	q := `SELECT id, at, org_id, actor_id, actor_email, action, object_type, object_id, remote_addr, detail FROM audit` + where + ` ORDER BY id DESC`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d OFFSET %d`, limit, max(offset, 0))
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.OrgID, &e.ActorID, &e.ActorEmail, &e.Action, &e.ObjectType, &e.ObjectID, &e.RemoteAddr, &e.Detail); err != nil {
			return nil, 0, fmt.Errorf("list audit: %w", err)
		}
		e.At = fromTS(at)
		out = append(out, e)
	}
	return out, total, rows.Err()
}
