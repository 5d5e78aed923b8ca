// Package sqlite is the embedded store: one SQLite file through the pure-Go
// modernc.org/sqlite driver, so the binary needs no cgo and no set-up.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/store"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// DB is a store.Store backed by SQLite.
type DB struct {
	db *sql.DB
	// plan is how key searches are run: searchAuto but in tests, which force each
	// plan in turn to check that both give the same answers.
	plan searchPlan
}

// searchPlan is how a key search finds its matches.
type searchPlan int

const (
	// searchAuto takes the cheaper of the two below for each search.
	searchAuto searchPlan = iota
	// searchTrigram reads the matches from the trigram index.
	searchTrigram
	// searchScan scans keys_org_created.
	searchScan
)

var _ store.Store = (*DB)(nil)

// migration is one schema step: SQL, then, when SQL cannot do it, Go in the same
// transaction.
type migration struct {
	sql  string
	fill func(ctx context.Context, tx *sql.Tx) error
}

// migrations are applied in order; the index of the last applied one is kept in
// PRAGMA user_version. Never edit a released entry: append.
var migrations = []migration{
	{sql: `CREATE TABLE apis (
		id TEXT PRIMARY KEY,
		org_id TEXT NOT NULL,
		route_key TEXT NOT NULL UNIQUE,
		definition BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE keys (
		hash TEXT PRIMARY KEY,
		org_id TEXT NOT NULL,
		session BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX keys_org_created ON keys(org_id, created_at);
	CREATE INDEX keys_created ON keys(created_at);
	CREATE TABLE key_apis (
		hash TEXT NOT NULL REFERENCES keys(hash) ON DELETE CASCADE,
		api_id TEXT NOT NULL,
		PRIMARY KEY (api_id, hash)
	);
	CREATE INDEX key_apis_hash ON key_apis(hash);
	CREATE TABLE quota_counters (
		name TEXT PRIMARY KEY,
		used INTEGER NOT NULL,
		renews_at INTEGER NOT NULL
	);`},
	{sql: `CREATE TABLE orgs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		org_id TEXT NOT NULL REFERENCES orgs(id),
		email TEXT NOT NULL UNIQUE,
		first_name TEXT NOT NULL,
		last_name TEXT NOT NULL,
		password_hash BLOB NOT NULL,
		access_key_hash TEXT NOT NULL UNIQUE,
		access_key_enc BLOB NOT NULL,
		permissions BLOB NOT NULL,
		active INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		last_login INTEGER NOT NULL
	);
	CREATE INDEX users_org ON users(org_id, created_at);
	CREATE TABLE audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at INTEGER NOT NULL,
		org_id TEXT NOT NULL,
		actor_id TEXT NOT NULL,
		actor_email TEXT NOT NULL,
		action TEXT NOT NULL,
		object_type TEXT NOT NULL,
		object_id TEXT NOT NULL,
		remote_addr TEXT NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_org ON audit(org_id, id);`},
	// Deleted APIs leave their id and organisation behind, so that no other
	// organisation can claim the id and inherit keys that still name it.
	{sql: `CREATE TABLE deleted_apis (
		id TEXT PRIMARY KEY,
		org_id TEXT NOT NULL,
		deleted_at INTEGER NOT NULL
	);`},
	// Key listings filter and page in SQL rather than decoding every session.
	// alias is the session's alias; alias_fold is it folded for search by Go
	// (store.FoldAlias), because SQLite's lower() folds ASCII only.
	// keys_org_created matches ORDER BY created_at DESC, hash, so a page is read in
	// index order and the scan stops at its end; it carries alias_fold so that a
	// search scans this index alone, not the sessions.
	{sql: `ALTER TABLE keys ADD COLUMN alias TEXT NOT NULL DEFAULT '';
	ALTER TABLE keys ADD COLUMN alias_fold TEXT NOT NULL DEFAULT '';
	UPDATE keys SET alias = json_extract(CAST(session AS TEXT), '$.alias')
		WHERE json_valid(CAST(session AS TEXT)) AND json_type(CAST(session AS TEXT), '$.alias') = 'text';
	DROP INDEX keys_org_created;
	DROP INDEX keys_created;
	CREATE INDEX keys_org_created ON keys(org_id, created_at DESC, hash, alias_fold);
	CREATE INDEX keys_created ON keys(created_at DESC, hash);`, fill: foldAliases},
	// A search scan and a page count still read every key of an organisation
	// (BenchmarkKeySearch in internal/dashboard: with 50,000 keys a search took 60
	// to 80 times as long as with 1,000). key_alias_trigrams indexes alias_fold by
	// trigram, so that a search of 3 or more characters can read its matches only;
	// usermerge 2 lets Checkpoint keep its segments few. Its rowid is
	// keys.search_id, not keys.rowid, because VACUUM may renumber the rowids of a
	// table without an INTEGER PRIMARY KEY. key_counts keeps each organisation's
	// number of keys, for the page count of an unfiltered listing and to price a
	// scan. Triggers keep both in step with keys, whatever statement changes it.
	{sql: `ALTER TABLE keys ADD COLUMN search_id INTEGER;
	UPDATE keys SET search_id = rowid;
	CREATE UNIQUE INDEX keys_search_id ON keys(search_id);

	CREATE VIRTUAL TABLE key_alias_trigrams USING fts5(alias_fold, content='', contentless_delete=1, tokenize='trigram case_sensitive 1');
	INSERT INTO key_alias_trigrams (key_alias_trigrams, rank) VALUES ('usermerge', 2);
	INSERT INTO key_alias_trigrams (rowid, alias_fold) SELECT search_id, alias_fold FROM keys WHERE alias_fold != '';
	CREATE TRIGGER keys_trigrams_insert AFTER INSERT ON keys WHEN new.alias_fold != '' BEGIN
		INSERT INTO key_alias_trigrams (rowid, alias_fold) VALUES (new.search_id, new.alias_fold);
	END;
	CREATE TRIGGER keys_trigrams_update AFTER UPDATE OF alias_fold ON keys WHEN old.alias_fold IS NOT new.alias_fold BEGIN
		DELETE FROM key_alias_trigrams WHERE rowid = old.search_id AND old.alias_fold != '';
		INSERT INTO key_alias_trigrams (rowid, alias_fold) SELECT new.search_id, new.alias_fold WHERE new.alias_fold != '';
	END;
	CREATE TRIGGER keys_trigrams_delete AFTER DELETE ON keys WHEN old.alias_fold != '' BEGIN
		DELETE FROM key_alias_trigrams WHERE rowid = old.search_id;
	END;

	CREATE TABLE key_counts (
		org_id TEXT PRIMARY KEY,
		n INTEGER NOT NULL
	) WITHOUT ROWID;
	INSERT INTO key_counts (org_id, n) SELECT org_id, COUNT(*) FROM keys GROUP BY org_id;
	CREATE TRIGGER keys_count_insert AFTER INSERT ON keys BEGIN
		INSERT INTO key_counts (org_id, n) VALUES (new.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET n = n + 1;
	END;
	CREATE TRIGGER keys_count_update AFTER UPDATE OF org_id ON keys WHEN old.org_id IS NOT new.org_id BEGIN
		UPDATE key_counts SET n = n - 1 WHERE org_id = old.org_id;
		INSERT INTO key_counts (org_id, n) VALUES (new.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET n = n + 1;
	END;
	CREATE TRIGGER keys_count_delete AFTER DELETE ON keys BEGIN
		UPDATE key_counts SET n = n - 1 WHERE org_id = old.org_id;
	END;`},
	// Security policies. mid is the dashboard's database id; keys may name a
	// policy by either id, so key_policies holds the name as the key gives it.
	// name_fold is the name folded by Go for search, as keys' alias_fold.
	// key_policies is filled from the stored sessions (keys written before
	// policies existed may already name some).
	{sql: `CREATE TABLE policies (
		id TEXT PRIMARY KEY,
		mid TEXT NOT NULL UNIQUE,
		org_id TEXT NOT NULL,
		name TEXT NOT NULL,
		name_fold TEXT NOT NULL,
		state TEXT NOT NULL,
		document BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		UNIQUE (org_id, name)
	);
	CREATE INDEX policies_org_name ON policies(org_id, name, id);
	CREATE TABLE policy_apis (
		policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
		api_id TEXT NOT NULL,
		PRIMARY KEY (api_id, policy_id)
	);
	CREATE INDEX policy_apis_policy ON policy_apis(policy_id);
	CREATE TABLE key_policies (
		hash TEXT NOT NULL REFERENCES keys(hash) ON DELETE CASCADE,
		policy_id TEXT NOT NULL,
		PRIMARY KEY (policy_id, hash)
	);
	CREATE INDEX key_policies_hash ON key_policies(hash);`, fill: indexKeyPolicies},
	// settings holds what the nodes sharing a store must agree on (see
	// store.SettingStore).
	{sql: `CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		updated_at INTEGER NOT NULL
	);`},
	// Web UI sessions and one-time key displays, in the store so that every
	// dashboard on it serves every browser and a restart logs nobody out. Only
	// hashes of the cookie token and the display id are kept, and the key
	// displayed only sealed. The indexes serve the sweeps and the end of all of
	// a user's sessions.
	{sql: `CREATE TABLE web_sessions (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		stamp BLOB NOT NULL,
		csrf TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		seen_at INTEGER NOT NULL,
		flash BLOB NOT NULL
	);
	CREATE INDEX web_sessions_user ON web_sessions(user_id);
	CREATE INDEX web_sessions_seen ON web_sessions(seen_at);
	CREATE INDEX web_sessions_created ON web_sessions(created_at);
	CREATE TABLE key_displays (
		id_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		sealed BLOB NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX key_displays_user ON key_displays(user_id);
	CREATE INDEX key_displays_expires ON key_displays(expires_at);`},
}

