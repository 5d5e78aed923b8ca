package dashboard_test

import (
	"encoding/json"
	"io"
	"maps"
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
	// vars are values a scenario's setup saved for its request (see fill).
	vars map[string]string
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
	return newEnvWith(t, o)
}

// newEnvClock is newEnv on a clock the test moves (env.node.Clock).
func newEnvClock(t testing.TB) *env { return newEnvWith(t, apptest.Options{ManualClock: true}) }

func newEnvWith(t testing.TB, o apptest.Options) *env {
	t.Helper()
	n := apptest.New(t, o)
	acct := n.Node.Accounts
	e := &env{node: n, dash: n.Dashboard, gw: n.Gateway, acct: acct, db: sqliteOf(t, n), keys: map[string]string{}, ids: map[string]string{}, vars: map[string]string{}}
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

// sqliteOf is the node's SQLite store, which some tests seed directly.
func sqliteOf(t testing.TB, n *apptest.Env) *sqlite.DB {
	t.Helper()
	db, ok := n.Node.Store.(*sqlite.DB)
	if !ok {
		t.Fatalf("the node's store is %T, not SQLite", n.Node.Store)
	}
	return db
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

// must sends a request that a scenario's setup or check relies on: anything but 200
// fails the test. It returns the body.
func (e *env) must(t *testing.T, srv *httptest.Server, method, path, body string, hdr map[string]string) string {
	t.Helper()
	status, resp := e.call(t, srv, method, path, body, hdr)
	if status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, resp)
	}
	return resp
}

// createKey creates a key through the Dashboard API as user and returns it and its
// hash.
func (e *env) createKey(t *testing.T, user, body string) (key, hash string) {
	t.Helper()
	resp := e.must(t, e.dash, "POST", "/api/keys", body, e.as(user))
	var reply struct {
		Key     string `json:"key"`
		KeyHash string `json:"key_hash"`
	}
	if err := json.Unmarshal([]byte(resp), &reply); err != nil || reply.Key == "" || reply.KeyHash == "" {
		t.Fatalf("create key: %v %s", err, resp)
	}
	return reply.Key, reply.KeyHash
}

// placeholder is what fill replaces; one left after filling is a name it does not
// know, which would otherwise make an absent check pass vacuously.
var placeholder = regexp.MustCompile(`\{[a-zA-Z][\w:.-]*\}`)

// fill puts this node's values into a scenario's text: {orgA}, {orgB}, {upstream},
// {id:<user>}, {key:<user>} (the user's access key), and what setups saved in vars.
// Rows name them instead of holding the values because every row runs on a node of
// its own, whose ids and keys are its own.
func (e *env) fill(t *testing.T, s string) string {
	t.Helper()
	pairs := []string{"{orgA}", e.orgA, "{orgB}", e.orgB, "{upstream}", e.upstream.URL}
	for name, k := range e.keys {
		pairs = append(pairs, "{key:"+name+"}", k)
	}
	for name, id := range e.ids {
		pairs = append(pairs, "{id:"+name+"}", id)
	}
	for name, v := range e.vars {
		pairs = append(pairs, "{"+name+"}", v)
	}
	out := strings.NewReplacer(pairs...).Replace(s)
	if p := placeholder.FindString(out); p != "" {
		t.Fatalf("no value for %s in %q", p, s)
	}
	return out
}

// scenario is one request to the dashboard and what its reply must hold. Its text
// may name this node's values as placeholders (see fill).
type scenario struct {
	name string
	// setup makes the state the request needs, on the row's own node, after the
	// table's setup.
	setup              func(t *testing.T, e *env)
	method, path, body string
	as                 string // user name; "" sends no key; "raw:<x>" sends x; "admin-auth:<x>" sends the Admin API secret x
	status             int
	contains, absent   []string
	// check asserts what the reply does not show (the gateway, the store).
	check func(t *testing.T, e *env, body string)
}

