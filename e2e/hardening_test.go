package e2e

// Attack tests: each TestHard... drives one attack against the real `tollgate serve`
// binary the way an attacker would, over HTTP on 127.0.0.1 only, and asserts the
// secure behaviour. They are independent of the product's own tests on purpose: they
// describe what must hold, not what the code happens to do, so some fail until the
// matching hole is closed. Every test has its own data directory and ports.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// ---------------------------------------------------------------------------------
// Helpers (every name starts with "hard" so they cannot clash with other files).
// ---------------------------------------------------------------------------------

// hardAdminPerms is Tyk's administrator marker.
var hardAdminPerms = map[string]string{"IsAdmin": "admin"}

// hardAccount is a dashboard user as the tests know it.
type hardAccount struct {
	id, email, password, accessKey, orgID string
}

// hardDash sends one request to the dashboard listener (proc.request talks to the
// gateway). headers["Cookie"] and the like are sent as given.
func hardDash(t *testing.T, p *proc, method, path string, headers map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	// Not t.Context(): it is cancelled before cleanups run, and cleanups use this.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.Dashboard+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// RoundTrip, not client.Do: the client parses a redirect's Location and fails on
	// the hostile ones the open-redirect test must see as sent.
	resp, err := client.Transport.RoundTrip(req)
	if err != nil {
		t.Fatalf("dashboard %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("dashboard %s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// hardAPI calls the Dashboard API with a user's access key (raw, as Tyk clients send it).
func hardAPI(t *testing.T, p *proc, method, path, accessKey, body string) response {
	t.Helper()
	return hardDash(t, p, method, path, map[string]string{"Authorization": accessKey}, body)
}

// hardAdminAPI calls the Dashboard Admin API with the admin secret.
func hardAdminAPI(t *testing.T, p *proc, method, path, body string) response {
	t.Helper()
	return hardDash(t, p, method, path, map[string]string{"admin-auth": p.secret}, body)
}

// hardOrg creates an organisation through the Admin API and returns its id.
func hardOrg(t *testing.T, p *proc, name string) string {
	t.Helper()
	r := hardAdminAPI(t, p, http.MethodPost, "/admin/organisations", mustJSON(t, map[string]any{"owner_name": name}))
	var env struct{ Meta string }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &env) != nil || env.Meta == "" {
		t.Fatalf("POST /admin/organisations = %d %s", r.status, r.body)
	}
	return env.Meta
}

// hardUser creates a user through the Admin API, which answers with the access key
// in Message and the user in Meta.
func hardUser(t *testing.T, p *proc, orgID, email string, perms map[string]string) hardAccount {
	t.Helper()
	pw := "pw-" + rand.Text()
	r := hardAdminAPI(t, p, http.MethodPost, "/admin/users", mustJSON(t, map[string]any{
		"org_id": orgID, "email_address": email, "first_name": "Hard", "last_name": "Test",
		"password": pw, "active": true, "user_permissions": perms,
	}))
	var env struct {
		Message string
		Meta    struct {
			ID string `json:"id"`
		}
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &env) != nil || env.Message == "" || env.Meta.ID == "" {
		t.Fatalf("POST /admin/users (%s) = %d %s", email, r.status, r.body)
	}
	return hardAccount{id: env.Meta.ID, email: email, password: pw, accessKey: env.Message, orgID: orgID}
}

// hardFirstRun reads the administrator that the first start printed on stdout.
func hardFirstRun(t *testing.T, p *proc) hardAccount {
	t.Helper()
	field := func(marker string) string {
		v := p.Field(marker)
		if v == "" {
			t.Fatalf("no %q line on the first start's stdout:\n%s", marker, p.Stdout)
		}
		return v
	}
	a := hardAccount{email: field("e-mail:"), password: field("password:"),
		accessKey: field("Dashboard API access credentials:"), orgID: field("organisation id:")}
	a.id = hardMe(t, p, a.accessKey)["id"].(string)
	return a
}

// hardMe is GET /api/users/me for an access key; it fails the test unless 200.
func hardMe(t *testing.T, p *proc, accessKey string) map[string]any {
	t.Helper()
	r := hardAPI(t, p, http.MethodGet, "/api/users/me", accessKey, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/users/me = %d %s", r.status, r.body)
	}
	return decodeObject(t, r)
}

// hardKeyedAPI is a classic definition that needs a key in the Authorization header.
// An empty id lets the server generate one.
func hardKeyedAPI(name, id, listenPath, target string) map[string]any {
	d := keylessAPI(name, listenPath, target, true)
	d["use_keyless"] = false
	d["auth"] = map[string]any{"auth_header_name": "Authorization"}
	if id != "" {
		d["api_id"] = id
	}
	return d
}

// hardWrap is the Dashboard API's {"api_definition": ...} body.
func hardWrap(t *testing.T, def map[string]any) string {
	return mustJSON(t, map[string]any{"api_definition": def})
}

// hardCreateAPI creates an API through the Dashboard API and returns its api_id (the
// reply's ID; Meta is its database id).
func hardCreateAPI(t *testing.T, p *proc, accessKey string, def map[string]any) string {
	t.Helper()
	r := hardAPI(t, p, http.MethodPost, "/api/apis", accessKey, hardWrap(t, def))
	var env struct{ ID string }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &env) != nil || env.ID == "" {
		t.Fatalf("POST /api/apis %v = %d %s", def["name"], r.status, r.body)
	}
	return env.ID
}

// hardSession is a Tyk session object granting the given APIs.
func hardSession(orgID string, apiIDs ...string) map[string]any {
	rights := map[string]any{}
	for _, id := range apiIDs {
		rights[id] = map[string]any{"api_id": id, "versions": []string{"Default"}}
	}
	s := map[string]any{"allowance": 1000, "rate": 1000, "per": 1, "expires": 0, "quota_max": -1, "access_rights": rights}
	if orgID != "" {
		s["org_id"] = orgID
	}
	return s
}

// hardCreateKey creates a key through the Dashboard API and returns the key.
func hardCreateKey(t *testing.T, p *proc, accessKey string, apiIDs ...string) string {
	t.Helper()
	r := hardAPI(t, p, http.MethodPost, "/api/keys", accessKey, mustJSON(t, hardSession("", apiIDs...)))
	var reply struct{ Key string }
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &reply) != nil || reply.Key == "" {
		t.Fatalf("POST /api/keys for %v = %d %s", apiIDs, r.status, r.body)
	}
	return reply.Key
}