// indexKeyPolicies fills key_policies from the stored sessions: apply_policies,
// or the legacy apply_policy_id when that is empty (policy.IDs' rule).
func indexKeyPolicies(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT hash, session FROM keys WHERE instr(CAST(session AS TEXT), '"apply_polic') > 0`)
	if err != nil {
		return err
	}
	named := map[string][]string{}
	for rows.Next() {
		var h string
		var doc []byte
		if err := rows.Scan(&h, &doc); err != nil {
			rows.Close()
			return err
		}
		var s struct {
			ApplyPolicies []string `json:"apply_policies"`
			ApplyPolicyID string   `json:"apply_policy_id"`
		}
		if json.Unmarshal(doc, &s) != nil {
			continue // not this migration's to judge; the key loads as before
		}
		if len(s.ApplyPolicies) == 0 && s.ApplyPolicyID != "" {
			s.ApplyPolicies = []string{s.ApplyPolicyID}
		}
		named[h] = s.ApplyPolicies
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for h, ids := range named {
		if err := insertKeyPolicies(ctx, tx, store.Key{Hash: h, PolicyIDs: ids}); err != nil {
			return err
		}
	}
	return nil
}

// foldAliases fills alias_fold for the aliases the migration copied out of the
// stored sessions.
func foldAliases(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT hash, alias FROM keys WHERE alias != ''`)
	if err != nil {
		return err
	}
	var hashes, aliases []string
	for rows.Next() {
		var h, a string
		if err := rows.Scan(&h, &a); err != nil {
			rows.Close()
			return err
		}
		hashes, aliases = append(hashes, h), append(aliases, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, h := range hashes {
		if _, err := tx.ExecContext(ctx, `UPDATE keys SET alias_fold = ? WHERE hash = ?`, store.FoldAlias(aliases[i]), h); err != nil {
			return err
		}
	}
	return nil
}

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*DB, error) {
	// Pragmas chosen for a server workload: WAL lets readers run beside the writer;
	// synchronous NORMAL is durable across process crashes in WAL mode (only an OS
	// crash can lose the last transactions); busy_timeout makes writers queue rather
	// than fail; immediate transactions avoid read-to-write upgrade deadlocks.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// Under steady load a checkpoint rarely finds the WAL free of readers, so the
	// file keeps its high-water size; cap what is kept after each checkpoint.
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return &DB{db: db, plan: searchAuto}, nil
}

