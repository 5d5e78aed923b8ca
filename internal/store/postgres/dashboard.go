package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tollgate/tollgate/internal/store"
)

// CreateOrg inserts an organisation.
func (d *DB) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)`, o.ID, o.Name, ts(o.CreatedAt))
	return writeErr("create org", err)
}

func scanOrg(row pgx.CollectableRow) (store.Org, error) {
	var o store.Org
	var c pgtype.Timestamptz
	err := row.Scan(&o.ID, &o.Name, &c)
	o.CreatedAt = fromTS(c)
	return o, err
}

// DeleteEmptyOrg implements store.OrgStore.
func (d *DB) DeleteEmptyOrg(ctx context.Context, id string) error {
	if !storable(id) {
		return store.ErrNotFound
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM orgs WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM users WHERE org_id = $1) AND NOT EXISTS (SELECT 1 FROM apis WHERE org_id = $1)
		AND NOT EXISTS (SELECT 1 FROM keys WHERE org_id = $1) AND NOT EXISTS (SELECT 1 FROM policies WHERE org_id = $1)
		AND NOT EXISTS (SELECT 1 FROM deleted_apis WHERE org_id = $1)`, id)
	if err != nil {
		return writeErr("delete org", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// GetOrg returns one organisation.
func (d *DB) GetOrg(ctx context.Context, id string) (store.Org, error) {
	if !storable(id) {
		return store.Org{}, store.ErrNotFound
	}
	o, err := queryOne(ctx, d.pool, scanOrg, `SELECT id, name, created_at FROM orgs WHERE id = $1`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Org{}, store.ErrNotFound
	}
	if err != nil {
		return store.Org{}, wrap("get org", err)
	}
	return o, nil
}

// ListOrgs returns every organisation, oldest first, ties by id.
func (d *DB) ListOrgs(ctx context.Context) ([]store.Org, error) {
	out, err := queryAll(ctx, d.pool, scanOrg, `SELECT id, name, created_at FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list orgs", err)
	}
	return out, nil
}

const userColumns = `id, org_id, email, first_name, last_name, password_hash, access_key_hash, access_key_enc, permissions, active, created_at, updated_at, last_login`

func scanUser(row pgx.CollectableRow) (store.User, error) {
	var u store.User
	var c, up, ll pgtype.Timestamptz
	if err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.AccessKeyHash,
		&u.AccessKeyEnc, &u.Permissions, &u.Active, &c, &up, &ll); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLogin = fromTS(c), fromTS(up), fromTS(ll)
	return u, nil
}

// blob keeps a nil byte slice from becoming NULL in NOT NULL columns.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CreateUser inserts a user.
func (d *DB) CreateUser(ctx context.Context, u store.User) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.ID, u.OrgID, u.Email, u.FirstName, u.LastName, blob(u.PasswordHash), u.AccessKeyHash, blob(u.AccessKeyEnc), blob(u.Permissions),
		u.Active, ts(u.CreatedAt), ts(u.UpdatedAt), tsOpt(u.LastLogin))
	return writeErr("create user", err)
}

// UpdateUser replaces a user, keeping its creation time and organisation.
func (d *DB) UpdateUser(ctx context.Context, u store.User) error {
	tag, err := d.pool.Exec(ctx, `UPDATE users SET email = $1, first_name = $2, last_name = $3, password_hash = $4, access_key_hash = $5,
		access_key_enc = $6, permissions = $7, active = $8, updated_at = $9, last_login = $10 WHERE id = $11`,
		u.Email, u.FirstName, u.LastName, blob(u.PasswordHash), u.AccessKeyHash, blob(u.AccessKeyEnc), blob(u.Permissions), u.Active,
		ts(u.UpdatedAt), tsOpt(u.LastLogin), u.ID)
	if err != nil {
		return writeErr("update user", err)
	}
	return affectedOne(tag)
}

func (d *DB) getUser(ctx context.Context, col, v string) (store.User, error) {
	if !storable(v) {
		return store.User{}, store.ErrNotFound
	}
	u, err := queryOne(ctx, d.pool, scanUser, `SELECT `+userColumns+` FROM users WHERE `+col+` = $1`, v)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrap("get user", err)
	}
	return u, nil
}

// GetUser returns a user by id.
func (d *DB) GetUser(ctx context.Context, id string) (store.User, error) {
	return d.getUser(ctx, "id", id)
}

// GetUserByEmail returns a user by (lower-case) e-mail.
func (d *DB) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return d.getUser(ctx, "email", email)
}

// GetUserByAccessKeyHash returns the user owning an access key.
func (d *DB) GetUserByAccessKeyHash(ctx context.Context, hash string) (store.User, error) {
	return d.getUser(ctx, "access_key_hash", hash)
}

// ListUsers lists users of one organisation ("" for all), oldest first, ties by id.
func (d *DB) ListUsers(ctx context.Context, orgID string) ([]store.User, error) {
	q := `SELECT ` + userColumns + ` FROM users`
	var a args
	if orgID != "" {
		if !storable(orgID) {
			return nil, nil
		}
		q += ` WHERE org_id = ` + a.add(orgID)
	}
	out, err := queryAll(ctx, d.pool, scanUser, q+` ORDER BY created_at, id`, a...)
	if err != nil {
		return nil, wrap("list users", err)
	}
	return out, nil
}

// DeleteUser removes a user.
func (d *DB) DeleteUser(ctx context.Context, id string) error {
	if !storable(id) {
		return store.ErrNotFound
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return wrap("delete user", err)
	}
	return affectedOne(tag)
}

// CountUsers counts every user.
func (d *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// auditText makes s something text can hold: invalid UTF-8 and NUL become U+FFFD.
// An audit line is never refused for what it quotes (a key's alias may hold a NUL):
// a change that is made must leave its line.
func auditText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
}

// AppendAudit records an audit entry. Its id comes from an identity column, so
// ids grow with every entry, as in the SQLite store.
func (d *DB) AppendAudit(ctx context.Context, e store.AuditEntry) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO audit (at, org_id, actor_id, actor_email, action, object_type, object_id, remote_addr, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, ts(e.At), auditText(e.OrgID), auditText(e.ActorID), auditText(e.ActorEmail),
		auditText(e.Action), auditText(e.ObjectType), auditText(e.ObjectID), auditText(e.RemoteAddr), auditText(e.Detail))
	if err != nil {
		return wrap("append audit", err)
	}
	return nil
}

// ListAudit returns entries newest first and the total count.
func (d *DB) ListAudit(ctx context.Context, orgID string, limit, offset int) ([]store.AuditEntry, int, error) {
	var a args
	where := ""
	if orgID != "" {
		if !storable(orgID) {
			return nil, 0, nil
		}
		where = ` WHERE org_id = ` + a.add(orgID)
	}
	var total int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM audit`+where, a...).Scan(&total); err != nil {
		return nil, 0, wrap("count audit", err)
	}
	q := `SELECT id, at, org_id, actor_id, actor_email, action, object_type, object_id, remote_addr, detail FROM audit` + where + ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ` + a.add(limit) + ` OFFSET ` + a.add(max(offset, 0))
	}
	out, err := queryAll(ctx, d.pool, func(row pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		var at pgtype.Timestamptz
		err := row.Scan(&e.ID, &at, &e.OrgID, &e.ActorID, &e.ActorEmail, &e.Action, &e.ObjectType, &e.ObjectID, &e.RemoteAddr, &e.Detail)
		e.At = fromTS(at)
		return e, err
	}, q, a...)
	if err != nil {
		return nil, 0, wrap("list audit", err)
	}
	return out, total, nil
}
