package dashboard_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/dashboard"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browser is a cookie-keeping client that does not follow redirects, so tests see
// where the dashboard sends them.
type browser struct {
	t   testing.TB
	c   *http.Client
	srv string
}

func newBrowser(t testing.TB, e *env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: e.dash.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.srv + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.srv+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// open requests a page of the route table with placeholder ids: a GET, or a POST
// of an empty form carrying the session's csrf token.
func (b *browser) open(p dashboard.Page, csrf string) (int, string) {
	b.t.Helper()
	method, path, _ := strings.Cut(p.Pattern, " ")
	path = strings.NewReplacer("{id}", "some-id", "{hash}", strings.Repeat("0", 64)).Replace(path)
	var status int
	var body string
	if method == "POST" {
		status, body, _ = b.post(path, url.Values{"csrf": {csrf}})
	} else {
		status, body, _ = b.get(path)
	}
	return status, body
}

// csrf reads the form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body, _ := b.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf token on %s", path)
	}
	return m[1]
}

// login logs in and returns the status and Location of the answer.
func (b *browser) login(email, password, next string) (int, string) {
	b.t.Helper()
	tok := b.csrf("/login")
	status, _, h := b.post("/login", url.Values{"email": {email}, "password": {password}, "csrf": {tok}, "next": {next}})
	return status, h.Get("Location")
}

// loggedIn reports whether the browser's session still opens a page.
func (b *browser) loggedIn() bool {
	status, _, _ := b.get("/keys")
	return status == 200
}

func (e *env) addUser(t *testing.T, name string, perms map[string]string) {
	t.Helper()
	u, k, err := e.acct.CreateUser(t.Context(), accounts.NewUser{OrgID: e.orgA, Email: name + "@a.io", Password: "password-" + name, Permissions: perms, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	e.keys[name], e.ids[name] = k, u.ID
}

// TestUserTakeoverRefused: a user whose only right is users:write must not change,
// reset or delete an administrator, nor anyone holding rights they lack.
func TestUserTakeoverRefused(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "manager", map[string]string{"users": "write"})
	e.addUser(t, "stronger", map[string]string{"users": "write", "keys": "write"})
	e.addUser(t, "weaker", map[string]string{"users": "read"})
	admin := e.ids["a"]
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"change the admin's e-mail", "PUT", "/api/users/" + admin, `{"email_address":"evil@a.io"}`, 403},
		{"demote the admin", "PUT", "/api/users/" + admin, `{"user_permissions":{"keys":"read"}}`, 403},
		{"reset the admin's password", "POST", "/api/users/" + admin + "/actions/reset", `{"new_password":"taken-over-now"}`, 403},
		{"reset the admin's access key", "PUT", "/api/users/" + admin + "/actions/key/reset", "", 403},
		{"delete the admin", "DELETE", "/api/users/" + admin, "", 403},
		{"change a user with more rights", "PUT", "/api/users/" + e.ids["stronger"], `{"first_name":"x"}`, 403},
		{"reset a stronger user's password", "POST", "/api/users/" + e.ids["stronger"] + "/actions/reset", `{"new_password":"taken-over-now"}`, 403},
		{"change a user with fewer rights", "PUT", "/api/users/" + e.ids["weaker"], `{"first_name":"x"}`, 200},
		{"read the admin", "GET", "/api/users/" + admin, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(t, e.dash, tt.method, tt.path, tt.body, e.as("manager"))
			if status != tt.status {
				t.Fatalf("%d %s; want %d", status, body, tt.status)
			}
		})
	}
	// The administrator is untouched: same e-mail, still an admin, same password
	// and access key.
	if status, body := e.call(t, e.dash, "GET", "/api/users/me", "", e.as("a")); status != 200 || !strings.Contains(body, `"email_address":"a@a.io"`) || !strings.Contains(body, `"IsAdmin":"admin"`) {
		t.Errorf("admin after the attempts: %d %s", status, body)
	}
	if _, err := e.acct.CheckPassword(t.Context(), "a@a.io", "password-a"); err != nil {
		t.Errorf("admin's password changed: %v", err)
	}
	// The web UI refuses the same.
	b := newBrowser(t, e)
	if status, _ := b.login("manager@a.io", "password-manager", ""); status != 303 {
		t.Fatalf("manager login: %d", status)
	}
	tok := b.csrf("/users/" + admin)
	for _, path := range []string{"/users/" + admin, "/users/" + admin + "/reset-key", "/users/" + admin + "/delete"} {
		if status, _, _ := b.post(path, url.Values{"csrf": {tok}, "email_address": {"evil@a.io"}}); status != 403 {
			t.Errorf("web UI POST %s as manager: %d, want 403", path, status)
		}
	}
}

