package dashboard

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/store"
)

// orgJSON is an organisation in the shape of Tyk's Dashboard Admin API.
type orgJSON struct {
	ID             string         `json:"id"`
	OwnerName      string         `json:"owner_name"`
	OwnerSlug      string         `json:"owner_slug"`
	CNameEnabled   bool           `json:"cname_enabled"`
	CName          string         `json:"cname"`
	APIs           []orgAPI       `json:"apis"`
	DeveloperQuota int            `json:"developer_quota"`
	DeveloperCount int            `json:"developer_count"`
	EventOptions   map[string]any `json:"event_options"`
	HybridEnabled  bool           `json:"hybrid_enabled"`
	UI             map[string]any `json:"ui"`
	OrgOptionsMeta map[string]any `json:"org_options_meta"`
	OpenPolicy     map[string]any `json:"open_policy"`
	AdditionalPerm map[string]any `json:"additional_permissions"`
}

type orgAPI struct {
	APIID        string `json:"api_id"`
	APIHumanName string `json:"api_human_name"`
}

func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func (s *Server) orgView(r *http.Request, o store.Org) (orgJSON, error) {
	v := orgJSON{ID: o.ID, OwnerName: o.Name, OwnerSlug: slug(o.Name), APIs: []orgAPI{}, EventOptions: map[string]any{},
		UI: map[string]any{}, OrgOptionsMeta: map[string]any{}, OpenPolicy: map[string]any{}, AdditionalPerm: map[string]any{}}
	apis, err := s.opts.APIs.InOrg(o.ID).List(r.Context())
	if err != nil {
		return v, err
	}
	for _, a := range apis {
		name := a.ID
		if d, err := apidef.Parse(a.Definition); err == nil {
			name = d.Name()
		}
		v.APIs = append(v.APIs, orgAPI{APIID: a.ID, APIHumanName: name})
	}
	return v, nil
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	orgs, err := s.opts.Store.ListOrgs(r.Context())
	if err != nil {
		return err
	}
	out := make([]orgJSON, 0, len(orgs))
	for _, o := range orgs {
		v, err := s.orgView(r, o)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"organisations": out, "pages": 0})
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.opts.Store.GetOrg(r.Context(), r.PathValue("id"))
	if err != nil {
		return orgWording.Fault(err)
	}
	v, err := s.orgView(r, o)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, v)
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		ID        string `json:"id"`
		OwnerName string `json:"owner_name"`
	}
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	o, err := s.opts.Accounts.NewOrg(r.Context(), b.ID, b.OwnerName)
	if err != nil {
		return orgWording.Fault(err)
	}
	return ok(w, "Org created", o.ID)
}

func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.opts.Store.ListUsers(r.Context(), r.URL.Query().Get("org_id"))
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, s.userView(u, false))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"users": out, "pages": 0})
}

// adminCreateUser serves POST /admin/users: the bootstrap path for scripts, so the
// reply carries the new user's access key (the caller holds the admin secret).
func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request) error {
	var b userBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if b.OrgID == "" {
		return httpx.Errorf(http.StatusBadRequest, "org_id must not be empty")
	}
	active := true
	if b.Active != nil {
		active = *b.Active
	}
	u, ak, err := s.opts.Accounts.CreateUser(r.Context(), accounts.NewUser{
		OrgID: b.OrgID, Email: deref(b.EmailAddress), FirstName: deref(b.FirstName), LastName: deref(b.LastName),
		Password: b.Password, Permissions: b.UserPermissions, Active: active,
	})
	if err != nil {
		return userWording.Fault(err)
	}
	v := s.userView(u, false)
	v.AccessKey = ak
	// Tyk's Admin API puts the new user's access key in Message (scripts read it
	// there); Meta carries the whole user, key included.
	return ok(w, ak, v)
}

// adminUpdateUser serves PUT /admin/users/{id}: any user of any organisation changed
// with the admin secret, its password included (Tyk's Admin API takes one here, and
// it is how a user created without a password gets one). The reply is Tyk's: the
// user in Meta. Tyk also puts the access key in Message and Meta; Tollgate does that
// only with --admins-see-access-keys, as its listings do not show keys to the admin
// secret either.
func (s *Server) adminUpdateUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.opts.Store.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return userWording.Fault(err)
	}
	patch, err := readPatch(r, u.ID)
	if err != nil {
		return err
	}
	if u, err = s.opts.Accounts.UpdateUser(r.Context(), u, patch); err != nil {
		return userWording.Fault(err)
	}
	v := s.userView(u, s.opts.AdminsSeeAccessKeys)
	return ok(w, cmp.Or(v.AccessKey, "User updated"), v)
}

type auditJSON struct {
	ID         int64  `json:"id"`
	Date       string `json:"date"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id"`
	UserID     string `json:"user_id"`
	Email      string `json:"email"`
	IP         string `json:"ip"`
	Detail     string `json:"detail"`
}

// listAudit serves GET /api/audit?p=: the organisation's audit log, newest first
// (its route needs audit_logs: read).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	page := 1
	if v := r.URL.Query().Get("p"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return httpx.Errorf(http.StatusBadRequest, "p must be a page number, not %q", v)
		}
		page = n
	}
	limit, offset := 50, 0
	if page > 0 {
		offset = (page - 1) * limit
	} else {
		limit = 0
	}
	es, total, err := s.opts.Store.ListAudit(r.Context(), p.user.OrgID, limit, offset)
	if err != nil {
		return err
	}
	out := make([]auditJSON, 0, len(es))
	for _, e := range es {
		out = append(out, auditJSON{ID: e.ID, Date: e.At.UTC().Format(time.RFC3339), Action: e.Action, ObjectType: e.ObjectType,
			ObjectID: e.ObjectID, UserID: e.ActorID, Email: e.ActorEmail, IP: e.RemoteAddr, Detail: e.Detail})
	}
	pages := (total + 49) / 50
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"audit": out, "pages": max(pages, 1)})
}