// newSeed makes the state every row of a table starts from, once, on a node of its
// own: newEnv's organisations and users, then what setup adds. The node is stopped;
// its data seeds the rows' nodes (from).
func newSeed(t *testing.T, cfg func(*config.Config), setup func(t *testing.T, e *env)) *env {
	t.Helper()
	e := newEnv(t, cfg)
	if setup != nil {
		setup(t, e)
	}
	e.node.Close()
	return e
}

// from starts a fresh node on a copy of the seed's data: the same organisations,
// users, keys and saved values, and nothing that another node from it does.
func (seed *env) from(t *testing.T, cfg func(*config.Config)) *env {
	t.Helper()
	n := apptest.New(t, apptest.Options{Config: cfg, Seed: seed.node.Node.Config.DataDir})
	return &env{node: n, dash: n.Dashboard, gw: n.Gateway, acct: n.Node.Accounts, db: sqliteOf(t, n), upstream: seed.upstream,
		keys: maps.Clone(seed.keys), ids: maps.Clone(seed.ids), vars: maps.Clone(seed.vars), orgA: seed.orgA, orgB: seed.orgB}
}

// scenarios is a table of scenarios. The table's setup runs once, on a seed node
// (newSeed); then each row runs as its own parallel subtest on a fresh node started
// from the seed's data and prepared by the row's own setup. No row sees what another
// did, so any row runs alone (go test -run 'TestX/row_name') and in any order.
type scenarios struct {
	config func(*config.Config)
	setup  func(t *testing.T, e *env)
	rows   []scenario
}

func (s scenarios) run(t *testing.T) {
	t.Helper()
	seed := newSeed(t, s.config, s.setup)
	seen := map[string]bool{}
	for _, tt := range s.rows {
		// The name is how a row is run alone: a repeated one would run as name#01.
		if seen[tt.name] {
			t.Fatalf("two rows are named %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := seed.from(t, s.config)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			tt.send(t, e)
		})
	}
}

// send sends the scenario's request on e and checks the reply.
func (tt scenario) send(t *testing.T, e *env) {
	t.Helper()
	hdr := map[string]string{}
	switch as := e.fill(t, tt.as); {
	case strings.HasPrefix(as, "raw:"):
		hdr["authorization"] = strings.TrimPrefix(as, "raw:")
	case strings.HasPrefix(as, "admin-auth:"):
		hdr["admin-auth"] = strings.TrimPrefix(as, "admin-auth:")
	case as != "":
		hdr = e.as(as)
	}
	status, body := e.call(t, e.dash, tt.method, e.fill(t, tt.path), e.fill(t, tt.body), hdr)
	if status != tt.status {
		t.Fatalf("status %d, want %d: %s", status, tt.status, body)
	}
	for _, s := range tt.contains {
		if s := e.fill(t, s); !strings.Contains(body, s) {
			t.Errorf("body lacks %s: %s", s, body)
		}
	}
	for _, s := range tt.absent {
		if s := e.fill(t, s); strings.Contains(body, s) {
			t.Errorf("body must not contain %s: %s", s, body)
		}
	}
	if tt.check != nil {
		tt.check(t, e, body)
	}
}