// TestWebSessionsEndOnCredentialChanges: resetting a password or access key,
// deactivating or deleting a user ends their web sessions at once.
func TestWebSessionsEndOnCredentialChanges(t *testing.T) {
	tests := []struct {
		name, method, path, body string
	}{
		{"password reset", "POST", "/api/users/{id}/actions/reset", `{"new_password":"a-new-password"}`},
		{"access key reset", "PUT", "/api/users/{id}/actions/key/reset", ""},
		{"deactivation", "PUT", "/api/users/{id}", `{"active":false}`},
		{"deletion", "DELETE", "/api/users/{id}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := newBrowser(t, e)
			if status, _ := b.login("reader@a.io", "password-reader", ""); status != 303 || !b.loggedIn() {
				t.Fatalf("login: %d", status)
			}
			path := strings.ReplaceAll(tt.path, "{id}", e.ids["reader"])
			if status, body := e.call(t, e.dash, tt.method, path, tt.body, e.as("a")); status != 200 {
				t.Fatalf("%s %s: %d %s", tt.method, path, status, body)
			}
			if b.loggedIn() {
				t.Errorf("the session survived the %s", tt.name)
			}
		})
	}
}

// TestChangeOwnPassword drives the web UI's password form: the current password is
// required, and the change logs out every other browser but not this one.
func TestChangeOwnPassword(t *testing.T) {
	tests := []struct {
		name             string
		current, nw, cnf string
		status           int
		contains         string
	}{
		{"wrong current password", "not-my-password", "brand-new-pass", "brand-new-pass", 400, "The current password is wrong."},
		{"confirmation differs", "password-reader", "brand-new-pass", "brand-new-pasz", 400, "The two new passwords differ."},
		{"too short", "password-reader", "short", "short", 400, "at least 8 characters"},
		{"right", "password-reader", "brand-new-pass", "brand-new-pass", 303, ""},
	}
	// login opens a browser for the reader and one more, both logged in as reader.
	login := func(t *testing.T) (e *env, me, other *browser) {
		e = newEnv(t)
		me, other = newBrowser(t, e), newBrowser(t, e)
		for _, b := range []*browser{me, other} {
			if status, _ := b.login("reader@a.io", "password-reader", ""); status != 303 {
				t.Fatalf("login: %d", status)
			}
		}
		return e, me, other
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, me, other := login(t)
			page := "/users/" + e.ids["reader"]
			status, body, _ := me.post(page+"/password", url.Values{"csrf": {me.csrf(page)}, "current_password": {tt.current}, "new_password": {tt.nw}, "confirm_password": {tt.cnf}})
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("%d, want %d with %q:\n%s", status, tt.status, tt.contains, body)
			}
			if !me.loggedIn() {
				t.Error("the browser that sent the form was logged out")
			}
			changed := tt.status == 303
			if got := other.loggedIn(); got == changed {
				t.Errorf("another browser logged in after the form: %v, want %v", got, !changed)
			}
			want := "password-reader"
			if changed {
				want = tt.nw
			}
			if _, err := e.acct.CheckPassword(t.Context(), "reader@a.io", want); err != nil {
				t.Errorf("the password is not %q: %v", want, err)
			}
		})
	}
	t.Run("someone else's password", func(t *testing.T) {
		t.Parallel()
		e, me, _ := login(t)
		page := "/users/" + e.ids["reader"]
		if status, _, _ := me.post("/users/"+e.ids["a"]+"/password", url.Values{"csrf": {me.csrf(page)}, "current_password": {"password-a"}, "new_password": {"xxxxxxxxxxxx"}, "confirm_password": {"xxxxxxxxxxxx"}}); status != 403 {
			t.Errorf("changing another user's password: %d, want 403", status)
		}
	})
}

// TestLoginThrottleSparesOthers: failed logins throttle that account from that
// address only; other accounts, access keys and the admin secret still work.
func TestLoginThrottleSparesOthers(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e)
	for range 10 {
		if status, _ := b.login("reader@a.io", "wrong-password", ""); status != 401 {
			t.Fatalf("failed login: %d", status)
		}
	}
	if status, _ := b.login("reader@a.io", "password-reader", ""); status != 429 {
		t.Errorf("the throttled account with its right password: %d, want 429", status)
	}
	if status, _ := newBrowser(t, e).login("nobody@a.io", "password-nobody", ""); status != 303 {
		t.Errorf("another account from the same address: %d, want 303", status)
	}
	if status, _ := e.call(t, e.dash, "GET", "/api/users/me", "", e.as("reader")); status != 200 {
		t.Errorf("the throttled user's access key: %d, want 200", status)
	}
	if status, _ := e.call(t, e.dash, "GET", "/admin/organisations", "", map[string]string{"admin-auth": adminSecret}); status != 200 {
		t.Errorf("the admin secret: %d, want 200", status)
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                      "/keys",
		"/apis?x=1":             "/apis?x=1",
		"/keys/abc#frag":        "/keys/abc#frag",
		"/\t/evil.example":      "/keys",
		"/\n/evil.example":      "/keys",
		"//evil.example":        "/keys",
		"/\\evil.example":       "/keys",
		"https://evil.example/": "/keys",
		"/ /evil.example":       "/keys",
		"/%2F/evil.example":     "/keys",
		"javascript:alert(1)":   "/keys",
		"keys":                  "/keys",
	} {
		if got := dashboard.SafeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	// The attack as a browser sends it: the query parameter decodes to "/\t/...".
	e := newEnv(t)
	b := newBrowser(t, e)
	status, loc := b.login("a@a.io", "password-a", "/\t/evil.example")
	if status != 303 || loc != "/keys" {
		t.Errorf("login with next=/%%09/evil.example: %d %q, want 303 /keys", status, loc)
	}
}

