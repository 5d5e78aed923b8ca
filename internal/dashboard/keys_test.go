package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// createAliasKey creates a key for apia through the Dashboard API and returns its
// hash.
func (e *env) createAliasKey(t testing.TB, user, alias string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"alias": alias, "access_rights": map[string]any{"apia": map[string]any{"api_id": "apia", "versions": []string{"Default"}}}})
	status, resp := e.call(t, e.dash, "POST", "/api/keys", string(body), e.as(user))
	var c struct {
		KeyHash string `json:"key_hash"`
	}
	if err := json.Unmarshal([]byte(resp), &c); status != 200 || err != nil || c.KeyHash == "" {
		t.Fatalf("create key %q: %d %s", alias, status, resp)
	}
	return c.KeyHash
}

// createAPIA creates the API apia in the organisation of user.
func (e *env) createAPIA(t testing.TB, user string) {
	t.Helper()
	if s, b := e.call(t, e.dash, "POST", "/api/apis", apiBody("apia", "/apia-"+user+"/", e.upstream.URL), e.as(user)); s != 200 {
		t.Fatalf("create api: %d %s", s, b)
	}
}

// TestKeySearch drives the key search of the Dashboard API and of the web UI: alias
// substring ignoring case, % and _ taken literally, hash prefix, one
// organisation's keys only, and paging.
func TestKeySearch(t *testing.T) {
	// keysMade makes the keys every search looks through, and saves Team Alpha's
	// hash ({alpha}) and its first ten characters in upper case ({alphaPrefix}).
	keysMade := func(t *testing.T, e *env) {
		e.createAPIA(t, "a")
		alpha := e.createAliasKey(t, "a", "Team Alpha")
		e.createAliasKey(t, "a", "50% off")
		e.createAliasKey(t, "a", "5000 off")
		e.createAliasKey(t, "a", "Ünïcode")
		for i := range 10 {
			e.createAliasKey(t, "a", fmt.Sprintf("filler %d", i))
		}
		e.must(t, e.dash, "POST", "/api/apis", apiBody("apib", "/apib/", e.upstream.URL), e.as("b"))
		e.must(t, e.dash, "POST", "/api/keys", `{"alias":"Team Alpha of B","access_rights":{"apib":{"api_id":"apib"}}}`, e.as("b"))
		e.vars["alpha"], e.vars["alphaPrefix"] = alpha, strings.ToUpper(alpha[:10])
	}
	// The alias column follows updates: the old alias no longer finds the key.
	renamed := func(t *testing.T, e *env) {
		e.must(t, e.dash, "PUT", "/api/keys/"+e.vars["alpha"]+"?hashed=true&suppress_reset=1", `{"alias":"Renamed","access_rights":{"apia":{"api_id":"apia"}}}`, e.as("a"))
	}
	scenarios{setup: keysMade, rows: []scenario{
		{name: "alias ignoring case", method: "GET", path: "/api/keys/detailed?q=ALPHA", as: "a", status: 200, contains: []string{`"alias":"Team Alpha"`, `"pages":1`}, absent: []string{"of B", `"alias":"50% off"`}},
		{name: "spaces trimmed", method: "GET", path: "/api/keys/detailed?q=%20alpha%20", as: "a", status: 200, contains: []string{`"alias":"Team Alpha"`}},
		{name: "percent literal", method: "GET", path: "/api/keys/detailed?q=50%25", as: "a", status: 200, contains: []string{`"alias":"50% off"`}, absent: []string{`"alias":"5000 off"`}},
		{name: "unicode case", method: "GET", path: "/api/keys/detailed?q=%C3%9CN%C3%8F", as: "a", status: 200, contains: []string{`"alias":"Ünïcode"`}},
		{name: "hash prefix", method: "GET", path: "/api/keys/detailed?q={alphaPrefix}", as: "a", status: 200, contains: []string{`"key_hash":"{alpha}"`}, absent: []string{`"alias":"50% off"`}},
		{name: "other organisation", method: "GET", path: "/api/keys/detailed?q=alpha", as: "b", status: 200, contains: []string{"Team Alpha of B"}, absent: []string{`"alias":"Team Alpha"`}},
		{name: "page 2 of all", method: "GET", path: "/api/keys/detailed?p=2", as: "a", status: 200, contains: []string{`"pages":2`, `"alias":"Team Alpha"`}, absent: []string{`"alias":"filler 9"`}},
		{name: "old alias", setup: renamed, method: "GET", path: "/api/keys/detailed?q=alpha", as: "a", status: 200, contains: []string{`"keys":[]`}},
		{name: "new alias", setup: renamed, method: "GET", path: "/api/keys/detailed?q=renamed", as: "a", status: 200, contains: []string{`"alias":"Renamed"`}},
	}}.run(t)

	// The web UI's pages only read: its rows share one node and one browser.
	e := newEnv(t)
	keysMade(t, e)
	alpha := e.vars["alpha"]
	b := newBrowser(t, e)
	if status, _ := b.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatalf("login: %d", status)
	}
	tests := []struct {
		name, path       string
		contains, absent []string
	}{
		{"alias ignoring case", "/keys?q=ALPHA", []string{"Team Alpha", "Page 1 of 1"}, []string{"of B", "50% off"}},
		{"percent literal", "/keys?q=50%25", []string{"50% off"}, []string{"5000 off"}},
		{"hash prefix", "/keys?q=" + alpha[:10], []string{"Team Alpha"}, []string{"50% off"}},
		{"no match", "/keys?q=nobody", []string{"No keys match"}, nil},
		{"newest first", "/keys", []string{"filler 9", "Page 1 of 2", "/keys?p=2"}, []string{"Team Alpha"}},
		{"page 2", "/keys?p=2", []string{"Team Alpha", "Page 2 of 2"}, []string{"filler 9"}},
		{"page past the end shows the last", "/keys?p=9", []string{"Team Alpha", "Page 2 of 2"}, nil},
		{"search pages keep the query", "/keys?q=F", []string{"Page 1 of 2", "/keys?p=2&amp;q=f"}, nil},
	}
	t.Run("web UI", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b.t = t
				status, body, _ := b.get(tt.path)
				if status != 200 {
					t.Fatalf("%s: %d", tt.path, status)
				}
				for _, s := range tt.contains {
					if !strings.Contains(body, s) {
						t.Errorf("%s lacks %q", tt.path, s)
					}
				}
				for _, s := range tt.absent {
					if strings.Contains(body, s) {
						t.Errorf("%s must not show %q", tt.path, s)
					}
				}
			})
		}
	})
}

