-- Web UI sessions and one-time key displays, in the store so that every dashboard
-- on it serves every browser and a restart logs nobody out. Only hashes of the
-- cookie token and the display id are kept, and the key displayed only sealed. The
-- indexes serve the sweeps and the end of all of a user's sessions.
CREATE TABLE web_sessions (
	token_hash text COLLATE "C" PRIMARY KEY,
	user_id text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	stamp bytea NOT NULL,
	csrf text COLLATE "C" NOT NULL,
	created_at timestamptz NOT NULL,
	seen_at timestamptz NOT NULL,
	flash bytea NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);
CREATE INDEX web_sessions_created ON web_sessions (created_at);

CREATE TABLE key_displays (
	id_hash text COLLATE "C" PRIMARY KEY,
	user_id text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	sealed bytea NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX key_displays_user ON key_displays (user_id);
CREATE INDEX key_displays_expires ON key_displays (expires_at);