// hardCall is a client request through the gateway with a key.
func hardCall(t *testing.T, p *proc, path, key string) response {
	t.Helper()
	return p.request(t, http.MethodGet, path, map[string]string{"Authorization": key}, "")
}

// hardCookie returns the value of the named Set-Cookie in r ("" if absent or deleted).
func hardCookie(r response, name string) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

var hardCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// hardPasswordLine finds "password: VALUE" at the end of a line of CLI output.
var hardPasswordLine = regexp.MustCompile(`(?i)password[^:]*:\s*(\S+)\s*$`)

// hardLoginForm is what GET /login hands a browser: the login CSRF cookie and the
// matching hidden form field.
type hardLoginForm struct{ cookie, field string }

func hardGetLoginForm(t *testing.T, p *proc) hardLoginForm {
	t.Helper()
	r := hardDash(t, p, http.MethodGet, "/login", nil, "")
	m := hardCSRFField.FindStringSubmatch(r.body)
	c := hardCookie(r, "tollgate_login_csrf")
	if r.status != http.StatusOK || m == nil || c == "" {
		t.Fatalf("GET /login = %d, csrf field %v, cookie %q", r.status, m, c)
	}
	return hardLoginForm{cookie: c, field: m[1]}
}

// hardPostLogin submits the login form as a browser would.
func hardPostLogin(t *testing.T, p *proc, f hardLoginForm, email, password, next string) response {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}, "csrf": {f.field}, "next": {next}}
	return hardDash(t, p, http.MethodPost, "/login", map[string]string{
		"Content-Type": "application/x-www-form-urlencoded",
		"Cookie":       "tollgate_login_csrf=" + f.cookie,
	}, form.Encode())
}

// hardLogin logs in through the web form.
func hardLogin(t *testing.T, p *proc, email, password, next string) response {
	t.Helper()
	return hardPostLogin(t, p, hardGetLoginForm(t, p), email, password, next)
}

// hardWantLoggedIn checks a login reply: 303 into the app with a session cookie.
func hardWantLoggedIn(t *testing.T, what string, r response) string {
	t.Helper()
	sess := hardCookie(r, "tollgate_session")
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || sess == "" || strings.HasPrefix(loc, "/login") {
		t.Errorf("%s: login = %d, Location %q, session cookie %q; want 303 into the app with a session", what, r.status, loc, sess)
	}
	return sess
}

// hardLaunch starts `tollgate serve` on dataDir like startServe, but returns as soon
// as the process is ready or has exited, so a test can accept a refusal to start.
func hardLaunch(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	return startServe(t, e2eutil.Options{DataDir: dataDir, Args: extra, MayExit: true})
}

// hardMedian is the median of ds.
func hardMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// hardFloodResult counts what a flood got back.
type hardFloodResult struct {
	sent     int
	statuses map[int]int
	errors   int
	took     time.Duration
}

// hardFlood sends up to n requests built by mk from a few goroutines, stopping after
// limit, and counts the statuses.
func hardFlood(t *testing.T, n, workers int, limit time.Duration, mk func(i int) *http.Request) hardFloodResult {
	t.Helper()
	hc := &http.Client{
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers, DisableCompression: true},
		Timeout:   5 * time.Second,
	}
	defer hc.CloseIdleConnections()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		res      = hardFloodResult{statuses: map[int]int{}}
		wg       sync.WaitGroup
		start    = time.Now()
		deadline = start.Add(limit)
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || time.Now().After(deadline) {
					return
				}
				resp, err := hc.Do(mk(i))
				mu.Lock()
				res.sent++
				if err != nil {
					res.errors++
				} else {
					res.statuses[resp.StatusCode]++
				}
				mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	return res
}

