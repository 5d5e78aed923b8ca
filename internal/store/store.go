// Package store defines Tollgate's durable storage: small interfaces for each kind of
// entity, the errors every backend returns, and nothing else. Backends live in
// sub-packages (sqlite, later postgres) and all pass the storetest conformance suite.
//
// The store is never written on the gateway's per-request path; the gateway reads
// through caches and writes hot counters in bulk.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the requested entity does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a create would overwrite an existing entity or break a
// uniqueness rule (such as two APIs on one listen path).
var ErrConflict = errors.New("conflict")

// API is a stored API definition.
type API struct {
	// ID is the public api_id.
	ID    string
	OrgID string
	// RouteKey is the domain plus normalised listen path; unique across APIs.
	RouteKey   string
	Definition []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// APIStore holds API definitions.
type APIStore interface {
	ListAPIs(ctx context.Context) ([]API, error)
	GetAPI(ctx context.Context, id string) (API, error)
	// CreateAPI fails with ErrConflict when the id or the route key is taken.
	CreateAPI(ctx context.Context, a API) error
	// UpdateAPI replaces an API (ErrNotFound if absent, ErrConflict on a taken route key),
	// keeping CreatedAt.
	UpdateAPI(ctx context.Context, a API) error
	DeleteAPI(ctx context.Context, id string) error
}

// Key is a stored key session. The key itself is never stored, only its hash.
type Key struct {
	// Hash is the hex SHA-256 of the key.
	Hash  string
	OrgID string
	// APIIDs are the APIs named in the session's access rights, for filtered listings.
	APIIDs []string
	// Session is the session document (Tyk's JSON shape).
	Session   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// KeyFilter narrows a key listing. Zero fields do not filter.
type KeyFilter struct {
	OrgID string
	APIID string
	// HashPrefix keeps keys whose hash starts with it.
	HashPrefix string
	// Limit and Offset page the result (ordered by creation time, newest first);
	// Limit 0 means no limit.
	Limit, Offset int
}

// KeyStore holds key sessions.
type KeyStore interface {
	// CreateKey fails with ErrConflict when the hash exists.
	CreateKey(ctx context.Context, k Key) error
	// UpdateKey replaces a key's session (ErrNotFound if absent), keeping CreatedAt.
	UpdateKey(ctx context.Context, k Key) error
	GetKey(ctx context.Context, hash string) (Key, error)
	DeleteKey(ctx context.Context, hash string) error
	ListKeys(ctx context.Context, f KeyFilter) ([]Key, error)
	CountKeys(ctx context.Context, f KeyFilter) (int, error)
}

// Counter is the persisted state of one quota counter.
type Counter struct {
	// Name identifies the counter (key hash plus scope).
	Name string
	Used int64
	// RenewsAt is when the current period ends; zero means it never renews.
	RenewsAt time.Time
}

// CounterStore persists quota counters so that they survive restarts.
type CounterStore interface {
	SaveCounters(ctx context.Context, cs []Counter) error
	LoadCounters(ctx context.Context) ([]Counter, error)
	// DeleteCounters removes every counter whose name starts with prefix.
	DeleteCounters(ctx context.Context, prefix string) error
}

// Store is everything a backend provides.
type Store interface {
	APIStore
	KeyStore
	CounterStore
	// Ping reports whether the backend answers; readiness checks use it.
	Ping(ctx context.Context) error
	Close() error
}
