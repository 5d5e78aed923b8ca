// Package accounts holds the dashboard's organisations and users: access keys (minted,
// sealed at rest, found by hash), bcrypt passwords, permissions, and the first-run
// bootstrap. The REST API, the web UI and the CLI all go through it.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

// invalid is a problem with one field of the client's input that it can fix.
func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, format, args...)
}

// taken is a create or change that would reuse a unique value (an id, an e-mail).
func taken(field, format string, args ...any) error {
	return &fault.Error{Kind: fault.Conflict, Field: field, Reason: fmt.Sprintf(format, args...), Err: store.ErrConflict}
}

// forbidden is an action the caller's permissions do not allow.
func forbidden(reason string) error { return fault.New(fault.Forbidden, reason) }

// ErrBadCredentials is returned for a wrong e-mail or password, without saying which.
var ErrBadCredentials = errors.New("invalid e-mail or password")

// Sections are the permission sections Tyk's dashboard knows.
var Sections = []string{"analytics", "api_assets", "apis", "audit_logs", "certs", "hooks", "idm", "keys",
	"log", "oauth", "policies", "portal", "system", "user_groups", "users", "websockets"}

// Permissions maps a section to "read" or "write". Empty means administrator, as in
// Tyk; a non-empty map is an allow-list.
type Permissions map[string]string

// IsAdmin reports whether p grants everything.
func (p Permissions) IsAdmin() bool { return len(p) == 0 }

// Allows reports whether p grants read (or, with write, write) on section.
func (p Permissions) Allows(section string, write bool) bool {
	if p.IsAdmin() {
		return true
	}
	switch p[section] {
	case "write":
		return true
	case "read":
		return !write
	}
	return false
}

// ParsePermissions validates permissions from a client. Tyk's admin marker
// ("IsAdmin": "admin" or "true") means administrator.
func ParsePermissions(in map[string]string) (Permissions, error) {
	if v, ok := in["IsAdmin"]; ok && (v == "admin" || v == "true") {
		return Permissions{}, nil
	}
	p := Permissions{}
	for k, v := range in {
		if k == "IsAdmin" || k == "ResetPassword" {
			continue
		}
		if !knownSection(k) {
			return nil, invalid("user_permissions", "user_permissions: unknown section %q (known: %s)", k, strings.Join(Sections, ", "))
		}
		if v != "read" && v != "write" && v != "deny" {
			return nil, invalid("user_permissions."+k, "user_permissions.%s must be \"read\" or \"write\", not %q", k, v)
		}
		if v != "deny" {
			p[k] = v
		}
	}
	if len(p) == 0 && len(in) > 0 {
		// Only denials: a user with no rights, not an administrator.
		p["none"] = "deny"
	}
	return p, nil
}

func knownSection(s string) bool {
	for _, k := range Sections {
		if k == s {
			return true
		}
	}
	return false
}

// Covers reports whether p holds every permission q holds. Only an administrator
// covers an administrator.
func (p Permissions) Covers(q Permissions) bool {
	if p.IsAdmin() {
		return true
	}
	if q.IsAdmin() {
		return false
	}
	for sec, lvl := range q {
		if (lvl == "read" || lvl == "write") && !p.Allows(sec, lvl == "write") {
			return false
		}
	}
	return true
}

// MayChange is the rule for acting on another user (changing, resetting the password
// or access key of, deactivating or deleting them): the actor must hold every
// permission the target holds, so nobody can take over an account more powerful
// than their own, and only administrators change administrators. Users may always
// act on themselves within what the door allows.
func MayChange(actor, target store.User) error {
	if actor.ID == target.ID {
		return nil
	}
	ap, tp := PermissionsOf(actor), PermissionsOf(target)
	if !ap.Allows("users", true) {
		return forbidden("access denied: you do not have permission to change users")
	}
	if tp.IsAdmin() && !ap.IsAdmin() {
		return forbidden("access denied: only administrators can change an administrator")
	}
	if !ap.Covers(tp) {
		return forbidden("access denied: the user holds permissions you do not have")
	}
	return nil
}

