package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

func (u *ui) keysOf(c *uiCtx) *manage.Keys { return u.s.opts.Keys.InOrg(c.user.OrgID) }

type option struct{ Value, Label string }

// renewalOptions are the "Quota resets every" presets (seconds; -1 never).
var renewalOptions = []option{
	{"3600", "1 hour"}, {"21600", "6 hours"}, {"43200", "12 hours"}, {"86400", "1 day"},
	{"604800", "1 week"}, {"2592000", "1 month (30 days)"}, {"-1", "never"},
}

// expiryOptions are the "Expires" presets (Go durations; "never" and "keep").
var expiryOptions = []option{
	{"never", "Never"}, {"1h", "in 1 hour"}, {"24h", "in 24 hours"}, {"168h", "in 7 days"},
	{"720h", "in 30 days"}, {"2160h", "in 90 days"}, {"8760h", "in 1 year"},
}

// keyRow is a key as the Keys list and the key's page show it: what the gateway
// enforces (its policies applied), not only what the key itself says.
type keyRow struct {
	Hash, HashPrefix, Alias, APIs, Rate, Quota, Expires, Status, StatusClass string
	// Created, Updated and QuotaRenews are shown on the key's page.
	Created, Updated, QuotaRenews string
}

// appliedKey is a key as the gateway enforces it.
type appliedKey struct {
	// eff is the session with its policies applied; the stored one when they
	// cannot apply.
	eff *session.Session
	// refused says why the gateway refuses the key, when its policies cannot
	// apply (a draft or deleted policy, say).
	refused string
	// quota is the live state of the key-level quota; started is false while no
	// request has started its period.
	quota   limit.QuotaState
	started bool
}

// applyKey applies the key's policies (through lookup) and reads its key-level
// quota's live counter.
func (u *ui) applyKey(r *http.Request, c *uiCtx, s *session.Session, h keys.Hash, lookup policy.Lookup) (appliedKey, error) {
	a := appliedKey{eff: s}
	eff, err := policy.Apply(s, lookup)
	if err != nil {
		ft, ok := fault.As(err)
		if !ok {
			return a, err
		}
		a.refused = ft.Reason
		return a, nil
	}
	a.eff = eff
	a.quota, a.started, err = u.keysOf(c).QuotaUse(r.Context(), h, "", int64(eff.QuotaMax))
	return a, err
}

// policyLookup is a policy lookup for one request; res is nil (and the lookup
// finds nothing) on a node without policies. A caller checks res.Err after using
// it: a policy that could not be read must not read as missing.
func (u *ui) policyLookup(r *http.Request) (policy.Lookup, *manage.Resolver) {
	if u.s.opts.Policies == nil {
		return func(string) (*policy.Policy, bool) { return nil, false }, nil
	}
	res := u.s.opts.Policies.Resolver(r.Context())
	return res.Lookup, res
}

const timeFormat = "2006-01-02 15:04 UTC"

func describeKey(s *session.Session, a appliedKey, hash string, apiNames map[string]string, now time.Time) keyRow {
	eff := a.eff
	row := keyRow{Hash: hash, HashPrefix: hash[:12], Alias: s.Alias, Rate: "unlimited", Quota: "unlimited", Expires: "never", StatusClass: "ok",
		Created: "unknown", Updated: "unknown"}
	var names []string
	for id := range eff.AccessRights {
		names = append(names, cmpName(apiNames[id], id))
	}
	slices.Sort(names)
	row.APIs = strings.Join(names, ", ")
	row.Rate = rateText(eff.Rate, eff.Per)
	if eff.QuotaMax > 0 && a.refused == "" {
		remaining := a.quota.Remaining
		row.Quota = fmt.Sprintf("%d used / %d remaining", max(int64(eff.QuotaMax)-remaining, 0), remaining)
		switch {
		case eff.QuotaRenewalRate <= 0:
			row.QuotaRenews = "never: the quota does not reset"
		case !a.started || a.quota.RenewsAt.IsZero():
			row.QuotaRenews = "no request in this period yet: the next one starts a period of " + durationText(int64(eff.QuotaRenewalRate))
		default:
			row.QuotaRenews = a.quota.RenewsAt.UTC().Format(timeFormat)
		}
	}
	if !s.DateCreated.IsZero() {
		row.Created = s.DateCreated.UTC().Format(timeFormat)
	}
	if secs, err := strconv.ParseInt(string(s.LastUpdated), 10, 64); err == nil && secs > 0 {
		row.Updated = time.Unix(secs, 0).UTC().Format(timeFormat)
	}
	if s.Expires >= 1 {
		row.Expires = time.Unix(int64(s.Expires), 0).UTC().Format(timeFormat)
	}
	// The gateway's order: inactive, then expired (session.State, the rule the
	// CLI shows too), then the policies.
	row.Status = s.State(now)
	switch {
	case row.Status == session.StateInactive:
		row.StatusClass = "off"
	case row.Status == session.StateExpired:
		row.StatusClass = "expired"
	case a.refused != "":
		row.Status, row.StatusClass = "refused", "off"
	}
	return row
}

