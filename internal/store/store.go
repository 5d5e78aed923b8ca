// Package store defines Tollgate's durable storage: small interfaces for each kind of
// entity, the errors every backend returns, and nothing else. Backends live in
// sub-packages (sqlite, later postgres) and all pass the storetest conformance suite.
//
// The store is never written on the gateway's per-request path; the gateway reads
// through caches and writes hot counters in bulk.
//
// Rules every backend keeps, so that code above the store cannot tell them apart
// (storetest pins each one):
//   - Times are kept to the microsecond: a backend truncates (never rounds) finer
//     precision, as PostgreSQL's timestamptz would, so a stored time reads back as
//     t.Truncate(time.Microsecond) in UTC.
//   - Listings have a total order: ties on the sort time are broken by the id or
//     hash, ascending, so that pages never overlap or skip a row.
//   - Text is UTF-8, compared byte by byte (code point order), whatever the
//     database's collation.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the requested entity does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a create would overwrite an existing entity or break a
// uniqueness rule (such as two APIs on one listen path): "already exists".
var ErrConflict = errors.New("conflict")

// ErrInvalidReference is returned when a write names an entity that does not exist,
// such as a user of a missing organisation: "refers to something missing". It is
// never reported as ErrConflict, so that a caller can tell the two apart. Other
// refused writes (a NOT NULL or CHECK rule) are bugs of the caller and come back as
// plain errors.
var ErrInvalidReference = errors.New("invalid reference")

// ErrUnavailable is wrapped around a failure to reach the store at all (the server is
// down, restarting, out of connections, or the network between is cut), as opposed
// to a refused or failed statement. A write that returns it happened whole or not at
// all (each write is one statement or one transaction); only when the connection
// broke during the commit itself can it not be known which, so a retry must accept
// either. Callers answer it with 503, never with a verdict about the caller's
// credentials: the store could not say.
var ErrUnavailable = errors.New("store unavailable")

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
	// DeleteAPI removes an API (ErrNotFound if absent) and remembers its id and
	// organisation for DeletedAPIOrg.
	DeleteAPI(ctx context.Context, id string) error
	// DeletedAPIOrg returns the organisation that owned a deleted API id
	// (ErrNotFound if no API with that id was ever deleted).
	DeletedAPIOrg(ctx context.Context, id string) (string, error)
}