// hardNewLines returns the non-empty lines written to s after offset.
func hardNewLines(s string, offset int) []string {
	var out []string
	for l := range strings.SplitSeq(s[offset:], "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------------------
// 1. Route hijack by listen path.
// ---------------------------------------------------------------------------------

// TestHardRouteHijackByListenPath: routing picks the longest listen-path prefix and
// prefers domain-bound routes, so an organisation that may create an API at a path
// nested under another organisation's listen path (or at the same path bound to the
// gateway's host name) captures that organisation's traffic, keys included: B's
// clients send their Authorization header to A's upstream. Every door must refuse
// it, without telling A whose API is in the way.
func TestHardRouteHijackByListenPath(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	upA, upB := newEcho(t, "A"), newEcho(t, "B")
	orgA, orgB := hardOrg(t, p, "Org A"), hardOrg(t, p, "Org B")
	a := hardUser(t, p, orgA, "admin@a.example", hardAdminPerms)
	b := hardUser(t, p, orgB, "admin@b.example", hardAdminPerms)

	const bName = "Bank-of-B-Payments"

	// target is what one case attacks: B's API at a listen path of the case's own,
	// so that no case sees what another left behind (an attack that got through, say),
	// and a key of B's for it.
	type target struct{ path, id, key string }
	setup := func(t *testing.T, i int) target {
		t.Helper()
		tg := target{path: fmt.Sprintf("/b-api-%d", i)}
		tg.id = hardCreateAPI(t, p, b.accessKey, hardKeyedAPI(bName, "", tg.path+"/", upB.URL))
		tg.key = hardCreateKey(t, p, b.accessKey, tg.id)
		return tg
	}

	// bReaches checks that B's clients still reach B's upstream on a path an attack
	// would capture.
	bReaches := func(t *testing.T, tg target, when string) {
		t.Helper()
		path := tg.path + "/sub/x"
		r := hardCall(t, p, path, tg.key)
		if up := r.header.Get("X-Upstream"); r.status != http.StatusOK || up != "B" {
			what := "; body " + r.body
			if up == "A" {
				what = " (B's request, with B's key, was proxied to A's upstream)"
			}
			t.Errorf("%s: B's client GET %s = %d from upstream %q, want 200 from B%s", when, path, r.status, up, what)
		}
	}

	cases := []struct {
		name       string
		door       string // "create" (POST /api/apis as A), "update" (PUT A's own API), "control" (POST /tyk/apis)
		listenPath string // {b} is B's listen path in this case
		domain     string
		refused    bool
	}{
		{"nested under B's path", "create", "{b}/sub/", "", true},
		{"B's exact path", "create", "{b}/", "", true},
		{"B's exact path bound to 127.0.0.1", "create", "{b}/", "127.0.0.1", true},
		{"own API moved under B's path", "update", "{b}/sub/", "", true},
		{"control API with A's org_id, nested", "control", "{b}/sub/", "", true},
		{"no overlap (control case)", "create", "/other/", "", false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := setup(t, i)
			bReaches(t, tg, "before the attack")
			if t.Failed() {
				t.FailNow()
			}
			listenPath := strings.ReplaceAll(tc.listenPath, "{b}", tg.path)
			def := keylessAPI("A-hijack", listenPath, upA.URL, true)
			if tc.domain != "" {
				def["domain"] = tc.domain
			}
			var r response
			switch tc.door {
			case "create":
				r = hardAPI(t, p, http.MethodPost, "/api/apis", a.accessKey, hardWrap(t, def))
			case "update":
				// Org A's own API, keyless so a successful hijack shows.
				ownID := hardCreateAPI(t, p, a.accessKey, keylessAPI("A-own", fmt.Sprintf("/a-own-%d/", i), upA.URL, true))
				def["api_id"] = ownID
				r = hardAPI(t, p, http.MethodPut, "/api/apis/"+ownID, a.accessKey, hardWrap(t, def))
			case "control":
				def["org_id"] = orgA
				r = p.admin(t, http.MethodPost, "/tyk/apis", mustJSON(t, def))
			}

			if tc.refused {
				if r.status != http.StatusBadRequest && r.status != http.StatusConflict {
					t.Errorf("org A's %s at %q (domain %q) = %d %s; want 400 or 409", tc.door, listenPath, tc.domain, r.status, r.body)
				}
				if tc.door != "control" {
					// The control API's caller holds the gateway secret and may see
					// every API; a tenant must not learn another tenant's ids or names.
					for _, leak := range []string{tg.id, bName} {
						if strings.Contains(r.body, leak) {
							t.Errorf("the refusal tells org A about org B's API (%q): %s", leak, r.body)
						}
					}
				}
			} else if r.status != http.StatusOK {
				t.Errorf("org A's create at %q = %d %s; want 200 (no overlap)", listenPath, r.status, r.body)
			}
			bReaches(t, tg, "after the attack")
		})
	}
}

// ---------------------------------------------------------------------------------
// 2. Deleted API id reuse and cross-organisation access rights.
// ---------------------------------------------------------------------------------

// TestHardDeletedAPIIDReuse: keys grant access by api_id. If deleting an API leaves
// its id in keys' access rights and frees the id for anyone, then (a) another
// organisation that creates an API under the freed id is opened by the first
// organisation's old keys, and (b) an owner who recreates the API finds keys it
// believed dead working again. (c) Keys must never reach another organisation's API,
// however they were minted.
func TestHardDeletedAPIIDReuse(t *testing.T) {
	t.Parallel()
	const xID = "reuse000000000000000000000000001"
	const aName = "Alpha-Private-Ledger"

	// setup starts a server with two organisations; org A creates API X and a key
	// for it, checks the key works, then deletes X.
	setup := func(t *testing.T) (p *proc, a, b hardAccount, aKey string) {
		p = startServe(t, e2eutil.Options{})
		up := newEcho(t, "A")
		a = hardUser(t, p, hardOrg(t, p, "Org A"), "admin@a.example", hardAdminPerms)
		b = hardUser(t, p, hardOrg(t, p, "Org B"), "admin@b.example", hardAdminPerms)
		hardCreateAPI(t, p, a.accessKey, hardKeyedAPI(aName, xID, "/reuse-a/", up.URL))
		aKey = hardCreateKey(t, p, a.accessKey, xID)
		if r := hardCall(t, p, "/reuse-a/x", aKey); r.status != http.StatusOK {
			t.Fatalf("A's key on A's API = %d %s, want 200", r.status, r.body)
		}
		if r := hardAPI(t, p, http.MethodDelete, "/api/apis/"+xID, a.accessKey, ""); r.status != http.StatusOK {
			t.Fatalf("A deleting X = %d %s", r.status, r.body)
		}
		return p, a, b, aKey
	}

	t.Run("another org takes the freed id", func(t *testing.T) {
		t.Parallel()
		p, _, b, aKey := setup(t)
		upB := newEcho(t, "B")
		r := hardAPI(t, p, http.MethodPost, "/api/apis", b.accessKey, hardWrap(t, hardKeyedAPI("B-api", xID, "/reuse-b/", upB.URL)))
		if r.status != http.StatusBadRequest && r.status != http.StatusConflict {
			t.Errorf("org B creating an API with org A's deleted id = %d %s; want 400 or 409", r.status, r.body)
		}
		if strings.Contains(r.body, aName) {
			t.Errorf("the reply names org A's API: %s", r.body)
		}
		if r.status == http.StatusOK {
			// The consequence: A's old key now opens B's API.
			if c := hardCall(t, p, "/reuse-b/x", aKey); c.status != http.StatusForbidden {
				t.Errorf("org A's old key on org B's API under the reused id = %d from upstream %q; want 403",
					c.status, c.header.Get("X-Upstream"))
			}
		}
	})

	t.Run("owner recreates it; old keys stay dead", func(t *testing.T) {
		t.Parallel()
		p, a, _, aKey := setup(t)
		up := newEcho(t, "A2")
		r := hardAPI(t, p, http.MethodPost, "/api/apis", a.accessKey, hardWrap(t, hardKeyedAPI(aName, xID, "/reuse-a/", up.URL)))
		if r.status != http.StatusOK {
			t.Fatalf("org A recreating its own id = %d %s; want 200", r.status, r.body)
		}
		c := hardCall(t, p, "/reuse-a/x", aKey)
		if c.status != http.StatusForbidden {
			t.Errorf("a key made for the deleted API opens the recreated one: %d %s; want 403 (deleting an API must remove it from keys' access rights)", c.status, c.body)
		}
	})

	t.Run("API moved to another org under an existing key", func(t *testing.T) {
		t.Parallel()
		// However a key came to name another organisation's API, the gateway itself
		// must refuse it: here the API changes hands after the key was made.
		p := startServe(t, e2eutil.Options{})
		up := newEcho(t, "B")
		orgA, orgB := hardOrg(t, p, "Org A"), hardOrg(t, p, "Org B")
		def := hardKeyedAPI("moving", "", "/moving/", up.URL)
		def["org_id"] = orgA
		id := p.createAPI(t, def)
		r := p.mustAdmin(t, http.MethodPost, "/tyk/keys", mustJSON(t, hardSession(orgA, id)), http.StatusOK)
		var reply struct{ Key string }
		if json.Unmarshal([]byte(r.body), &reply) != nil || reply.Key == "" {
			t.Fatalf("POST /tyk/keys = %s", r.body)
		}
		if c := hardCall(t, p, "/moving/x", reply.Key); c.status != http.StatusOK {
			t.Fatalf("precondition: org A's key on org A's API = %d %s", c.status, c.body)
		}
		def["api_id"], def["org_id"] = id, orgB
		if u := p.admin(t, http.MethodPut, "/tyk/apis/"+id, mustJSON(t, def)); u.status != http.StatusOK {
			t.Logf("the control API refused to move the API to org B: %d %s", u.status, u.body)
			return
		}
		c := hardCall(t, p, "/moving/x", reply.Key)
		if c.status != http.StatusForbidden || !strings.Contains(c.body, "Access to this API has been disallowed") {
			t.Errorf("org A's key on the API now owned by org B = %d (upstream %q); want 403 \"Access to this API has been disallowed\"",
				c.status, c.header.Get("X-Upstream"))
		}
	})

	t.Run("control API key of org A listing org B's API", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, e2eutil.Options{})
		upB := newEcho(t, "B")
		orgA, orgB := hardOrg(t, p, "Org A"), hardOrg(t, p, "Org B")
		def := hardKeyedAPI("B-cross", "", "/cross-b/", upB.URL)
		def["org_id"] = orgB
		bID := p.createAPI(t, def)
		r := p.admin(t, http.MethodPost, "/tyk/keys", mustJSON(t, hardSession(orgA, bID)))
		if r.status >= 400 && r.status < 500 {
			t.Logf("the control API refused the cross-organisation key: %d %s", r.status, r.body)
			return
		}
		var reply struct{ Key string }
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &reply) != nil || reply.Key == "" {
			t.Fatalf("POST /tyk/keys = %d %s", r.status, r.body)
		}
		c := hardCall(t, p, "/cross-b/x", reply.Key)
		if c.status != http.StatusForbidden || !strings.Contains(c.body, "Access to this API has been disallowed") {
			t.Errorf("org A's key on org B's API = %d (upstream %q) %s; want 403 \"Access to this API has been disallowed\"",
				c.status, c.header.Get("X-Upstream"), c.body)
		}
	})
}

