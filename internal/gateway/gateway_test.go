package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/app"
	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/limit/limittest"
	"github.com/tollgate/tollgate/internal/manage"
)

// testEnv is a whole node (apptest) seen from the gateway's side.
type testEnv struct {
	node  *apptest.Env
	gw    *gateway.Gateway
	srv   *httptest.Server
	clock *limittest.Clock
	keys  *manage.Keys
	bus   events.PubSub
}

type envOption func(*apptest.Options)

// withConfig edits the node's configuration.
func withConfig(f func(*config.Config)) envOption {
	return func(o *apptest.Options) { o.Config = f }
}

// realClock runs the node on the real clock (load benchmarks).
func realClock(o *apptest.Options) { o.ManualClock = false }

func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	o := apptest.Options{ManualClock: true}
	for _, f := range opts {
		f(&o)
	}
	e := apptest.New(t, o)
	return &testEnv{node: e, gw: e.Node.Gateway, srv: e.Gateway, clock: e.Clock, keys: e.Node.Keys, bus: e.Node.Events}
}

// seed is a stopped node whose data the rows of a table start from, each on a fresh
// node of its own (seed.node), so that no row sees what another did.
type seed struct {
	dir  string
	opts []envOption
}

// newSeed builds a node with opts, lets fill make the state every row of a table
// needs, and stops it.
func newSeed(t *testing.T, fill func(t *testing.T, e *testEnv), opts ...envOption) seed {
	t.Helper()
	e := newEnv(t, opts...)
	fill(t, e)
	e.node.Close()
	return seed{dir: e.node.Node.Config.DataDir, opts: opts}
}

// node starts a fresh node on a copy of the seed's data. Only the data is copied:
// the new node's manual clock starts at limittest.Start, as the seed's did, whatever
// fill did to that.
func (s seed) node(t *testing.T) *testEnv {
	t.Helper()
	return newEnv(t, append(slices.Clone(s.opts), func(o *apptest.Options) { o.Seed = s.dir })...)
}

// checkBody reports each of contains that body lacks and each of absent that it has.
func checkBody(t *testing.T, body string, contains, absent []string) {
	t.Helper()
	for _, s := range contains {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %s: %s", s, body)
		}
	}
	for _, s := range absent {
		if strings.Contains(body, s) {
			t.Errorf("body must not contain %s: %s", s, body)
		}
	}
}

// mustDo sends a request that a row's setup relies on: any other status than want
// fails the test.
func (e *testEnv) mustDo(t testing.TB, method, path, body string, hdr map[string]string, want int) string {
	t.Helper()
	status, resp, _ := e.do(t, method, path, body, hdr)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, resp, want)
	}
	return resp
}

// do sends a request; admin adds the control-API secret.
func (e *testEnv) do(t testing.TB, method, path, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	r := apptest.Do(t, e.srv, method, path, body, hdr)
	return r.Status, r.Body, r.Header
}

var admin = apptest.Admin

// tykReply is the control API's answer to a change, as a Tyk client decodes it.
type tykReply struct {
	Key     string `json:"key"`
	Status  string `json:"status"`
	Action  string `json:"action"`
	KeyHash string `json:"key_hash"`
}

// echoUpstream answers with what it received, as JSON.
func echoUpstream(t testing.TB) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "path": r.URL.Path, "raw_path": r.URL.RawPath, "query": r.URL.RawQuery,
			"body": string(b), "host": r.Host, "xff": r.Header.Get("X-Forwarded-For"),
			"xfh": r.Header.Get("X-Forwarded-Host"), "xfp": r.Header.Get("X-Forwarded-Proto"),
			"conn_hdr": r.Header.Get("X-Hop"), "keep": r.Header.Get("Keep-Alive"),
		})
	}))
	t.Cleanup(up.Close)
	return up
}

func apiJSON(id, lp, target string, extra string) string {
	s := `{"api_id":"` + id + `","name":"` + id + `","use_keyless":true,"proxy":{"listen_path":"` + lp + `","target_url":"` + target + `"`
	if extra != "" {
		s += "," + extra
	}
	return s + "}}"
}