// TestSecureCookiesBehindTrustedProxy: behind a TLS-terminating proxy the operator
// declared, cookies are Secure; an untrusted client cannot switch that on or off by
// sending the header itself.
func TestSecureCookiesBehindTrustedProxy(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name    string
		trusted string
		proto   string
		secure  bool
	}{
		{"no proxy declared", "", "https", false},
		{"trusted proxy says https", "127.0.0.1/32", "https", true},
		{"trusted proxy says http", "127.0.0.1", "http", false},
		{"header from an untrusted address", "10.0.0.0/8", "https", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefixes, err := config.ParseCIDRs(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", e.dash.URL+"/login", nil)
			r.RemoteAddr = "127.0.0.1:5555"
			r.Header.Set("X-Forwarded-Proto", tt.proto)
			if got := dashboard.HTTPS(prefixes, r); got != tt.secure {
				t.Errorf("https = %v, want %v", got, tt.secure)
			}
		})
	}
}

// TestWebUIRouteHijackRefused: the web UI's API form refuses a listen path below
// another organisation's API, naming nothing of it.
func TestWebUIRouteHijackRefused(t *testing.T) {
	e := newEnv(t)
	if status, body := e.call(t, e.dash, "POST", "/api/apis", apiBody("bsecretapi", "/b-api/", e.upstream.URL), e.as("b")); status != 200 {
		t.Fatalf("org B's API: %d %s", status, body)
	}
	b := newBrowser(t, e)
	if status, _ := b.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatal("login")
	}
	form := url.Values{"csrf": {b.csrf("/apis/new")}, "name": {"mine"}, "listen_path": {"/b-api/sub/"}, "target_url": {e.upstream.URL}, "active": {"on"}}
	status, body, _ := b.post("/apis/new", form)
	if status != 409 && status != 400 {
		t.Fatalf("API form below another organisation's path: %d, want 400 or 409", status)
	}
	if !strings.Contains(body, "another organisation") || strings.Contains(body, "bsecretapi") {
		t.Errorf("the page should say why without naming org B's API:\n%s", body)
	}
}

// TestControlAPIChangesInOrgAudit: an API changed or deleted through /tyk/ shows in
// its organisation's audit log.
func TestControlAPIChangesInOrgAudit(t *testing.T) {
	e := newEnv(t)
	if status, body := e.call(t, e.dash, "POST", "/api/apis", apiBody("tykchanged", "/tykchanged/", e.upstream.URL), e.as("a")); status != 200 {
		t.Fatalf("create: %d %s", status, body)
	}
	def := strings.TrimSuffix(strings.TrimPrefix(apiBody("tykchanged", "/tykchanged-2/", e.upstream.URL), `{"api_definition":`), "}")
	admin := map[string]string{"x-tyk-authorization": adminSecret}
	if status, body := e.call(t, e.gw, "PUT", "/tyk/apis/tykchanged", def, admin); status != 200 {
		t.Fatalf("PUT /tyk/apis: %d %s", status, body)
	}
	if status, body := e.call(t, e.gw, "DELETE", "/tyk/apis/tykchanged", "", admin); status != 200 {
		t.Fatalf("DELETE /tyk/apis: %d %s", status, body)
	}
	_, body := e.call(t, e.dash, "GET", "/api/audit?p=-1", "", e.as("a"))
	for _, action := range []string{"update", "delete"} {
		if !strings.Contains(body, `"action":"`+action+`","object_type":"api","object_id":"tykchanged"`) {
			t.Errorf("org A's audit lacks the /tyk/ %s:\n%s", action, body)
		}
	}
}

// TestWebUIChangesAuditedAsTheUser: the web UI's changes reach the audit log as the
// logged-in user, like the Dashboard API's.
func TestWebUIChangesAuditedAsTheUser(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t, e)
	if status, _ := b.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatal("login")
	}
	form := url.Values{"csrf": {b.csrf("/apis/new")}, "name": {"made-in-the-ui"}, "listen_path": {"/ui-made/"}, "target_url": {e.upstream.URL}, "active": {"on"}}
	if status, body, _ := b.post("/apis/new", form); status != 303 {
		t.Fatalf("API form: %d %s", status, body)
	}
	_, body := e.call(t, e.dash, "GET", "/api/audit", "", e.as("a"))
	if !regexp.MustCompile(`"action":"create","object_type":"api","object_id":"[0-9a-f]{32}","user_id":"` + e.ids["a"] + `","email":"a@a.io","ip":"127.0.0.1","detail":"made-in-the-ui"`).MatchString(body) {
		t.Errorf("the UI's API creation is not audited as a@a.io:\n%s", body)
	}
}