// ---------------------------------------------------------------------------------
// 3. Privilege escalation by a user manager.
// ---------------------------------------------------------------------------------

// hardManager starts a server with one organisation and a user M whose only right
// is users:write.
func hardManager(t *testing.T) (p *proc, org string, m hardAccount) {
	t.Helper()
	p = startServe(t, e2eutil.Options{})
	org = hardOrg(t, p, "Escalation Org")
	m = hardUser(t, p, org, "manager@esc.example", map[string]string{"users": "write"})
	return p, org, m
}

// TestHardUserPrivilegeEscalation: a user whose only right is users:write must not
// take over an administrator (change their e-mail, demote them, set their password,
// reset their access key, switch them off, delete them): with any of these it
// becomes, or locks out, an administrator. Each case attacks a fresh administrator.
func TestHardUserPrivilegeEscalation(t *testing.T) {
	t.Parallel()
	p, org, m := hardManager(t)

	attacks := []struct {
		name, method, path, body string
	}{
		{"change the admin's e-mail", http.MethodPut, "/api/users/{id}", `{"email_address": "taken-over@evil.example"}`},
		{"demote the admin", http.MethodPut, "/api/users/{id}", `{"user_permissions": {"keys": "read"}}`},
		{"set the admin's password", http.MethodPost, "/api/users/{id}/actions/reset", `{"new_password": "manager-chose-this-one"}`},
		{"reset the admin's access key", http.MethodPut, "/api/users/{id}/actions/key/reset", ""},
		// Beyond the brief's list: the same takeover by other means.
		{"demote the admin to the manager's own rights", http.MethodPut, "/api/users/{id}", `{"user_permissions": {"users": "read"}}`},
		{"deactivate the admin", http.MethodPut, "/api/users/{id}", `{"active": false}`},
		{"delete the admin", http.MethodDelete, "/api/users/{id}", ""},
	}
	for i, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			adm := hardUser(t, p, org, fmt.Sprintf("admin%d@esc.example", i), hardAdminPerms)
			path := strings.ReplaceAll(at.path, "{id}", adm.id)
			if r := hardAPI(t, p, at.method, path, m.accessKey, at.body); r.status != http.StatusForbidden {
				t.Errorf("users:write user: %s %s = %d %s; want 403", at.method, path, r.status, r.body)
			}
			// The administrator is untouched: old access key, e-mail, rights, password.
			me := hardAPI(t, p, http.MethodGet, "/api/users/me", adm.accessKey, "")
			if me.status != http.StatusOK {
				t.Errorf("the admin's access key stopped working: GET /api/users/me = %d %s", me.status, me.body)
			} else {
				got := decodeObject(t, me)
				if got["email_address"] != adm.email {
					t.Errorf("the admin's e-mail is now %v, want %s", got["email_address"], adm.email)
				}
				if perms, _ := got["user_permissions"].(map[string]any); perms["IsAdmin"] != "admin" {
					t.Errorf("the admin's permissions are now %v, want IsAdmin", got["user_permissions"])
				}
			}
			if r := hardLogin(t, p, adm.email, adm.password, ""); r.status != http.StatusSeeOther {
				t.Errorf("the admin's own password no longer logs in: %d", r.status)
			}
		})
	}

}