// Key is a stored key session. The key itself is never stored, only its hash.
type Key struct {
	// Hash is the hex SHA-256 of the key.
	Hash  string
	OrgID string
	// APIIDs are the APIs named in the session's access rights, for filtered listings.
	APIIDs []string
	// Alias is the session's alias, kept beside the session so that a listing can
	// search it without decoding every session.
	Alias string
	// PolicyIDs are the policies the session applies, as it names them (a
	// policy's id or database id), for listings and counts by policy.
	PolicyIDs []string
	// Session is the session document (Tyk's JSON shape).
	Session   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// KeyFilter narrows a key listing. Zero fields do not filter.
type KeyFilter struct {
	OrgID string
	APIID string
	// HashPrefix keeps keys whose hash starts with it, byte for byte.
	HashPrefix string
	// Query keeps keys whose alias contains it or whose hash starts with it, both
	// ignoring case as strings.ToLower folds it (Unicode, not only ASCII). It is
	// matched literally: % and _ are not wildcards.
	//
	// A HashPrefix that is not valid UTF-8, or a HashPrefix or Query that holds a
	// NUL, matches nothing: PostgreSQL cannot even hold such text. For the same
	// reason a NUL in an alias is searched as U+FFFD.
	Query string
	// PolicyID keeps keys that apply the policy with this id or database id.
	PolicyID string
	// PolicyMissing keeps keys that name a policy no stored policy answers to.
	PolicyMissing bool
	// Limit and Offset page the result (ordered by creation time, newest first,
	// ties by hash); Limit 0 means no limit.
	Limit, Offset int
}

// KeyStore holds key sessions.
type KeyStore interface {
	// CreateKey fails with ErrConflict when the hash exists.
	CreateKey(ctx context.Context, k Key) error
	// UpdateKey replaces a key's session, alias and APIs (ErrNotFound if absent),
	// keeping CreatedAt.
	UpdateKey(ctx context.Context, k Key) error
	GetKey(ctx context.Context, hash string) (Key, error)
	DeleteKey(ctx context.Context, hash string) error
	// ListKeys returns the keys matching f, newest first, ties by hash. Filtering
	// and paging happen in the backend: callers never load every key to show a
	// page.
	ListKeys(ctx context.Context, f KeyFilter) ([]Key, error)
	// CountKeys counts the keys matching f, ignoring Limit and Offset.
	CountKeys(ctx context.Context, f KeyFilter) (int, error)
}

// Policy is a stored security policy.
type Policy struct {
	// ID is the id keys name in apply_policies; unique.
	ID string
	// MID is the policy's database id (24 hex); unique, and keys may name the
	// policy by it too. No policy's MID is another's ID.
	MID   string
	OrgID string
	// Name is unique within the organisation.
	Name string
	// State is "active", "draft" or "deny", for listings that filter on it.
	State string
	// Document is the policy (Tyk's JSON shape).
	Document  []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PolicyFilter narrows a policy listing. Zero fields do not filter.
type PolicyFilter struct {
	OrgID string
	// Query keeps policies whose name contains it, ignoring case as
	// strings.ToLower folds it, or whose id or database id is it.
	Query string
	State string
	// APIID keeps policies whose access rights name the API.
	APIID string
	// Limit and Offset page the result (ordered by name, ties by id); Limit 0
	// means no limit.
	Limit, Offset int
}

// PolicyStore holds security policies.
type PolicyStore interface {
	// CreatePolicy fails with ErrConflict when the id or the database id is
	// taken (as either), or the organisation has a policy of that name.
	CreatePolicy(ctx context.Context, p Policy, apiIDs []string) error
	// UpdatePolicy replaces the policy with p.ID (ErrNotFound if absent,
	// ErrConflict on a taken name), keeping CreatedAt and MID.
	UpdatePolicy(ctx context.Context, p Policy, apiIDs []string) error
	// GetPolicy finds a policy by its id or its database id.
	GetPolicy(ctx context.Context, id string) (Policy, error)
	// DeletePolicy removes the policy with this id (ErrNotFound if absent).
	DeletePolicy(ctx context.Context, id string) error
	ListPolicies(ctx context.Context, f PolicyFilter) ([]Policy, error)
	// CountPolicies counts the policies matching f, ignoring Limit and Offset.
	CountPolicies(ctx context.Context, f PolicyFilter) (int, error)
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

// Org is an organisation: the boundary of what a dashboard user can see.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// SettingStore holds named values the nodes sharing a store must agree on (a
// verifier of the cluster's admin secret, say).
type SettingStore interface {
	// InitSetting stores value under name unless the name has one, and returns
	// the value stored: value for the first caller, the earlier one after.
	InitSetting(ctx context.Context, name, value string) (string, error)
	// PutSetting stores value under name, replacing any.
	PutSetting(ctx context.Context, name, value string) error
}

// OrgStore holds organisations.
type OrgStore interface {
	// CreateOrg fails with ErrConflict when the id exists.
	CreateOrg(ctx context.Context, o Org) error
	GetOrg(ctx context.Context, id string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error)
	// DeleteEmptyOrg removes an organisation that holds nothing (no user, API,
	// key or policy, and no deleted API id it keeps), so that a failed first
	// run leaves none behind; ErrNotFound when there is no such empty one.
	DeleteEmptyOrg(ctx context.Context, id string) error
}

// User is a dashboard user. The access key is kept encrypted (to show it to its
// owner) and hashed (to find the user by it); the password only as a bcrypt hash.
type User struct {
	ID           string
	OrgID        string
	Email        string // lower case; unique
	FirstName    string
	LastName     string
	PasswordHash []byte
	// AccessKeyHash is the hex SHA-256 of the access key; unique.
	AccessKeyHash string
	// AccessKeyEnc is the access key sealed with the server's encryption key.
	AccessKeyEnc []byte
	// Permissions is a JSON object section -> "read"|"write"; empty means admin.
	Permissions []byte
	Active      bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastLogin   time.Time
}

// UserStore holds dashboard users.
type UserStore interface {
	// CreateUser fails with ErrConflict when the id, e-mail or access key exists, and
	// with ErrInvalidReference when the organisation does not.
	CreateUser(ctx context.Context, u User) error
	// UpdateUser replaces a user (ErrNotFound if absent, ErrConflict on a taken
	// e-mail), keeping CreatedAt.
	UpdateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	GetUserByAccessKeyHash(ctx context.Context, hash string) (User, error)
	// ListUsers lists an organisation's users ("" lists all), oldest first.
	ListUsers(ctx context.Context, orgID string) ([]User, error)
	DeleteUser(ctx context.Context, id string) error
	CountUsers(ctx context.Context) (int, error)
}

// AuditEntry records one change: who, what, when, from where.
type AuditEntry struct {
	ID         int64
	At         time.Time
	OrgID      string
	ActorID    string // user id, or "admin" for the admin secret
	ActorEmail string
	Action     string // create, update, delete, reset_key, ...
	ObjectType string // key, api, user, org
	ObjectID   string // api id, user id, key hash
	RemoteAddr string
	Detail     string
}

// AuditStore holds the audit log.
type AuditStore interface {
	// AppendAudit records e. It never refuses an entry for the text it quotes: a
	// backend that cannot hold a NUL or bytes that are not UTF-8 (PostgreSQL)
	// stores U+FFFD in their place, so that a change that was made keeps its line.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns an organisation's entries ("" for all), newest first.
	ListAudit(ctx context.Context, orgID string, limit, offset int) ([]AuditEntry, int, error)
}

// WebSession is a browser logged in to the web UI. The cookie's token is never
// stored, only its SHA-256, so that a copy of the database logs nobody in.
type WebSession struct {
	// TokenHash is the hex SHA-256 of the cookie's token; unique.
	TokenHash string
	// UserID is the logged-in user; deleting the user deletes their sessions.
	UserID string
	// Stamp is the user's credentials stamp at login (accounts.SessionStamp): a
	// session whose stamp no longer matches the user's has ended.
	Stamp []byte
	// CSRF is the token every form of the session carries.
	CSRF      string
	CreatedAt time.Time
	// SeenAt is when the session was last used, to the precision its users keep
	// it (the dashboard writes it at most once a minute).
	SeenAt time.Time
	// Flash is a message for the next page the session shows, kept as bytes so
	// that every backend holds it exactly.
	Flash []byte
}

// WebSessionStore holds the web UI's sessions, so that every dashboard sharing a
// store serves every logged-in browser and a restart logs nobody out.
type WebSessionStore interface {
	// CreateWebSession fails with ErrConflict when the hash exists and with
	// ErrInvalidReference when the user does not.
	CreateWebSession(ctx context.Context, s WebSession) error
	GetWebSession(ctx context.Context, tokenHash string) (WebSession, error)
	// TouchWebSession sets SeenAt (ErrNotFound if absent).
	TouchWebSession(ctx context.Context, tokenHash string, seen time.Time) error
	// SetWebSessionFlash replaces the flash (ErrNotFound if absent).
	SetWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) error
	// ClearWebSessionFlash empties the flash if it still holds flash, and
	// reports whether it did: of two pages that read the same flash, only one
	// clears it, and only that one shows it.
	ClearWebSessionFlash(ctx context.Context, tokenHash string, flash []byte) (bool, error)
	// DeleteWebSession removes a session; an absent one is no error (logging
	// out twice is fine).
	DeleteWebSession(ctx context.Context, tokenHash string) error
	// DeleteUserWebSessions removes every session of a user.
	DeleteUserWebSessions(ctx context.Context, userID string) error
	// SweepWebSessions removes the sessions last seen before seenBefore or
	// created before createdBefore, and returns how many.
	SweepWebSessions(ctx context.Context, seenBefore, createdBefore time.Time) (int, error)
}

// KeyDisplay is a key just created in the web UI, waiting for the one page that
// shows it to its creator. The key is sealed with the server's encryption key: the
// store never holds it readable.
type KeyDisplay struct {
	// IDHash is the hex SHA-256 of the display's id, which travels in the
	// redirect to that page; unique.
	IDHash string
	// UserID is the creator, the only user who may take it; deleting the user
	// deletes their displays.
	UserID    string
	Sealed    []byte
	ExpiresAt time.Time
}

// KeyDisplayStore holds one-time key displays.
type KeyDisplayStore interface {
	// CreateKeyDisplay fails with ErrConflict when the hash exists and with
	// ErrInvalidReference when the user does not.
	CreateKeyDisplay(ctx context.Context, d KeyDisplay) error
	// TakeKeyDisplay removes and returns, in one step, the display with idHash
	// if it belongs to userID and expires after now: of two callers, one gets
	// it. Otherwise it returns ErrNotFound and removes nothing.
	TakeKeyDisplay(ctx context.Context, idHash, userID string, now time.Time) (KeyDisplay, error)
	// SweepKeyDisplays removes the displays expired at now, and returns how
	// many.
	SweepKeyDisplays(ctx context.Context, now time.Time) (int, error)
}

// Store is everything a backend provides.
type Store interface {
	APIStore
	KeyStore
	PolicyStore
	CounterStore
	OrgStore
	UserStore
	AuditStore
	SettingStore
	WebSessionStore
	KeyDisplayStore
	// Ping reports whether the backend answers; readiness checks use it.
	Ping(ctx context.Context) error
	Close() error
}
