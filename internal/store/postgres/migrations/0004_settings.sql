-- settings holds what the nodes sharing a store must agree on (see
-- store.SettingStore): one row per name.
CREATE TABLE settings (
	name text COLLATE "C" PRIMARY KEY,
	value text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
