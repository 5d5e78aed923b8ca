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
	"github.com/tollgate/tollgate/internal/manage"
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

type keyRow struct {
	Hash, HashPrefix, Alias, APIs, Rate, Quota, Expires, Status, StatusClass string
}

func describeKey(s *session.Session, hash string, apiNames map[string]string, now time.Time) keyRow {
	row := keyRow{Hash: hash, HashPrefix: hash[:12], Alias: s.Alias, Rate: "unlimited", Quota: "unlimited", Expires: "never", Status: "active", StatusClass: "ok"}
	var names []string
	for id := range s.AccessRights {
		names = append(names, cmpName(apiNames[id], id))
	}
	slices.Sort(names)
	row.APIs = strings.Join(names, ", ")
	if s.Rate > 0 && s.Per > 0 {
		row.Rate = fmt.Sprintf("%s per %s s", fmtNum(s.Rate), fmtNum(s.Per))
	}
	if s.QuotaMax > 0 {
		used := int64(s.QuotaMax) - int64(s.QuotaRemaining)
		row.Quota = fmt.Sprintf("%d used / %d remaining", max(used, 0), max(int64(s.QuotaRemaining), 0))
	}
	if s.Expires >= 1 {
		row.Expires = time.Unix(int64(s.Expires), 0).UTC().Format("2006-01-02 15:04 UTC")
		if now.Unix() >= int64(s.Expires) {
			row.Status, row.StatusClass = "expired", "expired"
		}
	}
	if s.IsInactive {
		row.Status, row.StatusClass = "inactive", "off"
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
	names, _, err := u.apiNames(r, c)
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
	rows := make([]keyRow, 0, len(ks))
	for _, k := range ks {
		s, _, err := svc.Live(r.Context(), k)
		if fault.KindOf(err) == fault.Unavailable {
			// An empty page would look like "no keys".
			return err
		}
		if err != nil {
			continue // a stored session that no longer decodes is left out
		}
		rows = append(rows, describeKey(s, k.Hash, names, now))
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
	if page > 1 {
		v["PrevURL"] = link(page - 1)
	}
	if page < pages {
		v["NextURL"] = link(page + 1)
	}
	if id := r.URL.Query().Get("created"); id != "" {
		v["Created"] = u.created.take(id, c.user.ID, now)
	}
	u.render(w, r, c, http.StatusOK, "keys", v)
	return nil
}

type ruleForm struct{ ID, Name, Versions string }

type keyForm struct {
	Hash, HashPrefix                                         string
	Rules                                                    []ruleForm
	Rate, Per, QuotaMax, Renewal, Alias, Expires, Tags, Meta string
	DisableRate, Unlimited, Inactive                         bool
}

func (u *ui) keyForm(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	f := keyForm{Rate: "1000", Per: "60", QuotaMax: "10000", Renewal: "3600", Expires: "never", Unlimited: true}
	expiry := expiryOptions
	if hs := r.PathValue("hash"); hs != "" {
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
			expiry = append([]option{{"keep", "Keep: " + time.Unix(int64(s.Expires), 0).UTC().Format("2006-01-02 15:04 UTC")}}, expiryOptions...)
		}
	}
	return u.showKeyForm(w, r, c, http.StatusOK, f, expiry, nil, "")
}

func formOfSession(s *session.Session, h keys.Hash, names map[string]string) keyForm {
	f := keyForm{Hash: h.String(), HashPrefix: h.Short(), Alias: s.Alias, Rate: fmtNum(s.Rate), Per: fmtNum(s.Per),
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
	for _, id := range s.APIIDs() {
		f.Rules = append(f.Rules, ruleForm{ID: id, Name: cmpName(names[id], id), Versions: strings.Join(s.AccessRights[id].Versions, ",")})
	}
	var lines []string
	for k, v := range s.MetaData {
		if str, ok := v.(string); ok {
			lines = append(lines, k+"="+str)
		} else if b, err := json.Marshal(v); err == nil {
			lines = append(lines, k+"="+string(b))
		}
	}
	slices.Sort(lines)
	f.Meta = strings.Join(lines, "\n")
	return f
}

func (u *ui) showKeyForm(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, f keyForm, expiry []option, errs map[string]string, msg string) error {
	_, apis, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	title := "Create key"
	if f.Hash != "" {
		title = "Key " + f.HashPrefix
	}
	u.render(w, r, c, status, "key_form", view{"Title": title, "Section": "keys", "Form": f, "IsNew": f.Hash == "", "APIs": apis,
		"RenewalOptions": renewalOptions, "ExpiryOptions": expiry, "Errors": errs, "Error": msg, "CanWrite": c.perms.Allows("keys", true)})
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
			expiry = append([]option{{"keep", "Keep: " + time.Unix(int64(sess.Expires), 0).UTC().Format("2006-01-02 15:04 UTC")}}, expiryOptions...)
		}
	}
	pf := r.PostForm
	f := keyForm{Hash: hs, Alias: strings.TrimSpace(pf.Get("alias")), Rate: strings.TrimSpace(pf.Get("rate")), Per: strings.TrimSpace(pf.Get("per")),
		QuotaMax: strings.TrimSpace(pf.Get("quota_max")), Renewal: pf.Get("quota_renewal"), Expires: pf.Get("expires"),
		Tags: pf.Get("tags"), Meta: pf.Get("meta_data"), DisableRate: pf.Get("disable_rate") != "", Unlimited: pf.Get("unlimited") != "",
		Inactive: pf.Get("inactive") != ""}
	if hs != "" {
		f.HashPrefix = h.Short()
	}
	errs := map[string]string{}
	rights := map[string]session.AccessDefinition{}
	for _, id := range pf["api"] {
		if _, ok := names[id]; !ok {
			errs["access_rights"] = "API " + id + " does not exist."
			continue
		}
		var versions []string
		for v := range strings.SplitSeq(pf.Get("versions_"+id), ",") {
			if v = strings.TrimSpace(v); v != "" {
				versions = append(versions, v)
			}
		}
		if len(versions) == 0 {
			versions = []string{"Default"}
		}
		ad := sess.AccessRights[id] // keeps allowed_urls and per-API limits set elsewhere
		ad.APIID, ad.APIName, ad.Versions = id, names[id], versions
		rights[id] = ad
		f.Rules = append(f.Rules, ruleForm{ID: id, Name: names[id], Versions: strings.Join(versions, ",")})
	}
	if len(rights) == 0 && errs["access_rights"] == "" {
		errs["access_rights"] = "Add at least one API under Access Rights: choose an API and click Add."
	}
	if f.DisableRate {
		sess.Rate, sess.Per, sess.Allowance = -1, -1, -1
	} else {
		rate, err1 := strconv.ParseFloat(f.Rate, 64)
		per, err2 := strconv.ParseFloat(f.Per, 64)
		if err1 != nil || rate <= 0 {
			errs["rate"] = "Enter how many requests are allowed (more than 0), or tick Disable rate limiting."
		}
		if err2 != nil || per <= 0 {
			errs["per"] = "Enter the number of seconds the requests are counted over (more than 0)."
		}
		sess.Rate, sess.Per, sess.Allowance = rate, per, rate
	}
	renewal, err := strconv.ParseInt(f.Renewal, 10, 64)
	if err != nil || !slices.ContainsFunc(renewalOptions, func(o option) bool { return o.Value == f.Renewal }) {
		renewal = -1
	}
	sess.QuotaRenewalRate = session.Int(renewal)
	if f.Unlimited {
		sess.QuotaMax = -1
	} else {
		q, err := strconv.ParseInt(f.QuotaMax, 10, 64)
		if err != nil || q < 1 {
			errs["quota_max"] = "Enter a whole number of requests (1 or more), or tick Unlimited requests."
		}
		sess.QuotaMax = session.Int(q)
	}
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
	sess.Tags = nil
	for t := range strings.SplitSeq(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			sess.Tags = append(sess.Tags, t)
		}
	}
	meta := map[string]any{}
	for i, line := range strings.Split(f.Meta, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs["meta_data"] = fmt.Sprintf("Line %d: write metadata as key=value.", i+1)
			break
		}
		meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
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
		id := u.created.put(created.Key, c.user.ID, u.s.now())
		http.Redirect(w, r, "/keys?created="+url.QueryEscape(id), http.StatusSeeOther)
		return nil
	}
	if _, _, err = svc.Update(r.Context(), manage.Ref{ID: hs, IsHash: true}, body, true); err != nil {
		return rejected(err)
	}
	u.sessions.setFlash(c.sess, "Key updated.")
	http.Redirect(w, r, "/keys/"+hs, http.StatusSeeOther)
	return nil
}

func (u *ui) deleteKey(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	hs := r.PathValue("hash")
	if _, err := u.keysOf(c).Delete(r.Context(), manage.Ref{ID: hs, IsHash: true}); err != nil {
		return pageError(err, "Key", form{})
	}
	u.sessions.setFlash(c.sess, "Key deleted. Requests with it are refused.")
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
	return nil
}
