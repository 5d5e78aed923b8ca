package dashboard_test

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/apptest"
)

// TestTrailingSlashes: Tyk's clients send Dashboard and Admin API paths with a
// trailing slash (POST /api/apis/, POST /admin/organisations/); they answer as
// without one.
func TestTrailingSlashes(t *testing.T) {
	e := newEnv(t)
	admin := map[string]string{"admin-auth": apptest.Secret}
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		want                     string
	}{
		{"list APIs", "GET", "/api/apis/", "", e.as("a"), 200, `"apis"`},
		{"create an API", "POST", "/api/apis/", apiBody("slash", "/slash/", e.upstream.URL), e.as("a"), 200, `"Status":"OK"`},
		{"get a user", "GET", "/api/users/" + e.ids["a"] + "/", "", e.as("a"), 200, `"email_address":"a@a.io"`},
		{"list keys", "GET", "/api/keys/", "", e.as("a"), 200, `"keys"`},
		{"create an organisation", "POST", "/admin/organisations/", `{"owner_name":"Slash Org"}`, admin, 200, `"Status":"OK"`},
		{"list admin users", "GET", "/admin/users/", "", admin, 200, `"users"`},
		{"the bare prefix is still not found", "GET", "/api/", "", e.as("a"), 404, "Not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call(t, e.dash, tc.method, tc.path, tc.body, tc.hdr)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%s %s: %d %s, want %d with %s", tc.method, tc.path, status, body, tc.status, tc.want)
			}
		})
	}
}

// TestActiveRoundTrips: an API created without "active" is served, so reading it back
// says "active": true, and a dump re-imported stays switched on.
func TestActiveRoundTrips(t *testing.T) {
	e := newEnv(t)
	if s, body := e.call(t, e.dash, "POST", "/api/apis", apiBody("no-active", "/no-active/", e.upstream.URL), e.as("a")); s != 200 {
		t.Fatalf("create: %d %s", s, body)
	}
	s, body := e.call(t, e.dash, "GET", "/api/apis/no-active", "", e.as("a"))
	if s != 200 || !strings.Contains(body, `"active":true`) {
		t.Fatalf("read back: %d %s, want \"active\":true", s, body)
	}
	if s, body := e.call(t, e.gw, "GET", "/tyk/apis/no-active", "", map[string]string{"X-Tyk-Authorization": apptest.Secret}); s != 200 || !strings.Contains(body, `"active":true`) {
		t.Fatalf("through /tyk/: %d %s", s, body)
	}
}