// SessionStamp fingerprints what a web session was opened with: the password, the
// access key and the active flag. A session whose stamp no longer matches the stored
// user ends, so changing a password or access key, or deactivating a user, logs them
// out everywhere, including sessions opened on other dashboard processes.
func SessionStamp(u store.User) [32]byte {
	h := sha256.New()
	h.Write(u.PasswordHash)
	h.Write([]byte{0})
	h.Write([]byte(u.AccessKeyHash))
	if u.Active {
		h.Write([]byte{1})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// JSON renders permissions the way Tyk's API shows them.
func (p Permissions) JSON() map[string]string {
	if p.IsAdmin() {
		return map[string]string{"IsAdmin": "admin"}
	}
	out := map[string]string{}
	for k, v := range p {
		if v == "read" || v == "write" {
			out[k] = v
		}
	}
	return out
}

// Service manages organisations and users.
type Service struct {
	Store  store.Store
	Sealer *Sealer
	// Audit records every change, by the actor in the call's context; nil records
	// nothing (the command-line tools and the first-run bootstrap run without).
	Audit *audit.Recorder
	// BcryptCost defaults to 12.
	BcryptCost int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	dummyOnce sync.Once
	dummy     []byte
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) cost() int {
	if s.BcryptCost == 0 {
		return 12
	}
	return s.BcryptCost
}

// NewID returns a 24-hex-character id, the shape of Tyk's (MongoDB) ids, so that keys
// minted for an organisation look like Tyk's: org id + 32 hex.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewAccessKey mints a 32-hex-character dashboard access key.
func NewAccessKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HashAccessKey is how access keys are looked up: hex SHA-256.
func HashAccessKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

// NewOrg creates an organisation.
func (s *Service) NewOrg(ctx context.Context, id, name string) (store.Org, error) {
	if id == "" {
		id = NewID()
	} else if err := validID(id); err != nil {
		return store.Org{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return store.Org{}, invalid("owner_name", "owner_name must not be empty")
	}
	if len(name) > 200 {
		return store.Org{}, invalid("owner_name", "owner_name must be at most 200 characters")
	}
	o := store.Org{ID: id, Name: name, CreatedAt: s.now()}
	if err := s.Store.CreateOrg(ctx, o); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return o, taken("id", "an organisation with id %s already exists", id)
		}
		return o, err
	}
	s.Audit.Record(ctx, o.ID, audit.ActionCreate, audit.TypeOrg, o.ID, o.Name)
	return o, nil
}

func validID(id string) error {
	if len(id) < 1 || len(id) > 64 {
		return invalid("id", "id must be 1 to 64 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid("id", "id may contain only letters, digits, '-' and '_'")
		}
	}
	return nil
}

// NewUser is what a client supplies to create a user.
type NewUser struct {
	OrgID     string
	Email     string
	FirstName string
	LastName  string
	// Password may be empty, as Tyk's clients create users: the user then has
	// none and cannot log in to the web UI until one is set, while their access
	// key works at once.
	Password    string
	Permissions map[string]string
	Active      bool
}

// NormalizeEmail validates an e-mail address and lower-cases it.
func NormalizeEmail(e string) (string, error) {
	e = strings.TrimSpace(e)
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e, "@") || len(e) > 254 {
		return "", invalid("email_address", "email_address %q is not a valid e-mail address", e)
	}
	return strings.ToLower(e), nil
}

// ValidatePassword checks a new password: 8 to 72 bytes (bcrypt ignores the rest).
func ValidatePassword(p string) error {
	if len(p) < 8 {
		return invalid("password", "password must be at least 8 characters")
	}
	if len(p) > 72 {
		return invalid("password", "password must be at most 72 bytes")
	}
	return nil
}

// HasPassword reports whether u can log in with a password: users created without
// one cannot until one is set.
func HasPassword(u store.User) bool { return len(u.PasswordHash) > 0 }

// hashPassword validates a new password and hashes it.
func (s *Service) hashPassword(password string) ([]byte, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	pw, err := bcrypt.GenerateFromPassword([]byte(password), s.cost())
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return pw, nil
}

