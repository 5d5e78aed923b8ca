package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// policiesOf is the policy service as the user's organisation sees it; nil on a
// node without policies.
func (u *ui) policiesOf(c *uiCtx) *manage.Policies {
	if u.s.opts.Policies == nil {
		return nil
	}
	return u.s.opts.Policies.InOrg(c.user.OrgID)
}

// policyStates are the "Policy state" choices (Tyk's dashboard words).
var policyStates = []option{
	{policy.StateActive, "Active"}, {policy.StateDraft, "Draft"}, {policy.StateDeny, "Access denied"},
}

// keyExpiryOptions are the "Keys expire after" presets (key_expires_in, seconds).
var keyExpiryOptions = []option{
	{"0", "Never"}, {"3600", "1 hour"}, {"21600", "6 hours"}, {"43200", "12 hours"}, {"86400", "24 hours"},
	{"604800", "1 week"}, {"1209600", "2 weeks"}, {"2592000", "1 month (30 days)"}, {"7776000", "3 months (90 days)"},
	{"31536000", "1 year"},
}

type policyRow struct {
	ID, Name, State, StateClass, APIs, Rate, Quota, KeyExpiry string
}

func stateBadge(state string) (label, class string) {
	switch state {
	case policy.StateDraft:
		return "draft", ""
	case policy.StateDeny:
		return "access denied", "off"
	}
	return "active", "ok"
}

func keyExpiryText(secs session.Int) string {
	if secs <= 0 {
		return "never"
	}
	return "after " + durationText(int64(secs))
}

func describePolicy(p *policy.Policy, apiNames map[string]string) policyRow {
	row := policyRow{ID: p.ID, Name: p.Name, Rate: rateText(p.Rate, p.Per), Quota: quotaText(p.QuotaMax, p.QuotaRenewalRate), KeyExpiry: keyExpiryText(p.KeyExpiresIn)}
	row.State, row.StateClass = stateBadge(p.State)
	var names []string
	for _, id := range p.APIIDs() {
		names = append(names, cmpName(apiNames[id], id))
	}
	slices.Sort(names)
	row.APIs = strings.Join(names, ", ")
	return row
}

// pageOf reads the p query parameter, kept within 1..pages.
func pageOf(r *http.Request, total int) (page, pages int) {
	page, _ = strconv.Atoi(r.URL.Query().Get("p"))
	pages = max((total+pageSize-1)/pageSize, 1)
	return min(max(page, 1), pages), pages
}

func (u *ui) listPolicies(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	svc := u.policiesOf(c)
	if svc == nil {
		return notFound("Page")
	}
	// Not folded here: the store folds names itself, and ids are matched exactly.
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	f := store.PolicyFilter{Query: q}
	total, err := u.policyCount(r, c, f)
	if err != nil {
		return err
	}
	page, pages := pageOf(r, total)
	f.Offset, f.Limit = (page-1)*pageSize, pageSize
	pols, _, err := svc.List(r.Context(), f)
	if err != nil {
		return err
	}
	names, _, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	rows := make([]policyRow, 0, len(pols))
	for _, p := range pols {
		rows = append(rows, describePolicy(p, names))
	}
	link := func(p int) string {
		v := url.Values{"p": {strconv.Itoa(p)}}
		if q != "" {
			v.Set("q", q)
		}
		return "/policies?" + v.Encode()
	}
	v := view{"Title": "Policies", "Section": "policies", "Items": rows, "Query": q, "Page": page, "Pages": pages,
		"CanWrite": c.perms.Allows("policies", true)}
	if page > 1 {
		v["PrevURL"] = link(page - 1)
	}
	if page < pages {
		v["NextURL"] = link(page + 1)
	}
	u.render(w, r, c, http.StatusOK, "policies", v)
	return nil
}

// policyCount counts the organisation's policies matching f (0 on a node
// without policies).
func (u *ui) policyCount(r *http.Request, c *uiCtx, f store.PolicyFilter) (int, error) {
	svc := u.policiesOf(c)
	if svc == nil {
		return 0, nil
	}
	f.Limit = 1
	_, n, err := svc.List(r.Context(), f)
	return n, err
}

type policyForm struct {
	ID, Name, State                                      string
	Rules                                                []ruleForm
	Rate, Per, QuotaMax, Renewal                         string
	ThrottleInterval, ThrottleRetries, KeyExpiresIn      string
	Tags, Meta                                           string
	DisableRate, Unlimited, DisableThrottle              bool
	PartQuota, PartRate, PartACL, PartPerAPI, Complexity bool
	InUse                                                string
}