func cmpName(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

func (u *ui) apiNames(r *http.Request, c *uiCtx) (map[string]string, []apiRow, error) {
	all, err := u.apisOf(c).List(r.Context())
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	var rows []apiRow
	for _, a := range all {
		row := apiRowOf(a)
		names[a.ID] = row.Name
		if !row.Keyless {
			rows = append(rows, row)
		}
	}
	return names, rows, nil
}

// offerAPIs puts the APIs a key can open into a page's view, and what the page says
// while there is none (the no_apis template): a newcomer's first key needs an API
// first, and an empty drop-down would not tell them so.
func offerAPIs(v view, c *uiCtx, names map[string]string, apis []apiRow) {
	v["APIs"], v["NoAPIs"] = apis, len(apis) == 0
	v["KeylessOnly"] = len(apis) == 0 && len(names) > 0
	v["CanCreateAPI"] = c.perms.Allows("apis", true)
}

func (u *ui) listKeys(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	svc := u.keysOf(c)
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	page, _ := strconv.Atoi(r.URL.Query().Get("p"))
	page = max(page, 1)
	f := store.KeyFilter{Query: q}
	total, err := svc.Count(r.Context(), f)
	if err != nil {
		return err
	}
	names, apis, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	now := u.s.now()
	pages := max((total+pageSize-1)/pageSize, 1)
	page = min(page, pages)
	f.Offset, f.Limit = (page-1)*pageSize, pageSize
	ks, err := svc.List(r.Context(), f)
	if err != nil {
		return err
	}
	lookup, res := u.policyLookup(r)
	rows := make([]keyRow, 0, len(ks))
	for _, k := range ks {
		s, h, err := svc.Live(r.Context(), k)
		if fault.KindOf(err) == fault.Unavailable {
			// An empty page would look like "no keys".
			return err
		}
		if err != nil {
			continue // a stored session that no longer decodes is left out
		}
		a, err := u.applyKey(r, c, s, h, lookup)
		if err != nil {
			return err
		}
		rows = append(rows, describeKey(s, a, k.Hash, names, now))
	}
	if res != nil && res.Err != nil {
		return res.Err
	}
	link := func(p int) string {
		v := url.Values{"p": {strconv.Itoa(p)}}
		if q != "" {
			v.Set("q", q)
		}
		return "/keys?" + v.Encode()
	}
	v := view{"Title": "Keys", "Section": "keys", "Items": rows, "Query": r.URL.Query().Get("q"), "Page": page, "Pages": pages,
		"CanWrite": c.perms.Allows("keys", true)}
	offerAPIs(v, c, names, apis)
	if page > 1 {
		v["PrevURL"] = link(page - 1)
	}
	if page < pages {
		v["NextURL"] = link(page + 1)
	}
	if id := r.URL.Query().Get("created"); id != "" {
		v["Created"] = u.created.take(r.Context(), id, c.user.ID, now)
	}
	u.render(w, r, c, http.StatusOK, "keys", v)
	return nil
}

type ruleForm struct{ ID, Name, Versions string }

// Key form modes: the tabs of its Access Rights, as in Tyk's dashboard.
const (
	modePolicy = "policy" // "Choose a policy": the key applies policies
	modeManual = "manual" // "Choose an API": the key's own access rules
)

type keyForm struct {
	Hash, HashPrefix                                         string
	Mode                                                     string
	Policies                                                 []string
	Rules                                                    []ruleForm
	Rate, Per, QuotaMax, Renewal, Alias, Expires, Tags, Meta string
	DisableRate, Unlimited, Inactive                         bool
}

// Applies reports whether the form has the policy chosen.
func (f keyForm) Applies(id string) bool { return slices.Contains(f.Policies, id) }

func (u *ui) keyForm(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	f := keyForm{Rate: "1000", Per: "60", QuotaMax: "10000", Renewal: "3600", Expires: "never", Unlimited: true, Mode: modeManual}
	expiry := expiryOptions
	hs := r.PathValue("hash")
	if hs == "" {
		// As in Tyk, a new key starts on "Choose a policy" once there is one to
		// choose.
		n, err := u.policyCount(r, c, store.PolicyFilter{State: policy.StateActive})
		if err != nil {
			return err
		}
		if n > 0 {
			f.Mode = modePolicy
		}
	} else {
		names, _, err := u.apiNames(r, c)
		if err != nil {
			return err
		}
		h, ok := keys.ParseHash(hs)
		if !ok {
			return notFound("Key")
		}
		s, _, err := u.keysOf(c).Get(r.Context(), manage.Ref{ID: hs, IsHash: true})
		if err != nil {
			return pageError(err, "Key", form{})
		}
		f = formOfSession(s, h, names)
		if s.Expires >= 1 {
			expiry = append([]option{{"keep", "Keep: " + time.Unix(int64(s.Expires), 0).UTC().Format(timeFormat)}}, expiryOptions...)
		}
	}
	return u.showKeyForm(w, r, c, http.StatusOK, f, expiry, nil, "")
}

func formOfSession(s *session.Session, h keys.Hash, names map[string]string) keyForm {
	f := keyForm{Hash: h.String(), HashPrefix: h.Short(), Alias: s.Alias, Rate: fmtNum(s.Rate), Per: fmtNum(s.Per), Mode: modeManual, Policies: policy.IDs(s),
		QuotaMax: strconv.FormatInt(int64(s.QuotaMax), 10), Renewal: strconv.FormatInt(int64(s.QuotaRenewalRate), 10),
		DisableRate: s.Rate <= 0, Unlimited: s.QuotaMax <= 0, Inactive: s.IsInactive, Expires: "never", Tags: strings.Join(s.Tags, ", ")}
	if s.Expires >= 1 {
		f.Expires = "keep"
	}
	if f.DisableRate {
		f.Rate, f.Per = "1000", "60"
	}
	if f.Unlimited {
		f.QuotaMax = "10000"
	}
	if !slices.ContainsFunc(renewalOptions, func(o option) bool { return o.Value == f.Renewal }) {
		f.Renewal = "-1"
	}
	if len(f.Policies) > 0 {
		f.Mode = modePolicy
	}
	f.Rules = formRules(s.AccessRights, s.APIIDs(), names)
	f.Meta = metaText(s.MetaData)
	return f
}

func (u *ui) showKeyForm(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, f keyForm, expiry []option, errs map[string]string, msg string) error {
	names, apis, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	title := "Create key"
	v := view{"Section": "keys", "Form": f, "IsNew": f.Hash == "",
		"RenewalOptions": renewalOptions, "ExpiryOptions": expiry, "Errors": errs, "Error": msg, "CanWrite": c.perms.Allows("keys", true),
		"CanCreatePolicy": c.perms.Allows("policies", true)}
	offerAPIs(v, c, names, apis)
	if f.Hash != "" {
		title = "Key " + f.HashPrefix
		if v["Effective"], err = u.effective(r, c, f.Hash); err != nil {
			return err
		}
	}
	v["Title"] = title
	if v["PolicyChoices"], err = u.policyChoices(r, c, f.Policies); err != nil {
		return err
	}
	u.render(w, r, c, status, "key_form", v)
	return nil
}

// saveKey turns the form into a Tyk session object and hands it to the same key
// service the API uses.
func (u *ui) saveKey(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	names, _, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	svc := u.keysOf(c)
	hs := r.PathValue("hash")
	sess := &session.Session{}
	var h keys.Hash
	expiry := expiryOptions
	if hs != "" {
		var ok bool
		if h, ok = keys.ParseHash(hs); !ok {
			return notFound("Key")
		}
		stored, _, err := svc.Get(r.Context(), manage.Ref{ID: hs, IsHash: true})
		if err != nil {
			return pageError(err, "Key", form{})
		}
		sess = stored
		if sess.Expires >= 1 {
			expiry = append([]option{{"keep", "Keep: " + time.Unix(int64(sess.Expires), 0).UTC().Format(timeFormat)}}, expiryOptions...)
		}
	}
	pf := r.PostForm
	f := keyForm{Hash: hs, Mode: pf.Get("mode"), Policies: pf["policy"], Alias: strings.TrimSpace(pf.Get("alias")), Rate: strings.TrimSpace(pf.Get("rate")), Per: strings.TrimSpace(pf.Get("per")),
		QuotaMax: strings.TrimSpace(pf.Get("quota_max")), Renewal: pf.Get("quota_renewal"), Expires: pf.Get("expires"),
		Tags: pf.Get("tags"), Meta: pf.Get("meta_data"), DisableRate: pf.Get("disable_rate") != "", Unlimited: pf.Get("unlimited") != "",
		Inactive: pf.Get("inactive") != ""}
	if hs != "" {
		f.HashPrefix = h.Short()
	}
	errs := map[string]string{}
	var rights map[string]session.AccessDefinition
	rights, f.Rules = accessRules(pf, names, sess.AccessRights, errs)
	// Both tabs' fields arrive; the chosen tab says which the key keeps. With
	// policies, the key's own rules (if any) stay for the parts the policies
	// leave to it.
	sess.ApplyPolicyID = ""
	if f.Mode == modePolicy {
		sess.ApplyPolicies = f.Policies
		if len(f.Policies) == 0 {
			errs["policies"] = "Choose at least one policy, or add access rules on the Choose an API tab."
		}
	} else {
		f.Mode, sess.ApplyPolicies = modeManual, nil
		if len(rights) == 0 && errs["access_rights"] == "" {
			errs["access_rights"] = "Add at least one API under Access Rights: choose an API and click Add."
		}
	}
	sess.Rate, sess.Per = parseRate(f.Rate, f.Per, f.DisableRate, errs)
	sess.Allowance = sess.Rate
	renewal, err := strconv.ParseInt(f.Renewal, 10, 64)
	if err != nil || !slices.ContainsFunc(renewalOptions, func(o option) bool { return o.Value == f.Renewal }) {
		renewal = -1
	}
	sess.QuotaRenewalRate = session.Int(renewal)
	sess.QuotaMax = parseQuota(f.QuotaMax, f.Unlimited, errs)
	switch f.Expires {
	case "never":
		sess.Expires = 0
	case "keep":
		if sess.Expires < 1 {
			errs["expires"] = "Choose when the key expires."
		}
	default:
		d, err := time.ParseDuration(f.Expires)
		if err != nil || d <= 0 {
			errs["expires"] = "Choose when the key expires."
		} else {
			sess.Expires = session.Int(u.s.now().Add(d).Unix())
		}
	}
	sess.Tags = parseTags(f.Tags, errs)
	meta := parseMeta(f.Meta, errs)
	sess.MetaData, sess.Alias, sess.AccessRights, sess.IsInactive = meta, f.Alias, rights, f.Inactive
	if len(errs) > 0 {
		return u.showKeyForm(w, r, c, http.StatusBadRequest, f, expiry, errs, "Please correct the marked fields.")
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	// The service's reasons name session fields, which the form does not: they
	// are shown above it.
	rejected := func(err error) error {
		if ft, ok := fault.As(err); ok && ft.Kind == fault.Forbidden && ft.Field == "" && f.Mode == modePolicy {
			// The policies chosen cannot be applied (a draft, one deleted
			// meanwhile, none granting access): said at the policies.
			errs["policies"] = ft.Reason
			return u.showKeyForm(w, r, c, http.StatusForbidden, f, expiry, errs, "Please correct the marked fields.")
		}
		ff, err := uiFault(err, "Key", form{})
		if ff == nil {
			return err
		}
		return u.showKeyForm(w, r, c, ff.status, f, expiry, errs, ff.msg)
	}
	if hs == "" {
		created, err := svc.Create(r.Context(), body, "")
		if err != nil {
			return rejected(err)
		}
		id, err := u.created.put(r.Context(), created.Key, c.user.ID, u.s.now())
		if err != nil {
			// The key exists, and this answer is the only one that can show it.
			u.s.log.Warn("keep created key for its display", "error", err.Error())
			return &statusError{http.StatusServiceUnavailable, "The key was created, but the database could not keep it for the key list. Copy it now, it is not shown again: " + created.Key}
		}
		http.Redirect(w, r, "/keys?created="+url.QueryEscape(id), http.StatusSeeOther)
		return nil
	}
	if _, _, err = svc.Update(r.Context(), manage.Ref{ID: hs, IsHash: true}, body, true); err != nil {
		return rejected(err)
	}
	u.sessions.setFlash(r.Context(), c.sess, "Key updated.")
	http.Redirect(w, r, "/keys/"+hs, http.StatusSeeOther)
	return nil
}

func (u *ui) deleteKey(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	hs := r.PathValue("hash")
	if _, err := u.keysOf(c).Delete(r.Context(), manage.Ref{ID: hs, IsHash: true}); err != nil {
		return pageError(err, "Key", form{})
	}
	u.sessions.setFlash(r.Context(), c.sess, "Key deleted. Requests with it are refused.")
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
	return nil
}
