// Package postgres is the store for several Tollgate processes sharing one
// database: PostgreSQL through a pgx connection pool. It keeps the embedded SQLite
// store's rules (storetest runs against both), and migrates its schema at Open, so
// gateways and dashboards that start together need no separate set-up step.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/store"
)

// DB is a store.Store backed by PostgreSQL.
//
// Unlike the SQLite store it has no Checkpoint: the server manages its own
// write-ahead log.
type DB struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*DB)(nil)

// Open connects to the database named by dsn (a postgres:// URL or key=value
// string, as libpq takes, plus pgx's pool_max_conns and default_query_exec_mode;
// default_query_exec_mode=simple_protocol works behind a transaction-pooling
// PgBouncer for queries; migrations take a session advisory lock, so the first
// start after an upgrade needs a direct or session-pooled connection) and brings its schema up to date. Several processes may open one
// database at once: migrations run under an advisory lock.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, wrap("postgres", err) // pgx's message masks the password
	}
	// Named in pg_stat_activity, unless the DSN names it otherwise.
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "tollgate"
	}
	// Where, for messages: never the DSN itself, which may hold a password.
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	ms, err := embeddedMigrations()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	if err := migrate(ctx, pool, ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate postgres %s: %w", where, err)
	}
	return &DB{pool: pool}, nil
}

func embeddedMigrations() ([]migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return loadMigrations(sub)
}

// Close closes every connection of the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Ping checks that the server answers.
func (d *DB) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

// SQLSTATE codes the store turns into its own errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// writeErr turns a failed write into the store's errors: a taken primary key or
// unique value is ErrConflict, a foreign key naming a missing row is
// ErrInvalidReference, a server that cannot be reached is ErrUnavailable (see
// wrap), and anything else (NOT NULL, CHECK, text PostgreSQL cannot hold: bugs of
// the caller, not conditions a user can cause) stays an error of its own with op as
// context.
func writeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation:
			return fmt.Errorf("%s: %w (%s)", op, store.ErrConflict, pe.ConstraintName)
		case foreignKeyViolation:
			return fmt.Errorf("%s: %w (%s)", op, store.ErrInvalidReference, pe.ConstraintName)
		}
	}
	return wrap(op, err)
}