func TestAuthAndPermissions(t *testing.T) {
	notAuth := `{"Status":"Error","Message":"Not authorised","Meta":null}`
	scenarios{rows: []scenario{
		{name: "no key", method: "GET", path: "/api/apis", status: 401, contains: []string{notAuth}},
		{name: "wrong key", method: "GET", path: "/api/apis", as: "raw:0123456789abcdef0123456789abcdef", status: 401, contains: []string{notAuth}},
		{name: "bearer is not accepted", method: "GET", path: "/api/apis", as: "raw:Bearer {key:a}", status: 401},
		{name: "admin reads apis", method: "GET", path: "/api/apis", as: "a", status: 200, contains: []string{`"apis":[]`, `"pages":1`}},
		{name: "reader reads keys", method: "GET", path: "/api/apis/keys", as: "reader", status: 200, contains: []string{`"keys":[]`}},
		{name: "reader cannot create keys", method: "POST", path: "/api/keys", body: keyBody("x"), as: "reader", status: 403, contains: []string{`"Message":"access denied: You do not have permission to access /api/keys"`}},
		{name: "reader cannot create apis", method: "POST", path: "/api/apis", body: apiBody("x", "/x/", "{upstream}"), as: "reader", status: 403, contains: []string{"access denied"}},
		{name: "nobody cannot list keys", method: "GET", path: "/api/apis/keys", as: "nobody", status: 403},
		{name: "nobody cannot list users", method: "GET", path: "/api/users", as: "nobody", status: 403},
		{name: "nobody sees self", method: "GET", path: "/api/users/me", as: "nobody", status: 200, contains: []string{`"email_address":"nobody@a.io"`, `"access_key":"{key:nobody}"`}},
		{name: "unknown path", method: "GET", path: "/api/nothing", as: "a", status: 404, contains: []string{`"Status":"Error"`}},
		{name: "wrong method", method: "PATCH", path: "/api/keys", as: "a", status: 405, contains: []string{"Method not supported"}},
	}}.run(t)
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
	scenarios{setup: func(t *testing.T, e *env) {
		e.must(t, e.dash, "POST", "/api/apis", apiBody("apiA", "/a/", e.upstream.URL), e.as("a"))
		e.must(t, e.dash, "POST", "/api/apis", apiBody("apiB", "/b/", e.upstream.URL), e.as("b"))
		e.vars["keyA"], e.vars["hashA"] = e.createKey(t, "a", keyBody("apiA"))
	}, rows: []scenario{
		{name: "B lists only its APIs", method: "GET", path: "/api/apis", as: "b", status: 200, contains: []string{"apiB"}, absent: []string{"apiA"}},
		{name: "B cannot read A's API", method: "GET", path: "/api/apis/apiA", as: "b", status: 400, contains: []string{"Could not retrieve API detail"}},
		{name: "B cannot change A's API", method: "PUT", path: "/api/apis/apiA", body: apiBody("apiA", "/a/", "{upstream}"), as: "b", status: 404},
		{name: "B cannot delete A's API", method: "DELETE", path: "/api/apis/apiA", as: "b", status: 404},
		{name: "B cannot grant A's API", method: "POST", path: "/api/keys", body: keyBody("apiA"), as: "b", status: 400, contains: []string{"API apiA, which does not exist"}},
		{name: "B cannot read A's key", method: "GET", path: "/api/keys/{keyA}", as: "b", status: 404, contains: []string{"Could not retrieve key detail."}},
		{name: "B cannot read A's key by hash", method: "GET", path: "/api/keys/{hashA}?hashed=true", as: "b", status: 404},
		{name: "B cannot update A's key", method: "PUT", path: "/api/keys/{keyA}", body: keyBody("apiB"), as: "b", status: 404},
		{name: "B cannot delete A's key", method: "DELETE", path: "/api/keys/{keyA}", as: "b", status: 404},
		{name: "B's key list is empty", method: "GET", path: "/api/apis/keys", as: "b", status: 200, contains: []string{`"keys":[]`}},
		{name: "B cannot list A's API keys", method: "GET", path: "/api/apis/apiA/keys", as: "b", status: 404},
		{name: "B cannot read A's users", method: "GET", path: "/api/users/{id:a}", as: "b", status: 404},
		{name: "B cannot reset A's key", method: "POST", path: "/api/users/{id:a}/actions/key/reset", as: "b", status: 404},
		{name: "B's users are its own", method: "GET", path: "/api/users", as: "b", status: 200, contains: []string{"b@b.io"}, absent: []string{"a@a.io"}},
		{name: "A still reads its key", method: "GET", path: "/api/keys/{keyA}", as: "a", status: 200, contains: []string{`"key_hash":"{hashA}"`, `"org_id":"{orgA}"`},
			setup: func(t *testing.T, e *env) {
				// After B's attempts on it (the rows above check their answers).
				e.call(t, e.dash, "PUT", "/api/keys/"+e.vars["keyA"], keyBody("apiB"), e.as("b"))
				e.call(t, e.dash, "DELETE", "/api/keys/"+e.vars["keyA"], "", e.as("b"))
			}},
		{name: "key body org_id is overridden", method: "POST", path: "/api/keys", body: `{"org_id":"{orgB}","access_rights":{"apiA":{"api_id":"apiA"}}}`, as: "a", status: 200, contains: []string{`"org_id":"{orgA}"`}},
		{name: "no master keys from the dashboard", method: "POST", path: "/api/keys", body: `{"rate":1,"per":1}`, as: "a", status: 400, contains: []string{"at least one Access Rights record"}},
	}}.run(t)
}

