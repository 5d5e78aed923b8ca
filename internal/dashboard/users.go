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
	us, err := caller(r).acct.Users(r.Context())
	if err != nil {
		return userFault(r, err)
	}
	return s.writeUsers(w, r, us)
}

// writeUsers answers a page (?p=) of us in Tyk's Users shape.
func (s *Server) writeUsers(w http.ResponseWriter, r *http.Request, us []store.User) error {
	acct := caller(r).acct
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

// userBody is a user as Tyk's clients send one: to create it, or back as they read
// it to change it (id, org_id and access_key included).
// searchUsers serves POST /api/users/search, the users whose e-mail contains
// filters.query, and Tyk's deprecated GET form with ?q=.
func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query().Get("q")
	if r.Method == http.MethodPost {
		var b struct {
			Filters *struct {
				Query *string `json:"query"`
			} `json:"filters"`
		}
		if err := decodeBody(r, &b); err != nil {
			return err
		}
		if b.Filters == nil || b.Filters.Query == nil {
			return httpx.Errorf(http.StatusBadRequest, `filters.query must be given: {"filters":{"query":"<part of an e-mail>"}}`)
		}
		query = *b.Filters.Query
	} else if !r.URL.Query().Has("q") {
		return httpx.Errorf(http.StatusBadRequest, "q must be given: the part of an e-mail to search for")
	}
	us, err := caller(r).acct.SearchUsers(r.Context(), query)
	if err != nil {
		return userFault(r, err)
	}
	return s.writeUsers(w, r, us)
}

type userBody struct {
	ID              string            `json:"id"`
	FirstName       *string           `json:"first_name"`
	LastName        *string           `json:"last_name"`
	EmailAddress    *string           `json:"email_address"`
	Password        string            `json:"password"`
	Active          *bool             `json:"active"`
	UserPermissions map[string]string `json:"user_permissions"`
	OrgID           string            `json:"org_id"`
	AccessKey       string            `json:"access_key"`
}

// readPatch reads the change a request's body asks of user id: names, e-mail,
// active flag, permissions and (if given) the password; an id, organisation or
// access key other than the user's own is refused.
func readPatch(r *http.Request, id string) (accounts.UserPatch, error) {
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return accounts.UserPatch{}, err
	}
	if b.ID != "" && b.ID != id {
		return accounts.UserPatch{}, httpx.Errorf(http.StatusBadRequest, "id %q does not match the user in the path", b.ID)
	}
	p := accounts.UserPatch{Email: b.EmailAddress, FirstName: b.FirstName, LastName: b.LastName, Active: b.Active,
		Permissions: b.UserPermissions, OrgID: &b.OrgID, AccessKey: &b.AccessKey}
	if b.Password != "" {
		p.Password = &b.Password
	}
	return p, nil
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
	patch, err := readPatch(r, u.ID)
	if err != nil {
		return err
	}
	if _, err := acct.UpdateUser(r.Context(), u, patch); err != nil {
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
