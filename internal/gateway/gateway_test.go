package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	return &testEnv{gw: e.Node.Gateway, srv: e.Gateway, clock: e.Clock, keys: e.Node.Keys, bus: e.Node.Events}
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
	e := newEnv(t)
	up := echoUpstream(t)
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		contains                 []string
		absent                   []string
	}{
		{"no secret", "GET", "/tyk/apis", "", nil, 403, []string{`"Attempted administrative access with invalid or missing key!"`, `"status":"error"`}, nil},
		{"wrong secret", "GET", "/tyk/apis", "", map[string]string{"X-Tyk-Authorization": "nope"}, 403, []string{"invalid or missing key"}, nil},
		{"unknown path needs secret first", "GET", "/tyk/nothing", "", nil, 403, nil, nil},
		{"empty list is an array", "GET", "/tyk/apis", "", admin, 200, []string{"[]"}, nil},
		{"create", "POST", "/tyk/apis", apiJSON("one", "/one/", up.URL, `"strip_listen_path":true`), admin, 200, []string{`{"key":"one","status":"ok","action":"added"}`}, nil},
		{"duplicate id", "POST", "/tyk/apis", apiJSON("one", "/other/", up.URL, ""), admin, 409, []string{"already exists"}, nil},
		{"duplicate listen path", "POST", "/tyk/apis", apiJSON("two", "/one", up.URL, ""), admin, 400, []string{"Validation of API Definition failed. Reason: proxy.listen_path", "is already used by API one."}, nil},
		{"malformed", "POST", "/tyk/apis", `{"name":`, admin, 400, []string{"Request malformed"}, nil},
		{"bad target", "POST", "/tyk/apis", apiJSON("three", "/three", "nota url", ""), admin, 400, []string{"Validation of API Definition failed", "target_url"}, nil},
		{"get with trailing slash", "GET", "/tyk/apis/one/", "", admin, 200, []string{`"api_id":"one"`}, nil},
		{"get unknown", "GET", "/tyk/apis/zzz", "", admin, 404, []string{`"API not found"`}, nil},
		{"wrong method", "PATCH", "/tyk/apis/one", "", admin, 405, []string{`"Method not supported"`}, nil},
		{"put mismatched id", "PUT", "/tyk/apis/one", apiJSON("other", "/one/", up.URL, ""), admin, 400, []string{"does not match"}, nil},
		{"put unknown", "PUT", "/tyk/apis/zzz", apiJSON("zzz", "/z/", up.URL, ""), admin, 404, []string{"API not found"}, nil},
		{"put", "PUT", "/tyk/apis/one", `{"name":"renamed","use_keyless":true,"x_custom":1,"proxy":{"listen_path":"/one/","target_url":"` + up.URL + `","strip_listen_path":true}}`, admin, 200, []string{`"action":"modified"`}, nil},
		{"unknown field kept", "GET", "/tyk/apis/one", "", admin, 200, []string{`"x_custom":1`, `"name":"renamed"`, `"api_id":"one"`}, nil},
		{"proxied after put", "GET", "/one/hello?x=1", "", nil, 200, []string{`"path":"/hello"`, `"query":"x=1"`}, nil},
		{"reload", "GET", "/tyk/reload/", "", admin, 200, []string{`{"status":"ok","message":""}`}, nil},
		{"reload group", "GET", "/tyk/reload/group", "", admin, 200, []string{`{"status":"ok","message":""}`}, nil},
		{"delete", "DELETE", "/tyk/apis/one", "", admin, 200, []string{`{"key":"one","status":"ok","action":"deleted"}`}, nil},
		{"gone from routing", "GET", "/one/hello", "", nil, 404, []string{`"error": "No API is served at this path"`}, nil},
		{"delete again", "DELETE", "/tyk/apis/one", "", admin, 404, []string{"API not found"}, nil},
		{"list empty again", "GET", "/tyk/apis", "", admin, 200, []string{"[]"}, []string{"api_id"}},
	}
	for _, tt := range tests {
		status, body, hdr := e.do(t, tt.method, tt.path, tt.body, tt.hdr)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, status, tt.status, body)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", tt.name, ct)
		}
		for _, s := range tt.contains {
			if !strings.Contains(body, s) {
				t.Errorf("%s: body %s lacks %s", tt.name, body, s)
			}
		}
		for _, s := range tt.absent {
			if strings.Contains(body, s) {
				t.Errorf("%s: body %s has %s", tt.name, body, s)
			}
		}
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
	e := newEnv(t)
	up := echoUpstream(t)
	for _, def := range []string{
		apiJSON("a", "/a/", up.URL+"/base", `"strip_listen_path":true`),
		apiJSON("ab", "/a/b", up.URL, ""),
		apiJSON("keep", "/keep", up.URL, `"preserve_host_header":true`),
		apiJSON("off", "/off", up.URL, "") + "",
		`{"api_id":"dom","name":"d","use_keyless":true,"domain":"api.example.com","proxy":{"listen_path":"/a","target_url":"` + up.URL + `/dom"}}`,
		`{"api_id":"inactive","name":"i","active":false,"use_keyless":true,"proxy":{"listen_path":"/inactive","target_url":"` + up.URL + `"}}`,
	} {
		if status, body, _ := e.do(t, "POST", "/tyk/apis", def, admin); status != 200 {
			t.Fatalf("create: %d %s", status, body)
		}
	}
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
		status, body, _ := e.do(t, tt.method, tt.path, tt.body, tt.hdr)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, body)
			continue
		}
		if tt.want == nil {
			if !strings.Contains(body, `"error": "`) {
				t.Errorf("%s: error body not in Tyk shape: %s", tt.name, body)
			}
			continue
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, body)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got[k], v)
			}
		}
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
