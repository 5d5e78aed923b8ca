package accounts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

func TestSealer(t *testing.T) {
	s, err := NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("0123456789abcdef", "user-1")
	if bytes.Contains(sealed, []byte("0123456789abcdef")) {
		t.Fatal("plaintext visible in sealed value")
	}
	if got, err := s.Open(sealed, "user-1"); err != nil || got != "0123456789abcdef" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "user-2"); err == nil {
		t.Fatal("value sealed for user-1 opened for user-2")
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "user-1"); err == nil {
		t.Fatal("opened with another server key")
	}
	if _, err := s.Open([]byte("short"), "user-1"); err == nil {
		t.Fatal("opened garbage")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("accepted a short key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, KeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key changed on reload")
	}
	_ = os.WriteFile(filepath.Join(dir, KeyFile), []byte("nothex"), 0o600)
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Fatal("accepted a corrupt key file")
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		admin   bool
		allows  map[string][2]bool // section -> {read, write}
		wantErr string
	}{
		{"empty is admin", map[string]string{}, true, map[string][2]bool{"keys": {true, true}}, ""},
		{"IsAdmin marker", map[string]string{"IsAdmin": "admin"}, true, nil, ""},
		{"IsAdmin true", map[string]string{"IsAdmin": "true", "keys": "read"}, true, nil, ""},
		{"read only", map[string]string{"keys": "read"}, false, map[string][2]bool{"keys": {true, false}, "apis": {false, false}}, ""},
		{"write implies read", map[string]string{"apis": "write"}, false, map[string][2]bool{"apis": {true, true}}, ""},
		{"only denials is not admin", map[string]string{"keys": "deny"}, false, map[string][2]bool{"keys": {false, false}}, ""},
		{"unknown section", map[string]string{"nukes": "write"}, false, nil, "unknown section"},
		{"bad level", map[string]string{"keys": "all"}, false, nil, `"read" or "write"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePermissions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.IsAdmin() != tt.admin {
				t.Fatalf("IsAdmin = %v", p.IsAdmin())
			}
			for sec, rw := range tt.allows {
				if p.Allows(sec, false) != rw[0] || p.Allows(sec, true) != rw[1] {
					t.Errorf("%s: read=%v write=%v", sec, p.Allows(sec, false), p.Allows(sec, true))
				}
			}
		})
	}
}

func newService(t *testing.T) *Service {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, _ := NewSealer(make([]byte, 32))
	return &Service{Store: db, Sealer: sealer, BcryptCost: bcrypt.MinCost}
}

func TestUsersLifecycle(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	b, err := s.Bootstrap(ctx, "Acme", "Ops@Example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Email != "ops@example.com" || len(b.Password) < 20 || len(b.AccessKey) != 32 || len(b.OrgID) != 24 {
		t.Fatalf("bootstrap: %+v", b)
	}
	if _, err := s.Bootstrap(ctx, "Acme", "ops@example.com", ""); err == nil {
		t.Fatal("bootstrap ran twice for one e-mail")
	}
	u, err := s.Authenticate(ctx, b.AccessKey)
	if err != nil || u.Email != "ops@example.com" {
		t.Fatalf("authenticate: %v", err)
	}
	if bytes.Contains(u.AccessKeyEnc, []byte(b.AccessKey)) || u.AccessKeyHash == b.AccessKey || bytes.Contains(u.PasswordHash, []byte(b.Password)) {
		t.Fatal("a secret is stored in plaintext")
	}
	if k, err := s.AccessKey(u); err != nil || k != b.AccessKey {
		t.Fatalf("open access key: %q %v", k, err)
	}
	if _, err := s.CheckPassword(ctx, "OPS@example.com", b.Password); err != nil {
		t.Fatalf("password login: %v", err)
	}
	for _, tt := range []struct{ email, pw string }{{"ops@example.com", "wrong-password"}, {"nobody@example.com", b.Password}, {"not an email", "x"}} {
		if _, err := s.CheckPassword(ctx, tt.email, tt.pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("CheckPassword(%q) = %v, want ErrBadCredentials", tt.email, err)
		}
	}
	nk, err := s.ResetAccessKey(ctx, u)
	if err != nil || nk == b.AccessKey {
		t.Fatalf("reset: %v", err)
	}
	if _, err := s.Authenticate(ctx, b.AccessKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("old access key still works")
	}
	u, _ = s.Authenticate(ctx, nk)
	if err := s.SetPassword(ctx, u, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := s.SetPassword(ctx, u, strings.Repeat("x", 73)); err == nil {
		t.Fatal("password over 72 bytes accepted")
	}
	inactive := false
	u, err = s.UpdateUser(ctx, u, UserPatch{Active: &inactive})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, nk); err == nil {
		t.Fatal("inactive user authenticated")
	}
	if _, _, err := s.CreateUser(ctx, NewUser{OrgID: "missing", Email: "x@y.io", Password: "long-enough"}); err == nil {
		t.Fatal("user created in a missing organisation")
	}
}

// TestUnknownEmailCostsAsMuchAsAWrongPassword: the hash compared for an unknown
// e-mail has the cost of real ones, so timing does not tell which e-mails exist.
func TestUnknownEmailCostsAsMuchAsAWrongPassword(t *testing.T) {
	s := newService(t)
	s.BcryptCost = 8
	if _, err := s.CheckPassword(t.Context(), "nobody@example.com", "whatever-password"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown e-mail: %v", err)
	}
	if c, err := bcrypt.Cost(s.dummyHash()); err != nil || c != 8 {
		t.Errorf("dummy hash cost %d (%v), want the configured 8", c, err)
	}
}

func TestMayChange(t *testing.T) {
	user := func(id, perms string) store.User { return store.User{ID: id, Permissions: []byte(perms)} }
	admin := user("admin", `{}`)
	tests := []struct {
		name          string
		actor, target store.User
		ok            bool
	}{
		{"admin changes admin", admin, user("admin2", `{}`), true},
		{"admin changes anyone", admin, user("u", `{"keys":"write"}`), true},
		{"users:write cannot change an admin", user("m", `{"users":"write"}`), admin, false},
		{"users:write changes a subset", user("m", `{"users":"write","keys":"write"}`), user("u", `{"keys":"read"}`), true},
		{"users:write cannot change a superset", user("m", `{"users":"write"}`), user("u", `{"users":"write","keys":"read"}`), false},
		{"read cannot cover write", user("m", `{"users":"write","keys":"read"}`), user("u", `{"keys":"write"}`), false},
		{"users:read changes nobody", user("m", `{"users":"read"}`), user("u", `{"none":"deny"}`), false},
		{"anyone acts on themselves", user("m", `{"keys":"read"}`), user("m", `{"keys":"read"}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := MayChange(tt.actor, tt.target); (err == nil) != tt.ok {
				t.Errorf("MayChange = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestUsersWithoutPassword: a user created without a password has none; their
// access key works, no password (empty or not) logs them in until one is set, and
// setting one through an update is audited as a reset.
func TestUsersWithoutPassword(t *testing.T) {
	s := newService(t)
	s.Audit = &audit.Recorder{Store: s.Store}
	ctx := t.Context()
	b, err := s.Bootstrap(ctx, "Acme", "admin@acme.io", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	u, ak, err := s.CreateUser(ctx, NewUser{OrgID: b.OrgID, Email: "tool@acme.io", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if HasPassword(u) {
		t.Fatal("a user created without a password has one")
	}
	if _, err := s.Authenticate(ctx, ak); err != nil {
		t.Fatalf("the access key of a user without a password: %v", err)
	}
	for _, pw := range []string{"", "anything-at-all"} {
		if _, err := s.CheckPassword(ctx, "tool@acme.io", pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("CheckPassword(%q) without a password = %v, want ErrBadCredentials", pw, err)
		}
	}
	if _, err := s.CheckPassword(ctx, "admin@acme.io", ""); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an empty password for a user who has one: %v", err)
	}
	if _, err := s.ChangePassword(ctx, u, "", "the-new-password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("changing a password the user does not have: %v", err)
	}
	short := "short"
	if _, err := s.UpdateUser(ctx, u, UserPatch{Password: &short}); fault.KindOf(err) != fault.Invalid {
		t.Errorf("a short password in an update: %v", err)
	}
	pw := "the-new-password"
	if u, err = s.UpdateUser(ctx, u, UserPatch{Password: &pw}); err != nil || !HasPassword(u) {
		t.Fatalf("set the password by update: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "tool@acme.io", pw); err != nil {
		t.Errorf("the password set: %v", err)
	}
	es, _, _ := s.Store.ListAudit(ctx, b.OrgID, 2, 0)
	if len(es) != 2 || es[0].Action != audit.ActionResetPassword || es[1].Action != audit.ActionUpdate {
		t.Errorf("audit of an update that sets a password: %+v", es)
	}
}

// TestUpdateKeepsOrgAndAccessKey: clients send users back as they read them; the
// organisation and access key they carry must be the user's own.
func TestUpdateKeepsOrgAndAccessKey(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	b, err := s.Bootstrap(ctx, "Acme", "admin@acme.io", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.Store.GetUser(ctx, b.UserID)
	str := func(v string) *string { return &v }
	tests := []struct {
		name  string
		patch UserPatch
		want  fault.Kind
		field string
	}{
		{"own organisation and key", UserPatch{OrgID: str(b.OrgID), AccessKey: str(b.AccessKey)}, fault.Internal, ""},
		{"empty ones", UserPatch{OrgID: str(""), AccessKey: str("")}, fault.Internal, ""},
		{"another organisation", UserPatch{OrgID: str("elsewhere")}, fault.Invalid, "org_id"},
		{"a chosen access key", UserPatch{AccessKey: str(NewAccessKey())}, fault.Invalid, "access_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateUser(ctx, u, tt.patch)
			f, _ := fault.As(err)
			if fault.KindOf(err) != tt.want || (f != nil && f.Field != tt.field) {
				t.Fatalf("got %v, want %v naming %q", err, tt.want, tt.field)
			}
		})
	}
	if got, _ := s.Store.GetUser(ctx, b.UserID); got.OrgID != b.OrgID || got.AccessKeyHash != HashAccessKey(b.AccessKey) {
		t.Fatal("a refused update changed the user")
	}
}