func TestControlAPI(t *testing.T) {
	up := echoUpstream(t)
	one := apiJSON("one", "/one/", up.URL, `"strip_listen_path":true`)
	renamed := `{"name":"renamed","use_keyless":true,"x_custom":1,"proxy":{"listen_path":"/one/","target_url":"` + up.URL + `","strip_listen_path":true}}`
	// The states rows start from: API "one" created, then changed by PUT, or deleted
	// after it was routed.
	created := func(t *testing.T, e *testEnv) { mustCreateAPI(t, e, one) }
	put := func(t *testing.T, e *testEnv) {
		created(t, e)
		e.mustDo(t, "PUT", "/tyk/apis/one", renamed, admin, 200)
	}
	deleted := func(t *testing.T, e *testEnv) {
		created(t, e)
		e.mustDo(t, "GET", "/one/hello", "", nil, 200)
		e.mustDo(t, "DELETE", "/tyk/apis/one", "", admin, 200)
	}
	tests := []struct {
		name string
		// setup makes the state the request needs on the row's own node.
		setup              func(t *testing.T, e *testEnv)
		method, path, body string
		hdr                map[string]string
		status             int
		contains           []string
		absent             []string
	}{
		{name: "no secret", method: "GET", path: "/tyk/apis", status: 403, contains: []string{`"Attempted administrative access with invalid or missing key!"`, `"status":"error"`}},
		{name: "wrong secret", method: "GET", path: "/tyk/apis", hdr: map[string]string{"X-Tyk-Authorization": "nope"}, status: 403, contains: []string{"invalid or missing key"}},
		{name: "unknown path needs secret first", method: "GET", path: "/tyk/nothing", status: 403},
		{name: "empty list is an array", method: "GET", path: "/tyk/apis", hdr: admin, status: 200, contains: []string{"[]"}},
		{name: "create", method: "POST", path: "/tyk/apis", body: one, hdr: admin, status: 200, contains: []string{`{"key":"one","status":"ok","action":"added"}`}},
		{name: "duplicate id", setup: created, method: "POST", path: "/tyk/apis", body: apiJSON("one", "/other/", up.URL, ""), hdr: admin, status: 409, contains: []string{"already exists"}},
		{name: "duplicate listen path", setup: created, method: "POST", path: "/tyk/apis", body: apiJSON("two", "/one", up.URL, ""), hdr: admin, status: 400, contains: []string{"Validation of API Definition failed. Reason: proxy.listen_path", "is already used by API one."}},
		{name: "malformed", method: "POST", path: "/tyk/apis", body: `{"name":`, hdr: admin, status: 400, contains: []string{"Request malformed"}},
		{name: "bad target", method: "POST", path: "/tyk/apis", body: apiJSON("three", "/three", "nota url", ""), hdr: admin, status: 400, contains: []string{"Validation of API Definition failed", "target_url"}},
		{name: "get with trailing slash", setup: created, method: "GET", path: "/tyk/apis/one/", hdr: admin, status: 200, contains: []string{`"api_id":"one"`}},
		{name: "get unknown", method: "GET", path: "/tyk/apis/zzz", hdr: admin, status: 404, contains: []string{`"API not found"`}},
		{name: "wrong method", setup: created, method: "PATCH", path: "/tyk/apis/one", hdr: admin, status: 405, contains: []string{`"Method not supported"`}},
		{name: "put mismatched id", setup: created, method: "PUT", path: "/tyk/apis/one", body: apiJSON("other", "/one/", up.URL, ""), hdr: admin, status: 400, contains: []string{"does not match"}},
		{name: "put unknown", method: "PUT", path: "/tyk/apis/zzz", body: apiJSON("zzz", "/z/", up.URL, ""), hdr: admin, status: 404, contains: []string{"API not found"}},
		{name: "put", setup: created, method: "PUT", path: "/tyk/apis/one", body: renamed, hdr: admin, status: 200, contains: []string{`"action":"modified"`}},
		{name: "unknown field kept", setup: put, method: "GET", path: "/tyk/apis/one", hdr: admin, status: 200, contains: []string{`"x_custom":1`, `"name":"renamed"`, `"api_id":"one"`}},
		{name: "proxied after put", setup: put, method: "GET", path: "/one/hello?x=1", status: 200, contains: []string{`"path":"/hello"`, `"query":"x=1"`}},
		{name: "reload", method: "GET", path: "/tyk/reload/", hdr: admin, status: 200, contains: []string{`{"status":"ok","message":""}`}},
		{name: "reload group", method: "GET", path: "/tyk/reload/group", hdr: admin, status: 200, contains: []string{`{"status":"ok","message":""}`}},
		{name: "delete", setup: created, method: "DELETE", path: "/tyk/apis/one", hdr: admin, status: 200, contains: []string{`{"key":"one","status":"ok","action":"deleted"}`}},
		{name: "gone from routing", setup: deleted, method: "GET", path: "/one/hello", status: 404, contains: []string{`"error": "No API is served at this path"`}},
		{name: "delete again", setup: deleted, method: "DELETE", path: "/tyk/apis/one", hdr: admin, status: 404, contains: []string{"API not found"}},
		{name: "list empty again", setup: deleted, method: "GET", path: "/tyk/apis", hdr: admin, status: 200, contains: []string{"[]"}, absent: []string{"api_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			status, body, hdr := e.do(t, tt.method, tt.path, tt.body, tt.hdr)
			if status != tt.status {
				t.Errorf("status %d, want %d; body %s", status, tt.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			checkBody(t, body, tt.contains, tt.absent)
		})
	}
}

func TestCreateGeneratesAPIID(t *testing.T) {
	e := newEnv(t)
	status, body, _ := e.do(t, "POST", "/tyk/apis", `{"name":"n","proxy":{"listen_path":"/n","target_url":"http://127.0.0.1:1"}}`, admin)
	var r tykReply
	if status != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r.Key) != 32 || strings.Trim(r.Key, "0123456789abcdef") != "" {
		t.Fatalf("status %d body %s: want a 32-hex api_id", status, body)
	}
}

func TestProxying(t *testing.T) {
	up := echoUpstream(t)
	seed := newSeed(t, func(t *testing.T, e *testEnv) {
		for _, def := range []string{
			apiJSON("a", "/a/", up.URL+"/base", `"strip_listen_path":true`),
			apiJSON("ab", "/a/b", up.URL, ""),
			apiJSON("keep", "/keep", up.URL, `"preserve_host_header":true`),
			apiJSON("off", "/off", up.URL, "") + "",
			`{"api_id":"dom","name":"d","use_keyless":true,"domain":"api.example.com","proxy":{"listen_path":"/a","target_url":"` + up.URL + `/dom"}}`,
			`{"api_id":"inactive","name":"i","active":false,"use_keyless":true,"proxy":{"listen_path":"/inactive","target_url":"` + up.URL + `"}}`,
		} {
			mustCreateAPI(t, e, def)
		}
	})
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		want                     map[string]string
	}{
		{"strip", "GET", "/a/x/y?q=1&r=2", "", nil, 200, map[string]string{"path": "/base/x/y", "query": "q=1&r=2"}},
		{"strip exact", "GET", "/a", "", nil, 200, map[string]string{"path": "/base"}},
		{"longer prefix wins, no strip", "GET", "/a/b/c", "", nil, 200, map[string]string{"path": "/a/b/c"}},
		{"segment boundary", "GET", "/ab", "", nil, 404, nil},
		{"body passed", "POST", "/a/p", "hello body", nil, 200, map[string]string{"method": "POST", "body": "hello body"}},
		{"escaped path kept", "GET", "/a/x%2Fy", "", nil, 200, map[string]string{"path": "/base/x/y", "raw_path": "/base/x%2Fy"}},
		{"host replaced", "GET", "/a/h", "", map[string]string{"Host": "client.example"}, 200, map[string]string{"xfh": "client.example"}},
		{"host preserved", "GET", "/keep", "", map[string]string{"Host": "client.example"}, 200, map[string]string{"host": "client.example"}},
		{"forwarded headers", "GET", "/off", "", map[string]string{"X-Forwarded-For": "10.0.0.1"}, 200, map[string]string{"xff": "10.0.0.1, 127.0.0.1", "xfp": "http"}},
		{"hop-by-hop removed", "GET", "/off", "", map[string]string{"Connection": "X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5"}, 200, map[string]string{"conn_hdr": "", "keep": ""}},
		{"domain-bound API", "GET", "/a/z", "", map[string]string{"Host": "API.example.com"}, 200, map[string]string{"path": "/dom/a/z"}},
		{"inactive not routed", "GET", "/inactive", "", nil, 404, nil},
		{"dot segments refused", "GET", "/a/%2e%2e/x", "", nil, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body, _ := seed.node(t).do(t, tt.method, tt.path, tt.body, tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.want == nil {
				if !strings.Contains(body, `"error": "`) {
					t.Errorf("error body not in Tyk shape: %s", body)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestUpstreamErrors(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.ProxyTimeout = config.Duration(100 * time.Millisecond) }))
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, def := range []string{apiJSON("slow", "/slow", slow.URL, ""), apiJSON("down", "/down", closedURL, "")} {
		if status, body, _ := e.do(t, "POST", "/tyk/apis", def, admin); status != 200 {
			t.Fatalf("create: %d %s", status, body)
		}
	}
	if status, body, _ := e.do(t, "GET", "/down/x", "", nil); status != 502 || !strings.Contains(body, `"error": "There was a problem proxying the request"`) {
		t.Errorf("refused upstream: %d %s", status, body)
	}
	if status, body, _ := e.do(t, "GET", "/slow/x", "", nil); status != 504 || !strings.Contains(body, "Upstream service reached hard timeout.") {
		t.Errorf("slow upstream: %d %s", status, body)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	status, body, _ := e.do(t, "GET", "/hello", "", nil)
	if status != 200 || !strings.Contains(body, `"status":"pass"`) || !strings.Contains(body, `"version":"`+app.VersionString()+`"`) {
		t.Errorf("/hello: %d %s", status, body)
	}
	if status, body, _ := e.do(t, "GET", "/ready", "", nil); status != 200 {
		t.Errorf("/ready: %d %s", status, body)
	}
	e.gw.SetDraining()
	if status, body, _ := e.do(t, "GET", "/ready", "", nil); status != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("/ready while draining: %d %s", status, body)
	}
}