func migrate(ctx context.Context, db *sql.DB) error { return migrateTo(ctx, db, len(migrations)) }

// migrateTo applies the migrations up to schema version n (tests stop short of the
// newest to check what a later one does to existing rows).
func migrateTo(ctx context.Context, db *sql.DB, n int) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary (%d)", version, len(migrations))
	}
	for i := version; i < n; i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		m := migrations[i]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if m.fill != nil {
			if err := m.fill(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Ping checks that the database file can be queried.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// writeErr turns a failed write into the store's errors: a taken primary key or
// unique value is ErrConflict, a foreign key naming a missing row is
// ErrInvalidReference, and anything else (NOT NULL, CHECK: bugs of the caller, not
// conditions a user can cause) stays an internal error with op as context.
func writeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3lib.SQLITE_CONSTRAINT_UNIQUE:
			return store.ErrConflict
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.ErrInvalidReference
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ts is how times are stored: nanoseconds since the epoch, truncated to the
// microsecond that store promises (and PostgreSQL keeps), so both backends order
// and compare the same values.
func ts(t time.Time) int64 { return t.Truncate(time.Microsecond).UnixNano() }

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ListAPIs returns every API, oldest first.
func (d *DB) ListAPIs(ctx context.Context) ([]store.API, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, org_id, route_key, definition, created_at, updated_at FROM apis ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list apis: %w", err)
	}
	defer rows.Close()
	var out []store.API
	for rows.Next() {
		var a store.API
		var c, u int64
		if err := rows.Scan(&a.ID, &a.OrgID, &a.RouteKey, &a.Definition, &c, &u); err != nil {
			return nil, fmt.Errorf("list apis: %w", err)
		}
		a.CreatedAt, a.UpdatedAt = fromTS(c), fromTS(u)
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetAPI returns one API.
func (d *DB) GetAPI(ctx context.Context, id string) (store.API, error) {
	var a store.API
	var c, u int64
	err := d.db.QueryRowContext(ctx, `SELECT id, org_id, route_key, definition, created_at, updated_at FROM apis WHERE id = ?`, id).
		Scan(&a.ID, &a.OrgID, &a.RouteKey, &a.Definition, &c, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("get api: %w", err)
	}
	a.CreatedAt, a.UpdatedAt = fromTS(c), fromTS(u)
	return a, nil
}

// CreateAPI inserts an API.
func (d *DB) CreateAPI(ctx context.Context, a store.API) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO apis (id, org_id, route_key, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.OrgID, a.RouteKey, a.Definition, ts(a.CreatedAt), ts(a.UpdatedAt))
	return writeErr("create api", err)
}

// UpdateAPI replaces an API, keeping its creation time.
func (d *DB) UpdateAPI(ctx context.Context, a store.API) error {
	res, err := d.db.ExecContext(ctx, `UPDATE apis SET org_id = ?, route_key = ?, definition = ?, updated_at = ? WHERE id = ?`,
		a.OrgID, a.RouteKey, a.Definition, ts(a.UpdatedAt), a.ID)
	if err != nil {
		return writeErr("update api", err)
	}
	return affectedOne(res)
}

// DeleteAPI removes an API and records its id and organisation in the same
// transaction.
func (d *DB) DeleteAPI(ctx context.Context, id string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		var org string
		err := tx.QueryRowContext(ctx, `SELECT org_id FROM apis WHERE id = ?`, id).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("delete api: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM apis WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete api: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO deleted_apis (id, org_id, deleted_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id, deleted_at = excluded.deleted_at`, id, org, ts(time.Now()))
		if err != nil {
			return fmt.Errorf("delete api: record deleted id: %w", err)
		}
		return nil
	})
}

// DeletedAPIOrg returns the organisation of a deleted API's id.
func (d *DB) DeletedAPIOrg(ctx context.Context, id string) (string, error) {
	var org string
	err := d.db.QueryRowContext(ctx, `SELECT org_id FROM deleted_apis WHERE id = ?`, id).Scan(&org)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("deleted api: %w", err)
	}
	return org, nil
}

