package cluster

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/e2e/e2eutil"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
)

var newKeyShown = regexp.MustCompile(`<code id="new-key">([^<]+)</code>`)

// TestDashboardsShareWebState: two `tollgate dashboard` processes on one PostgreSQL
// and one Redis, as behind a load balancer without sticky sessions. A browser
// logged in on A uses its session on B; a key created in the UI on A is shown once,
// on B, and never again on either; wrong passwords spread over A and B are
// throttled as on one dashboard; and A, restarted, still knows the session.
func TestDashboardsShareWebState(t *testing.T) {
	args := []string{"--postgres", pgtest.DSN(t), "--redis", "redis://" + redistest.Start(t), "--encryption-key", encKey}
	start := func() *e2eutil.Process {
		return e2eutil.Serve(t, e2eutil.Options{Command: "dashboard", Secret: secret, Args: args})
	}
	a := start()
	email, password, access := a.Field("e-mail:"), a.Field("password:"), a.Field("Dashboard API access credentials:")
	if email == "" || password == "" || access == "" {
		t.Fatalf("the first dashboard did not print the first administrator:\n%s", a.Stdout)
	}
	b := start()
	api := `{"api_definition":{"api_id":"web","name":"web","auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},"proxy":{"listen_path":"/web/","target_url":"http://127.0.0.1:9"}}}`
	if s, body := do(t, "POST", "http://"+a.Dashboard+"/api/apis", api, map[string]string{"authorization": access}); s != 200 {
		t.Fatalf("create API: %d %s", s, body)
	}

	br := e2eutil.NewBrowser(t)
	if p := br.Login(a.Dashboard, email, password); p.Status != 303 {
		t.Fatalf("login on A: %d %s", p.Status, p.Body)
	}
	if !br.LoggedIn(b.Dashboard) {
		t.Fatal("the session made on dashboard A does not open a page on dashboard B")
	}

	form := url.Values{"csrf": {br.CSRF(a.Dashboard, "/keys/new")}, "mode": {"manual"}, "api": {"web"}, "versions_web": {"Default"},
		"alias": {"made on A"}, "rate": {"10"}, "per": {"1"}, "unlimited": {"on"}, "quota_renewal": {"3600"}, "expires": {"never"}}
	made := br.Post(a.Dashboard, "/keys/new", form)
	if made.Status != 303 || !strings.HasPrefix(made.Location, "/keys?created=") {
		t.Fatalf("create a key in the UI on A: %d %q\n%s", made.Status, made.Location, made.Body)
	}
	m := newKeyShown.FindStringSubmatch(br.Get(b.Dashboard, made.Location).Body)
	if m == nil {
		t.Fatal("dashboard B does not show the key created on A")
	}
	if s, body := do(t, "GET", "http://"+b.Dashboard+"/api/keys/"+m[1], "", map[string]string{"authorization": access}); s != 200 {
		t.Fatalf("the key B showed is not a key: %d %s", s, body)
	}
	for name, d := range map[string]string{"A": a.Dashboard, "B": b.Dashboard} {
		if newKeyShown.MatchString(br.Get(d, made.Location).Body) {
			t.Errorf("dashboard %s shows the created key a second time", name)
		}
	}

	// 10 wrong passwords a minute per account and address, over both.
	guesser := e2eutil.NewBrowser(t)
	for i := range 10 {
		if p := guesser.Login([]string{a.Dashboard, b.Dashboard}[i%2], email, "wrong password"); p.Status != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i+1, p.Status)
		}
	}
	for name, d := range map[string]string{"A": a.Dashboard, "B": b.Dashboard} {
		if p := guesser.Login(d, email, password); p.Status != 429 {
			t.Errorf("login on %s after 10 wrong passwords spread over A and B: %d, want 429", name, p.Status)
		}
	}

	a.Stop(t)
	a = start()
	if !br.LoggedIn(a.Dashboard) {
		t.Error("dashboard A, restarted, logged the browser out")
	}
}
