package dashboard

import (
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

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	us, err := acct.Users(r.Context())
	if err != nil {
		return userFault(r, err)
	}
	from, to, pages, err := paginate(r, len(us))
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, to-from)
	for _, u := range us[from:to] {
		out = append(out, s.userView(u, acct.RightsOver(u).ReadAccessKey))
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

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	active := true
	if b.Active != nil {
		active = *b.Active
	}
	u, _, err := caller(r).acct.CreateUser(r.Context(), accounts.NewUser{
		Email: deref(b.EmailAddress), FirstName: deref(b.FirstName), LastName: deref(b.LastName),
		Password: b.Password, Permissions: b.UserPermissions, Active: active,
	})
	if err != nil {
		return userFault(r, err)
	}
	return ok(w, "User and session have been created", u.ID)
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	return httpx.WriteJSON(w, http.StatusOK, s.userView(caller(r).user, true))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	u, err := acct.Read(r.Context(), r.PathValue("id"))
	if err != nil {
		return userFault(r, err)
	}
	return httpx.WriteJSON(w, http.StatusOK, s.userView(u, acct.RightsOver(u).ReadAccessKey))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	u, err := acct.ForChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return userFault(r, err)
	}
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if b.Password != "" {
		return httpx.Errorf(http.StatusBadRequest, "use POST /api/users/{id}/actions/reset to change a password")
	}
	if _, err := acct.UpdateUser(r.Context(), u, accounts.UserPatch{
		Email: b.EmailAddress, FirstName: b.FirstName, LastName: b.LastName, Active: b.Active, Permissions: b.UserPermissions,
	}); err != nil {
		return userFault(r, err)
	}
	return ok(w, "User updated", nil)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	u, err := acct.ForChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return userFault(r, err)
	}
	if err := acct.DeleteUser(r.Context(), u); err != nil {
		return userFault(r, err)
	}
	return ok(w, "User deleted", nil)
}

// resetUserKey replaces a user's access key. The new key is returned only to the
// user themself.
func (s *Server) resetUserKey(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	u, err := acct.ForChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return userFault(r, err)
	}
	k, err := acct.ResetAccessKey(r.Context(), u)
	if err != nil {
		return userFault(r, err)
	}
	var meta any
	if u.ID == acct.Self().ID {
		meta = k
	}
	return ok(w, "User API key reset", meta)
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	acct := caller(r).acct
	u, err := acct.ForChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return userFault(r, err)
	}
	var b struct {
		NewPassword string `json:"new_password"`
	}
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if err := acct.SetPassword(r.Context(), u, b.NewPassword); err != nil {
		return userFault(r, err)
	}
	return ok(w, "User password updated", nil)
}