// seedKeys stores n keys of organisation A straight into the store (the HTTP path
// would take minutes for 50,000), each a copy of a real session with its own alias
// "customer-NNNNN" and hash, created a millisecond apart, one write each as keys
// arrive in life.
func seedKeys(tb testing.TB, e *env, n int) {
	tb.Helper()
	ctx := tb.Context()
	tmpl, err := e.db.GetKey(ctx, e.createAliasKey(tb, "a", "template"))
	if err != nil {
		tb.Fatal(err)
	}
	sess, err := session.Decode(tmpl.Session)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		sess.Alias = fmt.Sprintf("customer-%05d", i)
		raw, err := json.Marshal(sess)
		if err != nil {
			tb.Fatal(err)
		}
		at := start.Add(time.Duration(i) * time.Millisecond)
		k := store.Key{Hash: keys.Sum(fmt.Sprint("bench-key-", i)).String(), OrgID: tmpl.OrgID, APIIDs: tmpl.APIIDs, Alias: sess.Alias, Session: raw, CreatedAt: at, UpdatedAt: at}
		if err := e.db.CreateKey(ctx, k); err != nil {
			tb.Fatal(err)
		}
	}
	// What the server's background loop does every 30 seconds.
	if err := e.db.Checkpoint(ctx); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkKeySearch measures key listings through the real handlers over HTTP with
