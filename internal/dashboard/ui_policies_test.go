package dashboard_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// policyFormValues is a valid Policies > Create form for apia: 2 requests a
// minute, 100 a day, keys expiring after an hour.
func policyFormValues(tok, name string) url.Values {
	return url.Values{"csrf": {tok}, "name": {name}, "state": {"active"}, "api": {"apia"}, "versions_apia": {"Default"},
		"rate": {"2"}, "per": {"60"}, "quota_max": {"100"}, "quota_renewal": {"86400"}, "disable_throttle": {"on"},
		"key_expires_in": {"3600"}, "tags": {"gold, ui"}, "meta_data": {"plan=gold"}}
}

// uiLogin logs user in on a new browser.
func (e *env) uiLogin(t *testing.T, user string) *browser {
	t.Helper()
	email := user + "@a.io"
	if user == "b" {
		email = "b@b.io"
	}
	b := newBrowser(t, e)
	if status, _ := b.login(email, "password-"+user, ""); status != 303 {
		t.Fatalf("login %s: %d", user, status)
	}
	return b
}

// orgPolicies lists organisation A's stored policies.
func (e *env) orgPolicies(t *testing.T) []*policy.Policy {
	t.Helper()
	ps, _, err := e.node.Node.Policies.InOrg(e.orgA).List(t.Context(), store.PolicyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// createPolicyInUI submits the form and returns the new policy's id.
func (e *env) createPolicyInUI(t *testing.T, b *browser, v url.Values) string {
	t.Helper()
	status, body, h := b.post("/policies/new", v)
	if status != 303 || h.Get("Location") != "/policies" {
		t.Fatalf("create policy: %d %s", status, body)
	}
	for _, p := range e.orgPolicies(t) {
		if p.Name == v.Get("name") {
			return p.ID
		}
	}
	t.Fatalf("policy %q not stored", v.Get("name"))
	return ""
}

// TestPolicyFormMarksEveryField: a form with many mistakes is answered once,
// each mistake in plain words at its field, and nothing is stored.
func TestPolicyFormMarksEveryField(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	b := e.uiLogin(t, "a")
	tok := b.csrf("/policies/new")
	tests := []struct {
		name   string
		change url.Values
		status int
		// fields are the error paragraphs' ids that must show, with a word of each.
		fields map[string]string
	}{
		{name: "everything wrong at once", status: 400, change: url.Values{
			"name": {""}, "state": {"on"}, "rate": {"x"}, "per": {"0"}, "quota_max": {"0"}, "disable_throttle": {""},
			"throttle_retry_limit": {"-3"}, "throttle_interval": {"1"}, "part_per_api": {"on"}, "part_acl": {"on"},
			"key_expires_in": {"12"}, "quota_renewal": {"7"}, "meta_data": {"plan"}, "api": {"ghost"},
		}, fields: map[string]string{
			"name-err": "Give the policy a name", "state-err": "active, a draft", "rate-err": "how many requests",
			"per-err": "number of seconds", "q-err": "whole number", "thr-err": "how many times to retry",
			"part-err": "cannot be combined", "kei-err": "when keys made from this policy expire",
			"qr-err": "how often the quota resets", "md-err": "Line 1: write metadata as key=value", "ar-err": "API ghost does not exist",
		}},
		{name: "a name too long", status: 400, change: url.Values{"name": {strings.Repeat("n", 257)}},
			fields: map[string]string{"name-err": "at most 256 characters"}},
		{name: "a tag too long", status: 400, change: url.Values{"tags": {"ok, " + strings.Repeat("t", 300)}},
			fields: map[string]string{"tags-err": "at most 256 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := policyFormValues(tok, "Gold")
			for k, vals := range tt.change {
				v[k] = vals
			}
			status, body, _ := b.post("/policies/new", v)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			for id, words := range tt.fields {
				m := regexp.MustCompile(`<p class="ferr" id="` + id + `"[^>]*>([^<]*)</p>`).FindStringSubmatch(body)
				if m == nil || !strings.Contains(m[1], words) {
					t.Errorf("field message %s: %q, want it to say %q", id, m, words)
				}
			}
			if n := strings.Count(body, `class="ferr"`); n != len(tt.fields) {
				t.Errorf("%d field messages, want %d:\n%s", n, len(tt.fields), body)
			}
			if ps := e.orgPolicies(t); len(ps) != 0 {
				t.Fatalf("a refused form stored %d policies", len(ps))
			}
		})
	}
}

// TestPolicyPages drives Policies in the web UI: create, list, search, page,
// edit (keeping what the form does not show), names unique, delete with the
// in-use refusal and force, other organisations kept out.
func TestPolicyPages(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	b := e.uiLogin(t, "a")
	if _, body, _ := b.get("/policies"); !strings.Contains(body, "No policies yet.") || !strings.Contains(body, `href="/policies/new"`) {
		t.Fatalf("empty list: %s", body)
	}
	tok := b.csrf("/policies/new")

	// Without the form's token the post is refused.
	noTok := policyFormValues("", "Gold")
	if status, _, _ := b.post("/policies/new", noTok); status != 403 {
		t.Fatalf("no csrf token: %d", status)
	}

	id := e.createPolicyInUI(t, b, policyFormValues(tok, "Gold"))
	p := e.orgPolicies(t)[0]
	if p.Rate != 2 || p.Per != 60 || p.QuotaMax != 100 || p.QuotaRenewalRate != 86400 || p.KeyExpiresIn != 3600 ||
		p.ThrottleInterval != -1 || p.ThrottleRetryLimit != -1 || p.State != policy.StateActive || p.OrgID != e.orgA ||
		fmt.Sprint(p.Tags) != "[gold ui]" || p.MetaData["plan"] != "gold" || fmt.Sprint(p.APIIDs()) != "[apia]" ||
		fmt.Sprint(p.AccessRights["apia"].Versions) != "[Default]" || p.Partitions.Enabled() || p.Partitions.PerAPI {
		t.Fatalf("stored policy: %+v", p)
	}
	if _, body, _ := b.get("/policies"); !strings.Contains(body, "Policy ID: "+id) || !strings.Contains(body, ">Gold</a>") ||
		!strings.Contains(body, "2 per 60 s") || !strings.Contains(body, "100 per 1 day") || !strings.Contains(body, "after 1 hour") {
		t.Fatalf("list after create: %s", body)
	}

	// An unlimited quota's switched-off fields are not sent by browsers.
	unlimited := policyFormValues(tok, "Unlimited")
	unlimited.Set("unlimited", "on")
	unlimited.Del("quota_max")
	unlimited.Del("quota_renewal")
	e.createPolicyInUI(t, b, unlimited)

	// Names are unique: said at the name.
	if status, body, _ := b.post("/policies/new", policyFormValues(tok, "Gold")); status != 409 ||
		!regexp.MustCompile(`id="name-err">A policy named &#34;Gold&#34; already exists`).MatchString(body) {
		t.Fatalf("duplicate name: %d %s", status, body)
	}

	// Search by name (any case) or id; paging.
	for i := range 10 {
		e.createPolicyInUI(t, b, policyFormValues(tok, fmt.Sprintf("Filler %02d", i)))
	}
	for _, q := range []struct{ query, want, not string }{
		{"gOLd", ">Gold</a>", ">Filler"},
		{id, ">Gold</a>", ">Filler"},
		{"filler 07", "Filler 07", ">Gold</a>"},
	} {
		if _, body, _ := b.get("/policies?q=" + url.QueryEscape(q.query)); !strings.Contains(body, q.want) || strings.Contains(body, q.not) {
			t.Errorf("search %q: want %q and not %q:\n%s", q.query, q.want, q.not, body)
		}
	}
	if _, body, _ := b.get("/policies?q=nothing-like-it"); !strings.Contains(body, "No policies match") {
		t.Errorf("search without a match: %s", body)
	}
	_, page1, _ := b.get("/policies")
	_, page2, _ := b.get("/policies?p=2")
	if !strings.Contains(page1, "Page 1 of 2") || !strings.Contains(page1, `href="/policies?p=2"`) || !strings.Contains(page2, "Page 2 of 2") ||
		strings.Count(page1, `class="policy-id"`) != 10 || strings.Count(page2, `class="policy-id"`) != 2 {
		t.Fatalf("paging: page 1 %d rows, page 2 %d rows", strings.Count(page1, `class="policy-id"`), strings.Count(page2, `class="policy-id"`))
	}

	// Edit keeps what the form does not show: allowed_urls set over the API.
	withURLs := `{"name":"Gold","rate":2,"per":60,"access_rights":{"apia":{"api_id":"apia","versions":["Default"],"allowed_urls":[{"url":"/only","methods":["GET"]}]}}}`
	if _, err := e.node.Node.Policies.InOrg(e.orgA).Update(t.Context(), id, []byte(withURLs)); err != nil {
		t.Fatal(err)
	}
	_, form, _ := b.get("/policies/" + id)
	if !strings.Contains(form, `value="Gold"`) || !strings.Contains(form, `name="versions_apia"`) || !strings.Contains(form, `id="policy-id">`+id) {
		t.Fatalf("edit form: %s", form)
	}
	edit := policyFormValues(tok, "Gold")
	edit.Set("rate", "5")
	edit.Set("state", "draft")
	edit.Set("part_rate_limit", "on")
	if status, body, _ := b.post("/policies/"+id, edit); status != 303 {
		t.Fatalf("update: %d %s", status, body)
	}
	got, err := e.node.Node.Policies.InOrg(e.orgA).Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rate != 5 || got.State != policy.StateDraft || !got.Partitions.RateLimit || len(got.AccessRights["apia"].AllowedURLs) != 1 || got.ID != id {
		t.Fatalf("updated policy: %+v", got)
	}

	// Another organisation sees none of it.
	bb := e.uiLogin(t, "b")
	if status, _, _ := bb.get("/policies/" + id); status != 404 {
		t.Fatalf("B opens A's policy: %d", status)
	}
	if _, body, _ := bb.get("/policies?q=" + id); strings.Contains(body, "Gold") {
		t.Fatalf("B finds A's policy: %s", body)
	}
	if status, _, _ := bb.post("/policies/"+id+"/delete", url.Values{"csrf": {bb.csrf("/policies")}, "force": {"1"}}); status != 404 {
		t.Fatalf("B deletes A's policy: %d", status)
	}

	// A policy in use is kept, saying how many keys apply it, with Delete anyway.
	edit.Set("state", "active")
	edit.Del("part_rate_limit")
	if status, body, _ := b.post("/policies/"+id, edit); status != 303 {
		t.Fatalf("activate: %d %s", status, body)
	}
	e.createKey(t, "a", `{"apply_policies":["`+id+`"]}`)
	status, body, _ := b.post("/policies/"+id+"/delete", url.Values{"csrf": {tok}})
	if status != 409 || !strings.Contains(body, "applied by 1 key") || !strings.Contains(body, `id="force-delete"`) || !strings.Contains(body, `name="force" value="1"`) {
		t.Fatalf("delete in use: %d %s", status, body)
	}
	if _, err := e.node.Node.Policies.InOrg(e.orgA).Get(t.Context(), id); err != nil {
		t.Fatalf("the policy in use was deleted: %v", err)
	}
	if status, body, h := b.post("/policies/"+id+"/delete", url.Values{"csrf": {tok}, "force": {"1"}}); status != 303 || h.Get("Location") != "/policies" {
		t.Fatalf("force delete: %d %s", status, body)
	}
	if _, body, _ := b.get("/policies?q=" + id); !strings.Contains(body, "refused until they apply another") || strings.Contains(body, ">Gold</a>") {
		t.Fatalf("after force delete: %s", body)
	}
}

// TestPolicyPagesPermissions: a user who may read policies sees them but cannot
// change them; one without the section cannot open them.
func TestPolicyPagesPermissions(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	e.addUser(t, "polreader", map[string]string{"policies": "read", "keys": "write", "apis": "read"})
	admin := e.uiLogin(t, "a")
	id := e.createPolicyInUI(t, admin, policyFormValues(admin.csrf("/policies/new"), "Gold"))
	r := e.uiLogin(t, "polreader")
	if status, body, _ := r.get("/policies"); status != 200 || !strings.Contains(body, "Gold") || strings.Contains(body, `href="/policies/new"`) {
		t.Fatalf("reader's list: %d %s", status, body)
	}
	if status, body, _ := r.get("/policies/" + id); status != 200 || strings.Contains(body, `id="submit"`) || strings.Contains(body, `id="delete"`) {
		t.Fatalf("reader's policy page: %d %s", status, body)
	}
	tok := r.csrf("/policies")
	if status, _, _ := r.post("/policies/"+id, policyFormValues(tok, "Renamed")); status != 403 {
		t.Fatalf("reader updates: %d", status)
	}
	// The key form offers the policy but no link to create one.
	if _, body, _ := r.get("/keys/new"); !strings.Contains(body, `value="`+id+`"`) {
		t.Fatalf("reader's key form lacks the policy: %s", body)
	}
	if status, _, _ := e.uiLogin(t, "reader").get("/policies"); status != 403 {
		t.Fatalf("a user without the policies section: %d", status)
	}
}

// TestKeyFromPolicyInUI: Keys > Create > Choose a policy makes a key that the
// policy limits on the gateway; the key's page shows its effective limits and
// where each comes from.
func TestKeyFromPolicyInUI(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	b := e.uiLogin(t, "a")

	// No policy yet: the tab says so and links to Policies > Create; the key
	// form starts on Choose an API.
	_, body, _ := b.get("/keys/new")
	if !strings.Contains(body, `id="no-policies"`) || !strings.Contains(body, `href="/policies/new"`) ||
		!regexp.MustCompile(`id="mode-manual" checked`).MatchString(body) {
		t.Fatalf("key form without policies: %s", body)
	}

	tok := b.csrf("/policies/new")
	id := e.createPolicyInUI(t, b, policyFormValues(tok, "Two a minute"))
	draft := policyFormValues(tok, "Not yet")
	draft.Set("state", "draft")
	draftID := e.createPolicyInUI(t, b, draft)

	_, body, _ = b.get("/keys/new")
	if !regexp.MustCompile(`id="mode-policy" checked`).MatchString(body) || !strings.Contains(body, `value="`+id+`"`) ||
		!strings.Contains(body, "Two a minute") || !strings.Contains(body, "2 per 60 s") || !strings.Contains(body, "100 per 1 day") ||
		strings.Contains(body, `value="`+draftID+`"`) {
		t.Fatalf("key form with a policy: %s", body)
	}

	keyForm := func(policies ...string) url.Values {
		return url.Values{"csrf": {tok}, "mode": {"policy"}, "policy": policies, "alias": {"from policy"}, "disable_rate": {"on"},
			"unlimited": {"on"}, "quota_renewal": {"3600"}, "expires": {"never"}}
	}
	for _, tt := range []struct {
		name     string
		policies []string
		status   int
		words    string
	}{
		{"no policy chosen", nil, 400, "Choose at least one policy"},
		{"a draft", []string{draftID}, 403, "is a draft"},
		{"a forged id", []string{"nope"}, 403, "policy nope does not exist"},
	} {
		status, body, _ := b.post("/keys/new", keyForm(tt.policies...))
		if status != tt.status || !regexp.MustCompile(`id="pol-err"[^>]*>[^<]*`+regexp.QuoteMeta(tt.words)).MatchString(body) {
			t.Errorf("%s: %d, want %d and %q at the policies:\n%s", tt.name, status, tt.status, tt.words, body)
		}
	}

	status, _, h := b.post("/keys/new", keyForm(id))
	if status != 303 || !strings.HasPrefix(h.Get("Location"), "/keys?created=") {
		t.Fatalf("create key from policy: %d %v", status, h)
	}
	_, body, _ = b.get(h.Get("Location"))
	m := regexp.MustCompile(`<code id="new-key">([^<]+)</code>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no key in the pop-up: %s", body)
	}
	key := m[1]
	hdr := map[string]string{"Authorization": key}
	for i, want := range []int{200, 200, 429} {
		if s, body := e.call(t, e.gw, "GET", "/apia-a/x", "", hdr); s != want {
			t.Fatalf("request %d with the policy's key: %d %s", i+1, s, body)
		}
	}

	// The key's page: its policy chosen, its limits the policy's.
	hash := keys.Sum(key).String()
	_, body, _ = b.get("/keys/" + hash)
	src := `policy <a href="/policies/` + id + `">Two a minute</a>`
	if !regexp.MustCompile(`id="mode-policy" checked`).MatchString(body) || !regexp.MustCompile(`value="`+id+`" id="pol-`+id+`" checked`).MatchString(body) ||
		!strings.Contains(body, `class="eff-rate">2 per 60 s</td><td data-label="Set by">`+src) ||
		!strings.Contains(body, `class="eff-quota">100 per 1 day</td><td data-label="Set by">`+src) {
		t.Fatalf("key page: %s", body)
	}
	// The key expires after the policy's hour.
	s, _, err := e.node.Node.Keys.InOrg(e.orgA).Get(t.Context(), manage.Ref{ID: hash, IsHash: true})
	if err != nil || s.Expires <= 0 {
		t.Fatalf("key expiry from the policy: %v %+v", err, s)
	}

	// A rate-only policy on a key with its own quota: the page says which is
	// which.
	rateOnly := policyFormValues(tok, "Rate only")
	rateOnly.Set("part_rate_limit", "on")
	rateID := e.createPolicyInUI(t, b, rateOnly)
	own := url.Values{"csrf": {tok}, "mode": {"policy"}, "policy": {rateID}, "api": {"apia"}, "versions_apia": {"Default"}, "alias": {"own quota"},
		"rate": {"50"}, "per": {"1"}, "quota_max": {"7"}, "quota_renewal": {"3600"}, "expires": {"never"}}
	if status, body, _ := b.post("/keys/new", own); status != 303 {
		t.Fatalf("create key with own quota: %d %s", status, body)
	}
	_, list, _ := b.get("/keys")
	hm := regexp.MustCompile(`href="/keys/([0-9a-f]{64})">own quota<`).FindStringSubmatch(list)
	if hm == nil {
		t.Fatalf("no such key listed: %s", list)
	}
	_, body, _ = b.get("/keys/" + hm[1])
	if !strings.Contains(body, `class="eff-rate">2 per 60 s</td><td data-label="Set by">policy <a href="/policies/`+rateID+`">Rate only</a>`) ||
		!strings.Contains(body, `class="eff-quota">7 per 1 hour</td><td data-label="Set by">this key`) {
		t.Fatalf("key page of a rate-only policy: %s", body)
	}

	// A key whose policy is gone still shows it ticked, and says it is refused.
	goneKey, _ := e.createKey(t, "a", `{"alias":"orphan","apply_policies":["`+rateID+`"],"access_rights":{"apia":{"api_id":"apia"}}}`)
	if _, err := e.node.Node.Policies.InOrg(e.orgA).Delete(t.Context(), rateID, true); err != nil {
		t.Fatal(err)
	}
	_, body, _ = b.get("/keys/" + keys.Sum(goneKey).String())
	if !regexp.MustCompile(`value="`+rateID+`" id="pol-`+rateID+`" checked`).MatchString(body) || !strings.Contains(body, "(no such policy)") ||
		!strings.Contains(body, "The gateway refuses this key: Key has an invalid policy: policy "+rateID+" does not exist") {
		t.Fatalf("key page of a deleted policy: %s", body)
	}

	// Choose an API on an existing key drops its policies.
	manual := url.Values{"csrf": {tok}, "mode": {"manual"}, "policy": {id}, "api": {"apia"}, "versions_apia": {"Default"},
		"disable_rate": {"on"}, "unlimited": {"on"}, "quota_renewal": {"3600"}, "expires": {"keep"}}
	if status, body, _ := b.post("/keys/"+hash, manual); status != 303 {
		t.Fatalf("switch to manual: %d %s", status, body)
	}
	if s, _, _ := e.node.Node.Keys.InOrg(e.orgA).Get(t.Context(), manage.Ref{ID: hash, IsHash: true}); len(policy.IDs(s)) != 0 {
		t.Fatalf("the key still applies %v", policy.IDs(s))
	}
}
