// Package foundation tests the tollgate binary as an operator meets it: flags and
// configuration errors, the generated admin secret, --apps-dir, streaming and
// WebSocket proxying, and graceful shutdown with a request in flight.
package foundation

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

var binary string

func TestMain(m *testing.M) { e2eutil.Main(m, &binary) }

const secret = "foundation-test-secret-123"

func start(t *testing.T, dataDir string, extra ...string) *e2eutil.Process {
	return e2eutil.Serve(t, binary, dataDir, extra...)
}

func gw(p *e2eutil.Process, path string) string { return "http://" + p.Gateway + path }

func do(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var admin = map[string]string{"x-tyk-authorization": secret}

func keyless(id, lp, target string) string {
	return `{"api_id":"` + id + `","name":"` + id + `","use_keyless":true,"proxy":{"listen_path":"` + lp + `","target_url":"` + target + `","strip_listen_path":true}}`
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"version", []string{"version"}, 0, "tollgate "},
		{"help", []string{"help"}, 0, "serve"},
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"bad address", []string{"serve", "--gateway-addr", "nonsense"}, 2, "gateway_addr"},
		{"Tyk's sample secret", []string{"serve", "--secret", "352d20ee67be67f6340b4c0605b044b7"}, 2, "sample secret"},
		{"short secret", []string{"serve", "--secret", "tiny"}, 2, "at least 16"},
		{"unknown flag", []string{"serve", "--nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"serve", "extra"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Dir = t.TempDir()
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != tt.code || !strings.Contains(string(out), tt.output) {
				t.Fatalf("exit %d, output %q", cmd.ProcessState.ExitCode(), out)
			}
		})
	}
	cfg := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(cfg, []byte(`{"gateway_addr":":8080","secrets":"typo"}`), 0o600)
	out, _ := exec.Command(binary, "serve", "--config", cfg).CombinedOutput()
	if !strings.Contains(string(out), `unknown field "secrets"`) {
		t.Fatalf("config with a typo: %s", out)
	}
}

func TestGeneratedSecret(t *testing.T) {
	data := t.TempDir()
	p := start(t, data)
	var printed string
	deadline := time.After(5 * time.Second)
	for printed == "" {
		select {
		case line := <-p.Lines:
			if f := strings.Fields(line); len(f) == 1 && len(f[0]) >= 20 {
				printed = f[0]
			}
		case <-deadline:
			t.Fatal("the generated secret was not printed")
		}
	}
	fi, err := os.Stat(filepath.Join(data, "admin-secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	stored, _ := os.ReadFile(filepath.Join(data, "admin-secret"))
	if strings.TrimSpace(string(stored)) != printed {
		t.Fatal("printed secret differs from the stored one")
	}
	if s, body := do(t, "GET", gw(p, "/tyk/apis"), "", nil); s != 403 || body != `{"status":"error","message":"Attempted administrative access with invalid or missing key!"}`+"\n" {
		t.Fatalf("no secret: %d %q", s, body)
	}
	if s, _ := do(t, "GET", gw(p, "/tyk/apis"), "", map[string]string{"x-tyk-authorization": printed}); s != 200 {
		t.Fatalf("generated secret refused: %d", s)
	}
	p.Stop(t)
	// A second start keeps the secret and does not print it again.
	p2 := start(t, data)
	timeout := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case line := <-p2.Lines:
			if strings.Contains(line, printed) || strings.Contains(line, "Generated an admin secret") {
				t.Fatal("the secret was printed again")
			}
		case <-timeout:
			done = true
		}
	}
	if s, _ := do(t, "GET", gw(p2, "/tyk/apis"), "", map[string]string{"x-tyk-authorization": printed}); s != 200 {
		t.Fatalf("secret lost across restarts: %d", s)
	}
}