// 1,000 and 50,000 keys stored: the search of the Dashboard API, and the web UI's
// keys page searched and unsearched. The store filters, counts and pages, so the
// cost of a page should hardly grow with the number of keys.
func BenchmarkKeySearch(b *testing.B) {
	for _, n := range []int{1_000, 50_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			e := newEnv(b)
			e.createAPIA(b, "a")
			seedKeys(b, e, n)
			// A key in the middle of the listing, as a user would look one up.
			q := url.QueryEscape(fmt.Sprintf("customer-%05d", n/2))
			for _, bm := range []struct {
				name, path, want string
				web              bool
			}{
				{"api_search", "/api/keys/detailed?q=" + q, `"pages":1`, false},
				{"ui_search", "/keys?q=" + q, "Page 1 of 1", true},
				{"ui_first_page", "/keys", "Page 1 of", true},
			} {
				b.Run(bm.name, func(b *testing.B) {
					get := func() (int, string) { return e.call(b, e.dash, "GET", bm.path, "", e.as("a")) }
					if bm.web {
						br := newBrowser(b, e)
						if status, _ := br.login("a@a.io", "password-a", ""); status != 303 {
							b.Fatalf("login: %d", status)
						}
						get = func() (int, string) {
							status, body, _ := br.get(bm.path)
							return status, body
						}
					}
					if status, body := get(); status != 200 || !strings.Contains(body, bm.want) {
						b.Fatalf("%s: %d, want 200 with %q: %.500s", bm.path, status, bm.want, body)
					}
					for b.Loop() {
						if status, _ := get(); status != 200 {
							b.Fatalf("%s: %d", bm.path, status)
						}
					}
				})
			}
		})
	}
}

// TestKeyStatusAndQuotaShown: the Dashboard API's detailed list and the web UI's
// key list show the live quota (two of three requests used through the gateway)
// and the status session.State gives, expired and inactive keys included.
func TestKeyStatusAndQuotaShown(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	rights := `"access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}`
	quotaKey, quotaHash := e.createKey(t, "a", `{"alias":"metered","quota_max":3,"quota_renewal_rate":3600,`+rights+`}`)
	for i := range 2 {
		if s, body := e.call(t, e.gw, "GET", "/apia-a/x", "", map[string]string{"Authorization": quotaKey}); s != 200 {
			t.Fatalf("request %d: %d %s", i, s, body)
		}
	}
	// A past expiry is accepted on update: the way to expire a key now.
	expiredKey, _ := e.createKey(t, "a", `{"alias":"lapsed",`+rights+`}`)
	e.must(t, e.dash, "PUT", "/api/keys/"+expiredKey, `{"alias":"lapsed","expires":1000,`+rights+`}`, e.as("a"))
	e.createKey(t, "a", `{"alias":"switched-off","is_inactive":true,`+rights+`}`)

	var list struct {
		Keys []struct {
			Hash string          `json:"key_hash"`
			Data session.Session `json:"data"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(e.must(t, e.dash, "GET", "/api/keys/detailed?p=-1", "", e.as("a"))), &list); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	states := map[string]string{}
	for _, k := range list.Keys {
		states[k.Data.Alias] = k.Data.State(now)
		if k.Hash == quotaHash {
			if k.Data.QuotaRemaining != 1 || int64(k.Data.QuotaRenews) <= now.Unix() {
				t.Errorf("detailed list: quota_remaining %d, quota_renews %d; want the live counter's 1 and a renewal ahead",
					k.Data.QuotaRemaining, k.Data.QuotaRenews)
			}
		}
	}
	want := map[string]string{"metered": "active", "lapsed": "expired", "switched-off": "inactive"}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", states, want)
	}

	_, page, _ := e.uiLogin(t, "a").get("/keys")
	for alias, state := range want {
		var row string
		for r := range strings.SplitSeq(page, "<tr") {
			if strings.Contains(r, ">"+alias+"<") {
				row = r
			}
		}
		if !strings.Contains(row, ">"+state+"</span>") {
			t.Errorf("UI row of %q does not say %q:\n%s", alias, state, row)
		}
		if alias == "metered" && !strings.Contains(row, "2 used / 1 remaining") {
			t.Errorf("UI row of %q does not show the quota used:\n%s", alias, row)
		}
	}
}
