-- The schema of the SQLite store, in PostgreSQL's types.
--
-- Every identifier and name column is COLLATE "C": the store compares and orders
-- text byte by byte (code point order), as SQLite's BINARY does, whatever the
-- database's default collation; a "C" column is also what lets a btree index serve
-- the prefix ranges of key and counter listings.
--
-- Documents (API definitions, sessions, permissions) are bytea, not jsonb: the store
-- hands back the exact bytes it was given, and jsonb would reorder keys, drop
-- duplicates and reformat numbers.
--
-- Times are timestamptz (microseconds, which the store promises). "Never" (a user
-- who never logged in, a counter that never renews) is NULL.

CREATE TABLE apis (
	id text COLLATE "C" PRIMARY KEY,
	org_id text COLLATE "C" NOT NULL,
	route_key text COLLATE "C" NOT NULL UNIQUE,
	definition bytea NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE INDEX apis_created ON apis (created_at, id);

-- Deleted APIs leave their id and organisation behind, so that no other
-- organisation can claim the id and inherit keys that still name it.
CREATE TABLE deleted_apis (
	id text COLLATE "C" PRIMARY KEY,
	org_id text COLLATE "C" NOT NULL,
	deleted_at timestamptz NOT NULL
);

-- alias is the session's alias as given, bytea because it may hold a NUL (JSON's
-- \u0000), which text cannot; alias_fold is what a search matches: the alias
-- folded by Go (strings.ToLower, NUL as U+FFFD), because PostgreSQL's lower()
-- follows the database's locale, and the store folds as Go does.
CREATE TABLE keys (
	hash text COLLATE "C" PRIMARY KEY,
	org_id text COLLATE "C" NOT NULL,
	alias bytea NOT NULL,
	alias_fold text COLLATE "C" NOT NULL,
	session bytea NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
-- Both match the listing order (newest first, ties by hash), so a page is read in
-- index order and the scan stops at its end.
CREATE INDEX keys_created ON keys (created_at DESC, hash);
CREATE INDEX keys_org_created ON keys (org_id, created_at DESC, hash);

-- The APIs a key's access rights name, for listings by API.
CREATE TABLE key_apis (
	api_id text COLLATE "C" NOT NULL,
	hash text COLLATE "C" NOT NULL REFERENCES keys (hash) ON DELETE CASCADE,
	PRIMARY KEY (api_id, hash)
);
CREATE INDEX key_apis_hash ON key_apis (hash, api_id);

CREATE TABLE quota_counters (
	name text COLLATE "C" PRIMARY KEY,
	used bigint NOT NULL,
	renews_at timestamptz
);

CREATE TABLE orgs (
	id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE TABLE users (
	id text COLLATE "C" PRIMARY KEY,
	org_id text COLLATE "C" NOT NULL REFERENCES orgs (id),
	email text COLLATE "C" NOT NULL UNIQUE,
	first_name text NOT NULL,
	last_name text NOT NULL,
	password_hash bytea NOT NULL,
	access_key_hash text COLLATE "C" NOT NULL UNIQUE,
	access_key_enc bytea NOT NULL,
	permissions bytea NOT NULL,
	active boolean NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	last_login timestamptz
);
CREATE INDEX users_org ON users (org_id, created_at, id);
CREATE INDEX users_created ON users (created_at, id);

CREATE TABLE audit (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL,
	org_id text COLLATE "C" NOT NULL,
	actor_id text NOT NULL,
	actor_email text NOT NULL,
	action text NOT NULL,
	object_type text NOT NULL,
	object_id text NOT NULL,
	remote_addr text NOT NULL,
	detail text NOT NULL
);
CREATE INDEX audit_org ON audit (org_id, id);
