// Package e2e runs the real tollgate binary the way an operator and a Tyk client would:
// every test builds nothing itself, starts `tollgate serve` on its own free ports with its
// own data directory, and talks to it over HTTP only.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// binary is the tollgate executable built once by TestMain.
var binary string

// testSecret is the admin secret the tests pass with --secret unless a test checks
// secret generation.
const testSecret = "e2e-admin-secret-7f3a9c41d2b8"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	root := filepath.Dir(wd) // go test runs in the package directory: <root>/e2e
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: module root not found above %s: %v\n", wd, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "tollgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", binary, "./cmd/tollgate")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/tollgate:", err)
		return 1
	}
	return m.Run()
}

// cleanEnv is the test process's environment without TOLLGATE_* settings and HTTP
// proxy variables, so the tests are not steered by the machine they run on.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		uk := strings.ToUpper(k)
		if strings.HasPrefix(uk, "TOLLGATE_") || strings.HasSuffix(uk, "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// handedOut remembers every port freeAddrs returned, so that two tests of this package
// never get the same port even if the kernel offers a just-closed one again.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// freeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a moment ago.
// All listeners are held until the end so the kernel cannot hand one out twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var addrs []string
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 200 {
			t.Fatal("no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		addr := l.Addr().String()
		if handedOut.ports[addr] {
			continue
		}
		handedOut.ports[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs
}

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

// lockedBuffer is an io.Writer safe for the exec copier and the test to share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cliResult is the outcome of a short-lived tollgate command.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs tollgate with args and waits (bounded) for it to exit.
func runCLI(t *testing.T, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv()
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("tollgate %q still running after %v (it should have exited)\nstdout:\n%s\nstderr:\n%s", args, timeout, out.String(), errb.String())
	}
	return cliResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// serveOpts configure startServe.
type serveOpts struct {
	dataDir  string // default: a fresh directory under t.TempDir()
	secret   string // default: testSecret
	noSecret bool   // start without --secret (generation test)
	args     []string
	// mayExit returns the process when it exits before it is ready, for tests that
	// expect a refusal to start.
	mayExit bool
	// tls: the listeners speak HTTPS, so readiness is the announcement alone (the
	// /ready probe speaks plain HTTP).
	tls bool
}

// proc is a running `tollgate serve`.
type proc struct {
	cmd     *exec.Cmd
	gw      string // gateway host:port
	dash    string // dashboard host:port
	secret  string // what the tests send as x-tyk-authorization
	dataDir string
	stdout  *lockedBuffer // shared by every launch attempt
	stderr  *lockedBuffer
	done    chan struct{}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// startServe starts tollgate serve on free ports and waits until GET /ready answers 200.
// A launch that loses its port to another process is retried on new ports.
func startServe(t *testing.T, o serveOpts) *proc {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	secret := o.secret
	if secret == "" && !o.noSecret {
		secret = testSecret
	}
	stdout := &lockedBuffer{}
	for attempt := 1; ; attempt++ {
		addrs := freeAddrs(t, 2)
		p := &proc{gw: addrs[0], dash: addrs[1], secret: secret, dataDir: o.dataDir,
			stdout: stdout, stderr: &lockedBuffer{}, done: make(chan struct{})}
		args := []string{"serve", "--data-dir", o.dataDir, "--gateway-addr", p.gw, "--dashboard-addr", p.dash}
		if secret != "" && !o.noSecret {
			args = append(args, "--secret", secret)
		}
		args = append(args, o.args...)
		p.cmd = exec.Command(binary, args...)
		p.cmd.Env = cleanEnv()
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() { p.cleanup(t) })

		// Ready means: this process announced that it listens on p.gw (so whatever
		// answers there is this process) and GET /ready answers 200.
		announced := "Tollgate gateway listening on " + p.gw + " "
		ready := waitFor(20*time.Second, func() bool {
			if p.exited() {
				return true
			}
			if !strings.Contains(p.stdout.String(), announced) {
				return false
			}
			if o.tls {
				return strings.Contains(p.stdout.String(), "Tollgate dashboard listening")
			}
			resp, err := client.Get("http://" + p.gw + "/ready")
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		switch {
		case p.exited() && strings.Contains(p.stderr.String(), "address already in use") && attempt < 3:
			t.Logf("port taken, retrying: %s", strings.TrimSpace(p.stderr.String()))
			continue
		case p.exited() && o.mayExit:
			return p
		case p.exited():
			t.Fatalf("tollgate serve exited with %d before it was ready\nstdout:\n%s\nstderr:\n%s", p.exitCode(), p.stdout.String(), p.stderr.String())
		case !ready:
			t.Fatalf("tollgate serve: GET /ready did not answer 200 within 20 s\nstderr:\n%s", p.stderr.String())
		}
		return p
	}
}

// cleanup stops the process if the test left it running and shows its log on failure.
func (p *proc) cleanup(t *testing.T) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if t.Failed() {
		t.Logf("tollgate serve on %s stderr:\n%s", p.gw, p.stderr.String())
	}
}

// stop sends SIGTERM and returns the exit code once the process is gone.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("tollgate did not exit within 15 s of SIGTERM\nstderr:\n%s", p.stderr.String())
	}
	return p.exitCode()
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
	req, err := http.NewRequest(method, "http://"+p.gw+path, rd)
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

// runScenarios plays the scenarios in order against p; vars replaces placeholders such
// as {gw} in paths, headers and expectations.
func runScenarios(t *testing.T, p *proc, vars map[string]string, cases []scenario) {
	t.Helper()
	pairs := []string{"{gw}", p.gw}
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