func affectedOne(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// CreateKey inserts a key and its API index rows in one transaction.
func (d *DB) CreateKey(ctx context.Context, k store.Key) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		// Writers hold the database's write lock (immediate transactions), so the
		// next search_id cannot be taken twice.
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (hash, org_id, alias, alias_fold, session, created_at, updated_at, search_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(search_id), 0) + 1 FROM keys))`,
			k.Hash, k.OrgID, k.Alias, store.FoldAlias(k.Alias), k.Session, ts(k.CreatedAt), ts(k.UpdatedAt))
		if err != nil {
			return writeErr("create key", err)
		}
		if err := insertKeyAPIs(ctx, tx, k); err != nil {
			return err
		}
		return insertKeyPolicies(ctx, tx, k)
	})
}

func insertKeyPolicies(ctx context.Context, tx *sql.Tx, k store.Key) error {
	for _, id := range k.PolicyIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO key_policies (hash, policy_id) VALUES (?, ?)`, k.Hash, id); err != nil {
			return fmt.Errorf("index key policies: %w", err)
		}
	}
	return nil
}

func insertKeyAPIs(ctx context.Context, tx *sql.Tx, k store.Key) error {
	for _, id := range k.APIIDs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO key_apis (hash, api_id) VALUES (?, ?)`, k.Hash, id); err != nil {
			return fmt.Errorf("index key apis: %w", err)
		}
	}
	return nil
}

// UpdateKey replaces a key's session, alias and API index rows.
func (d *DB) UpdateKey(ctx context.Context, k store.Key) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET org_id = ?, alias = ?, alias_fold = ?, session = ?, updated_at = ? WHERE hash = ?`,
			k.OrgID, k.Alias, store.FoldAlias(k.Alias), k.Session, ts(k.UpdatedAt), k.Hash)
		if err != nil {
			return writeErr("update key", err)
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_apis WHERE hash = ?`, k.Hash); err != nil {
			return fmt.Errorf("update key apis: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM key_policies WHERE hash = ?`, k.Hash); err != nil {
			return fmt.Errorf("update key policies: %w", err)
		}
		if err := insertKeyAPIs(ctx, tx, k); err != nil {
			return err
		}
		return insertKeyPolicies(ctx, tx, k)
	})
}

