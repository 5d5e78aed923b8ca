// Package e2e runs the real tollgate binary the way an operator and a Tyk client would:
// every test builds nothing itself, starts `tollgate serve` on its own free ports with its
// own data directory, and talks to it over HTTP only.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// testSecret is the admin secret the tests pass with --secret unless a test checks
// secret generation.
const testSecret = "e2e-admin-secret-7f3a9c41d2b8"

func TestMain(m *testing.M) { e2eutil.Main(m) }

// refusedAddr returns a 127.0.0.1 address that refuses connections for the rest of the
// test: its port is bound (so nobody else can take it) but never listened on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("unexpected socket address %T", sa)
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port)
}

// proc is a running `tollgate serve` and the admin secret the tests send to it.
type proc struct {
	*e2eutil.Process
	secret string // what the tests send as x-tyk-authorization
}

// startServe starts tollgate serve (see e2eutil.Serve) with --secret testSecret
// unless o.Secret names another.
func startServe(t *testing.T, o e2eutil.Options) *proc {
	t.Helper()
	if o.Secret == "" {
		o.Secret = testSecret
	}
	return &proc{Process: e2eutil.Serve(t, o), secret: o.Secret}
}

// startWithoutSecret starts tollgate serve without --secret, so the first start on a
// data dir generates <data-dir>/admin-secret; the test reads it to set p.secret.
func startWithoutSecret(t *testing.T, o e2eutil.Options) *proc {
	t.Helper()
	o.Secret = ""
	return &proc{Process: e2eutil.Serve(t, o)}
}

// client talks to the gateway and upstreams directly (never through a proxy).
var client = &http.Client{
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8, DisableCompression: true},
	Timeout:   15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// response is what a request returned.
type response struct {
	status int
	header http.Header
	body   string
}

// request sends one request to the gateway. headers["Host"] sets the Host header.
func (p *proc) request(t *testing.T, method, path string, headers map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+p.Gateway+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// admin sends a control-API request with the admin secret.
func (p *proc) admin(t *testing.T, method, path, body string) response {
	t.Helper()
	return p.request(t, method, path, map[string]string{"x-tyk-authorization": p.secret}, body)
}

// mustAdmin sends a control-API request and requires the given status.
func (p *proc) mustAdmin(t *testing.T, method, path, body string, status int) response {
	t.Helper()
	r := p.admin(t, method, path, body)
	if r.status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, status)
	}
	return r
}

// createAPI stores a definition through POST /tyk/apis and returns its api_id.
func (p *proc) createAPI(t *testing.T, def map[string]any) string {
	t.Helper()
	r := p.mustAdmin(t, http.MethodPost, "/tyk/apis", mustJSON(t, def), http.StatusOK)
	var reply struct{ Key, Status, Action string }
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil {
		t.Fatalf("POST /tyk/apis reply %q: %v", r.body, err)
	}
	if reply.Status != "ok" || reply.Action != "added" || reply.Key == "" {
		t.Fatalf("POST /tyk/apis reply = %s, want status ok, action added and a key", r.body)
	}
	return reply.Key
}

// listAPIs returns GET /tyk/apis decoded.
func (p *proc) listAPIs(t *testing.T) []map[string]any {
	t.Helper()
	r := p.mustAdmin(t, http.MethodGet, "/tyk/apis", "", http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatalf("GET /tyk/apis body %q is not a JSON array of objects: %v", r.body, err)
	}
	return list
}

// keylessAPI is a minimal Tyk classic keyless definition.
func keylessAPI(name, listenPath, target string, strip bool) map[string]any {
	return map[string]any{
		"name":        name,
		"use_keyless": true,
		"active":      true,
		"version_data": map[string]any{
			"not_versioned": true,
			"versions":      map[string]any{"Default": map[string]any{"name": "Default"}},
		},
		"proxy": map[string]any{
			"listen_path":       listenPath,
			"target_url":        target,
			"strip_listen_path": strip,
		},
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scenario is one request and what the user must (not) see in the answer.
type scenario struct {
	name    string
	method  string
	path    string
	headers map[string]string
	body    string
	admin   bool // send x-tyk-authorization with the right secret
	status  int
	want    []string       // substrings the body must contain
	notWant []string       // substrings the body must not contain
	fields  map[string]any // top-level JSON fields the body must have, with these values
	hasKeys []string       // top-level JSON fields the body must have (any non-empty value)
}

// runScenarios runs each scenario as a subtest against p; vars replaces placeholders
// such as {gw} in paths, headers and expectations. A scenario sends one request and
// relies only on what the test set up before the table, never on an earlier row, so
// that any row runs alone with -run 'TestX/row_name'. A row that needs state of its
// own belongs in a t.Run that builds it.
func runScenarios(t *testing.T, p *proc, vars map[string]string, cases []scenario) {
	t.Helper()
	pairs := []string{"{gw}", p.Gateway}
	for k, v := range vars {
		pairs = append(pairs, k, v)
	}
	rep := strings.NewReplacer(pairs...)
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			method := sc.method
			if method == "" {
				method = http.MethodGet
			}
			headers := map[string]string{}
			for k, v := range sc.headers {
				headers[k] = rep.Replace(v)
			}
			if sc.admin {
				headers["x-tyk-authorization"] = p.secret
			}
			path := rep.Replace(sc.path)
			r := p.request(t, method, path, headers, rep.Replace(sc.body))
			if r.status != sc.status {
				t.Errorf("%s %s: status %d, want %d; body: %s", method, path, r.status, sc.status, r.body)
			}
			for _, w := range sc.want {
				if w = rep.Replace(w); !strings.Contains(r.body, w) {
					t.Errorf("%s %s: body does not contain %q\nbody: %s", method, path, w, r.body)
				}
			}
			for _, w := range sc.notWant {
				if w = rep.Replace(w); strings.Contains(r.body, w) {
					t.Errorf("%s %s: body contains %q but must not\nbody: %s", method, path, w, r.body)
				}
			}
			if len(sc.fields) > 0 || len(sc.hasKeys) > 0 {
				var got map[string]any
				if err := json.Unmarshal([]byte(r.body), &got); err != nil {
					t.Fatalf("%s %s: body is not a JSON object: %v\nbody: %s", method, path, err, r.body)
				}
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
				}
				for k, want := range sc.fields {
					if s, ok := want.(string); ok {
						want = rep.Replace(s)
					}
					if diff := cmp.Diff(want, got[k]); diff != "" {
						t.Errorf("%s %s: field %q (-want +got):\n%s", method, path, k, diff)
					}
				}
				for _, k := range sc.hasKeys {
					if v, ok := got[k]; !ok || v == "" || v == nil {
						t.Errorf("%s %s: body has no %q field: %s", method, path, k, r.body)
					}
				}
			}
		})
	}
}

// echoReply is what the echo upstream reports about the request it received.
type echoReply struct {
	Server  string            `json:"server"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	RawPath string            `json:"raw_path"`
	Query   string            `json:"query"`
	Body    string            `json:"body"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
}

// newEcho starts an upstream that answers every request with a JSON description of it.
func newEcho(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rep := echoReply{Server: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			Query: r.URL.RawQuery, Body: string(body), Host: r.Host, Headers: map[string]string{}}
		for k, v := range r.Header {
			rep.Headers[k] = strings.Join(v, ", ")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(rep)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// gate is a channel that is closed exactly once, to release blocked upstream handlers.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate               { return &gate{ch: make(chan struct{})} }
func (g *gate) open()              { g.once.Do(func() { close(g.ch) }) }
func (g *gate) c() <-chan struct{} { return g.ch }

// hostOf is the host:port of an httptest server.
func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