func TestAPIsAndKeys(t *testing.T) {
	const custom = `{"alias":"findme","access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}}`
	scenarios{setup: func(t *testing.T, e *env) {
		for i := 0; i < 12; i++ {
			id := "api" + string(rune('a'+i))
			e.must(t, e.dash, "POST", "/api/apis", apiBody(id, "/"+id+"/", e.upstream.URL), e.as("a"))
		}
		if resp := e.must(t, e.dash, "POST", "/api/keys/my-custom-key", custom, e.as("a")); !strings.Contains(resp, `"key":"my-custom-key"`) {
			t.Fatalf("custom key: %s", resp)
		}
	}, rows: []scenario{
		{name: "page 1 of 2, newest first", method: "GET", path: "/api/apis?p=1", as: "a", status: 200, contains: []string{`"pages":2`, `"api_id":"apil"`, `"hook_references":[]`, `"api_model":{}`}, absent: []string{`"api_id":"apia"`}},
		{name: "page 2", method: "GET", path: "/api/apis?p=2", as: "a", status: 200, contains: []string{`"api_id":"apia"`, `"api_id":"apib"`}, absent: []string{`"api_id":"apil"`}},
		{name: "p=-2 returns all", method: "GET", path: "/api/apis?p=-2", as: "a", status: 200, contains: []string{`"api_id":"apia"`, `"api_id":"apil"`}},
		{name: "bad p", method: "GET", path: "/api/apis?p=x", as: "a", status: 400, contains: []string{"p must be a page number"}},
		{name: "search", method: "GET", path: "/api/apis?q=apic", as: "a", status: 200, contains: []string{`"api_id":"apic"`}, absent: []string{`"api_id":"apid"`}},
		{name: "get wrapper", method: "GET", path: "/api/apis/apia", as: "a", status: 200, contains: []string{`"api_definition":{`, `"org_id":"{orgA}"`}},
		{name: "bare definition accepted", method: "POST", path: "/api/apis", body: `{"name":"bare","proxy":{"listen_path":"/bare/","target_url":"{upstream}"}}`, as: "a", status: 200, contains: []string{`"Message":"API created"`}},
		{name: "invalid definition", method: "POST", path: "/api/apis", body: `{"api_definition":{"name":"x","proxy":{"listen_path":"/a b","target_url":"http://u"}}}`, as: "a", status: 400, contains: []string{"Validation of API Definition failed"}},
		{name: "malformed", method: "POST", path: "/api/apis", body: `{`, as: "a", status: 400, contains: []string{"Request body malformed"}},
		{name: "update", method: "PUT", path: "/api/apis/apia", body: apiBody("apia", "/apia-v2/", "{upstream}"), as: "a", status: 200, contains: []string{`"Message":"API updated"`},
			check: func(t *testing.T, e *env, _ string) {
				// The change is live on the gateway at once: apia moved to /apia-v2/.
				key, _ := e.createKey(t, "a", keyBody("apia"))
				if s, b := e.call(t, e.gw, "GET", "/apia-v2/x", "", map[string]string{"Authorization": key}); s != 200 {
					t.Fatalf("gateway after update: %d %s", s, b)
				}
			}},
		{name: "unknown api (Tyk answers 400)", method: "GET", path: "/api/apis/nope", as: "a", status: 400, contains: []string{"Could not retrieve API detail"}},
		{name: "keys for api", method: "GET", path: "/api/apis/apia/keys", as: "a", status: 200, contains: []string{`"pages":1`}},
		{name: "detailed search by alias", method: "GET", path: "/api/keys/detailed?q=findme", as: "a", status: 200, contains: []string{`"alias":"findme"`, `"key_hash":"`}},
		{name: "detailed search miss", method: "GET", path: "/api/keys/detailed?q=zzz", as: "a", status: 200, contains: []string{`"keys":[]`}},
		{name: "get custom key", method: "GET", path: "/api/keys/my-custom-key", as: "a", status: 200, contains: []string{`"key_id":"my-custom-key"`, `"alias":"findme"`}},
		{name: "update key keeps KeyData shape", method: "PUT", path: "/api/keys/my-custom-key?suppress_reset=1", body: `{"alias":"renamed","access_rights":{"apia":{"api_id":"apia"}}}`, as: "a", status: 200, contains: []string{`"alias":"renamed"`, `"api_model":{}`}},
		{name: "bad suppress_reset", method: "PUT", path: "/api/keys/my-custom-key?suppress_reset=maybe", body: `{}`, as: "a", status: 400},
		{name: "suppress_reset and hashed read as on the gateway", method: "PUT", path: "/api/keys/my-custom-key?suppress_reset=True&hashed=FALSE", body: `{"alias":"renamed","access_rights":{"apia":{"api_id":"apia"}}}`, as: "a", status: 200, contains: []string{`"alias":"renamed"`}},
		{name: "bad hashed", method: "GET", path: "/api/keys/my-custom-key?hashed=maybe", as: "a", status: 400, contains: []string{`"Message":"Query parameter hashed must be true or false, not \"maybe\""`}},
		{name: "custom key conflict", method: "POST", path: "/api/keys/my-custom-key", body: keyBody("apia"), as: "a", status: 409},
		{name: "invalid key", method: "POST", path: "/api/keys", body: `{"rate":5,"access_rights":{"apia":{}}}`, as: "a", status: 400, contains: []string{"per must be positive"}},
		{name: "unenforceable limit refused", method: "POST", path: "/api/keys", body: `{"access_rights":{"apia":{"restricted_types":[{"name":"Query","fields":["x"]}]}}}`, as: "a", status: 400, contains: []string{"access_rights.apia.restricted_types is not supported"}},
		{name: "endpoint limit names the field", method: "PUT", path: "/api/keys/my-custom-key", body: `{"access_rights":{"apia":{"api_id":"apia","endpoints":[{"path":"","methods":[]}]}}}`, as: "a", status: 400, contains: []string{"access_rights.apia.endpoints[0].path"}},
		{name: "delete key", method: "DELETE", path: "/api/keys/my-custom-key", as: "a", status: 200, contains: []string{`{"Status":"OK","Message":"Key deleted successfully.","Meta":null}`}},
		{name: "deleted", method: "GET", path: "/api/keys/my-custom-key", as: "a", status: 404,
			setup: func(t *testing.T, e *env) { e.must(t, e.dash, "DELETE", "/api/keys/my-custom-key", "", e.as("a")) }},
		{name: "delete api", method: "DELETE", path: "/api/apis/apib", as: "a", status: 200, contains: []string{"API deleted"},
			check: func(t *testing.T, e *env, _ string) {
				// The gateway stopped routing it at once (a key for another API gets
				// 403 from an API that is still routed).
				key, _ := e.createKey(t, "a", keyBody("apia"))
				if s, _ := e.call(t, e.gw, "GET", "/apib/x", "", map[string]string{"Authorization": key}); s != 404 {
					t.Fatalf("deleted API still routed: %d", s)
				}
			}},
	}}.run(t)
}

