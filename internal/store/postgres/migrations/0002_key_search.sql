-- A key search (KeyFilter.Query) matches alias_fold with LIKE '%query%', which no
-- btree can serve: without this index it reads every key of the organisation. A
-- trigram index gives a search of three or more characters its candidates; the
-- planner weighs it against the organisation's index, and LIKE rechecks each row,
-- so the result is exact whatever the trigrams (pg_trgm folds case and skips
-- punctuation when it builds them).
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since
-- PostgreSQL 13: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX keys_alias_trgm ON keys USING gin (alias_fold gin_trgm_ops);
