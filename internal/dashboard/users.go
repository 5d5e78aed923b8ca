package dashboard

import (
	"errors"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/store"
)

// userJSON is a user in Tyk's shape. access_key is filled only for the user's own
// record: administrators may reset other users' keys but not read them.
type userJSON struct {
	ID              string            `json:"id"`
	FirstName       string            `json:"first_name"`
	LastName        string            `json:"last_name"`
	EmailAddress    string            `json:"email_address"`
	OrgID           string            `json:"org_id"`
	Active          bool              `json:"active"`
	AccessKey       string            `json:"access_key"`
	UserPermissions map[string]string `json:"user_permissions"`
	CreatedAt       string            `json:"created_at"`
	LastLoginDate   string            `json:"last_login_date,omitempty"` // a date-time, absent before the first login
	APIModel        struct{}          `json:"api_model"`
}

func (s *Server) userView(u store.User, withKey bool) userJSON {
	v := userJSON{
		ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, EmailAddress: u.Email, OrgID: u.OrgID, Active: u.Active,
		UserPermissions: accounts.PermissionsOf(u).JSON(), CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339),
	}
	if !u.LastLogin.IsZero() {
		v.LastLoginDate = u.LastLogin.UTC().Format(time.RFC3339)
	}
	if withKey {
		if k, err := s.opts.Accounts.AccessKey(u); err == nil {
			v.AccessKey = k
		} else {
			s.log.Error("open access key", "user_id", u.ID, "error", err.Error())
		}
	}
	return v
}

// mayReadKey reports whether the caller may read u's access key: their own, or any
// when administrators are configured to see them.
func (s *Server) mayReadKey(p principal, u store.User) bool {
	return u.ID == p.user.ID || (s.opts.AdminsSeeAccessKeys && p.perms.IsAdmin())
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	us, err := s.opts.Store.ListUsers(r.Context(), p.user.OrgID)
	if err != nil {
		return err
	}
	from, to, pages, err := paginate(r, len(us))
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, to-from)
	for _, u := range us[from:to] {
		out = append(out, s.userView(u, s.mayReadKey(p, u)))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"users": out, "pages": pages})
}

type userBody struct {
	FirstName       *string           `json:"first_name"`
	LastName        *string           `json:"last_name"`
	EmailAddress    *string           `json:"email_address"`
	Password        string            `json:"password"`
	Active          *bool             `json:"active"`
	UserPermissions map[string]string `json:"user_permissions"`
	OrgID           string            `json:"org_id"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// grantable refuses permissions the caller does not hold: without this a user
// allowed to manage users could create an administrator.
func grantable(caller accounts.Permissions, requested map[string]string) error {
	if caller.IsAdmin() || requested == nil {
		return nil
	}
	want, err := accounts.ParsePermissions(requested)
	if err != nil {
		return err
	}
	if want.IsAdmin() {
		return httpx.Errorf(http.StatusForbidden, "access denied: only administrators can grant administrator rights")
	}
	for sec, lvl := range want {
		if lvl != "deny" && !caller.Allows(sec, lvl == "write") {
			return httpx.Errorf(http.StatusForbidden, "access denied: you cannot grant %s %s", sec, lvl)
		}
	}
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if b.UserPermissions == nil {
		// Tyk treats missing permissions as "administrator"; creating an admin by
		// omission is a trap, so a new user without permissions gets none.
		b.UserPermissions = map[string]string{"keys": "deny"}
	}
	if err := grantable(p.perms, b.UserPermissions); err != nil {
		return err
	}
	active := true
	if b.Active != nil {
		active = *b.Active
	}
	u, _, err := s.opts.Accounts.CreateUser(r.Context(), accounts.NewUser{
		OrgID: p.user.OrgID, Email: deref(b.EmailAddress), FirstName: deref(b.FirstName), LastName: deref(b.LastName),
		Password: b.Password, Permissions: b.UserPermissions, Active: active,
	})
	if err != nil {
		return userWording.Fault(err)
	}
	return ok(w, "User and session have been created", u.ID)
}

// target loads the user named in the path, within the caller's organisation. Users
// may act on themselves; acting on others needs the users permission.
func (s *Server) target(r *http.Request, write bool) (store.User, bool, error) {
	p := caller(r)
	id := r.PathValue("id")
	if id == p.user.ID {
		return p.user, true, nil
	}
	if !p.perms.Allows("users", write) {
		return store.User{}, false, httpx.Errorf(http.StatusForbidden, "access denied: You do not have permission to access %s", r.URL.Path)
	}
	u, err := s.opts.Store.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.OrgID != p.user.OrgID) {
		return store.User{}, false, httpx.Errorf(http.StatusNotFound, "User not found")
	}
	if err != nil {
		return u, false, err
	}
	if write {
		if err := accounts.MayChange(p.user, u); err != nil {
			return store.User{}, false, userWording.Fault(err)
		}
	}
	return u, false, nil
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	return httpx.WriteJSON(w, http.StatusOK, s.userView(caller(r).user, true))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, self, err := s.target(r, false)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, s.userView(u, self || s.mayReadKey(caller(r), u)))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	u, self, err := s.target(r, true)
	if err != nil {
		return err
	}
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	p := caller(r)
	if b.UserPermissions != nil || b.Active != nil {
		// Nobody changes their own rights or switches themselves off; that is
		// another user's call.
		if self && !p.perms.IsAdmin() {
			return httpx.Errorf(http.StatusForbidden, "access denied: you cannot change your own permissions")
		}
		if err := grantable(p.perms, b.UserPermissions); err != nil {
			return err
		}
	}
	if b.Password != "" {
		return httpx.Errorf(http.StatusBadRequest, "use POST /api/users/{id}/actions/reset to change a password")
	}
	u, err = s.opts.Accounts.UpdateUser(r.Context(), u, accounts.UserPatch{
		Email: b.EmailAddress, FirstName: b.FirstName, LastName: b.LastName, Active: b.Active, Permissions: b.UserPermissions,
	})
	if err != nil {
		return userWording.Fault(err)
	}
	return ok(w, "User updated", nil)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, self, err := s.target(r, true)
	if err != nil {
		return err
	}
	if self {
		return httpx.Errorf(http.StatusBadRequest, "You cannot delete yourself")
	}
	if err := s.opts.Accounts.DeleteUser(r.Context(), u); err != nil {
		return userWording.Fault(err)
	}
	return ok(w, "User deleted", nil)
}

// resetUserKey replaces a user's access key. The new key is returned only to the
// user themself.
func (s *Server) resetUserKey(w http.ResponseWriter, r *http.Request) error {
	u, self, err := s.target(r, true)
	if err != nil {
		return err
	}
	k, err := s.opts.Accounts.ResetAccessKey(r.Context(), u)
	if err != nil {
		return userWording.Fault(err)
	}
	var meta any
	if self {
		meta = k
	}
	return ok(w, "User API key reset", meta)
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	u, _, err := s.target(r, true)
	if err != nil {
		return err
	}
	var b struct {
		NewPassword string `json:"new_password"`
	}
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if err := s.opts.Accounts.SetPassword(r.Context(), u, b.NewPassword); err != nil {
		return userWording.Fault(err)
	}
	return ok(w, "User password updated", nil)
}