// TestHardUserPrivilegeEscalationWebUI: the web UI is a second door onto the same
// users; its forms must apply the same rule as the API.
func TestHardUserPrivilegeEscalationWebUI(t *testing.T) {
	t.Parallel()
	p, org, m := hardManager(t)
	sess := hardWantLoggedIn(t, "manager", hardLogin(t, p, m.email, m.password, "/users"))
	if sess == "" {
		t.FailNow()
	}
	cookie := "tollgate_session=" + sess
	page := hardDash(t, p, http.MethodGet, "/users", map[string]string{"Cookie": cookie}, "")
	csrf := hardCSRFField.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || csrf == nil {
		t.Fatalf("GET /users as the manager = %d, csrf field %v", page.status, csrf)
	}
	for i, action := range []string{"reset-key", "delete"} {
		t.Run(action, func(t *testing.T) {
			adm := hardUser(t, p, org, fmt.Sprintf("ui-admin%d@esc.example", i), hardAdminPerms)
			r := hardDash(t, p, http.MethodPost, "/users/"+adm.id+"/"+action, map[string]string{
				"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
			}, url.Values{"csrf": {csrf[1]}}.Encode())
			if r.status != http.StatusForbidden {
				t.Errorf("users:write user: POST /users/{admin}/%s = %d (Location %q); want 403", action, r.status, r.header.Get("Location"))
			}
			if me := hardAPI(t, p, http.MethodGet, "/api/users/me", adm.accessKey, ""); me.status != http.StatusOK {
				t.Errorf("the admin's access key stopped working: GET /api/users/me = %d %s", me.status, me.body)
			}
		})
	}
}

