package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAppsDirLoadsDefinitions: Tyk definition files in --apps-dir are served at start.
func TestAppsDirLoadsDefinitions(t *testing.T) {
	t.Parallel()
	a, b := newEcho(t, "A"), newEcho(t, "B")
	apps := t.TempDir()
	one := keylessAPI("App One", "/one", a.URL, false)
	one["api_id"] = "app-one"
	one["org_id"] = "default"
	one["x_tyk_only_field"] = map[string]any{"kept": true}
	writeFile(t, apps, "one.json", mustJSON(t, one))
	// The second file is written the way Tyk's quick starts show it, by hand.
	writeFile(t, apps, "two.json", `{
  "name": "App Two",
  "api_id": "app-two",
  "org_id": "default",
  "use_keyless": true,
  "definition": {"location": "header", "key": "x-api-version"},
  "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
  "proxy": {"listen_path": "/two/", "target_url": "`+b.URL+`/upstream/", "strip_listen_path": true},
  "active": true
}`)
	// Files that are not *.json are ignored, even if they are not definitions.
	writeFile(t, apps, "README.txt", "these are my APIs")
	writeFile(t, apps, "one.json.bak", "{broken")

	p := startServe(t, e2eutil.Options{Args: []string{"--apps-dir", apps}})
	runScenarios(t, p, nil, []scenario{
		{name: "first file", path: "/one/x", status: 200, want: []string{`"server":"A"`, `"path":"/one/x"`}},
		{name: "second file, stripped", path: "/two/y?z=1", status: 200, want: []string{`"server":"B"`, `"path":"/upstream/y"`, `"query":"z=1"`}},
		{name: "listed by the control API", path: "/tyk/apis/app-two", admin: true, status: 200,
			fields: map[string]any{"api_id": "app-two", "name": "App Two"}},
		{name: "unknown fields kept", path: "/tyk/apis/app-one", admin: true, status: 200,
			fields: map[string]any{"x_tyk_only_field": map[string]any{"kept": true}}},
	})
	if n := len(p.listAPIs(t)); n != 2 {
		t.Errorf("%d APIs loaded, want 2", n)
	}
}