func TestUsers(t *testing.T) {
	const newUser = `{"first_name":"New","last_name":"User","email_address":"new@a.io","password":"long-enough-pw","user_permissions":{"keys":"write"}}`
	scenarios{rows: []scenario{
		{name: "admin sees others without their access key", method: "GET", path: "/api/users/{id:reader}", as: "a", status: 200, contains: []string{`"email_address":"reader@a.io"`, `"access_key":""`, `"keys":"read"`}, absent: []string{"{key:reader}"}},
		{name: "admin permissions shown as IsAdmin", method: "GET", path: "/api/users/me", as: "a", status: 200, contains: []string{`"IsAdmin":"admin"`}},
		{name: "list pages", method: "GET", path: "/api/users", as: "a", status: 200, contains: []string{`"pages":1`, "reader@a.io", "nobody@a.io"}, absent: []string{"{key:reader}"}},
		{name: "create user", method: "POST", path: "/api/users", body: newUser, as: "a", status: 200, contains: []string{`"Message":"User and session have been created"`}},
		{name: "duplicate email", method: "POST", path: "/api/users", body: `{"email_address":"NEW@a.io","password":"long-enough-pw"}`, as: "a", status: 400, contains: []string{"already exists"},
			setup: func(t *testing.T, e *env) { e.must(t, e.dash, "POST", "/api/users", newUser, e.as("a")) }},
		{name: "bad email", method: "POST", path: "/api/users", body: `{"email_address":"not-an-email","password":"long-enough-pw"}`, as: "a", status: 400, contains: []string{"email_address"}},
		{name: "short password", method: "POST", path: "/api/users", body: `{"email_address":"s@a.io","password":"short"}`, as: "a", status: 400, contains: []string{"at least 8"}},
		{name: "bad permission", method: "POST", path: "/api/users", body: `{"email_address":"p@a.io","password":"long-enough-pw","user_permissions":{"keys":"all"}}`, as: "a", status: 400, contains: []string{"user_permissions.keys"}},
		{name: "reader cannot create users", method: "POST", path: "/api/users", body: `{"email_address":"r@a.io","password":"long-enough-pw"}`, as: "reader", status: 403},
		{name: "reader cannot read others", method: "GET", path: "/api/users/{id:a}", as: "reader", status: 403},
		{name: "reader cannot raise own rights", method: "PUT", path: "/api/users/{id:reader}", body: `{"user_permissions":{"IsAdmin":"admin"}}`, as: "reader", status: 403},
		{name: "reader renames self", method: "PUT", path: "/api/users/{id:reader}", body: `{"first_name":"Rita"}`, as: "reader", status: 200, contains: []string{"User updated"}},
		{name: "admin resets reader's key without seeing it", method: "POST", path: "/api/users/{id:reader}/actions/key/reset", as: "a", status: 200, contains: []string{`"Meta":null`}},
		{name: "old reader key stops working", method: "GET", path: "/api/users/me", as: "reader", status: 401,
			setup: func(t *testing.T, e *env) {
				e.must(t, e.dash, "POST", "/api/users/"+e.ids["reader"]+"/actions/key/reset", "", e.as("a"))
			}},
		{name: "password reset", method: "POST", path: "/api/users/{id:nobody}/actions/reset", body: `{"new_password":"another-password"}`, as: "nobody", status: 200, contains: []string{"User password updated"}},
		{name: "cannot delete self", method: "DELETE", path: "/api/users/{id:a}", as: "a", status: 400},
		{name: "delete user", method: "DELETE", path: "/api/users/{id:nobody}", as: "a", status: 200, contains: []string{"User deleted"},
			check: func(t *testing.T, e *env, _ string) {
				if _, err := e.acct.CheckPassword(t.Context(), "nobody@a.io", "password-nobody"); err == nil {
					t.Fatal("deleted user can still log in")
				}
			}},
		{name: "deleted user's key fails", method: "GET", path: "/api/users/me", as: "nobody", status: 401,
			setup: func(t *testing.T, e *env) { e.must(t, e.dash, "DELETE", "/api/users/"+e.ids["nobody"], "", e.as("a")) }},
		{name: "resetting one's own key returns the new one", method: "POST", path: "/api/users/{id:a}/actions/key/reset", as: "a", status: 200,
			check: func(t *testing.T, e *env, body string) {
				var reply struct{ Meta string }
				if err := json.Unmarshal([]byte(body), &reply); err != nil || len(reply.Meta) != 32 {
					t.Fatalf("self reset: %v %s", err, body)
				}
				if s, _ := e.call(t, e.dash, "GET", "/api/users/me", "", map[string]string{"authorization": reply.Meta}); s != 200 {
					t.Fatalf("new key refused: %d", s)
				}
			}},
	}}.run(t)
}