// TestHardUserPeerEscalation: a users:write user must not act on a user holding
// rights beyond its own (it could then use their access key or password); acting on
// a user with a subset of its rights stays allowed.
func TestHardUserPeerEscalation(t *testing.T) {
	t.Parallel()
	p, org, m := hardManager(t)
	peers := []struct {
		name   string
		perms  map[string]string
		status int
	}{
		{"peer with more rights (users+keys write)", map[string]string{"users": "write", "keys": "write"}, http.StatusForbidden},
		{"peer with a right the manager lacks (keys read)", map[string]string{"keys": "read"}, http.StatusForbidden},
		{"peer with a subset (users read)", map[string]string{"users": "read"}, http.StatusOK},
	}
	for i, pc := range peers {
		t.Run(pc.name, func(t *testing.T) {
			u := hardUser(t, p, org, fmt.Sprintf("peer%d@esc.example", i), pc.perms)
			r := hardAPI(t, p, http.MethodPut, "/api/users/"+u.id, m.accessKey, `{"first_name": "Renamed"}`)
			if r.status != pc.status {
				t.Errorf("users:write user: PUT on a user with %v = %d %s; want %d", pc.perms, r.status, r.body, pc.status)
			}
			if pc.status == http.StatusForbidden {
				if got := hardMe(t, p, u.accessKey)["first_name"]; got != "Hard" {
					t.Errorf("the peer's first_name is now %v despite the refusal", got)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------------
// 4. Web sessions end when credentials change.
// ---------------------------------------------------------------------------------

// TestHardWebSessionEndsOnCredentialChange: resetting a password or access key is how
// an administrator evicts someone who stole them; a web session opened with the old
// credentials must end too, or the intruder keeps the dashboard for up to 24 hours.
func TestHardWebSessionEndsOnCredentialChange(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	admin := hardFirstRun(t, p)
	cases := []struct {
		name, method, path, body string
	}{
		{"password reset", http.MethodPost, "/api/users/{id}/actions/reset", `{"new_password": "a-brand-new-password"}`},
		{"access key reset", http.MethodPut, "/api/users/{id}/actions/key/reset", ""},
		{"deactivation", http.MethodPut, "/api/users/{id}", `{"active": false}`},
		{"deletion", http.MethodDelete, "/api/users/{id}", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := hardUser(t, p, admin.orgID, fmt.Sprintf("x%d@sess.example", i), map[string]string{"keys": "read"})
			sess := hardWantLoggedIn(t, "X", hardLogin(t, p, x.email, x.password, "/keys"))
			if sess == "" {
				t.FailNow()
			}
			cookie := map[string]string{"Cookie": "tollgate_session=" + sess}
			if r := hardDash(t, p, http.MethodGet, "/keys", cookie, ""); r.status != http.StatusOK {
				t.Fatalf("GET /keys with X's fresh session = %d, want 200", r.status)
			}
			path := strings.ReplaceAll(tc.path, "{id}", x.id)
			if r := hardAPI(t, p, tc.method, path, admin.accessKey, tc.body); r.status != http.StatusOK {
				t.Fatalf("admin %s %s = %d %s", tc.method, path, r.status, r.body)
			}
			r := hardDash(t, p, http.MethodGet, "/keys", cookie, "")
			if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
				t.Errorf("after the %s, X's old session: GET /keys = %d (Location %q); want 303 to /login", tc.name, r.status, loc)
			}
		})
	}
}

// ---------------------------------------------------------------------------------
// 5. The login throttle must not lock out the innocent.
// ---------------------------------------------------------------------------------

// TestHardLoginThrottleSparesInnocent: failed attempts from one address must slow the
// attacker's guesses, not deny service to every valid credential from that address
// (a shared NAT, a proxy, or the operator's own machine): one wrong password typed a
// dozen times must not lock out the admin secret, the control secret, or other users.
func TestHardLoginThrottleSparesInnocent(t *testing.T) {
	t.Parallel()

	t.Run("after failed web logins", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, e2eutil.Options{})
		x := hardFirstRun(t, p)
		y := hardUser(t, p, x.orgID, "y@throttle.example", map[string]string{"keys": "read"})
		for i := range 12 {
			if r := hardLogin(t, p, x.email, fmt.Sprintf("wrong-password-%d", i), ""); r.status == http.StatusSeeOther {
				t.Fatalf("a wrong password logged in")
			}
		}
		t.Run("another user's web login", func(t *testing.T) {
			hardWantLoggedIn(t, "Y", hardLogin(t, p, y.email, y.password, "/keys"))
		})
		t.Run("valid access key", func(t *testing.T) {
			if r := hardAPI(t, p, http.MethodGet, "/api/users/me", x.accessKey, ""); r.status != http.StatusOK {
				t.Errorf("GET /api/users/me with a valid access key = %d %s; want 200", r.status, r.body)
			}
		})
		t.Run("admin secret", func(t *testing.T) {
			if r := hardAdminAPI(t, p, http.MethodGet, "/admin/organisations", ""); r.status != http.StatusOK {
				t.Errorf("GET /admin/organisations with the admin secret = %d %s; want 200", r.status, r.body)
			}
		})
		t.Run("control secret", func(t *testing.T) {
			if r := p.admin(t, http.MethodGet, "/tyk/apis", ""); r.status != http.StatusOK {
				t.Errorf("GET /tyk/apis with the secret = %d %s; want 200", r.status, r.body)
			}
		})
	})

	t.Run("after wrong access keys", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, e2eutil.Options{})
		x := hardFirstRun(t, p)
		for i := range 12 {
			hardAPI(t, p, http.MethodGet, "/api/users/me", fmt.Sprintf("%032x", i+1), "")
		}
		if r := hardAPI(t, p, http.MethodGet, "/api/users/me", x.accessKey, ""); r.status != http.StatusOK {
			t.Errorf("after 12 wrong access keys, a valid one: GET /api/users/me = %d %s; want 200", r.status, r.body)
		}
	})

	t.Run("after wrong control secrets", func(t *testing.T) {
		t.Parallel()
		p := startServe(t, e2eutil.Options{})
		for i := range 30 {
			p.request(t, http.MethodGet, "/tyk/apis", map[string]string{"x-tyk-authorization": fmt.Sprintf("wrong-secret-%08d", i)}, "")
		}
		if r := p.admin(t, http.MethodGet, "/tyk/apis", ""); r.status != http.StatusOK {
			t.Errorf("after 30 wrong secrets, the valid one: GET /tyk/apis = %d %s; want 200", r.status, r.body)
		}
	})
}

// ---------------------------------------------------------------------------------
// 6. Brute force and log flooding.
// ---------------------------------------------------------------------------------

