package accounts

import (
	"testing"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

// TestCallerRules pins who may read, change, grant and delete what, as the
// Dashboard API and the web UI both apply it.
func TestCallerRules(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	b, err := s.Bootstrap(ctx, "Org", "admin@o.io", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Bootstrap(ctx, "Other", "other@p.io", "other-password")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, perms map[string]string) store.User {
		u, _, err := s.CreateUser(ctx, NewUser{OrgID: b.OrgID, Email: name + "@o.io", Password: "password-" + name, Permissions: perms, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	admin, _ := s.Store.GetUser(ctx, b.UserID)
	manager := mk("manager", map[string]string{"users": "write", "keys": "write"})
	weaker := mk("weaker", map[string]string{"keys": "read"})
	reader := mk("reader", map[string]string{"users": "read"})
	as := s.As

	kind := func(err error) fault.Kind { return fault.KindOf(err) }
	tests := []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"a user reads themself", second(as(weaker).Read(ctx, weaker.ID)), fault.Internal},
		{"reading others needs users:read", second(as(weaker).Read(ctx, manager.ID)), fault.Forbidden},
		{"users:read reads others", second(as(reader).Read(ctx, admin.ID)), fault.Internal},
		{"another organisation's users are not found", second(as(admin).Read(ctx, other.UserID)), fault.NotFound},
		{"users:read changes nobody", second(as(reader).ForChange(ctx, weaker.ID)), fault.Forbidden},
		{"users:write changes a weaker user", second(as(manager).ForChange(ctx, weaker.ID)), fault.Internal},
		{"users:write does not change an admin", second(as(manager).ForChange(ctx, admin.ID)), fault.Forbidden},
		{"nobody grants what they lack", third(as(manager).CreateUser(ctx, NewUser{Email: "n1@o.io", Password: "long-enough", Permissions: map[string]string{"apis": "read"}})), fault.Forbidden},
		{"only admins create admins", third(as(manager).CreateUser(ctx, NewUser{Email: "n2@o.io", Password: "long-enough", Permissions: map[string]string{"IsAdmin": "admin"}})), fault.Forbidden},
		{"bad permissions are invalid, not internal", third(as(manager).CreateUser(ctx, NewUser{Email: "n3@o.io", Password: "long-enough", Permissions: map[string]string{"keys": "all"}})), fault.Invalid},
		{"nobody raises their own rights", second(as(weaker).UpdateUser(ctx, weaker, UserPatch{Permissions: map[string]string{"keys": "write"}})), fault.Forbidden},
		{"a loaded user of another org is refused", second(as(manager).UpdateUser(ctx, store.User{ID: other.UserID, OrgID: other.OrgID}, UserPatch{})), fault.NotFound},
		{"nobody deletes themself", as(manager).DeleteUser(ctx, manager), fault.Invalid},
		{"a password is changed by its owner only", as(admin).MayChangePassword(weaker.ID), fault.Forbidden},
		{"a password is not set by an update", second(as(admin).UpdateUser(ctx, weaker, UserPatch{Password: new(string)})), fault.Invalid},
		{"searching users needs users:read", second(as(weaker).SearchUsers(ctx, "")), fault.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kind(tt.err); got != tt.want {
				t.Fatalf("got %v (%v), want %v", got, tt.err, tt.want)
			}
		})
	}
	// A user created without permissions gets none, in the creator's organisation.
	u, _, err := as(manager).CreateUser(ctx, NewUser{OrgID: other.OrgID, Email: "plain@o.io", Password: "long-enough"})
	if err != nil || u.OrgID != b.OrgID || PermissionsOf(u).IsAdmin() {
		t.Fatalf("created %+v %v: want org %s and no rights", u, err, b.OrgID)
	}
	found, err := as(reader).SearchUsers(ctx, "MANAGER@")
	if err != nil || len(found) != 1 || found[0].ID != manager.ID {
		t.Errorf("search by part of an e-mail, any case: %v %+v", err, found)
	}
	if found, _ := as(admin).SearchUsers(ctx, "p.io"); len(found) != 0 {
		t.Errorf("search found another organisation's users: %+v", found)
	}
	r := as(manager).RightsOver(weaker)
	if !r.Save || !r.EditPermissions || !r.Delete || r.ReadAccessKey {
		t.Errorf("manager over weaker: %+v", r)
	}
	if r := as(weaker).RightsOver(weaker); !r.Save || r.EditPermissions || r.Delete || !r.ReadAccessKey {
		t.Errorf("weaker over themself: %+v", r)
	}
	adm := as(admin)
	if adm.RightsOver(weaker).ReadAccessKey {
		t.Error("an administrator reads others' access keys without the option")
	}
	adm.AdminsSeeAccessKeys = true
	if !adm.RightsOver(weaker).ReadAccessKey {
		t.Error("the option does not let administrators read access keys")
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }
