package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/store"
)

type userRow struct {
	ID, Name, Email, Perms string
	Active                 bool
	// NoPassword marks a user created without a password (through the API), who
	// cannot log in here until one is set.
	NoPassword bool
}

func permSummary(p accounts.Permissions) string {
	if p.IsAdmin() {
		return "Administrator"
	}
	var parts []string
	for k, v := range p.JSON() {
		parts = append(parts, k+": "+v)
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (u *ui) listUsers(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	us, err := c.acct.Users(r.Context())
	if err != nil {
		return pageError(err, "User", form{})
	}
	rows := make([]userRow, 0, len(us))
	for _, x := range us {
		rows = append(rows, userRow{ID: x.ID, Name: strings.TrimSpace(x.FirstName + " " + x.LastName), Email: x.Email,
			Perms: permSummary(accounts.PermissionsOf(x)), Active: x.Active, NoPassword: !accounts.HasPassword(x)})
	}
	u.render(w, r, c, http.StatusOK, "users", view{"Title": "Users", "Section": "users", "Items": rows, "CanWrite": c.perms.Allows("users", true)})
	return nil
}

// The user forms show the service's faults: a new user's at the password or the
// e-mail field, a change's at the e-mail, a new password's at the new password. A
// taken e-mail answers 400, as the API does.
var (
	newUserFaults = form{field: func(f string) string {
		if f == "password" {
			return "password"
		}
		return "email"
	}, conflictStatus: http.StatusBadRequest}
	userFaults     = form{field: func(string) string { return "email" }, conflictStatus: http.StatusBadRequest}
	passwordFaults = form{field: func(string) string { return "new_password" }, conflictStatus: http.StatusBadRequest}
	// changeRefused words a change to a user the caller may not change.
	changeRefused = form{refused: "You cannot change this user: they hold permissions you do not have."}
)

type userForm struct {
	ID, FirstName, LastName, Email string
	Admin, Active                  bool
	NoPassword                     bool
}

type sectionValue struct{ Name, Value string }

// forChange loads the user a form acts on (accounts.Caller.ForChange decides).
func (u *ui) forChange(r *http.Request, c *uiCtx) (store.User, error) {
	x, err := c.acct.ForChange(r.Context(), r.PathValue("id"))
	if err != nil {
		return x, pageError(err, "User", changeRefused)
	}
	return x, nil
}

func (u *ui) userForm(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	if r.PathValue("id") == "" {
		u.showUserForm(w, r, c, http.StatusOK, store.User{Active: true, Permissions: []byte(`{"keys":"read"}`)}, nil, "")
		return nil
	}
	x, err := c.acct.Read(r.Context(), r.PathValue("id"))
	if err != nil {
		return pageError(err, "User", form{})
	}
	u.showUserForm(w, r, c, http.StatusOK, x, nil, "")
	return nil
}

func (u *ui) showUserForm(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, x store.User, errs map[string]string, msg string) {
	isNew := x.ID == ""
	self := x.ID == c.user.ID
	perms := accounts.PermissionsOf(x)
	var sections []sectionValue
	for _, s := range accounts.SortedSections() {
		v := "deny"
		if perms.IsAdmin() || perms[s] == "write" {
			v = "write"
		} else if perms[s] == "read" {
			v = "read"
		}
		sections = append(sections, sectionValue{s, v})
	}
	may := c.acct.RightsOver(x)
	v := view{"Title": "Users", "Section": "users", "IsNew": isNew, "Errors": errs, "Error": msg, "Sections": sections,
		"Form": userForm{ID: x.ID, FirstName: x.FirstName, LastName: x.LastName, Email: x.Email, Admin: perms.IsAdmin(), Active: x.Active,
			NoPassword: !isNew && !accounts.HasPassword(x)},
		"CanEditPerms": may.EditPermissions,
		"CanSave":      may.Save,
		"CanReset":     may.Reset,
		"CanDelete":    may.Delete,
		"Self":         self && !isNew}
	if may.ReadAccessKey {
		if k, err := u.s.opts.Accounts.AccessKey(x); err == nil {
			v["AccessKey"] = k
		}
	}
	u.render(w, r, c, status, "user_form", v)
}

func (u *ui) saveUser(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	pf := r.PostForm
	// permsOf reads the permission fields, which the form shows only to those who
	// may set them.
	permsOf := func() map[string]string {
		perms := map[string]string{}
		if pf.Get("admin") != "" {
			perms["IsAdmin"] = "admin"
			return perms
		}
		for _, s := range accounts.Sections {
			if v := pf.Get("perm_" + s); v == "read" || v == "write" {
				perms[s] = v
			}
		}
		if len(perms) == 0 {
			perms["keys"] = "deny"
		}
		return perms
	}
	first, last, email := strings.TrimSpace(pf.Get("first_name")), strings.TrimSpace(pf.Get("last_name")), strings.TrimSpace(pf.Get("email_address"))
	active := pf.Get("active") != ""
	if r.PathValue("id") == "" {
		perms := permsOf()
		again := func(status int, field, msg string) error {
			parsed, _ := accounts.ParsePermissions(perms)
			permJSON, _ := json.Marshal(parsed)
			u.showUserForm(w, r, c, status, store.User{FirstName: first, LastName: last, Email: email, Active: active, Permissions: permJSON},
				map[string]string{field: msg}, "Please correct the marked fields.")
			return nil
		}
		if pf.Get("password") == "" {
			// The API may create a user without a password (Tyk's clients do);
			// here nobody could give them one afterwards, so the form asks.
			return again(http.StatusBadRequest, "password", "Enter a password: the user logs in with it.")
		}
		x, _, err := c.acct.CreateUser(r.Context(), accounts.NewUser{Email: email, FirstName: first, LastName: last,
			Password: pf.Get("password"), Permissions: perms, Active: active})
		if err != nil {
			ff, err := uiFault(err, "User", newUserFaults)
			if ff == nil {
				return err
			}
			return again(ff.status, ff.field, ff.msg)
		}
		u.sessions.setFlash(r.Context(), c.sess, "User "+x.Email+" created. They can log in and read their access credentials on their user page.")
		http.Redirect(w, r, "/users", http.StatusSeeOther)
		return nil
	}
	x, err := u.forChange(r, c)
	if err != nil {
		return err
	}
	patch := accounts.UserPatch{Email: &email, FirstName: &first, LastName: &last}
	if c.acct.RightsOver(x).EditPermissions {
		patch.Permissions = permsOf()
		if x.ID != c.user.ID {
			patch.Active = &active
		}
	}
	x, err = c.acct.UpdateUser(r.Context(), x, patch)
	if err != nil {
		ff, err := uiFault(err, "User", userFaults)
		if ff == nil {
			return err
		}
		u.showUserForm(w, r, c, ff.status, x, map[string]string{ff.field: ff.msg}, "Please correct the marked fields.")
		return nil
	}
	if !x.Active {
		u.sessions.destroyUser(r.Context(), x.ID)
	}
	u.sessions.setFlash(r.Context(), c.sess, "User saved.")
	http.Redirect(w, r, "/users/"+x.ID, http.StatusSeeOther)
	return nil
}

func (u *ui) resetUserKey(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	x, err := u.forChange(r, c)
	if err != nil {
		return err
	}
	if _, err := c.acct.ResetAccessKey(r.Context(), x); err != nil {
		return pageError(err, "User", changeRefused)
	}
	if x.ID == c.user.ID {
		// The reset ended every session of this user, this one included: carry
		// on in a fresh one.
		if c, err = u.renewSession(w, r, c); err != nil {
			return err
		}
	}
	u.sessions.setFlash(r.Context(), c.sess, "Access key reset: the old one no longer works.")
	http.Redirect(w, r, "/users/"+x.ID, http.StatusSeeOther)
	return nil
}

// changePassword lets users change their own password, knowing the current one.
// Wrong guesses count against the account like failed logins.
func (u *ui) changePassword(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	if err := c.acct.MayChangePassword(r.PathValue("id")); err != nil {
		return pageError(err, "User", form{refused: noPermissionPage})
	}
	pf := r.PostForm
	fail := func(field, msg string) error {
		u.showUserForm(w, r, c, http.StatusBadRequest, c.user, map[string]string{field: msg}, "Your password was not changed.")
		return nil
	}
	now := u.s.now()
	if wait := u.s.logins.Blocked(r.Context(), loginKey(c.user.Email, r), now); wait > 0 {
		return fail("current_password", fmt.Sprintf("Too many wrong passwords. Try again in %d seconds.", int(wait.Seconds())+1))
	}
	if pf.Get("new_password") != pf.Get("confirm_password") {
		return fail("new_password", "The two new passwords differ.")
	}
	x, err := c.acct.ChangePassword(r.Context(), pf.Get("current_password"), pf.Get("new_password"))
	if errors.Is(err, accounts.ErrBadCredentials) {
		u.s.logins.Fail(r.Context(), loginKey(c.user.Email, r), clientIP(r), now)
		return fail("current_password", "The current password is wrong.")
	}
	if err != nil {
		ff, err := uiFault(err, "User", passwordFaults)
		if ff == nil {
			return err
		}
		return fail(ff.field, ff.msg)
	}
	c.user = x
	if c, err = u.renewSession(w, r, c); err != nil {
		return err
	}
	u.sessions.setFlash(r.Context(), c.sess, "Password changed. Other browsers logged in as you have been logged out.")
	http.Redirect(w, r, "/users/"+x.ID, http.StatusSeeOther)
	return nil
}

// renewSession replaces the caller's web session with a new one matching their
// stored credentials, after a change that ended all their sessions.
func (u *ui) renewSession(w http.ResponseWriter, r *http.Request, c *uiCtx) (*uiCtx, error) {
	x, err := u.s.opts.Store.GetUser(r.Context(), c.user.ID)
	if err != nil {
		return c, err
	}
	u.sessions.destroyUser(r.Context(), x.ID)
	tok, sess, err := u.sessions.create(r.Context(), x, u.s.now())
	if err != nil {
		return c, err
	}
	setCookie(w, u.s.https(r), sessionCookie, tok, sessionMaxAge)
	return &uiCtx{user: x, perms: c.perms, acct: u.s.accountsAs(x), sess: sess}, nil
}

func (u *ui) deleteUser(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	x, err := u.forChange(r, c)
	if err != nil {
		return err
	}
	if err := c.acct.DeleteUser(r.Context(), x); err != nil {
		return pageError(err, "User", changeRefused)
	}
	u.sessions.destroyUser(r.Context(), x.ID)
	u.sessions.setFlash(r.Context(), c.sess, "User "+x.Email+" deleted.")
	http.Redirect(w, r, "/users", http.StatusSeeOther)
	return nil
}
