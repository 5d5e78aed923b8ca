package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			r := e2eutil.Run(t, nil, arg)
			if r.Code != 0 {
				t.Fatalf("tollgate %s exited %d, stderr: %s", arg, r.Code, r.Stderr)
			}
			if !regexp.MustCompile(`^tollgate \S+\n$`).MatchString(r.Stdout) {
				t.Errorf("tollgate %s printed %q, want one line \"tollgate <version>\"", arg, r.Stdout)
			}
		})
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	t.Parallel()
	r := e2eutil.Run(t, nil, "frobnicate")
	if r.Code != 2 {
		t.Errorf("exit code %d, want 2", r.Code)
	}
	if !strings.Contains(r.Stderr, `unknown command "frobnicate"`) {
		t.Errorf("stderr does not name the unknown command:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "Usage:") {
		t.Errorf("stderr has no usage text:\n%s", r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("stdout should be empty, got %q", r.Stdout)
	}
}

// TestInvalidConfigurationRefusesToStart: bad flags and files stop `serve` before it
// listens, with a message that names the problem.
func TestInvalidConfigurationRefusesToStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "tollgate.json")
	if err := os.WriteFile(badConfig, []byte(`{"log_level": "info", "bogus_field": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	trailing := filepath.Join(dir, "trailing.json")
	if err := os.WriteFile(trailing, []byte(`{"log_level": "info"} {"x": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"gateway addr nonsense", []string{"--gateway-addr", "nonsense"}, []string{"gateway_addr", `"nonsense"`, "host:port"}},
		{"gateway port out of range", []string{"--gateway-addr", "127.0.0.1:70000"}, []string{"gateway_addr", `invalid port "70000"`}},
		{"Tyk sample secret", []string{"--secret", "352d20ee67be67f6340b4c0605b044b7"}, []string{"Tyk's published sample secret"}},
		{"short secret", []string{"--secret", "short"}, []string{"secret must be at least 16 characters"}},
		{"blank secret", []string{"--secret", "                    "}, []string{"secret must not be empty"}},
		{"config file with unknown field", []string{"--config", badConfig}, []string{badConfig, `unknown field "bogus_field"`}},
		{"config file with trailing data", []string{"--config", trailing}, []string{trailing, "trailing data"}},
		{"missing config file", []string{"--config", filepath.Join(dir, "absent.json")}, []string{"absent.json", "no such file"}},
		{"bad proxy timeout", []string{"--proxy-timeout", "soon"}, []string{"--proxy-timeout", `invalid duration "soon"`}},
		{"bad log level", []string{"--log-level", "loud"}, []string{"log_level", `"loud"`}},
		{"unknown flag", []string{"--no-such-flag"}, []string{"flag provided but not defined", "no-such-flag"}},
		{"unexpected argument", []string{"extra-arg"}, []string{"unexpected arguments", "extra-arg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addrs := e2eutil.FreeAddrs(t, 2)
			args := []string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"),
				"--gateway-addr", addrs[0], "--dashboard-addr", addrs[1]}
			args = append(args, tc.args...)
			r := e2eutil.Run(t, nil, args...)
			if r.Code == 0 {
				t.Fatalf("tollgate serve %q exited 0, want a non-zero exit\nstderr: %s", tc.args, r.Stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.Stderr)
				}
			}
			if strings.Contains(r.Stdout, "listening") {
				t.Errorf("serve announced it was listening despite the bad configuration:\n%s", r.Stdout)
			}
		})
	}
}

// TestGeneratedSecret: the first start without --secret creates <data-dir>/admin-secret
// (0600) and prints it once; a restart neither regenerates nor reprints it.
func TestGeneratedSecret(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	// startWithoutSecret returns after the listening announcement; its stdout is
	// complete up to there, the generated secret included.
	listening := func(p *proc) {
		t.Helper()
		if !strings.Contains(p.Stdout.String(), "Tollgate dashboard listening") {
			t.Fatalf("no listening announcement on stdout:\n%s", p.Stdout.String())
		}
	}

	p := startWithoutSecret(t, e2eutil.Options{DataDir: dataDir})
	listening(p)
	path := filepath.Join(dataDir, "admin-secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no generated secret file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has permissions %o, want 600", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < 16 {
		t.Fatalf("generated secret %q is shorter than 16 characters", secret)
	}
	out := p.Stdout.String()
	if n := strings.Count(out, secret); n != 1 {
		t.Errorf("secret appears %d times on stdout, want exactly once:\n%s", n, out)
	}
	if !strings.Contains(out, "x-tyk-authorization") {
		t.Errorf("the announcement does not say which header carries the secret:\n%s", out)
	}
	if strings.Contains(p.Stderr.String(), secret) {
		t.Errorf("the secret leaked into the log (stderr)")
	}

	p.secret = secret
	p.mustAdmin(t, http.MethodGet, "/tyk/apis", "", http.StatusOK)
	id := p.createAPI(t, keylessAPI("kept", "/kept", "http://127.0.0.1:9", false))
	p.secret = "not-the-generated-secret"
	if r := p.admin(t, http.MethodGet, "/tyk/apis", ""); r.status != http.StatusForbidden {
		t.Errorf("wrong secret: status %d, want 403", r.status)
	}
	if code := p.Stop(t); code != 0 {
		t.Fatalf("first run exited %d after SIGTERM, want 0", code)
	}

	q := startWithoutSecret(t, e2eutil.Options{DataDir: dataDir})
	listening(q)
	out2 := q.Stdout.String()
	if strings.Contains(out2, secret) || strings.Contains(out2, "Generated an admin secret") {
		t.Errorf("second start printed the secret again:\n%s", out2)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(data) {
		t.Errorf("secret file changed on restart: %q -> %q", data, after)
	}
	q.secret = secret
	q.mustAdmin(t, http.MethodGet, "/tyk/apis/"+id, "", http.StatusOK)
}