// wrap gives err op as context and, when it is a failure to reach the server,
// store.ErrUnavailable as well, so every door answers 503 (retry) rather than 500
// or a refusal. Errors already wrapped (by a statement inside a transaction) are
// only given context.
func wrap(op string, err error) error {
	if unreachable(err) && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err says the server could not be reached or
// went away (a refused or failed connection, a connection lost mid-statement, a
// server shutting down, starting up or out of connections, a deadline), rather
// than that a statement was refused. What the statement did is then whole or
// nothing: each write is one statement or one transaction.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Whatever the reason (refused, a server starting up, even a password
		// it no longer takes), this node cannot reach its store.
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection_exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case pe.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// storable reports whether PostgreSQL can hold s as text: valid UTF-8 without NUL.
// A lookup by anything else finds nothing, rather than failing on the server's
// refusal, since no stored row can hold it (a login form can send both).
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// ts is how a time is written: truncated to the microsecond PostgreSQL keeps,
// because the server would round, and the store truncates.
func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// tsOpt writes the zero time ("never") as NULL.
func tsOpt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// fromTS reads a time back in UTC; NULL is the zero time.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// args numbers the parameters of a query as it is built.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// tx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise. A server lost on the way (at BEGIN, in fn, at COMMIT) is
// store.ErrUnavailable, and PostgreSQL rolls back what it had not committed.
func (d *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, d.pool, fn)
	if err != nil && unreachable(err) && !errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// querier is what runs a query: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryOne reads the one row a query returns with scan (pgx.ErrNoRows if none).
func queryOne[T any](ctx context.Context, q querier, scan pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return pgx.CollectExactlyOneRow(rows, scan)
}

// queryAll reads every row a query returns with scan.
func queryAll[T any](ctx context.Context, q querier, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

func affectedOne(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

const apiColumns = `id, org_id, route_key, definition, created_at, updated_at`

func scanAPI(row pgx.CollectableRow) (store.API, error) {
	var a store.API
	var c, u pgtype.Timestamptz
	if err := row.Scan(&a.ID, &a.OrgID, &a.RouteKey, &a.Definition, &c, &u); err != nil {
		return store.API{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromTS(c), fromTS(u)
	return a, nil
}

// ListAPIs returns every API, oldest first, ties by id.
func (d *DB) ListAPIs(ctx context.Context) ([]store.API, error) {
	out, err := queryAll(ctx, d.pool, scanAPI, `SELECT `+apiColumns+` FROM apis ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list apis", err)
	}
	return out, nil
}

// GetAPI returns one API.
func (d *DB) GetAPI(ctx context.Context, id string) (store.API, error) {
	if !storable(id) {
		return store.API{}, store.ErrNotFound
	}
	a, err := queryOne(ctx, d.pool, scanAPI, `SELECT `+apiColumns+` FROM apis WHERE id = $1`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.API{}, store.ErrNotFound
	}
	if err != nil {
		return store.API{}, wrap("get api", err)
	}
	return a, nil
}

// CreateAPI inserts an API.
func (d *DB) CreateAPI(ctx context.Context, a store.API) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO apis (`+apiColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.OrgID, a.RouteKey, a.Definition, ts(a.CreatedAt), ts(a.UpdatedAt))
	return writeErr("create api", err)
}

// UpdateAPI replaces an API, keeping its creation time.
func (d *DB) UpdateAPI(ctx context.Context, a store.API) error {
	tag, err := d.pool.Exec(ctx, `UPDATE apis SET org_id = $1, route_key = $2, definition = $3, updated_at = $4 WHERE id = $5`,
		a.OrgID, a.RouteKey, a.Definition, ts(a.UpdatedAt), a.ID)
	if err != nil {
		return writeErr("update api", err)
	}
	return affectedOne(tag)
}

// DeleteAPI removes an API and records its id and organisation, in one statement
// (so in one transaction).
func (d *DB) DeleteAPI(ctx context.Context, id string) error {
	if !storable(id) {
		return store.ErrNotFound
	}
	tag, err := d.pool.Exec(ctx, `WITH gone AS (DELETE FROM apis WHERE id = $1 RETURNING id, org_id)
		INSERT INTO deleted_apis (id, org_id, deleted_at) SELECT id, org_id, now() FROM gone
		ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, deleted_at = excluded.deleted_at`, id)
	if err != nil {
		return wrap("delete api", err)
	}
	return affectedOne(tag)
}

// DeletedAPIOrg returns the organisation of a deleted API's id.
func (d *DB) DeletedAPIOrg(ctx context.Context, id string) (string, error) {
	if !storable(id) {
		return "", store.ErrNotFound
	}
	var org string
	err := d.pool.QueryRow(ctx, `SELECT org_id FROM deleted_apis WHERE id = $1`, id).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", wrap("deleted api", err)
	}
	return org, nil
}

// apiIDs is how a key's API ids are passed: never NULL, so unnest yields no rows.
func apiIDs(k store.Key) []string { return nonNil(k.APIIDs) }

// nonNil passes a list as an array parameter: never NULL, so unnest yields no rows.
func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// CreateKey inserts a key and its API index rows in one statement. The index
// rows' foreign key is checked at the end of the statement, when the key exists.
func (d *DB) CreateKey(ctx context.Context, k store.Key) error {
	_, err := d.pool.Exec(ctx, `WITH k AS (
			INSERT INTO keys (hash, org_id, alias, alias_fold, session, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING hash
		)
		, a AS (
			INSERT INTO key_apis (hash, api_id) SELECT k.hash, a FROM k, unnest($8::text[]) AS a
			ON CONFLICT DO NOTHING
		)
		INSERT INTO key_policies (hash, policy_id) SELECT k.hash, p FROM k, unnest($9::text[]) AS p
		ON CONFLICT DO NOTHING`,
		k.Hash, k.OrgID, []byte(k.Alias), store.FoldAlias(k.Alias), k.Session, ts(k.CreatedAt), ts(k.UpdatedAt), apiIDs(k), nonNil(k.PolicyIDs))
	return writeErr("create key", err)
}

// UpdateKey replaces a key's session, alias and API index rows. Three statements in a
// transaction, not one: the UPDATE locks the key, so the DELETE that follows sees
// the index rows of an update that committed while this one waited (one statement
// would see only its starting snapshot and leave them behind).
func (d *DB) UpdateKey(ctx context.Context, k store.Key) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keys SET org_id = $1, alias = $2, alias_fold = $3, session = $4, updated_at = $5 WHERE hash = $6`,
			k.OrgID, []byte(k.Alias), store.FoldAlias(k.Alias), k.Session, ts(k.UpdatedAt), k.Hash)
		if err != nil {
			return writeErr("update key", err)
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM key_apis WHERE hash = $1`, k.Hash)
		b.Queue(`INSERT INTO key_apis (hash, api_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, k.Hash, apiIDs(k))
		b.Queue(`DELETE FROM key_policies WHERE hash = $1`, k.Hash)
		b.Queue(`INSERT INTO key_policies (hash, policy_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, k.Hash, nonNil(k.PolicyIDs))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return writeErr("update key apis", err)
		}
		return nil
	})
}