func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// keyColumns reads a key with its API ids in the same statement: the ids come as
// one JSON array per key, so a page of keys costs one query, not one per key.
const keyColumns = `k.hash, k.org_id, k.alias, k.session, k.created_at, k.updated_at,
	(SELECT json_group_array(a.api_id ORDER BY a.api_id) FROM key_apis a WHERE a.hash = k.hash),
	(SELECT json_group_array(p.policy_id ORDER BY p.policy_id) FROM key_policies p WHERE p.hash = k.hash)`

func scanKey(sc interface{ Scan(...any) error }) (store.Key, error) {
	var k store.Key
	var c, u int64
	var apis, pols string
	if err := sc.Scan(&k.Hash, &k.OrgID, &k.Alias, &k.Session, &c, &u, &apis, &pols); err != nil {
		return k, err
	}
	k.CreatedAt, k.UpdatedAt = fromTS(c), fromTS(u)
	if err := json.Unmarshal([]byte(apis), &k.APIIDs); err != nil {
		return k, fmt.Errorf("key apis of %s: %w", k.Hash, err)
	}
	if err := json.Unmarshal([]byte(pols), &k.PolicyIDs); err != nil {
		return k, fmt.Errorf("key policies of %s: %w", k.Hash, err)
	}
	if len(k.APIIDs) == 0 {
		k.APIIDs = nil
	}
	if len(k.PolicyIDs) == 0 {
		k.PolicyIDs = nil
	}
	return k, nil
}

