package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// TestPasswordlessUserThroughTheAdminAPI drives the binary as Tyk's generated
// clients do (issue 14): the dashboard's /hello says it is up, a user is created
// through the Admin API without a password, its access key works on /api/ at once
// while no password logs it in, then PUT /admin/users/{id} sets a password and the
// user logs in to the web UI with it.
func TestPasswordlessUserThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})

	for _, path := range []string{"/hello", "/admin/hello/"} {
		if r := hardDash(t, p, http.MethodGet, path, nil, ""); r.status != http.StatusOK || !strings.HasPrefix(r.body, `{"status":"ok"`) ||
			!strings.Contains(r.body, `"store":{"status":"pass"`) {
			t.Fatalf("GET %s = %d %s", path, r.status, r.body)
		}
	}
	// The gateway of `serve` reports the dashboard it runs beside in Tyk's shape,
	// as tools that wait for the stack read it (details.dashboard.status).
	var hello struct {
		Status  string
		Details map[string]struct {
			Status        string `json:"status"`
			ComponentType string `json:"componentType"`
		}
	}
	if r := p.request(t, http.MethodGet, "/hello", nil, ""); r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &hello) != nil ||
		hello.Status != "pass" || hello.Details["dashboard"].Status != "pass" || hello.Details["dashboard"].ComponentType != "system" ||
		hello.Details["store"].Status != "pass" {
		t.Fatalf("gateway GET /hello = %d %s", r.status, r.body)
	}

	org := hardOrg(t, p, "Tyk Clients")
	r := hardAdminAPI(t, p, http.MethodPost, "/admin/users", mustJSON(t, map[string]any{
		"org_id": org, "email_address": "sdk@clients.io", "first_name": "S", "last_name": "DK",
		"active": true, "user_permissions": map[string]string{"apis": "read", "keys": "read"},
	}))
	var created struct {
		Message string
		Meta    struct {
			ID        string `json:"id"`
			AccessKey string `json:"access_key"`
		}
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &created) != nil || created.Meta.ID == "" || created.Meta.AccessKey == "" {
		t.Fatalf("POST /admin/users without a password = %d %s", r.status, r.body)
	}
	key := created.Meta.AccessKey
	if me := hardMe(t, p, key); me["email_address"] != "sdk@clients.io" {
		t.Fatalf("GET /api/users/me with the new access key: %v", me)
	}
	if r := hardAPI(t, p, http.MethodGet, "/api/apis", key, ""); r.status != http.StatusOK {
		t.Fatalf("GET /api/apis with the new access key = %d %s", r.status, r.body)
	}
	for _, pw := range []string{"", "any-password-at-all"} {
		if r := hardLogin(t, p, "sdk@clients.io", pw, ""); r.status != http.StatusUnauthorized || hardCookie(r, "tollgate_session") != "" {
			t.Fatalf("login without a password set, trying %q = %d", pw, r.status)
		}
	}

	const password = "set-by-the-admin-api"
	r = hardAdminAPI(t, p, http.MethodPut, "/admin/users/"+created.Meta.ID, mustJSON(t, map[string]any{
		"id": created.Meta.ID, "org_id": org, "email_address": "sdk@clients.io", "first_name": "Sam", "last_name": "DK",
		"active": true, "password": password, "user_permissions": map[string]string{"apis": "read", "keys": "read"},
	}))
	if r.status != http.StatusOK || !strings.Contains(r.body, `"first_name":"Sam"`) || strings.Contains(r.body, password) || strings.Contains(r.body, key) {
		t.Fatalf("PUT /admin/users/{id} = %d %s", r.status, r.body)
	}
	hardWantLoggedIn(t, "login with the password the Admin API set", hardLogin(t, p, "sdk@clients.io", password, ""))
	// The access key is unchanged by the update.
	hardMe(t, p, key)
	if strings.Contains(p.Stderr.String(), password) {
		t.Error("the log holds the password")
	}
}

// TestControlAPIFilesUnderTheDefaultOrg: what Tyk's clients create through /tyk/
// without org_id (an API, then a policy and keys for it) belongs to the first
// organisation, so its administrator sees all of it in the dashboard, and a
// key PUT without org_id stays there. A later organisation changes nothing.
func TestControlAPIFilesUnderTheDefaultOrg(t *testing.T) {
	t.Parallel()
	up := newEcho(t, "D")
	p := startServe(t, e2eutil.Options{})
	admin := hardFirstRun(t, p)
	hardOrg(t, p, "Second org")

	def := hardKeyedAPI("Control API", "ctl-api", "/ctl/", up.URL)
	p.createAPI(t, def) // no org_id
	rights := `"access_rights":{"ctl-api":{"api_id":"ctl-api","versions":["Default"]}}`
	if r := p.admin(t, http.MethodPost, "/tyk/policies", `{"id":"ctl-plan","name":"Control plan","rate":5,"per":1,`+rights+`}`); r.status != 200 {
		t.Fatalf("POST /tyk/policies = %d %s", r.status, r.body)
	}
	type created struct {
		Key  string `json:"key"`
		Hash string `json:"key_hash"`
	}
	var own, fromPolicy created
	for body, into := range map[string]*created{`{"rate":5,"per":1,` + rights + `}`: &own, `{"apply_policies":["ctl-plan"]}`: &fromPolicy} {
		r := p.admin(t, http.MethodPost, "/tyk/keys", body)
		if r.status != 200 || json.Unmarshal([]byte(r.body), into) != nil || into.Key == "" {
			t.Fatalf("POST /tyk/keys %s = %d %s", body, r.status, r.body)
		}
	}
	// A key PUT without org_id keeps its organisation.
	if r := p.admin(t, http.MethodPut, "/tyk/keys/"+own.Key, `{"rate":6,"per":1,`+rights+`}`); r.status != 200 {
		t.Fatalf("PUT /tyk/keys = %d %s", r.status, r.body)
	}

	if r := hardAPI(t, p, http.MethodGet, "/api/apis/ctl-api", admin.accessKey, ""); r.status != 200 || !strings.Contains(r.body, `"org_id":"`+admin.orgID+`"`) {
		t.Fatalf("the administrator's GET /api/apis/ctl-api = %d %s", r.status, r.body)
	}
	if r := hardAPI(t, p, http.MethodGet, "/api/portal/policies/ctl-plan", admin.accessKey, ""); r.status != 200 {
		t.Fatalf("the administrator's GET /api/portal/policies/ctl-plan = %d %s", r.status, r.body)
	}
	for name, k := range map[string]string{"own limits": own.Hash, "from the policy": fromPolicy.Hash} {
		r := hardAPI(t, p, http.MethodGet, "/api/keys/"+k+"?hashed=true", admin.accessKey, "")
		if r.status != 200 || !strings.Contains(r.body, `"org_id":"`+admin.orgID+`"`) {
			t.Fatalf("key with %s: the administrator's GET /api/keys/{hash} = %d %s", name, r.status, r.body)
		}
	}
	for _, k := range []string{own.Key, fromPolicy.Key} {
		if r := hardCall(t, p, "/ctl/x", k); r.status != 200 {
			t.Fatalf("key %s… on the gateway = %d %s", k[:8], r.status, r.body)
		}
	}
}
