-- Security policies. mid is the dashboard's database id; keys may name a policy
-- by either id, so key_policies holds the name as the key gives it. name_fold is
-- the name folded by Go for search, as keys' alias_fold.
CREATE TABLE policies (
	id text COLLATE "C" PRIMARY KEY,
	mid text COLLATE "C" NOT NULL UNIQUE,
	org_id text COLLATE "C" NOT NULL,
	name text COLLATE "C" NOT NULL,
	name_fold text COLLATE "C" NOT NULL,
	state text COLLATE "C" NOT NULL,
	document bytea NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	UNIQUE (org_id, name)
);

CREATE TABLE policy_apis (
	api_id text COLLATE "C" NOT NULL,
	policy_id text COLLATE "C" NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
	PRIMARY KEY (api_id, policy_id)
);
CREATE INDEX policy_apis_policy ON policy_apis (policy_id);

CREATE TABLE key_policies (
	policy_id text COLLATE "C" NOT NULL,
	hash text COLLATE "C" NOT NULL REFERENCES keys (hash) ON DELETE CASCADE,
	PRIMARY KEY (policy_id, hash)
);
CREATE INDEX key_policies_hash ON key_policies (hash, policy_id);

-- Keys written before policies existed may already name some: apply_policies, or
-- the legacy apply_policy_id when that is empty (policy.IDs' rule). json, not
-- jsonb: a session may hold \u0000 (in an alias), which jsonb refuses.
INSERT INTO key_policies (policy_id, hash)
SELECT DISTINCT p, k.hash FROM keys k,
	LATERAL (SELECT convert_from(k.session, 'UTF8')::json AS s) d,
	LATERAL (
		SELECT json_array_elements_text(d.s -> 'apply_policies') AS p
			WHERE json_typeof(d.s -> 'apply_policies') = 'array' AND json_array_length(d.s -> 'apply_policies') > 0
		UNION ALL
		SELECT d.s ->> 'apply_policy_id'
			WHERE (json_typeof(d.s -> 'apply_policies') IS DISTINCT FROM 'array' OR json_array_length(d.s -> 'apply_policies') = 0)
			AND json_typeof(d.s -> 'apply_policy_id') = 'string' AND d.s ->> 'apply_policy_id' != ''
	) ids
WHERE position('"apply_polic' IN convert_from(k.session, 'UTF8')) > 0;