// GetKey returns one key by hash.
func (d *DB) GetKey(ctx context.Context, hash string) (store.Key, error) {
	k, err := scanKey(d.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys k WHERE k.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Key{}, store.ErrNotFound
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("get key: %w", err)
	}
	return k, nil
}

// DeleteKey removes a key (its API index rows go with it).
func (d *DB) DeleteKey(ctx context.Context, hash string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM keys WHERE hash = ?`, hash)
	if err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return affectedOne(res)
}

// A key read through the trigram index costs about as much as 10 keys scanned in
// keys_org_created (measured with 50,000 keys: 1,000 matches read in 6 to 14 ms,
// all 50,000 scanned in 37 to 60 ms), so a search reads the index when it has at
// most 1 match for 10 keys to scan, and never past maxTrigramMatches.
const (
	trigramCost       = 10
	maxTrigramMatches = 4096
)

// keySource returns the FROM and WHERE clauses of a statement over the keys (as k)
// that match f.
func (d *DB) keySource(ctx context.Context, f store.KeyFilter) (string, []any, error) {
	from := "keys k"
	var (
		fromArgs, args []any
		conds          []string
	)
	// strings.ToLower's result is valid UTF-8 whatever the input, so the hash
	// ranges below always have bounds.
	q := strings.ToLower(f.Query)
	switch {
	case q == "":
	case strings.IndexByte(q, 0) >= 0:
		// LIKE and FTS5 would read the pattern only up to the NUL (matching every
		// key, or failing); PostgreSQL refuses NUL in text outright.
		conds = append(conds, "FALSE")
	default:
		like := "%" + escapeLike(q) + "%"
		ids, narrow, err := d.trigramMatches(ctx, q, f)
		if err != nil {
			return "", nil, err
		}
		if narrow {
			// Only the candidates are read: hashes with the prefix, and the keys
			// whose alias holds the query's trigrams (LIKE has the last word). The
			// rowids live only as long as this statement, so VACUUM cannot skew
			// them; CROSS JOIN keeps SQLite from scanning the organisation's keys
			// instead.
			hashCond, hashArgs := prefixRange("s.hash", q)
			from = `(SELECT s.rowid AS rid FROM keys s WHERE ` + hashCond + `
				UNION SELECT s.rowid FROM keys s WHERE s.search_id IN (SELECT value FROM json_each(?)) AND s.alias_fold LIKE ? ESCAPE '\'
				) c CROSS JOIN keys k ON k.rowid = c.rid`
			fromArgs = append(hashArgs, ids, like)
		} else {
			hashCond, hashArgs := prefixRange("k.hash", q)
			conds = append(conds, "("+hashCond+` OR k.alias_fold LIKE ? ESCAPE '\')`)
			args = append(append(args, hashArgs...), like)
		}
	}
	if f.OrgID != "" {
		conds = append(conds, "k.org_id = ?")
		args = append(args, f.OrgID)
	}
	if f.APIID != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM key_apis a WHERE a.hash = k.hash AND a.api_id = ?)")
		args = append(args, f.APIID)
	}
	if f.HashPrefix != "" {
		cond, pargs := prefixRange("k.hash", f.HashPrefix)
		conds = append(conds, cond)
		args = append(args, pargs...)
	}
	if f.PolicyID != "" {
		// The key may name the policy by its id or its database id.
		conds = append(conds, `EXISTS (SELECT 1 FROM key_policies kp WHERE kp.hash = k.hash AND kp.policy_id IN
			(SELECT id FROM policies WHERE id = ? OR mid = ? UNION SELECT mid FROM policies WHERE id = ? OR mid = ? UNION SELECT ?))`)
		args = append(args, f.PolicyID, f.PolicyID, f.PolicyID, f.PolicyID, f.PolicyID)
	}
	if f.PolicyMissing {
		conds = append(conds, `EXISTS (SELECT 1 FROM key_policies kp WHERE kp.hash = k.hash AND NOT EXISTS
			(SELECT 1 FROM policies p WHERE p.id = kp.policy_id OR p.mid = kp.policy_id))`)
	}
	if len(conds) > 0 {
		from += " WHERE " + strings.Join(conds, " AND ")
	}
	return from, append(fromArgs, args...), nil
}