func TestAdminAPIAndAudit(t *testing.T) {
	secret := "admin-auth:" + adminSecret
	// audited makes an API and a key in org A as user a, for the audit rows to find.
	audited := func(t *testing.T, e *env) {
		e.must(t, e.dash, "POST", "/api/apis", apiBody("audited", "/audited/", e.upstream.URL), e.as("a"))
		e.vars["auditedKey"], _ = e.createKey(t, "a", keyBody("audited"))
	}
	scenarios{rows: []scenario{
		{name: "admin api needs the secret", method: "GET", path: "/admin/organisations", status: 401, contains: []string{"Not authorised"}},
		{name: "wrong secret", method: "GET", path: "/admin/organisations", as: "admin-auth:nope", status: 401},
		{name: "list orgs", method: "GET", path: "/admin/organisations", as: secret, status: 200, contains: []string{`"owner_name":"Org A"`, `"owner_slug":"org-a"`, `"pages":0`}},
		{name: "create org", method: "POST", path: "/admin/organisations", body: `{"owner_name":"Org C"}`, as: secret, status: 200, contains: []string{`"Message":"Org created"`}},
		{name: "org needs a name", method: "POST", path: "/admin/organisations", body: `{}`, as: secret, status: 400, contains: []string{"owner_name"}},
		{name: "get org", method: "GET", path: "/admin/organisations/{orgA}", as: secret, status: 200, contains: []string{`"id":"{orgA}"`}},
		{name: "unknown org", method: "GET", path: "/admin/organisations/nope", as: secret, status: 404},
		{name: "create user in org", method: "POST", path: "/admin/users", body: `{"org_id":"{orgB}","email_address":"c@b.io","password":"long-enough-pw","user_permissions":{"IsAdmin":"admin"}}`, as: secret, status: 200, contains: []string{`"Status":"OK"`, `"access_key":"`}},
		{name: "user in unknown org", method: "POST", path: "/admin/users", body: `{"org_id":"zzz","email_address":"d@b.io","password":"long-enough-pw"}`, as: secret, status: 400, contains: []string{"does not exist"}},
		{name: "audit lists changes", setup: audited, method: "GET", path: "/api/audit", as: "a", status: 200, contains: []string{`"action":"create","object_type":"key"`, `"object_type":"api","object_id":"audited"`, `"email":"a@a.io"`, `"ip":"127.0.0.1"`}},
		{name: "audit is per org", setup: audited, method: "GET", path: "/api/audit", as: "b", status: 200, contains: []string{`"audit":[`}, absent: []string{"audited"}},
		{name: "audit needs rights", method: "GET", path: "/api/audit", as: "reader", status: 403},
		{name: "audit never holds a key", setup: audited, method: "GET", path: "/api/audit?p=-1", as: "a", status: 200, absent: []string{"{auditedKey}", "{key:a}"}},
	}}.run(t)
}

func TestAdminsSeeAccessKeysOption(t *testing.T) {
	// Off by default: covered by TestUsers. Switched on, an administrator reads
	// others' keys; a non-admin still does not.
	scenarios{config: func(c *config.Config) { c.AdminsSeeAccessKeys = true }, rows: []scenario{
		{name: "admin reads another user's key", method: "GET", path: "/api/users/{id:reader}", as: "a", status: 200, contains: []string{`"access_key":"{key:reader}"`}},
		{name: "listed too", method: "GET", path: "/api/users", as: "a", status: 200, contains: []string{"{key:nobody}"}},
		{name: "a non-admin still does not", method: "GET", path: "/api/users/{id:a}", as: "reader", status: 403, absent: []string{"{key:a}"}},
	}}.run(t)
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