// TestHardCredentialFloodIsThrottledQuietly: an attacker guessing secrets as fast as
// the network allows must be slowed to a crawl (429 after the first few dozen), and
// must not be able to flood the operator's log with one line per guess, which buries
// real events and fills disks.
func TestHardCredentialFloodIsThrottledQuietly(t *testing.T) {
	t.Parallel()
	const n, workers = 2000, 8
	cases := []struct {
		name string
		mk   func(p *proc) func(i int) *http.Request
	}{
		{"control API /tyk/keys with wrong secrets", func(p *proc) func(int) *http.Request {
			return func(i int) *http.Request {
				req, _ := http.NewRequest(http.MethodGet, "http://"+p.Gateway+"/tyk/keys", nil)
				req.Header.Set("x-tyk-authorization", fmt.Sprintf("wrong-secret-guess-%08d", i))
				return req
			}
		}},
		{"dashboard /api/apis with wrong access keys", func(p *proc) func(int) *http.Request {
			return func(i int) *http.Request {
				req, _ := http.NewRequest(http.MethodGet, "http://"+p.Dashboard+"/api/apis", nil)
				req.Header.Set("Authorization", fmt.Sprintf("%032x", i+1))
				return req
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, e2eutil.Options{Args: []string{"--log-level", "info"}})
			before := len(p.Stderr.String())
			res := hardFlood(t, n, workers, 10*time.Second, tc.mk(p))
			t.Logf("sent %d in %v: statuses %v, transport errors %d", res.sent, res.took.Round(time.Millisecond), res.statuses, res.errors)
			if limited := res.statuses[http.StatusTooManyRequests]; limited*10 < n*9 {
				t.Errorf("%d of %d wrong-credential requests answered 429; want at least 90%% (statuses %v)", limited, n, res.statuses)
			}
			lines := hardNewLines(p.Stderr.String(), before)
			if len(lines) > 20 {
				t.Errorf("the flood wrote %d log lines; want at most 20 (aggregated). First lines:\n%s",
					len(lines), strings.Join(lines[:3], "\n"))
			}
		})
	}
}

// ---------------------------------------------------------------------------------
// 7. Login timing reveals which e-mails have accounts.
// ---------------------------------------------------------------------------------

// TestHardLoginTimingHidesUnknownEmails: if a wrong password for a real account takes
// a full bcrypt while an unknown e-mail answers at once, anyone can enumerate the
// dashboard's accounts (then target them). Not parallel: it measures time.
//
// The per-address login throttle allows only a few failures, so the 14 attempts are
// split over two runs of the server on the same data dir, interleaved known/unknown,
// each known attempt on its own account, each unknown on its own e-mail.
func TestHardLoginTimingHidesUnknownEmails(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, e2eutil.Options{DataDir: dataDir})
	admin := hardFirstRun(t, p)
	const each = 7
	known := make([]hardAccount, each)
	for i := range known {
		known[i] = hardUser(t, p, admin.orgID, fmt.Sprintf("known%d@timing.example", i), map[string]string{"keys": "read"})
	}
	var tKnown, tUnknown []time.Duration
	attempt := func(p *proc, email string, into *[]time.Duration) {
		t.Helper()
		f := hardGetLoginForm(t, p)
		start := time.Now()
		r := hardPostLogin(t, p, f, email, "definitely-not-the-password", "")
		d := time.Since(start)
		if r.status == http.StatusTooManyRequests {
			t.Fatalf("the login throttle answered %s: the measurement is void", email)
		}
		if r.status != http.StatusUnauthorized {
			t.Fatalf("wrong login for %s = %d, want 401", email, r.status)
		}
		*into = append(*into, d)
	}
	run := func(p *proc, from, to int) {
		// One valid login first, so neither series pays for a cold start.
		hardWantLoggedIn(t, "warm-up", hardLogin(t, p, admin.email, admin.password, ""))
		for i := from; i < to; i++ {
			if i%2 == 0 {
				attempt(p, known[i/2].email, &tKnown)
			} else {
				attempt(p, fmt.Sprintf("nobody%d@timing.example", i/2), &tUnknown)
			}
		}
	}
	run(p, 0, each)
	p.Stop(t)
	q := startServe(t, e2eutil.Options{DataDir: dataDir})
	run(q, each, 2*each)

	mk, mu := hardMedian(tKnown), hardMedian(tUnknown)
	t.Logf("median wrong-password login: known e-mail %v %v, unknown e-mail %v %v", mk, tKnown, mu, tUnknown)
	if mu*2 < mk {
		t.Errorf("unknown e-mails answer in %v, known ones in %v: the difference tells which accounts exist (want unknown >= 0.5x known)", mu, mk)
	}
}

// ---------------------------------------------------------------------------------
// 8. Open redirect after login.
// ---------------------------------------------------------------------------------