// TestAppsDirInvalidFileStopsStart: one bad definition file stops the start with an
// error naming that file.
func TestAppsDirInvalidFileStopsStart(t *testing.T) {
	t.Parallel()
	good := mustJSON(t, map[string]any{"name": "good", "api_id": "good", "use_keyless": true,
		"proxy": map[string]any{"listen_path": "/good", "target_url": "http://127.0.0.1:9"}})
	cases := []struct {
		name, file, content, why string
	}{
		{"malformed JSON", "broken.json", `{"name": "b", "api_id": "b", "proxy": {`, "malformed JSON"},
		{"listen path with a space", "spaced.json",
			`{"name":"s","api_id":"s","use_keyless":true,"proxy":{"listen_path":"/has space","target_url":"http://127.0.0.1:9"}}`, `listen_path "/has space" must not contain spaces`},
		{"bad target", "target.json",
			`{"name":"t","api_id":"t","use_keyless":true,"proxy":{"listen_path":"/t","target_url":"ftp://example.com"}}`, `target_url "ftp://example.com"`},
		{"duplicate listen path", "zz-dup.json",
			`{"name":"d","api_id":"d","use_keyless":true,"proxy":{"listen_path":"/good","target_url":"http://127.0.0.1:9"}}`, `"/good" is already used by API good`},
		{"another organisation's path", "zz-hijack.json",
			`{"name":"h","api_id":"h","org_id":"other-org","use_keyless":true,"proxy":{"listen_path":"/good/sub","target_url":"http://127.0.0.1:9"}}`, "another organisation's API serves"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apps := t.TempDir()
			writeFile(t, apps, "a-good.json", good)
			bad := writeFile(t, apps, tc.file, tc.content)
			addrs := e2eutil.FreeAddrs(t, 2)
			r := e2eutil.Run(t, nil, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"),
				"--gateway-addr", addrs[0], "--dashboard-addr", addrs[1], "--secret", testSecret, "--apps-dir", apps)
			if r.Code == 0 {
				t.Fatalf("serve exited 0 with an invalid apps dir file")
			}
			if !strings.Contains(r.Stderr, bad) {
				t.Errorf("the error does not name the bad file %s:\n%s", bad, r.Stderr)
			}
			if !strings.Contains(r.Stderr, tc.why) {
				t.Errorf("the error does not say what is wrong (%q):\n%s", tc.why, r.Stderr)
			}
			if strings.Contains(r.Stdout, "listening") {
				t.Errorf("serve started listening despite the bad file:\n%s", r.Stdout)
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "no-such-apps")
		addrs := e2eutil.FreeAddrs(t, 2)
		r := e2eutil.Run(t, nil, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--gateway-addr", addrs[0], "--dashboard-addr", addrs[1], "--secret", testSecret, "--apps-dir", missing)
		if r.Code == 0 || !strings.Contains(r.Stderr, missing) {
			t.Errorf("exit %d, stderr %q: want a failure naming %s", r.Code, r.Stderr, missing)
		}
	})
}

// TestGracefulShutdown: SIGTERM lets an in-flight request finish, the process exits 0,
// and what was stored survives a restart with the same data dir.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	release := newGate()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release.c():
			case <-r.Context().Done():
				return
			}
		}
		w.Write([]byte("done " + r.URL.Path))
	}))
	t.Cleanup(up.Close)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, e2eutil.Options{DataDir: dataDir})
	t.Cleanup(release.open)
	id := p.createAPI(t, keylessAPI("graceful", "/g", up.URL, true))

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + p.Gateway + "/g/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, err = io.Copy(b, resp.Body)
		inflight <- result{status: resp.StatusCode, body: b.String(), err: err}
	}()
	select {
	case <-started:
	case res := <-inflight:
		t.Fatalf("request finished before the upstream was released: %+v", res)
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}

	p.Signal(t, syscall.SIGTERM)
	// WaitFor gives up at once if the process exits instead.
	if !p.Stderr.WaitFor("shutting down", 10*time.Second) && !p.Exited() {
		t.Fatalf("no shutdown under way 10 s after the signal; stderr:\n%s", p.Stderr.String())
	}
	if p.Exited() {
		t.Fatalf("process exited (code %d) while a request was in flight", p.ExitCode())
	}
	release.open()
	select {
	case res := <-inflight:
		if res.err != nil || res.status != 200 || res.body != "done /slow" {
			t.Errorf("in-flight request during shutdown = %d %q %v, want 200 \"done /slow\"", res.status, res.body, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not complete after the upstream was released")
	}
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit after the in-flight request completed")
	}
	if code := p.ExitCode(); code != 0 {
		t.Errorf("exit code %d after graceful shutdown, want 0", code)
	}

	q := startServe(t, e2eutil.Options{DataDir: dataDir})
	got := decodeObject(t, q.mustAdmin(t, "GET", "/tyk/apis/"+id, "", 200))
	if got["name"] != "graceful" {
		t.Errorf("API after restart = %v", got)
	}
	if r := q.request(t, "GET", "/g/again", nil, ""); r.status != 200 || r.body != "done /again" {
		t.Errorf("proxying after restart = %d %q", r.status, r.body)
	}
}

// TestLostFirstRunCredentials: a first start that printed the administrator's
// credentials and then failed (its gateway port taken) leaves the next start
// saying how to recover them; the hint's command works; once a start has
// served, later starts say nothing more.
func TestLostFirstRunCredentials(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	first := e2eutil.Run(t, nil, "serve", "--data-dir", dataDir, "--gateway-addr", taken.Addr().String(),
		"--dashboard-addr", e2eutil.FreeAddrs(t, 1)[0])
	if first.Code == 0 || !strings.Contains(first.Stdout, "First run: created an administrator") {
		t.Fatalf("first start on a taken port: exit %d\nstdout: %s\nstderr: %s", first.Code, first.Stdout, first.Stderr)
	}

	const hint = "tollgate users reset-password --email admin@tollgate.local --data-dir " // + the data dir
	p := startServe(t, e2eutil.Options{DataDir: dataDir, Secret: "second-start-secret-0123456789"})
	if out := p.Stdout.String(); !strings.Contains(out, hint+dataDir+"\n") || strings.Contains(out, "First run: created") {
		t.Fatalf("second start after a failed first one: no recovery hint naming the data dir:\n%s", out)
	}
	p.Stop(t)
	// The hint's command, as printed, gives the administrator a password.
	args := strings.Fields(strings.TrimPrefix(hint, "tollgate "))
	if r := e2eutil.Run(t, nil, append(args, dataDir)...); r.Code != 0 || !strings.Contains(r.Stdout, "password") {
		t.Fatalf("the hint's command: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}

	p = startServe(t, e2eutil.Options{DataDir: dataDir, Secret: "second-start-secret-0123456789"})
	if out := p.Stdout.String(); strings.Contains(out, "reset-password") {
		t.Fatalf("a start after one that served still prints the hint:\n%s", out)
	}
}