// CreateUser creates a user and returns it with its new access key (the only time
// the caller gets the plaintext without opening it). A user created without a
// password has none (see NewUser).
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (store.User, string, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return store.User{}, "", err
	}
	if nu.Password != "" {
		if err := ValidatePassword(nu.Password); err != nil {
			return store.User{}, "", err
		}
	}
	perms, err := ParsePermissions(nu.Permissions)
	if err != nil {
		return store.User{}, "", err
	}
	if len(nu.FirstName) > 200 || len(nu.LastName) > 200 {
		return store.User{}, "", invalid("first_name", "first_name and last_name must be at most 200 characters")
	}
	if _, err := s.Store.GetOrg(ctx, nu.OrgID); errors.Is(err, store.ErrNotFound) {
		return store.User{}, "", invalid("org_id", "organisation %q does not exist", nu.OrgID)
	} else if err != nil {
		return store.User{}, "", err
	}
	// Hashed last, once everything cheaper to check has passed: bcrypt is slow on
	// purpose. No password leaves the hash empty, which no password matches.
	var pw []byte
	if nu.Password != "" {
		if pw, err = s.hashPassword(nu.Password); err != nil {
			return store.User{}, "", err
		}
	}
	permJSON, _ := json.Marshal(perms)
	now := s.now()
	id := NewID()
	ak := NewAccessKey()
	u := store.User{
		ID: id, OrgID: nu.OrgID, Email: email, FirstName: strings.TrimSpace(nu.FirstName), LastName: strings.TrimSpace(nu.LastName),
		PasswordHash: pw, AccessKeyHash: HashAccessKey(ak), AccessKeyEnc: s.Sealer.Seal(ak, id),
		Permissions: permJSON, Active: nu.Active, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return store.User{}, "", taken("email_address", "a user with e-mail %s already exists", email)
		case errors.Is(err, store.ErrInvalidReference):
			// Only if the organisation went between the check above and the insert.
			return store.User{}, "", invalid("org_id", "organisation %q does not exist", nu.OrgID)
		}
		return store.User{}, "", err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionCreate, audit.TypeUser, u.ID, u.Email)
	return u, ak, nil
}

// PermissionsOf decodes a stored user's permissions.
func PermissionsOf(u store.User) Permissions {
	var p Permissions
	if err := json.Unmarshal(u.Permissions, &p); err != nil {
		// Unreadable permissions grant nothing rather than everything.
		return Permissions{"none": "deny"}
	}
	return p
}

// Authenticate finds the active user owning an access key.
func (s *Service) Authenticate(ctx context.Context, accessKey string) (store.User, error) {
	if len(accessKey) < 16 || len(accessKey) > 128 {
		return store.User{}, store.ErrNotFound
	}
	u, err := s.Store.GetUserByAccessKeyHash(ctx, HashAccessKey(accessKey))
	if err != nil {
		return u, err
	}
	if !u.Active {
		return u, store.ErrNotFound
	}
	return u, nil
}

// dummyHash is compared against when the e-mail is unknown, so that the answer takes
// as long as a wrong password for a known one and response times do not reveal which
// e-mails have accounts. It must have the same cost as real password hashes.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), s.cost())
	})
	return s.dummy
}

// WarmUp computes the dummy hash now, so that the first login with an unknown e-mail
// does not take twice as long as later ones (which would tell it apart).
func (s *Service) WarmUp() { s.dummyHash() }

// CheckPassword authenticates by e-mail and password. An empty password never
// succeeds, and a user without a password cannot log in with any; both cost a
// bcrypt comparison like a wrong password, so timing does not tell which users
// have no password.
func (s *Service) CheckPassword(ctx context.Context, email, password string) (store.User, error) {
	refuse := func() (store.User, error) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return store.User{}, ErrBadCredentials
	}
	e, err := NormalizeEmail(email)
	if err != nil || password == "" {
		return refuse()
	}
	u, err := s.Store.GetUserByEmail(ctx, e)
	if errors.Is(err, store.ErrNotFound) {
		return refuse()
	}
	if err != nil {
		return store.User{}, err
	}
	if !HasPassword(u) {
		return refuse()
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil || !u.Active {
		return store.User{}, ErrBadCredentials
	}
	u.LastLogin = s.now()
	_ = s.Store.UpdateUser(ctx, u)
	return u, nil
}