func TestAppsDir(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "up:"+r.URL.Path) }))
	defer up.Close()
	apps := t.TempDir()
	_ = os.WriteFile(filepath.Join(apps, "one.json"), []byte(keyless("one", "/one/", up.URL)), 0o600)
	_ = os.WriteFile(filepath.Join(apps, "two.json"), []byte(keyless("two", "/two/", up.URL)), 0o600)
	_ = os.WriteFile(filepath.Join(apps, "notes.txt"), []byte("not a definition"), 0o600)
	p := start(t, t.TempDir(), "--secret", secret, "--apps-dir", apps)
	for _, path := range []string{"/one/a", "/two/b"} {
		if s, body := do(t, "GET", gw(p, path), "", nil); s != 200 || !strings.HasPrefix(body, "up:/") {
			t.Fatalf("%s: %d %s", path, s, body)
		}
	}
	bad := t.TempDir()
	_ = os.WriteFile(filepath.Join(bad, "broken.json"), []byte(`{"name":"x","proxy":{"listen_path":"/a b","target_url":"http://u"}}`), 0o600)
	out, err := exec.Command(binary, "serve", "--data-dir", t.TempDir(), "--secret", secret, "--apps-dir", bad,
		"--gateway-addr", e2eutil.FreeAddr(t), "--dashboard-addr", e2eutil.FreeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "broken.json") {
		t.Fatalf("bad apps dir: %v %s", err, out)
	}
}

func TestStreamingAndWebSocket(t *testing.T) {
	firstRead := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select { // the second chunk only after the client has seen the first
			case <-firstRead:
			case <-time.After(10 * time.Second):
			}
			fmt.Fprint(w, "data: second\n\n")
		case "/ws":
			if r.Header.Get("Upgrade") != "websocket" {
				http.Error(w, "want upgrade", 400)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			line, _ := rw.ReadString('\n')
			fmt.Fprint(rw, "echo: "+line)
			rw.Flush()
		}
	}))
	defer up.Close()
	p := start(t, t.TempDir(), "--secret", secret)
	if s, b := do(t, "POST", gw(p, "/tyk/apis"), keyless("up", "/up/", up.URL), admin); s != 200 {
		t.Fatalf("create: %d %s", s, b)
	}

	resp, err := http.Get(gw(p, "/up/stream"))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := br.ReadString('\n'); line != "data: first\n" {
		t.Fatalf("first chunk %q", line)
	}
	close(firstRead)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest of stream %q", rest)
	}

	conn, err := net.Dial("tcp", p.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /up/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	cr := bufio.NewReader(conn)
	status, _ := cr.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("upgrade status %q", status)
	}
	for {
		l, err := cr.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	fmt.Fprint(conn, "ping\n")
	if got, _ := cr.ReadString('\n'); got != "echo: ping\n" {
		t.Fatalf("through the upgraded connection: %q", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		fmt.Fprint(w, "finished")
	}))
	defer up.Close()
	data := t.TempDir()
	p := start(t, data, "--secret", secret)
	if s, b := do(t, "POST", gw(p, "/tyk/apis"), keyless("slow", "/slow/", up.URL), admin); s != 200 {
		t.Fatalf("create: %d %s", s, b)
	}
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(gw(p, "/slow/x"))
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-arrived
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// While draining, the gateway takes no new work: /ready answers 503 or the
	// listener is already closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(gw(p, "/ready"))
		if err != nil || resp.StatusCode == 503 {
			if resp != nil {
				resp.Body.Close()
			}
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("/ready stayed 200 after SIGTERM")
		}
	}
	close(release)
	if got := <-result; got != "200 finished" {
		t.Fatalf("in-flight request: %s", got)
	}
	select {
	case <-p.Done:
		if p.Err != nil {
			t.Fatalf("exit: %v", p.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit after the last request")
	}
	p2 := start(t, data, "--secret", secret)
	if s, body := do(t, "GET", gw(p2, "/tyk/apis/slow"), "", admin); s != 200 || !strings.Contains(body, `"api_id":"slow"`) {
		t.Fatalf("API lost across restart: %d %s", s, body)
	}
}