func formOfPolicy(p *policy.Policy, names map[string]string) policyForm {
	f := policyForm{ID: p.ID, Name: p.Name, State: p.State, Rate: fmtNum(p.Rate), Per: fmtNum(p.Per),
		QuotaMax: strconv.FormatInt(int64(p.QuotaMax), 10), Renewal: strconv.FormatInt(int64(p.QuotaRenewalRate), 10),
		ThrottleInterval: fmtNum(p.ThrottleInterval), ThrottleRetries: strconv.FormatInt(int64(p.ThrottleRetryLimit), 10),
		KeyExpiresIn: strconv.FormatInt(int64(p.KeyExpiresIn), 10), Tags: strings.Join(p.Tags, ", "), Meta: metaText(p.MetaData),
		DisableRate: p.Rate <= 0, Unlimited: p.QuotaMax <= 0, DisableThrottle: p.ThrottleInterval <= 0 || p.ThrottleRetryLimit <= 0,
		PartQuota: p.Partitions.Quota, PartRate: p.Partitions.RateLimit, PartACL: p.Partitions.ACL, PartPerAPI: p.Partitions.PerAPI,
		Complexity: p.Partitions.Complexity}
	if f.DisableRate {
		f.Rate, f.Per = "1000", "60"
	}
	if f.Unlimited {
		f.QuotaMax = "10000"
	}
	if f.DisableThrottle {
		f.ThrottleInterval, f.ThrottleRetries = "1", "3"
	}
	f.Rules = formRules(p.AccessRights, p.APIIDs(), names)
	return f
}

// newPolicyForm is what Policies > Create starts from.
var newPolicyForm = policyForm{State: policy.StateActive, Rate: "1000", Per: "60", QuotaMax: "10000", Renewal: "3600",
	ThrottleInterval: "1", ThrottleRetries: "3", KeyExpiresIn: "0", DisableThrottle: true, Unlimited: true}

func (u *ui) policyForm(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	svc := u.policiesOf(c)
	if svc == nil {
		return notFound("Page")
	}
	f := newPolicyForm
	if id := r.PathValue("id"); id != "" {
		var err error
		if f, err = u.storedPolicyForm(r, c, svc, id); err != nil {
			return err
		}
	}
	return u.showPolicyForm(w, r, c, http.StatusOK, f, nil, "")
}

// storedPolicyForm is the form of a stored policy.
func (u *ui) storedPolicyForm(r *http.Request, c *uiCtx, svc *manage.Policies, id string) (policyForm, error) {
	p, err := svc.Get(r.Context(), id)
	if err != nil {
		return policyForm{}, pageError(err, "Policy", form{})
	}
	names, _, err := u.apiNames(r, c)
	if err != nil {
		return policyForm{}, err
	}
	return formOfPolicy(p, names), nil
}

func (u *ui) showPolicyForm(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, f policyForm, errs map[string]string, msg string) error {
	names, apis, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	title := "Create policy"
	if f.ID != "" {
		title = "Policy " + f.Name
	}
	v := view{"Title": title, "Section": "policies", "Form": f, "IsNew": f.ID == "",
		"States":         policyStates,
		"RenewalOptions": withCurrent(renewalOptions, f.Renewal, "every "+f.Renewal+" seconds (as set)"),
		"ExpiryOptions":  withCurrent(keyExpiryOptions, f.KeyExpiresIn, "after "+f.KeyExpiresIn+" seconds (as set)"),
		"Errors":         errs, "Error": msg, "CanWrite": c.perms.Allows("policies", true)}
	if errs["throttle"] == "" {
		v["ThrottleWarning"] = throttleWarning(f)
	}
	offerAPIs(v, c, names, apis)
	u.render(w, r, c, status, "policy_form", v)
	return nil
}

// policyFormFaults shows a policy's faults at the form's fields.
var policyFormFaults = form{field: func(f string) string {
	switch {
	case f == "name", f == "state", f == "rate", f == "per", f == "quota_max", f == "partitions", f == "key_expires_in", f == "meta_data":
		return f
	case f == "quota_renewal_rate":
		return "quota_renewal"
	case f == "throttle_interval", f == "throttle_retry_limit":
		return "throttle"
	case strings.HasPrefix(f, "access_rights"):
		return "access_rights"
	case strings.HasPrefix(f, "tags"):
		return "tags"
	}
	return ""
}}

