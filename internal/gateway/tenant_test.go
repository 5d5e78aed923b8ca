package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/store"
)

// orgAPI is a keyed API of one organisation.
func orgAPI(id, org, lp, target, extra string) string {
	x := `"org_id":"` + org + `"`
	if extra != "" {
		x += "," + extra
	}
	return keyedAPI(id, lp, target, x)
}

// TestRouteHijackRefused drives the attack where one organisation places an API so
// that another organisation's clients, with their own keys, reach its upstream.
func TestRouteHijackRefused(t *testing.T) {
	e := newEnv(t)
	upB, upA := echoUpstream(t), echoUpstream(t)
	mustCreateAPI(t, e, orgAPI("bapi-secret-id", "orgB", "/b-api/", upB.URL, `"name":"B secret name"`))
	mustCreateAPI(t, e, orgAPI("aapi", "orgA", "/a-api/", upA.URL, ""))
	keyB := mustCreateKey(t, e, "/tyk/keys", `{"org_id":"orgB","access_rights":`+rights("bapi-secret-id")+`}`)

	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"below the other org's listen path", "POST", "/tyk/apis", orgAPI("a2", "orgA", "/b-api/sub/", upA.URL, ""), 409},
		{"the other org's path bound to a domain", "POST", "/tyk/apis", orgAPI("a3", "orgA", "/b-api/", upA.URL, `"domain":"127.0.0.1"`), 409},
		{"a domain's root above the other org's path", "POST", "/tyk/apis", orgAPI("a4", "orgA", "/", upA.URL, `"domain":"127.0.0.1"`), 409},
		{"the other org's exact path", "POST", "/tyk/apis", orgAPI("a5", "orgA", "/b-api/", upA.URL, ""), 409},
		{"moving an own API below the other org's", "PUT", "/tyk/apis/aapi", orgAPI("aapi", "orgA", "/b-api/x/", upA.URL, ""), 409},
		{"a path nobody serves", "POST", "/tyk/apis", orgAPI("a6", "orgA", "/a-api-2/", upA.URL, ""), 200},
		{"below an own API", "POST", "/tyk/apis", orgAPI("a7", "orgA", "/a-api/sub/", upA.URL, ""), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do(t, tt.method, tt.path, tt.body, admin)
			if status != tt.status {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, status, body, tt.status)
			}
			for _, secret := range []string{"bapi-secret-id", "B secret name", "orgB"} {
				if strings.Contains(body, secret) {
					t.Errorf("reply discloses %q of the other organisation: %s", secret, body)
				}
			}
		})
	}
	// B's clients still reach B's upstream, at every depth and for any host.
	for _, hdr := range []map[string]string{{"Authorization": keyB}, {"Authorization": keyB, "Host": "127.0.0.1"}} {
		status, body, _ := e.do(t, "GET", "/b-api/sub/x", "", hdr)
		if status != 200 || !strings.Contains(body, `"host":"`+strings.TrimPrefix(upB.URL, "http://")+`"`) {
			t.Errorf("B's request with host %q: %d %s; want B's upstream", hdr["Host"], status, body)
		}
	}
}

// TestDeletedAPIIDIsNeverRegranted: a key that named a deleted API must not open an
// API created later under the same id, by another organisation or by its own.
func TestDeletedAPIIDIsNeverRegranted(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, orgAPI("x-api", "orgA", "/x/", up.URL, ""))
	mustCreateAPI(t, e, orgAPI("y-api", "orgA", "/y/", up.URL, ""))
	both := mustCreateKey(t, e, "/tyk/keys", `{"org_id":"orgA","access_rights":`+rights("x-api", "y-api")+`}`)
	onlyX := mustCreateKey(t, e, "/tyk/keys", `{"org_id":"orgA","access_rights":`+rights("x-api")+`}`)

	if status, body, _ := e.do(t, "DELETE", "/tyk/apis/x-api", "", admin); status != 200 {
		t.Fatalf("delete: %d %s", status, body)
	}
	// Deleting took the API out of the keys' access rights; the key left with none
	// is switched off rather than turned into a master key.
	sess := getSession(t, e, both)
	if _, ok := sess["access_rights"].(map[string]any)["x-api"]; ok || sess["is_inactive"] != false {
		t.Errorf("key with two APIs after delete: %v", sess)
	}
	if s := getSession(t, e, onlyX); s["is_inactive"] != true || len(s["access_rights"].(map[string]any)) != 0 {
		t.Errorf("key with only the deleted API: %v", s)
	}

	status, body, _ := e.do(t, "POST", "/tyk/apis", orgAPI("x-api", "orgB", "/bx/", up.URL, ""), admin)
	if status != 409 || strings.Contains(body, "orgA") {
		t.Errorf("another organisation claiming a deleted id: %d %s; want 409 naming no one", status, body)
	}
	mustCreateAPI(t, e, orgAPI("x-api", "orgA", "/x/", up.URL, ""))
	if status, body, _ := e.do(t, "GET", "/x/", "", map[string]string{"Authorization": both}); status != 403 || !strings.Contains(body, "Access to this API has been disallowed") {
		t.Errorf("old key on the re-created API: %d %s; want 403", status, body)
	}
	if status, _, _ := e.do(t, "GET", "/y/", "", map[string]string{"Authorization": both}); status != 200 {
		t.Errorf("old key on its remaining API: %d; want 200", status)
	}
}

// TestKeyOpensOnlyItsOrganisation: whatever a stored session says, the gateway
// refuses a key on another organisation's API (Tyk's 403 for an org mismatch).
func TestKeyOpensOnlyItsOrganisation(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, orgAPI("b-api", "orgB", "/b/", up.URL, ""))

	// The control API refuses to write such a key...
	status, body, _ := e.do(t, "POST", "/tyk/keys", `{"org_id":"orgA","access_rights":`+rights("b-api")+`}`, admin)
	if status != 400 {
		t.Errorf("creating an org A key for org B's API: %d %s; want 400", status, body)
	}
	// ...and one stored before that rule (or written around it) opens nothing.
	key := "orgA" + strings.Repeat("0", 32)
	h := keys.Sum(key)
	raw := []byte(`{"org_id":"orgA","access_rights":` + rights("b-api") + `,"expires":0}`)
	now := time.Now()
	if err := e.keys.Store.CreateKey(t.Context(), store.Key{Hash: h.String(), OrgID: "orgA", APIIDs: []string{"b-api"}, Session: raw, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = e.do(t, "GET", "/b/", "", map[string]string{"Authorization": key})
	if status != 403 || !strings.Contains(body, "Access to this API has been disallowed") {
		t.Errorf("org A key on org B's API: %d %s; want 403 %q", status, body, "Access to this API has been disallowed")
	}
}

func getSession(t *testing.T, e *testEnv, key string) map[string]any {
	t.Helper()
	status, body, _ := e.do(t, "GET", "/tyk/keys/"+key, "", admin)
	if status != 200 {
		t.Fatalf("get key: %d %s", status, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