// GetKey returns one key by hash.
func (d *DB) GetKey(ctx context.Context, hash string) (store.Key, error) {
	if !storable(hash) {
		return store.Key{}, store.ErrNotFound
	}
	k, err := queryOne(ctx, d.pool, scanKey, `SELECT `+keyColumns+` FROM keys k WHERE k.hash = $1`, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Key{}, store.ErrNotFound
	}
	if err != nil {
		return store.Key{}, wrap("get key", err)
	}
	return k, nil
}

// DeleteKey removes a key (its API index rows go with it).
func (d *DB) DeleteKey(ctx context.Context, hash string) error {
	if !storable(hash) {
		return store.ErrNotFound
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM keys WHERE hash = $1`, hash)
	if err != nil {
		return wrap("delete key", err)
	}
	return affectedOne(tag)
}

// keyColumns reads a key with its API ids in the same statement, as one array per
// key, so that a page of keys costs one query, not one per key.
const keyColumns = `k.hash, k.org_id, k.alias, k.session, k.created_at, k.updated_at,
	ARRAY(SELECT a.api_id FROM key_apis a WHERE a.hash = k.hash ORDER BY a.api_id),
	ARRAY(SELECT p.policy_id FROM key_policies p WHERE p.hash = k.hash ORDER BY p.policy_id)`

func scanKey(row pgx.CollectableRow) (store.Key, error) {
	var k store.Key
	var c, u pgtype.Timestamptz
	var alias []byte
	if err := row.Scan(&k.Hash, &k.OrgID, &alias, &k.Session, &c, &u, &k.APIIDs, &k.PolicyIDs); err != nil {
		return store.Key{}, err
	}
	k.Alias, k.CreatedAt, k.UpdatedAt = string(alias), fromTS(c), fromTS(u)
	if len(k.APIIDs) == 0 {
		k.APIIDs = nil // as written: no APIs is nil, not empty
	}
	if len(k.PolicyIDs) == 0 {
		k.PolicyIDs = nil
	}
	return k, nil
}

// keyWhere returns the WHERE clause (possibly empty) selecting the keys f keeps
// from "keys k", adding its parameters to a.
func keyWhere(f store.KeyFilter, a *args) string {
	var conds []string
	if f.Query != "" {
		// strings.ToLower's result is valid UTF-8 whatever the input, so only a
		// NUL can make it something no alias_fold or hash holds.
		q := strings.ToLower(f.Query)
		if strings.IndexByte(q, 0) >= 0 {
			return " WHERE FALSE"
		}
		// LIKE's escape character is the backslash unless told otherwise.
		conds = append(conds, "("+prefixRange("k.hash", q, a)+" OR k.alias_fold LIKE "+a.add("%"+escapeLike(q)+"%")+")")
	}
	if f.OrgID != "" {
		if !storable(f.OrgID) {
			return " WHERE FALSE"
		}
		conds = append(conds, "k.org_id = "+a.add(f.OrgID))
	}
	if f.APIID != "" {
		if !storable(f.APIID) {
			return " WHERE FALSE"
		}
		conds = append(conds, "EXISTS (SELECT 1 FROM key_apis x WHERE x.hash = k.hash AND x.api_id = "+a.add(f.APIID)+")")
	}
	if f.HashPrefix != "" {
		conds = append(conds, prefixRange("k.hash", f.HashPrefix, a))
	}
	if f.PolicyID != "" {
		if !storable(f.PolicyID) {
			return " WHERE FALSE"
		}
		// The key may name the policy by its id or its database id.
		id := a.add(f.PolicyID)
		conds = append(conds, `EXISTS (SELECT 1 FROM key_policies x WHERE x.hash = k.hash AND x.policy_id IN
			(SELECT id FROM policies WHERE id = `+id+` OR mid = `+id+` UNION SELECT mid FROM policies WHERE id = `+id+` OR mid = `+id+` UNION SELECT `+id+`::text))`)
	}
	if f.PolicyMissing {
		conds = append(conds, `EXISTS (SELECT 1 FROM key_policies x WHERE x.hash = k.hash AND NOT EXISTS
			(SELECT 1 FROM policies p WHERE p.id = x.policy_id OR p.mid = x.policy_id))`)
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// likeEscaper makes user input literal in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// prefixRange returns a condition keeping rows whose col starts with p, as a range
// so that it runs on the column's ("C") index. A p PostgreSQL cannot hold as text
// matches nothing.
func prefixRange(col, p string, a *args) string {
	if !storable(p) {
		return "FALSE"
	}
	if upper, ok := store.PrefixUpperBound(p); ok {
		return "(" + col + " >= " + a.add(p) + " AND " + col + " < " + a.add(upper) + ")"
	}
	return col + " >= " + a.add(p)
}

// listKeysSQL returns the statement listing the keys f selects.
func listKeysSQL(f store.KeyFilter) (string, args) {
	var a args
	// The page is chosen from the indexes alone (hashes only) and only its rows are
	// read in full: sessions and API ids of keys skipped by the offset are never
	// loaded.
	page := `SELECT k.hash FROM keys k` + keyWhere(f, &a) + ` ORDER BY k.created_at DESC, k.hash`
	if f.Limit > 0 {
		page += ` LIMIT ` + a.add(f.Limit) + ` OFFSET ` + a.add(max(f.Offset, 0))
	}
	return `SELECT ` + keyColumns + ` FROM (` + page + `) p JOIN keys k ON k.hash = p.hash
		ORDER BY k.created_at DESC, k.hash`, a
}

// ListKeys returns keys matching f, newest first, ties by hash.
func (d *DB) ListKeys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	q, a := listKeysSQL(f)
	out, err := queryAll(ctx, d.pool, scanKey, q, a...)
	if err != nil {
		return nil, wrap("list keys", err)
	}
	return out, nil
}

// CountKeys counts keys matching f (ignoring Limit and Offset).
func (d *DB) CountKeys(ctx context.Context, f store.KeyFilter) (int, error) {
	var a args
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM keys k`+keyWhere(f, &a), a...).Scan(&n); err != nil {
		return 0, wrap("count keys", err)
	}
	return n, nil
}