// trigramMatches returns, as a JSON array, the search ids of the aliases that hold
// q's trigrams, and whether to read the search's matches through them rather than
// scan the keys of f's organisation (see trigramCost). A q of fewer than 3
// characters has no trigram. The ids are read once, here, so that the caller's
// statement does not search the index again; a key whose alias changes between
// the two statements may be missed by this one listing, as it may between a
// count and a page.
func (d *DB) trigramMatches(ctx context.Context, q string, f store.KeyFilter) (string, bool, error) {
	if d.plan == searchScan || utf8.RuneCountInString(q) < 3 {
		return "", false, nil
	}
	var ids string
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT json_group_array(rowid), COUNT(*) FROM (
		SELECT rowid FROM key_alias_trigrams WHERE key_alias_trigrams MATCH ? LIMIT ?)`,
		ftsPhrase(q), maxTrigramMatches+1).Scan(&ids, &n)
	if err != nil {
		return "", false, fmt.Errorf("search aliases: %w", err)
	}
	if n > maxTrigramMatches {
		return "", false, nil
	}
	if d.plan == searchTrigram {
		return ids, true, nil
	}
	scanned, err := d.orgKeyCount(ctx, f.OrgID)
	if err != nil {
		return "", false, err
	}
	return ids, n*trigramCost <= scanned, nil
}

// orgKeyCount returns the number of keys of an organisation ("" for all) from
// key_counts, which triggers keep up to date: counting the rows would read every
// key of the organisation.
func (d *DB) orgKeyCount(ctx context.Context, org string) (int, error) {
	q, args := `SELECT coalesce(sum(n), 0) FROM key_counts`, []any(nil)
	if org != "" {
		q, args = q+` WHERE org_id = ?`, []any{org}
	}
	var n int
	if err := d.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

// ftsPhrase quotes q as an FTS5 string: the trigram tokenizer then matches it as a
// substring, with no operator or wildcard of FTS5's own syntax.
func ftsPhrase(q string) string { return `"` + strings.ReplaceAll(q, `"`, `""`) + `"` }

// likeEscaper makes user input literal in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

// prefixRange returns a condition keeping rows whose col starts with p, as a range
// so that it runs on an index (LIKE in SQLite ignores ASCII case and so cannot use
// a BINARY index). A p that is not valid UTF-8 or holds a NUL matches nothing: no
// stored hash or counter name starts with it, and PostgreSQL refuses such text.
func prefixRange(col, p string) (string, []any) {
	if !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 {
		return "FALSE", nil
	}
	if upper, ok := store.PrefixUpperBound(p); ok {
		return "(" + col + " >= ? AND " + col + " < ?)", []any{p, upper}
	}
	return col + " >= ?", []any{p}
}

// ListKeys returns keys matching f, newest first, ties by hash.
func (d *DB) ListKeys(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	src, args, err := d.keySource(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	// The page is chosen from the index alone (hashes only), and only its rows
	// are read in full: sessions of the keys skipped by the offset, or of matches
	// sorted before the limit, are never loaded.
	page := `SELECT k.hash FROM ` + src + ` ORDER BY k.created_at DESC, k.hash`
	if f.Limit > 0 {
		page += ` LIMIT ? OFFSET ?`
		args = append(args, f.Limit, max(f.Offset, 0))
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM (`+page+`) p JOIN keys k ON k.hash = p.hash
		ORDER BY k.created_at DESC, k.hash`, args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []store.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// CountKeys counts keys matching f (ignoring Limit and Offset).
func (d *DB) CountKeys(ctx context.Context, f store.KeyFilter) (int, error) {
	if f.APIID == "" && f.HashPrefix == "" && f.Query == "" && f.PolicyID == "" && !f.PolicyMissing {
		return d.orgKeyCount(ctx, f.OrgID)
	}
	src, args, err := d.keySource(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+src, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

// SaveCounters upserts quota counters in one transaction.
func (d *DB) SaveCounters(ctx context.Context, cs []store.Counter) error {
	if len(cs) == 0 {
		return nil
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO quota_counters (name, used, renews_at) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET used = excluded.used, renews_at = excluded.renews_at`)
		if err != nil {
			return fmt.Errorf("save counters: %w", err)
		}
		defer stmt.Close()
		for _, c := range cs {
			var renews int64
			if !c.RenewsAt.IsZero() {
				renews = ts(c.RenewsAt)
			}
			if _, err := stmt.ExecContext(ctx, c.Name, c.Used, renews); err != nil {
				return fmt.Errorf("save counter: %w", err)
			}
		}
		return nil
	})
}

