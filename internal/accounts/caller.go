package accounts

import (
	"context"
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

// Caller is the accounts service as one signed-in user sees it. Every rule about
// whom a user may see, change, delete or grant what lives in its methods, so the
// Dashboard API and the web UI, which both call it, cannot drift apart. It sees only
// the caller's organisation: other organisations' users are not found.
type Caller struct {
	s     *Service
	user  store.User
	perms Permissions
	// AdminsSeeAccessKeys lets administrators read other users' access keys
	// (--admins-see-access-keys). Off, an administrator may reset a key, which its
	// owner notices, but not quietly borrow it.
	AdminsSeeAccessKeys bool
}

// As returns the service as u sees it.
func (s *Service) As(u store.User) *Caller {
	return &Caller{s: s, user: u, perms: PermissionsOf(u)}
}

// Self is the caller.
func (c *Caller) Self() store.User { return c.user }

// Permissions are the caller's.
func (c *Caller) Permissions() Permissions { return c.perms }

// lacks is the refusal of a caller without a section's permission. Its Field names
// the section, so that doors can word it as Tyk does ("You do not have permission to
// access <path>").
func lacks(section string, write bool) error {
	level := "read"
	if write {
		level = "write"
	}
	return &fault.Error{Kind: fault.Forbidden, Field: section,
		Reason: fmt.Sprintf("access denied: you do not have %s permission on %s", level, section)}
}

// May is nil when the caller holds read (with write, write) permission on section,
// and a fault.Forbidden naming the section otherwise.
func (c *Caller) May(section string, write bool) error {
	if c.perms.Allows(section, write) {
		return nil
	}
	return lacks(section, write)
}

// Users lists the caller's organisation's users, oldest first (users: read).
func (c *Caller) Users(ctx context.Context) ([]store.User, error) {
	if err := c.May("users", false); err != nil {
		return nil, err
	}
	return c.s.Store.ListUsers(ctx, c.user.OrgID)
}

// SearchUsers lists the caller's organisation's users whose e-mail contains query,
// in any letter case, oldest first (users: read). An empty query matches everyone.
func (c *Caller) SearchUsers(ctx context.Context, query string) ([]store.User, error) {
	us, err := c.Users(ctx)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(query)
	out := us[:0]
	for _, u := range us {
		if strings.Contains(u.Email, q) {
			out = append(out, u)
		}
	}
	return out, nil
}

// Read returns user id to look at: the caller themself always, another user of the
// organisation with users: read.
func (c *Caller) Read(ctx context.Context, id string) (store.User, error) {
	return c.load(ctx, id, false)
}

// ForChange returns user id to act on (change, reset, delete): the caller themself
// always, another user with users: write and MayChange.
func (c *Caller) ForChange(ctx context.Context, id string) (store.User, error) {
	return c.load(ctx, id, true)
}

func (c *Caller) load(ctx context.Context, id string, write bool) (store.User, error) {
	if id == c.user.ID {
		return c.user, nil
	}
	if err := c.May("users", write); err != nil {
		return store.User{}, err
	}
	u, err := c.s.Store.GetUser(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	if err := c.check(u, write); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// check applies the rules to a loaded user; the changing methods run it again, so a
// door cannot act on a user it did not get from ForChange.
func (c *Caller) check(u store.User, write bool) error {
	if u.ID == c.user.ID {
		return nil
	}
	if u.OrgID != c.user.OrgID {
		// Another organisation's users do not exist for the caller.
		return store.ErrNotFound
	}
	if err := c.May("users", write); err != nil {
		return err
	}
	if write {
		return MayChange(c.user, u)
	}
	return nil
}

// Rights is what the caller may do to one user, for a door to offer only that.
type Rights struct {
	// Save: change names and e-mail. EditPermissions: change permissions and the
	// active flag. Reset: reset the access key (and, for others, the password).
	Save, EditPermissions, Reset, Delete bool
	// ReadAccessKey: read the user's access key.
	ReadAccessKey bool
}

// RightsOver returns what the caller may do to x; an x without an ID is a user not
// created yet.
func (c *Caller) RightsOver(x store.User) Rights {
	self := x.ID != "" && x.ID == c.user.ID
	change := c.perms.Allows("users", true) && (x.ID == "" || MayChange(c.user, x) == nil)
	return Rights{
		Save: self || change,
		// Nobody changes their own rights or switches themselves off, but an
		// administrator, who could anyway.
		EditPermissions: change && (!self || c.perms.IsAdmin()),
		Reset:           self || change,
		Delete:          !self && change,
		ReadAccessKey:   self || (c.AdminsSeeAccessKeys && c.perms.IsAdmin()),
	}
}

// mayGrant refuses permissions the caller does not hold: without it a user allowed
// to manage users could create an administrator.
func (c *Caller) mayGrant(requested map[string]string) error {
	if c.perms.IsAdmin() || requested == nil {
		return nil
	}
	want, err := ParsePermissions(requested)
	if err != nil {
		return err
	}
	if want.IsAdmin() {
		return forbidden("access denied: only administrators can grant administrator rights")
	}
	for sec, lvl := range want {
		if lvl != "deny" && !c.perms.Allows(sec, lvl == "write") {
			return forbidden(fmt.Sprintf("access denied: you cannot grant %s %s", sec, lvl))
		}
	}
	return nil
}

// CreateUser creates a user in the caller's organisation (users: write) and returns
// it with its access key. Only permissions the caller holds can be granted. A user
// created without permissions gets none: Tyk makes them an administrator, and an
// administrator by omission is a trap.
func (c *Caller) CreateUser(ctx context.Context, nu NewUser) (store.User, string, error) {
	if err := c.May("users", true); err != nil {
		return store.User{}, "", err
	}
	if nu.Permissions == nil {
		nu.Permissions = map[string]string{"keys": "deny"}
	}
	if err := c.mayGrant(nu.Permissions); err != nil {
		return store.User{}, "", err
	}
	nu.OrgID = c.user.OrgID
	return c.s.CreateUser(ctx, nu)
}

// UpdateUser applies a patch to x (from ForChange). Changing permissions or the
// active flag also needs the right to grant them, and is not for oneself, except for
// administrators. A password is not changed here but by SetPassword or
// ChangePassword, whose rules differ (Tyk's PUT /api/users/{id} does not take one
// either).
func (c *Caller) UpdateUser(ctx context.Context, x store.User, p UserPatch) (store.User, error) {
	if err := c.check(x, true); err != nil {
		return x, err
	}
	if p.Password != nil {
		return x, invalid("password", "use POST /api/users/{id}/actions/reset to change a password")
	}
	if p.Permissions != nil || p.Active != nil {
		if x.ID == c.user.ID && !c.perms.IsAdmin() {
			return x, forbidden("access denied: you cannot change your own permissions")
		}
		if err := c.mayGrant(p.Permissions); err != nil {
			return x, err
		}
	}
	return c.s.UpdateUser(ctx, x, p)
}

// ErrDeleteSelf refuses a user deleting themself: that is another user's call.
var ErrDeleteSelf error = fault.New(fault.Invalid, "You cannot delete yourself")

// DeleteUser deletes x (from ForChange); never the caller.
func (c *Caller) DeleteUser(ctx context.Context, x store.User) error {
	if err := c.check(x, true); err != nil {
		return err
	}
	if x.ID == c.user.ID {
		return ErrDeleteSelf
	}
	return c.s.DeleteUser(ctx, x)
}

// ResetAccessKey gives x (from ForChange) a new access key and returns it. Doors
// show it only to x themself.
func (c *Caller) ResetAccessKey(ctx context.Context, x store.User) (string, error) {
	if err := c.check(x, true); err != nil {
		return "", err
	}
	return c.s.ResetAccessKey(ctx, x)
}

// SetPassword sets x's (from ForChange) password without asking for the current one.
func (c *Caller) SetPassword(ctx context.Context, x store.User, password string) error {
	if err := c.check(x, true); err != nil {
		return err
	}
	return c.s.SetPassword(ctx, x, password)
}

// MayChangePassword is nil when id is the caller's own account: a password is
// changed knowing the current one, by its owner only.
func (c *Caller) MayChangePassword(id string) error {
	if id != c.user.ID {
		return forbidden("access denied: users change only their own password")
	}
	return nil
}

// ChangePassword changes the caller's own password; the current one must be right
// (ErrBadCredentials otherwise). It returns the caller as stored afterwards.
func (c *Caller) ChangePassword(ctx context.Context, current, next string) (store.User, error) {
	u, err := c.s.ChangePassword(ctx, c.user, current, next)
	if err != nil {
		return c.user, err
	}
	c.user = u
	return u, nil
}