// savePolicy turns the form into a policy document and hands it to the policy
// service the APIs use. On edit it starts from the stored policy, so what the
// form does not show (allowed_urls, per-API limits, unknown fields) is kept.
func (u *ui) savePolicy(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	svc := u.policiesOf(c)
	if svc == nil {
		return notFound("Page")
	}
	names, _, err := u.apiNames(r, c)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	p := &policy.Policy{}
	if id != "" {
		if p, err = svc.Get(r.Context(), id); err != nil {
			return pageError(err, "Policy", form{})
		}
	}
	pf := r.PostForm
	f := policyForm{ID: p.ID, Name: strings.TrimSpace(pf.Get("name")), State: pf.Get("state"),
		Rate: strings.TrimSpace(pf.Get("rate")), Per: strings.TrimSpace(pf.Get("per")), QuotaMax: strings.TrimSpace(pf.Get("quota_max")),
		Renewal: pf.Get("quota_renewal"), ThrottleInterval: strings.TrimSpace(pf.Get("throttle_interval")),
		ThrottleRetries: strings.TrimSpace(pf.Get("throttle_retry_limit")), KeyExpiresIn: pf.Get("key_expires_in"),
		Tags: pf.Get("tags"), Meta: pf.Get("meta_data"), DisableRate: pf.Get("disable_rate") != "", Unlimited: pf.Get("unlimited") != "",
		DisableThrottle: pf.Get("disable_throttle") != "", PartQuota: pf.Get("part_quota") != "", PartRate: pf.Get("part_rate_limit") != "",
		PartACL: pf.Get("part_acl") != "", PartPerAPI: pf.Get("part_per_api") != "", Complexity: p.Partitions.Complexity}
	errs := map[string]string{}
	switch {
	case f.Name == "":
		errs["name"] = "Give the policy a name."
	case len(f.Name) > 256:
		errs["name"] = "The name may be at most 256 characters long."
	}
	if !slices.ContainsFunc(policyStates, func(o option) bool { return o.Value == f.State }) {
		errs["state"] = "Choose whether the policy is active, a draft, or denies access."
	}
	p.AccessRights, f.Rules = accessRules(pf, names, p.AccessRights, errs)
	p.Rate, p.Per = parseRate(f.Rate, f.Per, f.DisableRate, errs)
	p.QuotaMax = parseQuota(f.QuotaMax, f.Unlimited, errs)
	stored := strconv.FormatInt(int64(p.QuotaRenewalRate), 10)
	if f.Unlimited && f.Renewal == "" {
		// The browser does not send a switched-off field: an unlimited quota
		// keeps the period it had.
		f.Renewal = stored
	}
	p.QuotaRenewalRate = session.Int(chosen(f.Renewal, withCurrent(renewalOptions, stored, ""), "quota_renewal", "Choose how often the quota resets.", errs))
	if f.DisableThrottle {
		p.ThrottleInterval, p.ThrottleRetryLimit = -1, -1
	} else {
		interval, retries, ok := throttleOf(f)
		switch {
		case !ok:
			errs["throttle"] = "Enter how many times to retry (1 or more) and the seconds between retries (more than 0), or tick Disable throttling."
		case interval > session.MaxThrottleWait.Seconds():
			// The policy service refuses it too (a wait no retry could end within).
			errs["throttle"] = fmt.Sprintf("Enter at most %v seconds between retries: the gateway holds a throttled request for %v seconds at most, all its retries together.",
				session.MaxThrottleWait.Seconds(), session.MaxThrottleWait.Seconds())
		}
		p.ThrottleInterval, p.ThrottleRetryLimit = interval, session.Int(retries)
	}
	p.Partitions = policy.Partitions{Quota: f.PartQuota, RateLimit: f.PartRate, ACL: f.PartACL, PerAPI: f.PartPerAPI, Complexity: f.Complexity}
	if p.Partitions.PerAPI && p.Partitions.Enabled() {
		errs["partitions"] = "Per-API limits cannot be combined with the quota, rate limit or access rights partitions: tick one or the other."
	}
	expiries := withCurrent(keyExpiryOptions, strconv.FormatInt(int64(p.KeyExpiresIn), 10), "")
	p.KeyExpiresIn = session.Int(chosen(f.KeyExpiresIn, expiries, "key_expires_in", "Choose when keys made from this policy expire.", errs))
	p.Tags = parseTags(f.Tags, errs)
	p.MetaData = parseMeta(f.Meta, errs)
	p.Name, p.State = f.Name, f.State
	// Active follows state (Normalise); a stale one must not win over it.
	p.Active = nil
	if len(errs) > 0 {
		return u.showPolicyForm(w, r, c, http.StatusBadRequest, f, errs, "Please correct the marked fields.")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if id == "" {
		p, err = svc.Create(r.Context(), body)
	} else {
		p, err = svc.Update(r.Context(), id, body)
	}
	if err != nil {
		ff, err := uiFault(err, "Policy", policyFormFaults)
		if ff == nil {
			return err
		}
		if ff.status == http.StatusConflict {
			// The ids are the service's to mint: what can clash is the name.
			ff.field = "name"
		}
		if ff.field == "" {
			return u.showPolicyForm(w, r, c, ff.status, f, errs, ff.msg)
		}
		errs[ff.field] = ff.msg
		return u.showPolicyForm(w, r, c, ff.status, f, errs, "Please correct the marked fields.")
	}
	if throttleWarning(f) != "" {
		// Saved as entered, as the API saves it; the policy's page shows at the
		// throttle fields what the gateway will make of them.
		u.sessions.setFlash(r.Context(), c.sess, "Policy “"+p.Name+"” saved. Policy ID: "+p.ID+". Check the note at Throttling.")
		http.Redirect(w, r, "/policies/"+url.PathEscape(p.ID), http.StatusSeeOther)
		return nil
	}
	u.sessions.setFlash(r.Context(), c.sess, "Policy “"+p.Name+"” saved. Policy ID: "+p.ID)
	http.Redirect(w, r, "/policies", http.StatusSeeOther)
	return nil
}

// throttleOf reads the form's throttling: ok is false unless both numbers are
// given, at least one retry and a positive interval.
func throttleOf(f policyForm) (interval float64, retries int64, ok bool) {
	interval, err1 := strconv.ParseFloat(f.ThrottleInterval, 64)
	retries, err2 := strconv.ParseInt(f.ThrottleRetries, 10, 64)
	return interval, retries, err1 == nil && err2 == nil && interval > 0 && retries >= 1 && !math.IsInf(interval, 0)
}

// throttleWarning says, when the form's throttling holds a request longer than
// the gateway does (session.MaxThrottleWait in all), how many of the retries the
// gateway will make. Such a policy is valid: the Dashboard API accepts it, and the
// gateway cuts the retries (session.NewThrottle), so the form saves it too, and
// warns.
func throttleWarning(f policyForm) string {
	interval, retries, ok := throttleOf(f)
	if f.DisableThrottle || !ok || interval > session.MaxThrottleWait.Seconds() {
		return ""
	}
	t := session.NewThrottle(interval, session.Int(retries))
	if int64(t.Retries) >= retries {
		return ""
	}
	return fmt.Sprintf("%d retries %s seconds apart wait longer than the gateway holds a throttled request (%v seconds in all): it will make only the first %d retries, then refuse the request.",
		retries, fmtNum(interval), session.MaxThrottleWait.Seconds(), t.Retries)
}

// deletePolicy deletes a policy. One that keys apply is kept, and its page says
// how many and offers to delete it anyway (force), which leaves those keys
// refused.
func (u *ui) deletePolicy(w http.ResponseWriter, r *http.Request, c *uiCtx) error {
	svc := u.policiesOf(c)
	if svc == nil {
		return notFound("Page")
	}
	id := r.PathValue("id")
	force := r.PostFormValue("force") != ""
	p, err := svc.Delete(r.Context(), id, force)
	if fault.KindOf(err) == fault.Conflict {
		f, gerr := u.storedPolicyForm(r, c, svc, id)
		if gerr != nil {
			return gerr
		}
		ft, _ := fault.As(err)
		f.InUse = ft.Reason
		return u.showPolicyForm(w, r, c, http.StatusConflict, f, nil, "")
	}
	if err != nil {
		return pageError(err, "Policy", form{})
	}
	msg := "Policy “" + p.Name + "” deleted."
	if force {
		msg += " Keys that applied it are refused until they apply another."
	}
	u.sessions.setFlash(r.Context(), c.sess, msg)
	http.Redirect(w, r, "/policies", http.StatusSeeOther)
	return nil
}

// maxPolicyChoices bounds the policies the key form lists.
const maxPolicyChoices = 500

type policyChoice struct {
	ID, Name, Rate, Quota, State, StateClass string
	InForce, Chosen                          bool
}

// policyChoices lists the organisation's policies for the key form's "Choose a
// policy" tab: those in force, and any the key applies that are not.
func (u *ui) policyChoices(r *http.Request, c *uiCtx, chosenIDs []string) ([]policyChoice, error) {
	svc := u.policiesOf(c)
	if svc == nil {
		return nil, nil
	}
	pols, _, err := svc.List(r.Context(), store.PolicyFilter{Limit: maxPolicyChoices})
	if err != nil {
		return nil, err
	}
	var out []policyChoice
	listed := map[string]bool{}
	add := func(p *policy.Policy) {
		listed[p.ID], listed[p.MID] = true, true
		ch := policyChoice{ID: p.ID, Name: p.Name, Rate: rateText(p.Rate, p.Per), Quota: quotaText(p.QuotaMax, p.QuotaRenewalRate),
			InForce: p.InForce(), Chosen: slices.Contains(chosenIDs, p.ID) || slices.Contains(chosenIDs, p.MID)}
		ch.State, ch.StateClass = stateBadge(p.State)
		if ch.InForce || ch.Chosen {
			out = append(out, ch)
		}
	}
	for _, p := range pols {
		add(p)
	}
	// A policy the key applies is always offered, ticked, even past the listing's
	// bound or gone: a box that is not there would drop it on save.
	for _, id := range chosenIDs {
		if listed[id] {
			continue
		}
		p, err := svc.Get(r.Context(), id)
		switch {
		case err == nil:
			add(p)
		case fault.KindOf(err) == fault.NotFound:
			listed[id] = true
			out = append(out, policyChoice{ID: id, Name: "(no such policy)", State: "missing", StateClass: "off", Chosen: true})
		default:
			return nil, err
		}
	}
	return out, nil
}

// limitSource is one effective limit and where it comes from.
type limitSource struct {
	Value string
	// Policy and URL name the policy that set it; empty for the key's own.
	Policy, URL string
}

type effectiveAPI struct {
	ID, Name, Versions    string
	Rights                []limitSource
	Rate, Quota, Throttle limitSource
}

type effectiveView struct {
	// Key is what the key's page says of the key: its dates, status and quota use.
	Key keyRow
	// Refused says why the key is refused, when its policies cannot apply.
	Refused               string
	Rate, Quota, Throttle limitSource
	APIs                  []effectiveAPI
}

// effective is what the key enforces, merged with its policies, and where each
// limit comes from.
func (u *ui) effective(r *http.Request, c *uiCtx, hash string) (*effectiveView, error) {
	s, h, err := u.keysOf(c).Get(r.Context(), manage.Ref{ID: hash, IsHash: true})
	if err != nil {
		return nil, pageError(err, "Key", form{})
	}
	lookup, res := u.policyLookup(r)
	a, err := u.applyKey(r, c, s, h, lookup)
	if res != nil && res.Err != nil {
		return nil, res.Err
	}
	if err != nil {
		return nil, err
	}
	names, _, err := u.apiNames(r, c)
	if err != nil {
		return nil, err
	}
	key := describeKey(s, a, hash, names, u.s.now())
	if a.refused != "" {
		return &effectiveView{Key: key, Refused: a.refused}, nil
	}
	eff := a.eff
	o := policy.Sources(s, eff, lookup)
	from := func(value, id string) limitSource {
		ls := limitSource{Value: value}
		if id != "" {
			ls.Policy, ls.URL = id, "/policies/"+url.PathEscape(id)
			if p, ok := lookup(id); ok {
				ls.Policy = p.Name
			}
		}
		return ls
	}
	v := &effectiveView{Key: key, Rate: from(rateText(eff.Rate, eff.Per), o.Rate), Quota: from(quotaText(eff.QuotaMax, eff.QuotaRenewalRate), o.Quota),
		Throttle: from(throttleText(eff.ThrottleInterval, eff.ThrottleRetryLimit), o.Throttle)}
	for _, api := range eff.APIIDs() {
		ad, ao := eff.AccessRights[api], o.APIs[api]
		l := ad.Limit
		if l.IsEmpty() {
			// Counted with the key's own limits.
			l = session.APILimit{Rate: eff.Rate, Per: eff.Per, QuotaMax: eff.QuotaMax, QuotaRenewalRate: eff.QuotaRenewalRate,
				ThrottleInterval: eff.ThrottleInterval, ThrottleRetryLimit: eff.ThrottleRetryLimit}
		}
		ea := effectiveAPI{ID: api, Name: cmpName(names[api], api), Versions: strings.Join(ad.Versions, ", "),
			Rate: from(rateText(l.Rate, l.Per), ao.Rate), Quota: from(quotaText(l.QuotaMax, l.QuotaRenewalRate), ao.Quota),
			Throttle: from(throttleText(l.ThrottleInterval, l.ThrottleRetryLimit), ao.Throttle)}
		for _, id := range ao.Rights {
			ea.Rights = append(ea.Rights, from("", id))
		}
		if len(ea.Rights) == 0 {
			ea.Rights = []limitSource{{}}
		}
		v.APIs = append(v.APIs, ea)
	}
	return v, nil
}
