package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/dashboard"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

const adminSecret = apptest.Secret

type env struct {
	node     *apptest.Env
	dash, gw *httptest.Server
	acct     *accounts.Service
	// db is the store behind both, for tests that seed it directly.
	db       *sqlite.DB
	upstream *httptest.Server
	// users by name: access keys
	keys map[string]string
	ids  map[string]string
	orgA string
	orgB string
}

// newEnv builds a node with the constructor `tollgate serve` uses, with two
// organisations: A (admin "a", keys-reader "reader", no-rights "nobody") and B
// (admin "b").
func newEnv(t testing.TB, cfg ...func(*config.Config)) *env {
	t.Helper()
	o := apptest.Options{}
	if len(cfg) > 0 {
		o.Config = cfg[0]
	}
	n := apptest.New(t, o)
	acct := n.Node.Accounts
	e := &env{node: n, dash: n.Dashboard, gw: n.Gateway, acct: acct, db: n.Node.Store, keys: map[string]string{}, ids: map[string]string{}}
	e.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"upstream":"hello","path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(e.upstream.Close)

	a, err := acct.Bootstrap(t.Context(), "Org A", "a@a.io", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := acct.Bootstrap(t.Context(), "Org B", "b@b.io", "password-b")
	if err != nil {
		t.Fatal(err)
	}
	e.orgA, e.orgB = a.OrgID, b.OrgID
	e.keys["a"], e.keys["b"] = a.AccessKey, b.AccessKey
	e.ids["a"], e.ids["b"] = a.UserID, b.UserID
	for name, perms := range map[string]map[string]string{
		"reader": {"keys": "read", "apis": "read"},
		"nobody": {"keys": "deny"},
	} {
		u, k, err := acct.CreateUser(t.Context(), accounts.NewUser{OrgID: a.OrgID, Email: name + "@a.io", Password: "password-" + name, Permissions: perms, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name], e.ids[name] = k, u.ID
	}
	return e
}

func (e *env) call(t testing.TB, srv *httptest.Server, method, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// server is the dashboard handler under test.
func (e *env) server() *dashboard.Server { return e.node.Node.Dashboard }

func (e *env) as(user string) map[string]string {
	return map[string]string{"authorization": e.keys[user]}
}

func apiBody(id, lp, target string) string {
	return `{"api_definition":{"api_id":"` + id + `","name":"` + id + `","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"` + lp + `","target_url":"` + target + `","strip_listen_path":true}}}`
}

func keyBody(apiID string) string {
	return `{"rate":100,"per":1,"quota_max":-1,"access_rights":{"` + apiID + `":{"api_id":"` + apiID + `","versions":["Default"]}}}`
}

type scenario struct {
	name, method, path, body string
	as                       string // user name; "" sends no key; "raw:<x>" sends x
	status                   int
	contains, absent         []string
}

func (e *env) run(t *testing.T, tests []scenario) {
	t.Helper()
	for _, tt := range tests {
		hdr := map[string]string{}
		switch {
		case strings.HasPrefix(tt.as, "raw:"):
			hdr["authorization"] = strings.TrimPrefix(tt.as, "raw:")
		case strings.HasPrefix(tt.as, "admin-auth:"):
			hdr["admin-auth"] = strings.TrimPrefix(tt.as, "admin-auth:")
		case tt.as != "":
			hdr = e.as(tt.as)
		}
		status, body := e.call(t, e.dash, tt.method, tt.path, tt.body, hdr)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, body)
			continue
		}
		for _, s := range tt.contains {
			if !strings.Contains(body, s) {
				t.Errorf("%s: body lacks %s: %s", tt.name, s, body)
			}
		}
		for _, s := range tt.absent {
			if strings.Contains(body, s) {
				t.Errorf("%s: body must not contain %s: %s", tt.name, s, body)
			}
		}
	}
}

func TestAuthAndPermissions(t *testing.T) {
	e := newEnv(t)
	notAuth := `{"Status":"Error","Message":"Not authorised","Meta":null}`
	e.run(t, []scenario{
		{"no key", "GET", "/api/apis", "", "", 401, []string{notAuth}, nil},
		{"wrong key", "GET", "/api/apis", "", "raw:0123456789abcdef0123456789abcdef", 401, []string{notAuth}, nil},
		{"bearer is not accepted", "GET", "/api/apis", "", "raw:Bearer " + e.keys["a"], 401, nil, nil},
		{"admin reads apis", "GET", "/api/apis", "", "a", 200, []string{`"apis":[]`, `"pages":1`}, nil},
		{"reader reads keys", "GET", "/api/apis/keys", "", "reader", 200, []string{`"keys":[]`}, nil},
		{"reader cannot create keys", "POST", "/api/keys", keyBody("x"), "reader", 403, []string{`"Message":"access denied: You do not have permission to access /api/keys"`}, nil},
		{"reader cannot create apis", "POST", "/api/apis", apiBody("x", "/x/", e.upstream.URL), "reader", 403, []string{"access denied"}, nil},
		{"nobody cannot list keys", "GET", "/api/apis/keys", "", "nobody", 403, nil, nil},
		{"nobody cannot list users", "GET", "/api/users", "", "nobody", 403, nil, nil},
		{"nobody sees self", "GET", "/api/users/me", "", "nobody", 200, []string{`"email_address":"nobody@a.io"`, `"access_key":"` + e.keys["nobody"] + `"`}, nil},
		{"unknown path", "GET", "/api/nothing", "", "a", 404, []string{`"Status":"Error"`}, nil},
		{"wrong method", "PATCH", "/api/keys", "", "a", 405, []string{"Method not supported"}, nil},
	})
}

func TestFailedAuthIsThrottled(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < dashboard.SecretFailures; i++ {
		if s, _ := e.call(t, e.dash, "GET", "/api/apis", "", map[string]string{"authorization": "wrong-key-wrong-key-wrong"}); s != 401 {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	s, body := e.call(t, e.dash, "GET", "/api/apis", "", map[string]string{"authorization": "wrong-key-wrong-key-wrong"})
	if s != 429 || !strings.Contains(body, "Too many failed attempts") {
		t.Fatalf("a wrong key after 10 failures: %d %s", s, body)
	}
	// A right key is never refused for others' failures from the same address
	// (a shared NAT must not lock everyone out).
	if s, body := e.call(t, e.dash, "GET", "/api/apis", "", e.as("a")); s != 200 {
		t.Fatalf("a right key after 10 failures: %d %s", s, body)
	}
}

// TestTutorialCurl runs the tutorials' curl body verbatim against the dashboard and
// calls the gateway with the key it returns.
func TestTutorialCurl(t *testing.T) {
	e := newEnv(t)
	files, _ := filepath.Glob("../../../shared/spec/tutorials/*.txt")
	if len(files) == 0 {
		t.Skip("../shared/spec/tutorials not found beside the repository; skipping the tutorial test")
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)-d '(\{.*?\})' http`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("no curl body in %s", files[0])
	}
	body := string(m[1])
	apiID := regexp.MustCompile(`"api_id": "([0-9a-f]+)"`).FindStringSubmatch(body)[1]
	// The tutorial's API must exist first (the tutorial creates it in the UI).
	if s, b := e.call(t, e.dash, "POST", "/api/apis", apiBody(apiID, "/test-api/", e.upstream.URL), e.as("a")); s != 200 {
		t.Fatalf("create API: %d %s", s, b)
	}
	hdr := e.as("a")
	hdr["Content-Type"] = "application/json"
	s, resp := e.call(t, e.dash, "POST", "/api/keys", body, hdr)
	if s != 200 {
		t.Fatalf("tutorial curl: %d %s", s, resp)
	}
	var reply struct {
		Action, Key, Status string
	}
	if err := json.Unmarshal([]byte(resp), &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Action != "create" || reply.Status != "ok" || reply.Key == "" || !strings.HasPrefix(reply.Key, e.orgA) {
		t.Fatalf("reply: %s", resp)
	}
	if !strings.Contains(resp, `"key_id":"`+reply.Key+`"`) || !strings.Contains(resp, `"api_model":{}`) || !strings.Contains(resp, `"data":{`) {
		t.Fatalf("reply lacks the KeyData dialect: %s", resp)
	}
	s, got := e.call(t, e.gw, "GET", "/test-api/anything", "", map[string]string{"Authorization": reply.Key})
	if s != 200 || !strings.Contains(got, `"upstream":"hello"`) || !strings.Contains(got, `"path":"/anything"`) {
		t.Fatalf("gateway with tutorial key: %d %s", s, got)
	}
}

func TestOrganisationsAreIsolated(t *testing.T) {
	e := newEnv(t)
	if s, b := e.call(t, e.dash, "POST", "/api/apis", apiBody("apiA", "/a/", e.upstream.URL), e.as("a")); s != 200 {
		t.Fatalf("%d %s", s, b)
	}
	if s, b := e.call(t, e.dash, "POST", "/api/apis", apiBody("apiB", "/b/", e.upstream.URL), e.as("b")); s != 200 {
		t.Fatalf("%d %s", s, b)
	}
	_, resp := e.call(t, e.dash, "POST", "/api/keys", keyBody("apiA"), e.as("a"))
	var ka struct {
		Key     string `json:"key"`
		KeyHash string `json:"key_hash"`
	}
	_ = json.Unmarshal([]byte(resp), &ka)
	e.run(t, []scenario{
		{"B lists only its APIs", "GET", "/api/apis", "", "b", 200, []string{"apiB"}, []string{"apiA"}},
		{"B cannot read A's API", "GET", "/api/apis/apiA", "", "b", 400, []string{"Could not retrieve API detail"}, nil},
		{"B cannot change A's API", "PUT", "/api/apis/apiA", apiBody("apiA", "/a/", e.upstream.URL), "b", 404, nil, nil},
		{"B cannot delete A's API", "DELETE", "/api/apis/apiA", "", "b", 404, nil, nil},
		{"B cannot grant A's API", "POST", "/api/keys", keyBody("apiA"), "b", 400, []string{"API apiA, which does not exist"}, nil},
		{"B cannot read A's key", "GET", "/api/keys/" + ka.Key, "", "b", 404, []string{"Could not retrieve key detail."}, nil},
		{"B cannot read A's key by hash", "GET", "/api/keys/" + ka.KeyHash + "?hashed=true", "", "b", 404, nil, nil},
		{"B cannot update A's key", "PUT", "/api/keys/" + ka.Key, keyBody("apiB"), "b", 404, nil, nil},
		{"B cannot delete A's key", "DELETE", "/api/keys/" + ka.Key, "", "b", 404, nil, nil},
		{"B's key list is empty", "GET", "/api/apis/keys", "", "b", 200, []string{`"keys":[]`}, nil},
		{"B cannot list A's API keys", "GET", "/api/apis/apiA/keys", "", "b", 404, nil, nil},
		{"B cannot read A's users", "GET", "/api/users/" + e.ids["a"], "", "b", 404, nil, nil},
		{"B cannot reset A's key", "POST", "/api/users/" + e.ids["a"] + "/actions/key/reset", "", "b", 404, nil, nil},
		{"B's users are its own", "GET", "/api/users", "", "b", 200, []string{"b@b.io"}, []string{"a@a.io"}},
		{"A still reads its key", "GET", "/api/keys/" + ka.Key, "", "a", 200, []string{`"key_hash":"` + ka.KeyHash + `"`, `"org_id":"` + e.orgA + `"`}, nil},
		{"key body org_id is overridden", "POST", "/api/keys", `{"org_id":"` + e.orgB + `","access_rights":{"apiA":{"api_id":"apiA"}}}`, "a", 200, []string{`"org_id":"` + e.orgA + `"`}, nil},
		{"no master keys from the dashboard", "POST", "/api/keys", `{"rate":1,"per":1}`, "a", 400, []string{"at least one Access Rights record"}, nil},
	})
}

func TestAPIsAndKeys(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 12; i++ {
		id := "api" + string(rune('a'+i))
		if s, b := e.call(t, e.dash, "POST", "/api/apis", apiBody(id, "/"+id+"/", e.upstream.URL), e.as("a")); s != 200 {
			t.Fatalf("%d %s", s, b)
		}
	}
	_, resp := e.call(t, e.dash, "POST", "/api/keys/my-custom-key", `{"alias":"findme","access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}}`, e.as("a"))
	if !strings.Contains(resp, `"key":"my-custom-key"`) {
		t.Fatalf("custom key: %s", resp)
	}
	e.run(t, []scenario{
		{"page 1 of 2, newest first", "GET", "/api/apis?p=1", "", "a", 200, []string{`"pages":2`, `"api_id":"apil"`, `"hook_references":[]`, `"api_model":{}`}, []string{`"api_id":"apia"`}},
		{"page 2", "GET", "/api/apis?p=2", "", "a", 200, []string{`"api_id":"apia"`, `"api_id":"apib"`}, []string{`"api_id":"apil"`}},
		{"p=-2 returns all", "GET", "/api/apis?p=-2", "", "a", 200, []string{`"api_id":"apia"`, `"api_id":"apil"`}, nil},
		{"bad p", "GET", "/api/apis?p=x", "", "a", 400, []string{"p must be a page number"}, nil},
		{"search", "GET", "/api/apis?q=apic", "", "a", 200, []string{`"api_id":"apic"`}, []string{`"api_id":"apid"`}},
		{"get wrapper", "GET", "/api/apis/apia", "", "a", 200, []string{`"api_definition":{`, `"org_id":"` + e.orgA + `"`}, nil},
		{"bare definition accepted", "POST", "/api/apis", `{"name":"bare","proxy":{"listen_path":"/bare/","target_url":"` + e.upstream.URL + `"}}`, "a", 200, []string{`"Message":"API created"`}, nil},
		{"invalid definition", "POST", "/api/apis", `{"api_definition":{"name":"x","proxy":{"listen_path":"/a b","target_url":"http://u"}}}`, "a", 400, []string{"Validation of API Definition failed"}, nil},
		{"malformed", "POST", "/api/apis", `{`, "a", 400, []string{"Request body malformed"}, nil},
		{"update", "PUT", "/api/apis/apia", apiBody("apia", "/apia-v2/", e.upstream.URL), "a", 200, []string{`"Message":"API updated"`}, nil},
		{"unknown api (Tyk answers 400)", "GET", "/api/apis/nope", "", "a", 400, []string{"Could not retrieve API detail"}, nil},
		{"keys for api", "GET", "/api/apis/apia/keys", "", "a", 200, []string{`"pages":1`}, nil},
		{"detailed search by alias", "GET", "/api/keys/detailed?q=findme", "", "a", 200, []string{`"alias":"findme"`, `"key_hash":"`}, nil},
		{"detailed search miss", "GET", "/api/keys/detailed?q=zzz", "", "a", 200, []string{`"keys":[]`}, nil},
		{"get custom key", "GET", "/api/keys/my-custom-key", "", "a", 200, []string{`"key_id":"my-custom-key"`, `"alias":"findme"`}, nil},
		{"update key keeps KeyData shape", "PUT", "/api/keys/my-custom-key?suppress_reset=1", `{"alias":"renamed","access_rights":{"apia":{"api_id":"apia"}}}`, "a", 200, []string{`"alias":"renamed"`, `"api_model":{}`}, nil},
		{"bad suppress_reset", "PUT", "/api/keys/my-custom-key?suppress_reset=maybe", `{}`, "a", 400, nil, nil},
		{"suppress_reset and hashed read as on the gateway", "PUT", "/api/keys/my-custom-key?suppress_reset=True&hashed=FALSE", `{"alias":"renamed","access_rights":{"apia":{"api_id":"apia"}}}`, "a", 200, []string{`"alias":"renamed"`}, nil},
		{"bad hashed", "GET", "/api/keys/my-custom-key?hashed=maybe", "", "a", 400, []string{`"Message":"Query parameter hashed must be true or false, not \"maybe\""`}, nil},
		{"custom key conflict", "POST", "/api/keys/my-custom-key", keyBody("apia"), "a", 409, nil, nil},
		{"invalid key", "POST", "/api/keys", `{"rate":5,"access_rights":{"apia":{}}}`, "a", 400, []string{"per must be positive"}, nil},
		{"delete key", "DELETE", "/api/keys/my-custom-key", "", "a", 200, []string{`{"Status":"OK","Message":"Key deleted successfully.","Meta":null}`}, nil},
		{"deleted", "GET", "/api/keys/my-custom-key", "", "a", 404, nil, nil},
		{"delete api", "DELETE", "/api/apis/apib", "", "a", 200, []string{"API deleted"}, nil},
	})
	// The API change was live on the gateway at once: apia moved to /apia-v2/.
	_, resp = e.call(t, e.dash, "POST", "/api/keys", keyBody("apia"), e.as("a"))
	var k struct{ Key string }
	_ = json.Unmarshal([]byte(resp), &k)
	if s, b := e.call(t, e.gw, "GET", "/apia-v2/x", "", map[string]string{"Authorization": k.Key}); s != 200 {
		t.Fatalf("gateway after update: %d %s", s, b)
	}
	if s, _ := e.call(t, e.gw, "GET", "/apib/x", "", map[string]string{"Authorization": k.Key}); s != 404 {
		t.Fatalf("deleted API still routed: %d", s)
	}
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	e.run(t, []scenario{
		{"admin sees others without their access key", "GET", "/api/users/" + e.ids["reader"], "", "a", 200, []string{`"email_address":"reader@a.io"`, `"access_key":""`, `"keys":"read"`}, []string{e.keys["reader"]}},
		{"admin permissions shown as IsAdmin", "GET", "/api/users/me", "", "a", 200, []string{`"IsAdmin":"admin"`}, nil},
		{"list pages", "GET", "/api/users", "", "a", 200, []string{`"pages":1`, "reader@a.io", "nobody@a.io"}, []string{e.keys["reader"]}},
		{"create user", "POST", "/api/users", `{"first_name":"New","last_name":"User","email_address":"new@a.io","password":"long-enough-pw","user_permissions":{"keys":"write"}}`, "a", 200, []string{`"Message":"User and session have been created"`}, nil},
		{"duplicate email", "POST", "/api/users", `{"email_address":"NEW@a.io","password":"long-enough-pw"}`, "a", 400, []string{"already exists"}, nil},
		{"bad email", "POST", "/api/users", `{"email_address":"not-an-email","password":"long-enough-pw"}`, "a", 400, []string{"email_address"}, nil},
		{"short password", "POST", "/api/users", `{"email_address":"s@a.io","password":"short"}`, "a", 400, []string{"at least 8"}, nil},
		{"bad permission", "POST", "/api/users", `{"email_address":"p@a.io","password":"long-enough-pw","user_permissions":{"keys":"all"}}`, "a", 400, []string{"user_permissions.keys"}, nil},
		{"reader cannot create users", "POST", "/api/users", `{"email_address":"r@a.io","password":"long-enough-pw"}`, "reader", 403, nil, nil},
		{"reader cannot read others", "GET", "/api/users/" + e.ids["a"], "", "reader", 403, nil, nil},
		{"reader cannot raise own rights", "PUT", "/api/users/" + e.ids["reader"], `{"user_permissions":{"IsAdmin":"admin"}}`, "reader", 403, nil, nil},
		{"reader renames self", "PUT", "/api/users/" + e.ids["reader"], `{"first_name":"Rita"}`, "reader", 200, []string{"User updated"}, nil},
		{"admin resets reader's key without seeing it", "POST", "/api/users/" + e.ids["reader"] + "/actions/key/reset", "", "a", 200, []string{`"Meta":null`}, nil},
		{"old reader key stops working", "GET", "/api/users/me", "", "reader", 401, nil, nil},
		{"password reset", "POST", "/api/users/" + e.ids["nobody"] + "/actions/reset", `{"new_password":"another-password"}`, "nobody", 200, []string{"User password updated"}, nil},
		{"cannot delete self", "DELETE", "/api/users/" + e.ids["a"], "", "a", 400, nil, nil},
		{"delete user", "DELETE", "/api/users/" + e.ids["nobody"], "", "a", 200, []string{"User deleted"}, nil},
		{"deleted user's key fails", "GET", "/api/users/me", "", "nobody", 401, nil, nil},
	})
	// A user resetting their own key gets the new one.
	s, body := e.call(t, e.dash, "POST", "/api/users/"+e.ids["a"]+"/actions/key/reset", "", e.as("a"))
	var env struct{ Meta string }
	_ = json.Unmarshal([]byte(body), &env)
	if s != 200 || len(env.Meta) != 32 {
		t.Fatalf("self reset: %d %s", s, body)
	}
	if s, _ := e.call(t, e.dash, "GET", "/api/users/me", "", map[string]string{"authorization": env.Meta}); s != 200 {
		t.Fatalf("new key refused: %d", s)
	}
	if _, err := e.acct.CheckPassword(t.Context(), "nobody@a.io", "another-password"); err == nil {
		t.Fatal("deleted user can still log in")
	}
}

func TestAdminAPIAndAudit(t *testing.T) {
	e := newEnv(t)
	e.run(t, []scenario{
		{"admin api needs the secret", "GET", "/admin/organisations", "", "", 401, []string{"Not authorised"}, nil},
		{"wrong secret", "GET", "/admin/organisations", "", "admin-auth:nope", 401, nil, nil},
		{"list orgs", "GET", "/admin/organisations", "", "admin-auth:" + adminSecret, 200, []string{`"owner_name":"Org A"`, `"owner_slug":"org-a"`, `"pages":0`}, nil},
		{"create org", "POST", "/admin/organisations", `{"owner_name":"Org C"}`, "admin-auth:" + adminSecret, 200, []string{`"Message":"Org created"`}, nil},
		{"org needs a name", "POST", "/admin/organisations", `{}`, "admin-auth:" + adminSecret, 400, []string{"owner_name"}, nil},
		{"get org", "GET", "/admin/organisations/" + e.orgA, "", "admin-auth:" + adminSecret, 200, []string{`"id":"` + e.orgA + `"`}, nil},
		{"unknown org", "GET", "/admin/organisations/nope", "", "admin-auth:" + adminSecret, 404, nil, nil},
		{"create user in org", "POST", "/admin/users", `{"org_id":"` + e.orgB + `","email_address":"c@b.io","password":"long-enough-pw","user_permissions":{"IsAdmin":"admin"}}`, "admin-auth:" + adminSecret, 200, []string{`"Status":"OK"`, `"access_key":"`}, nil},
		{"user in unknown org", "POST", "/admin/users", `{"org_id":"zzz","email_address":"d@b.io","password":"long-enough-pw"}`, "admin-auth:" + adminSecret, 400, []string{"does not exist"}, nil},
	})
	e.call(t, e.dash, "POST", "/api/apis", apiBody("audited", "/audited/", e.upstream.URL), e.as("a"))
	e.call(t, e.dash, "POST", "/api/keys", keyBody("audited"), e.as("a"))
	e.run(t, []scenario{
		{"audit lists changes", "GET", "/api/audit", "", "a", 200, []string{`"action":"create","object_type":"key"`, `"object_type":"api","object_id":"audited"`, `"email":"a@a.io"`, `"ip":"127.0.0.1"`}, nil},
		{"audit is per org", "GET", "/api/audit", "", "b", 200, []string{`"audit":[`}, []string{"audited"}},
		{"audit needs rights", "GET", "/api/audit", "", "reader", 403, nil, nil},
	})
	// The audit log never holds a key.
	_, resp := e.call(t, e.dash, "POST", "/api/keys", keyBody("audited"), e.as("a"))
	var k struct{ Key string }
	_ = json.Unmarshal([]byte(resp), &k)
	_, body := e.call(t, e.dash, "GET", "/api/audit?p=-1", "", e.as("a"))
	if strings.Contains(body, k.Key) || strings.Contains(body, e.keys["a"]) {
		t.Fatal("audit log contains a secret")
	}
}

func TestAdminsSeeAccessKeysOption(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.AdminsSeeAccessKeys = true })
	// Off by default: covered by TestUsers. Switched on, an administrator reads
	// others' keys; a non-admin still does not.
	e.run(t, []scenario{
		{"admin reads another user's key", "GET", "/api/users/" + e.ids["reader"], "", "a", 200, []string{`"access_key":"` + e.keys["reader"] + `"`}, nil},
		{"listed too", "GET", "/api/users", "", "a", 200, []string{e.keys["nobody"]}, nil},
	})
	if s, body := e.call(t, e.dash, "GET", "/api/users/"+e.ids["a"], "", e.as("reader")); s != 403 || strings.Contains(body, e.keys["a"]) {
		t.Fatalf("non-admin: %d %s", s, body)
	}
}

// TestControlAPIChangesInTheirOrgsAudit: keys and APIs created, changed and deleted
// through the gateway's /tyk/ API are audited in the organisation of what changed, as
// made with the admin secret, and no other organisation sees them.
func TestControlAPIChangesInTheirOrgsAudit(t *testing.T) {
	e := newEnv(t)
	admin := map[string]string{"x-tyk-authorization": adminSecret}
	def := func(lp string) string {
		return `{"api_id":"tykapi","org_id":"` + e.orgA + `","name":"Tyk API","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
			`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
			`"proxy":{"listen_path":"` + lp + `","target_url":"` + e.upstream.URL + `","strip_listen_path":true}}`
	}
	steps := []struct{ method, path, body string }{
		{"POST", "/tyk/apis", def("/tykapi/")},
		{"PUT", "/tyk/apis/tykapi", def("/tykapi-2/")},
		// No org_id: the key takes its API's organisation.
		{"POST", "/tyk/keys/tyk-audited-key", `{"alias":"via tyk","access_rights":{"tykapi":{"api_id":"tykapi","versions":["Default"]}}}`},
		{"PUT", "/tyk/keys/tyk-audited-key", `{"alias":"via tyk, renamed","access_rights":{"tykapi":{"api_id":"tykapi","versions":["Default"]}}}`},
		{"DELETE", "/tyk/keys/tyk-audited-key", ""},
		{"DELETE", "/tyk/apis/tykapi", ""},
	}
	for _, s := range steps {
		if status, body := e.call(t, e.gw, s.method, s.path, s.body, admin); status != 200 {
			t.Fatalf("%s %s: %d %s", s.method, s.path, status, body)
		}
	}
	hash := keys.Sum("tyk-audited-key").String()
	_, body := e.call(t, e.dash, "GET", "/api/audit?p=-1", "", e.as("a"))
	var got struct {
		Audit []struct {
			Action     string `json:"action"`
			ObjectType string `json:"object_type"`
			ObjectID   string `json:"object_id"`
			UserID     string `json:"user_id"`
			Detail     string `json:"detail"`
		} `json:"audit"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	type entry struct{ action, typ, id, user, detail string }
	var seen []entry
	for _, a := range got.Audit {
		seen = append(seen, entry{a.Action, a.ObjectType, a.ObjectID, a.UserID, a.Detail})
	}
	for _, want := range []entry{
		{"create", "api", "tykapi", "admin-secret", "Tyk API"},
		{"update", "api", "tykapi", "admin-secret", "Tyk API"},
		{"create", "key", hash, "admin-secret", "via tyk"},
		{"update", "key", hash, "admin-secret", "via tyk, renamed"},
		{"delete", "key", hash, "admin-secret", ""},
		{"delete", "api", "tykapi", "admin-secret", ""},
	} {
		if !slices.Contains(seen, want) {
			t.Errorf("org A's audit lacks %+v:\n%s", want, body)
		}
	}
	if _, body := e.call(t, e.dash, "GET", "/api/audit?p=-1", "", e.as("b")); strings.Contains(body, "tykapi") || strings.Contains(body, hash) {
		t.Errorf("org B's audit shows org A's changes:\n%s", body)
	}
}