// AccessKey opens a user's stored access key (for showing it to its owner).
func (s *Service) AccessKey(u store.User) (string, error) {
	return s.Sealer.Open(u.AccessKeyEnc, u.ID)
}

// ResetAccessKey replaces a user's access key and returns the new one; the old one
// stops working at once.
func (s *Service) ResetAccessKey(ctx context.Context, u store.User) (string, error) {
	ak := NewAccessKey()
	u.AccessKeyHash, u.AccessKeyEnc, u.UpdatedAt = HashAccessKey(ak), s.Sealer.Seal(ak, u.ID), s.now()
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return "", err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionResetKey, audit.TypeUser, u.ID, u.Email)
	return ak, nil
}

// DeleteUser removes a user.
func (s *Service) DeleteUser(ctx context.Context, u store.User) error {
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionDelete, audit.TypeUser, u.ID, u.Email)
	return nil
}

// SetPassword replaces a user's password (a reset: the current one is not asked for).
func (s *Service) SetPassword(ctx context.Context, u store.User, password string) error {
	if err := s.setPassword(ctx, u, password); err != nil {
		return err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionResetPassword, audit.TypeUser, u.ID, u.Email)
	return nil
}

func (s *Service) setPassword(ctx context.Context, u store.User, password string) error {
	pw, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash, u.UpdatedAt = pw, s.now()
	return s.Store.UpdateUser(ctx, u)
}

// ChangePassword is a user changing their own password: the current one must be
// right (ErrBadCredentials otherwise, also for a user who has none: theirs is set,
// not changed).
func (s *Service) ChangePassword(ctx context.Context, u store.User, current, next string) (store.User, error) {
	if !HasPassword(u) || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(current)) != nil {
		return u, ErrBadCredentials
	}
	if current == next {
		return u, invalid("password", "the new password must differ from the current one")
	}
	if err := s.setPassword(ctx, u, next); err != nil {
		return u, err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionChangePassword, audit.TypeUser, u.ID, u.Email)
	return s.Store.GetUser(ctx, u.ID)
}

// ResetPasswordByEmail gives the user with this e-mail a new generated password and
// returns it: the operator's way back in when a password is lost.
func (s *Service) ResetPasswordByEmail(ctx context.Context, email string) (string, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	u, err := s.Store.GetUserByEmail(ctx, e)
	if errors.Is(err, store.ErrNotFound) {
		return "", fault.Newf(fault.NotFound, "no user has the e-mail address %s", e)
	}
	if err != nil {
		return "", err
	}
	pw := rand.Text()
	if err := s.SetPassword(ctx, u, pw); err != nil {
		return "", err
	}
	return pw, nil
}

// UserPatch is an update to a user; nil fields are left alone.
type UserPatch struct {
	Email       *string
	FirstName   *string
	LastName    *string
	Active      *bool
	Permissions map[string]string
	// Password sets a new password, as a reset: the current one is not asked for.
	Password *string
	// OrgID and AccessKey cannot be changed by an update, but clients send back
	// the user as they read it: empty or the user's own they pass, anything else
	// is refused rather than silently ignored.
	OrgID, AccessKey *string
}

// checkFixed refuses a patch that would change what an update cannot.
func (p UserPatch) checkFixed(u store.User) error {
	if p.OrgID != nil && *p.OrgID != "" && *p.OrgID != u.OrgID {
		return invalid("org_id", "org_id cannot be changed: a user stays in their organisation")
	}
	if p.AccessKey != nil && *p.AccessKey != "" && HashAccessKey(*p.AccessKey) != u.AccessKeyHash {
		return invalid("access_key", "access_key cannot be set: reset it with PUT /api/users/{id}/actions/key/reset")
	}
	return nil
}