// LoadCounters returns every persisted counter.
func (d *DB) LoadCounters(ctx context.Context) ([]store.Counter, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name, used, renews_at FROM quota_counters`)
	if err != nil {
		return nil, fmt.Errorf("load counters: %w", err)
	}
	defer rows.Close()
	var out []store.Counter
	for rows.Next() {
		var c store.Counter
		var renews int64
		if err := rows.Scan(&c.Name, &c.Used, &renews); err != nil {
			return nil, fmt.Errorf("load counters: %w", err)
		}
		c.RenewsAt = fromTS(renews)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCounters removes counters whose name starts with prefix.
func (d *DB) DeleteCounters(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("delete counters: empty prefix")
	}
	// A range on the primary key, not substr(): this runs on every key create,
	// update and delete, and must not scan every counter.
	cond, args := prefixRange("name", prefix)
	if _, err := d.db.ExecContext(ctx, `DELETE FROM quota_counters WHERE `+cond, args...); err != nil {
		return fmt.Errorf("delete counters: %w", err)
	}
	return nil
}

// trigramMergePages bounds the pages one Checkpoint may write merging the trigram
// index: about 4 MiB. With segments kept few, a step usually writes a handful.
const trigramMergePages = 1000

// Checkpoint merges a step of the trigram index, then copies the WAL into the
// database and truncates it. The background loop calls it now and then so the WAL
// does not grow without bound under steady load, and so that searches stay fast:
// each key write adds a segment to the trigram index, FTS5's own merging leaves a
// dozen of them, and a search seeks every segment for every trigram (with 50,000
// keys written one by one, matching one alias took 0.7 to 3.5 ms, and about
// 0.3 ms with the segments merged).
func (d *DB) Checkpoint(ctx context.Context) error {
	// With usermerge 2 (set by the migration) this merges any two segments of one
	// level, leaving about one a level; a merge across levels would rewrite the
	// whole index whenever a key changed.
	if _, err := d.db.ExecContext(ctx, `INSERT INTO key_alias_trigrams (key_alias_trigrams, rank) VALUES ('merge', ?)`, trigramMergePages); err != nil {
		return fmt.Errorf("merge trigram index: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// uriPath escapes what an SQLite URI filename reads as syntax, so that a data dir
// named "a#1" or "50%" opens that directory and not a truncated or decoded one:
// "?" would start the query (and replace the pragmas), "#" a fragment, and "%" an
// escape.
func uriPath(path string) string {
	return uriEscaper.Replace(path)
}

var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
