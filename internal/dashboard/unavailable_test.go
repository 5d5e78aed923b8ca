package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/dashboard"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
)

// TestDatabaseDown walks every Dashboard API and Admin API route and every web UI
// page with PostgreSQL stopped: each answers 503 saying the database is
// unavailable, in the API's {"Status","Message"} shape or as an error page, never
// 500 with a driver error and never 401/403 (checking an access key or a password
// needs the database too). A logged-in user stays logged in, and everything works
// again once PostgreSQL is back, without a restart.
func TestDatabaseDown(t *testing.T) {
	pg := pgtest.New(t)
	redisURL := "redis://" + redistest.Start(t)
	n := apptest.New(t, apptest.Options{Config: func(c *config.Config) {
		c.Postgres, c.Redis, c.EncryptionKey = pg.DSN(t), redisURL, strings.Repeat("5e", 32)
	}})
	boot, err := n.Node.Accounts.Bootstrap(t.Context(), "Org A", "a@a.io", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, srv: n.Dashboard.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	if status, _ := b.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatalf("login: %d", status)
	}
	tok := b.csrf("/keys")
	call := func(method, path string, hdr map[string]string) apptest.Response {
		body := ""
		if method == "POST" || method == "PUT" {
			body = "{}"
		}
		return apptest.Do(t, n.Dashboard, method, path, body, hdr)
	}
	ids := strings.NewReplacer("{id}", "some-id", "{keyId}", "some-key", "{hash}", strings.Repeat("0", 64))

	pg.Stop(t)
	for _, route := range dashboard.Routes(n.Node.Dashboard) {
		method, path, _ := strings.Cut(route, " ")
		path = ids.Replace(path)
		hdrs := []map[string]string{{"authorization": boot.AccessKey}, {"authorization": "not-anyones-access-key-0123456789"}}
		if strings.HasPrefix(path, "/admin/") {
			hdrs = []map[string]string{{"admin-auth": adminSecret}}
		}
		for _, hdr := range hdrs {
			r := call(method, path, hdr)
			if r.Status == 400 && strings.HasPrefix(path, "/admin/") && (method == "POST" || method == "PUT") {
				// The admin secret needs no database, so an empty body is
				// refused for what it lacks before the database is asked.
				continue
			}
			var env struct{ Status, Message string }
			if r.Status != 503 || json.Unmarshal([]byte(r.Body), &env) != nil || env.Status != "Error" ||
				env.Message != "The database is unavailable; retry later" || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s with the database down: %d %s %v, want 503 saying the database is unavailable", method, path, r.Status, r.Body, r.Header)
			}
		}
	}
	for _, p := range dashboard.Pages(n.Node.Dashboard) {
		if status, body := b.open(p, tok); status != 503 || !strings.Contains(body, "The database is unavailable") {
			t.Errorf("web UI %s with the database down: %d, want 503 and the page saying why:\n%s", p.Pattern, status, body)
		}
	}
	// A second browser logging in: not a wrong password (401), not counted as one.
	other := &browser{t: t, srv: n.Dashboard.URL, c: &http.Client{CheckRedirect: b.c.CheckRedirect}}
	other.c.Jar, _ = cookiejar.New(nil)
	if status, _ := other.login("a@a.io", "password-a", ""); status != 503 {
		t.Errorf("login with the database down: %d, want 503", status)
	}
	if r := call("GET", "/hello", nil); r.Status != 503 || !strings.Contains(r.Body, `"store":{"status":"fail"`) {
		t.Errorf("/hello with the database down: %d %s, want 503 with the store failing", r.Status, r.Body)
	}

	pg.Start(t)
	if !b.loggedIn() {
		t.Error("the user logged in before the outage was logged out by it")
	}
	if r := call("GET", "/api/apis", map[string]string{"authorization": boot.AccessKey}); r.Status != 200 {
		t.Errorf("the Dashboard API once the database is back: %d %s", r.Status, r.Body)
	}
	if status, _ := other.login("a@a.io", "password-a", ""); status != 303 {
		t.Errorf("login once the database is back: %d", status)
	}
}