// SaveCounters upserts quota counters in one transaction and one round trip. One
// statement per counter (a batch), not one multi-row upsert, so that a name given
// twice is written twice, the last one winning, as in the SQLite store.
func (d *DB) SaveCounters(ctx context.Context, cs []store.Counter) error {
	if len(cs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range cs {
		b.Queue(`INSERT INTO quota_counters (name, used, renews_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET used = excluded.used, renews_at = excluded.renews_at`,
			c.Name, c.Used, tsOpt(c.RenewsAt))
	}
	return d.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return wrap("save counters", err)
		}
		return nil
	})
}

// LoadCounters returns every persisted counter.
func (d *DB) LoadCounters(ctx context.Context) ([]store.Counter, error) {
	out, err := queryAll(ctx, d.pool, func(row pgx.CollectableRow) (store.Counter, error) {
		var c store.Counter
		var renews pgtype.Timestamptz
		err := row.Scan(&c.Name, &c.Used, &renews)
		c.RenewsAt = fromTS(renews)
		return c, err
	}, `SELECT name, used, renews_at FROM quota_counters`)
	if err != nil {
		return nil, wrap("load counters", err)
	}
	return out, nil
}

// DeleteCounters removes counters whose name starts with prefix.
func (d *DB) DeleteCounters(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("delete counters: empty prefix")
	}
	// A range on the primary key: this runs on every key create, update and
	// delete, and must not scan every counter.
	var a args
	if _, err := d.pool.Exec(ctx, `DELETE FROM quota_counters WHERE `+prefixRange("name", prefix, &a), a...); err != nil {
		return wrap("delete counters", err)
	}
	return nil
}