// TestHardLoginOpenRedirect: the post-login redirect comes from a form field an
// attacker controls (a link to /login?next=...). A Location that a browser resolves to
// another host turns the trusted dashboard into a phishing relay, right after the
// victim typed their password.
func TestHardLoginOpenRedirect(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	admin := hardFirstRun(t, p)
	base, _ := url.Parse("http://127.0.0.1/")
	// browserClean does to a Location what browsers do (WHATWG URL parsing): drop tab
	// and newline anywhere, trim C0 controls and spaces at the ends, read '\' as '/'.
	browserClean := func(s string) string {
		s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
		s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
		return strings.ReplaceAll(s, `\`, "/")
	}
	for _, next := range []string{"/%09/evil.example", "/\t/evil.example", "//evil.example", `/\evil.example`,
		"https://evil.example/", "/%2F/evil.example", "/ /evil.example", "/\n/evil.example", "/%5C/evil.example"} {
		t.Run(fmt.Sprintf("%q", next), func(t *testing.T) {
			r := hardLogin(t, p, admin.email, admin.password, next)
			if r.status != http.StatusSeeOther {
				t.Fatalf("login = %d, want 303", r.status)
			}
			loc := r.header.Get("Location")
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
				t.Errorf("Location %q is not a plain same-origin path", loc)
			}
			if i := strings.IndexFunc(loc, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }); i >= 0 {
				t.Errorf("Location %q holds control or space character %q", loc, loc[i])
			}
			if u, err := url.Parse(loc); err != nil {
				t.Errorf("Location %q does not parse as a URL: %v", loc, err)
			} else if u.Scheme != "" || u.Host != "" {
				t.Errorf("Location %q parses to scheme %q host %q; want a bare path", loc, u.Scheme, u.Host)
			}
			ref, err := url.Parse(browserClean(loc))
			if err != nil {
				t.Errorf("Location %q: a browser would read %q, which does not parse: %v", loc, browserClean(loc), err)
			} else if got := base.ResolveReference(ref); got.Hostname() != "127.0.0.1" {
				t.Errorf("Location %q takes a browser to %s (host %q); want it to stay on 127.0.0.1", loc, got, got.Hostname())
			}
		})
	}
	t.Run("good next kept", func(t *testing.T) {
		r := hardLogin(t, p, admin.email, admin.password, "/apis?x=1")
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/apis?x=1" {
			t.Errorf("login with next=/apis?x=1 = %d, Location %q; want 303 to /apis?x=1", r.status, loc)
		}
	})
}

// ---------------------------------------------------------------------------------
// 9. Data directory permissions.
// ---------------------------------------------------------------------------------

// TestHardDataDirPermissions: the data dir holds every key hash, the sealed access
// keys, bcrypt hashes, the admin secret and the key that unseals access keys. Any
// other local user who can read it owns the gateway: the directory must be 0700 and
// every file 0600, including the SQLite database and its WAL and shared-memory files.
func TestHardDataDirPermissions(t *testing.T) {
	t.Parallel()

	t.Run("fresh data dir", func(t *testing.T) {
		t.Parallel()
		p := startWithoutSecret(t, e2eutil.Options{})
		secret, err := os.ReadFile(filepath.Join(p.DataDir, "admin-secret"))
		if err != nil {
			t.Fatalf("no generated admin-secret: %v", err)
		}
		p.secret = strings.TrimSpace(string(secret))
		id := p.createAPI(t, hardKeyedAPI("perm", "", "/perm/", "http://127.0.0.1:9"))
		p.mustAdmin(t, http.MethodPost, "/tyk/keys", mustJSON(t, hardSession("", id)), http.StatusOK)

		var seen []string
		err = filepath.WalkDir(p.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := os.FileMode(0o600)
			if d.IsDir() {
				want = 0o700
			}
			rel, _ := filepath.Rel(p.DataDir, path)
			seen = append(seen, fmt.Sprintf("%s %o", rel, fi.Mode().Perm()))
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s has mode %o, want %o", rel, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("data dir: %v", seen)
		for _, f := range []string{"tollgate.db", "tollgate.db-wal", "admin-secret", "encryption-key"} {
			if !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, f+" ") }) {
				t.Logf("note: %s not present in the data dir", f)
			}
		}
	})

	t.Run("pre-existing 0755 data dir", func(t *testing.T) {
		t.Parallel()
		dataDir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dataDir, 0o755); err != nil { // the umask may have narrowed it
			t.Fatal(err)
		}
		p := hardLaunch(t, dataDir)
		if p.Exited() {
			if p.ExitCode() == 0 {
				t.Errorf("serve exited 0 on a world-readable data dir; want a refusal (non-zero) or a fix")
			}
			t.Logf("refused to start (exit %d): %s", p.ExitCode(), strings.TrimSpace(p.Stderr.String()))
			return
		}
		fi, err := os.Stat(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("serve runs with data dir mode %o; want it refused or fixed to 700", got)
			return
		}
		low := strings.ToLower(p.Stderr.String())
		if !strings.Contains(low, "permission") && !strings.Contains(low, "700") && !strings.Contains(low, "mode") {
			t.Errorf("serve fixed the data dir's mode silently; want a note on stderr:\n%s", p.Stderr.String())
		}
	})
}

// ---------------------------------------------------------------------------------
// 10. Password recovery from the command line.
// ---------------------------------------------------------------------------------

// TestHardCLIPasswordRecovery: the first-run administrator's password is printed once.
// An operator who lost it (and every other administrator) needs a way back in that
// requires only access to the data dir: `tollgate users reset-password`.
func TestHardCLIPasswordRecovery(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	admin := hardFirstRun(t, p)
	p.Stop(t)

	unknown := e2eutil.Run(t, nil, "users", "reset-password", "--data-dir", p.DataDir, "--email", "nobody@tollgate.local")
	if unknown.Code == 0 || strings.TrimSpace(unknown.Stderr) == "" || strings.Contains(unknown.Stderr, "unknown command") {
		t.Errorf("reset-password for an unknown e-mail: exit %d, stderr %q; want a non-zero exit with an error about the e-mail",
			unknown.Code, unknown.Stderr)
	}

	r := e2eutil.Run(t, nil, "users", "reset-password", "--data-dir", p.DataDir, "--email", admin.email)
	if r.Code != 0 {
		t.Fatalf("tollgate users reset-password exited %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	// The new password is the last field of a "...password...: VALUE" line (a
	// heading such as "New password for x (...):" has nothing after its colon).
	var pw string
	for l := range strings.SplitSeq(r.Stdout, "\n") {
		if m := hardPasswordLine.FindStringSubmatch(l); m != nil {
			pw = m[1]
			break
		}
	}
	if len(pw) < 8 || pw == admin.password {
		t.Fatalf("no new password in the output (found %q):\n%s", pw, r.Stdout)
	}
	if n := strings.Count(r.Stdout, pw); n != 1 {
		t.Errorf("the new password appears %d times on stdout, want once", n)
	}
	if strings.Contains(r.Stderr, pw) {
		t.Errorf("the new password is on stderr (logs)")
	}

	q := startServe(t, e2eutil.Options{DataDir: p.DataDir})
	hardWantLoggedIn(t, "new password", hardLogin(t, q, admin.email, pw, ""))
	if old := hardLogin(t, q, admin.email, admin.password, ""); old.status == http.StatusSeeOther {
		t.Errorf("the old password still logs in")
	}
}
