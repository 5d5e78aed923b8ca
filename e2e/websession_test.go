package e2e

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// TestServeRestartKeepsWebSessions: `tollgate serve` on its embedded store, stopped
// and started again on the same data dir, still knows the browser logged in before;
// logging out then ends the session for good.
func TestServeRestartKeepsWebSessions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := e2eutil.Serve(t, e2eutil.Options{DataDir: dir})
	email, password := p.Field("e-mail:"), p.Field("password:")
	br := e2eutil.NewBrowser(t)
	if r := br.Login(p.Dashboard, email, password); r.Status != 303 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	p.Stop(t)
	p = e2eutil.Serve(t, e2eutil.Options{DataDir: dir})
	if !br.LoggedIn(p.Dashboard) {
		t.Fatal("the restart logged the browser out")
	}
	tok := br.CSRF(p.Dashboard, "/keys")
	if r := br.Post(p.Dashboard, "/logout", url.Values{"csrf": {tok}}); r.Status != 303 {
		t.Fatalf("logout: %d", r.Status)
	}
	if br.LoggedIn(p.Dashboard) {
		t.Error("still logged in after logging out")
	}
}