// UpdateUser applies a patch. A new password is audited as a reset beside the
// update, so the log shows who set whose password.
func (s *Service) UpdateUser(ctx context.Context, u store.User, p UserPatch) (store.User, error) {
	if err := p.checkFixed(u); err != nil {
		return u, err
	}
	if p.Email != nil {
		e, err := NormalizeEmail(*p.Email)
		if err != nil {
			return u, err
		}
		u.Email = e
	}
	if p.FirstName != nil {
		u.FirstName = strings.TrimSpace(*p.FirstName)
	}
	if p.LastName != nil {
		u.LastName = strings.TrimSpace(*p.LastName)
	}
	if len(u.FirstName) > 200 || len(u.LastName) > 200 {
		return u, invalid("first_name", "first_name and last_name must be at most 200 characters")
	}
	if p.Active != nil {
		u.Active = *p.Active
	}
	if p.Permissions != nil {
		perms, err := ParsePermissions(p.Permissions)
		if err != nil {
			return u, err
		}
		u.Permissions, _ = json.Marshal(perms)
	}
	if p.Password != nil {
		pw, err := s.hashPassword(*p.Password)
		if err != nil {
			return u, err
		}
		u.PasswordHash = pw
	}
	u.UpdatedAt = s.now()
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return u, taken("email_address", "a user with e-mail %s already exists", u.Email)
		}
		return u, err
	}
	s.Audit.Record(ctx, u.OrgID, audit.ActionUpdate, audit.TypeUser, u.ID, u.Email)
	if p.Password != nil {
		s.Audit.Record(ctx, u.OrgID, audit.ActionResetPassword, audit.TypeUser, u.ID, u.Email)
	}
	return u, nil
}

// Bootstrapped is the result of a first-run bootstrap.
type Bootstrapped struct {
	OrgID     string `json:"org_id"`
	UserID    string `json:"user_id"`
	Email     string `json:"email"`
	Password  string `json:"password,omitempty"`
	AccessKey string `json:"access_key"`
}

// Bootstrap creates an organisation and an administrator. With an empty password one
// is generated and returned. It refuses an e-mail that already has a user.
func (s *Service) Bootstrap(ctx context.Context, orgName, email, password string) (Bootstrapped, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return Bootstrapped{}, err
	}
	if _, err := s.Store.GetUserByEmail(ctx, e); err == nil {
		return Bootstrapped{}, taken("email_address", "a user with e-mail %s already exists; bootstrap runs once per e-mail", e)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Bootstrapped{}, err
	}
	generated := ""
	if password == "" {
		password = rand.Text()
		generated = password
	}
	if err := ValidatePassword(password); err != nil {
		return Bootstrapped{}, err
	}
	org, err := s.NewOrg(ctx, "", orgName)
	if err != nil {
		return Bootstrapped{}, err
	}
	u, ak, err := s.CreateUser(ctx, NewUser{OrgID: org.ID, Email: e, FirstName: "Admin", Password: password, Active: true})
	if err != nil {
		// Most often another node bootstrapped the same e-mail meanwhile (two
		// dashboards' first runs on one database): the organisation made for
		// this attempt would be left empty, and an empty organisation that is
		// older than the winner's would even become the default one. It holds
		// nothing yet, so it goes; if that fails too, the first error is the news.
		if derr := s.Store.DeleteEmptyOrg(context.WithoutCancel(ctx), org.ID); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			err = fmt.Errorf("%w (and the organisation %s made for it stays: %v)", err, org.ID, derr)
		}
		return Bootstrapped{}, err
	}
	return Bootstrapped{OrgID: org.ID, UserID: u.ID, Email: u.Email, Password: generated, AccessKey: ak}, nil
}

// SortedSections returns the permission sections in order (for UIs).
func SortedSections() []string {
	out := append([]string(nil), Sections...)
	sort.Strings(out)
	return out
}

// CheckKey tells whether the encryption key opens the access keys already in the
// store. Nodes that share a store must share the key: a node with another one would
// show every user a wrong access key and must not start. An empty store passes.
func (s *Service) CheckKey(ctx context.Context) error {
	users, err := s.Store.ListUsers(ctx, "")
	if err != nil {
		return fmt.Errorf("check the encryption key: %w", err)
	}
	for _, u := range users {
		if len(u.AccessKeyEnc) == 0 {
			continue
		}
		if _, err := s.Sealer.Open(u.AccessKeyEnc, u.ID); err != nil {
			return errors.New("the encryption key does not open the access keys in this store: every node sharing a store must be given the same encryption_key")
		}
		return nil
	}
	return nil
}
