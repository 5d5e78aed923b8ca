// Package cli tests the tollgate binary's operator commands end to end: bootstrap
// against a data dir, then serve, then keys/apis through the dashboard API, then a
// restart that must keep quota counts.
package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

func TestMain(m *testing.M) { e2eutil.Main(m) }

// run runs the binary with env added to the clean environment and returns stdout,
// stderr and the exit code.
func run(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	r := e2eutil.Run(t, env, args...)
	return r.Stdout, r.Stderr, r.Code
}

func serve(t *testing.T, dataDir string) *e2eutil.Process {
	return e2eutil.Serve(t, e2eutil.Options{DataDir: dataDir, Args: []string{"--log-level", "warn"}})
}

// stack is a served node with an administrator and one keyed API, orders, in
// front of an upstream that answers 200.
type stack struct {
	p *e2eutil.Process
	// env holds the administrator's access key and the dashboard's URL.
	env   []string
	key   string // the administrator's access key
	apiID string
}

func newStack(t *testing.T) stack {
	t.Helper()
	data := t.TempDir()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream says hi")
	}))
	t.Cleanup(up.Close)
	out, errOut, code := run(t, nil, "bootstrap", "--data-dir", data, "--email", "ops@example.com", "--json")
	var b struct {
		AccessKey string `json:"access_key"`
	}
	if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || b.AccessKey == "" {
		t.Fatalf("bootstrap: %d %v %s", code, err, errOut)
	}
	p := serve(t, data)
	env := []string{"TOLLGATE_ACCESS_KEY=" + b.AccessKey, "TOLLGATE_DASHBOARD_URL=http://" + p.Dashboard}
	out, errOut, code = run(t, env, "apis", "create", "--name", "orders", "--listen-path", "/orders/", "--target", up.URL, "--json")
	var api struct{ ID string }
	if err := json.Unmarshal([]byte(out), &api); code != 0 || err != nil || len(api.ID) != 32 {
		t.Fatalf("apis create: %d %v %s", code, err, errOut)
	}
	return stack{p: p, env: env, key: b.AccessKey, apiID: api.ID}
}

// call sends GET /orders/x to the gateway at addr with key and returns the status.
func call(t *testing.T, addr, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/orders/x", nil)
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOperatorCommands(t *testing.T) {
	data := t.TempDir()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream says hi")
	}))
	defer up.Close()

	// bootstrap, for scripts: JSON with an access key; refuses the same e-mail twice.
	out, errOut, code := run(t, nil, "bootstrap", "--data-dir", data, "--email", "ops@example.com", "--password", "a-long-password", "--json")
	if code != 0 {
		t.Fatalf("bootstrap: %d %s", code, errOut)
	}
	var b struct {
		OrgID     string `json:"org_id"`
		UserID    string `json:"user_id"`
		Email     string `json:"email"`
		AccessKey string `json:"access_key"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil || len(b.AccessKey) != 32 || b.Email != "ops@example.com" || b.OrgID == "" || b.UserID == "" {
		t.Fatalf("bootstrap output %q: %v", out, err)
	}
	if _, errOut, code := run(t, nil, "bootstrap", "--data-dir", data, "--email", "ops@example.com"); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second bootstrap: %d %s", code, errOut)
	}
	if _, _, code := run(t, nil, "bootstrap", "--data-dir", data); code != 2 {
		t.Fatalf("bootstrap without --email exited %d", code)
	}

	p := serve(t, data)
	env := []string{"TOLLGATE_ACCESS_KEY=" + b.AccessKey, "TOLLGATE_DASHBOARD_URL=http://" + p.Dashboard}

	out, errOut, code = run(t, env, "apis", "create", "--name", "orders", "--listen-path", "/orders/", "--target", up.URL, "--json")
	if code != 0 {
		t.Fatalf("apis create: %d %s", code, errOut)
	}
	var created struct{ Meta, ID string }
	_ = json.Unmarshal([]byte(out), &created)
	apiID := created.ID
	if len(apiID) != 32 || len(created.Meta) != 24 {
		t.Fatalf("apis create output %q", out)
	}
	if out, _, _ := run(t, env, "apis", "list"); !strings.Contains(out, apiID) || !strings.Contains(out, "/orders/") || !strings.Contains(out, "API ID") {
		t.Fatalf("apis list table:\n%s", out)
	}
	if _, errOut, code := run(t, env, "apis", "create", "--name", "bad", "--listen-path", "no slash", "--target", up.URL); code != 1 || !strings.Contains(errOut, "Validation of API Definition failed") {
		t.Fatalf("invalid API: %d %s", code, errOut)
	}

	out, errOut, code = run(t, env, "keys", "create", "--api", apiID, "--quota", "3", "--quota-renewal", "3600", "--alias", "cli", "--json")
	if code != 0 {
		t.Fatalf("keys create: %d %s", code, errOut)
	}
	var k struct {
		Key  string `json:"key"`
		Hash string `json:"key_hash"`
	}
	_ = json.Unmarshal([]byte(out), &k)
	if !strings.HasPrefix(k.Key, b.OrgID) || len(k.Hash) != 64 {
		t.Fatalf("keys create output %q", out)
	}
	if out, _, _ := run(t, env, "keys", "list"); !strings.Contains(out, k.Hash[:12]) || !strings.Contains(out, "cli") || strings.Contains(out, k.Key) {
		t.Fatalf("keys list table:\n%s", out)
	}
	if out, _, code := run(t, env, "keys", "get", k.Hash, "--hashed", "--json"); code != 0 || !strings.Contains(out, `"alias": "cli"`) {
		t.Fatalf("keys get --hashed --json: %d %s", code, out)
	}

	for i := 0; i < 2; i++ {
		if s := call(t, p.Gateway, k.Key); s != 200 {
			t.Fatalf("call %d: %d", i, s)
		}
	}

	// A clean restart keeps the quota count: one request left of three.
	if code := p.Stop(t); code != 0 {
		t.Errorf("tollgate exited with %d after SIGTERM, want 0", code)
	}
	p2 := serve(t, data)
	if s := call(t, p2.Gateway, k.Key); s != 200 {
		t.Fatalf("third call after restart: %d", s)
	}
	if s := call(t, p2.Gateway, k.Key); s != 403 {
		t.Fatalf("fourth call after restart: %d, want 403 (quota of 3 survived the restart)", s)
	}

	env2 := []string{"TOLLGATE_ACCESS_KEY=" + b.AccessKey, "TOLLGATE_DASHBOARD_URL=http://" + p2.Dashboard}
	if _, errOut, code := run(t, env2, "keys", "delete", k.Key); code != 0 {
		t.Fatalf("keys delete: %d %s", code, errOut)
	}
	if s := call(t, p2.Gateway, k.Key); s != 403 {
		t.Fatalf("deleted key: %d", s)
	}
	if _, errOut, code := run(t, env2, "keys", "get", k.Key); code != 1 || !strings.Contains(errOut, "no such key") {
		t.Fatalf("get deleted key: %d %s", code, errOut)
	}
	// Usage errors exit 2 with a message; a wrong access key exits 1 with Tyk's message.
	if _, errOut, code := run(t, env2, "keys", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown keys command") {
		t.Fatalf("unknown subcommand: %d %s", code, errOut)
	}
	if _, errOut, code := run(t, []string{"TOLLGATE_ACCESS_KEY=ffffffffffffffffffffffffffffffff", "TOLLGATE_DASHBOARD_URL=http://" + p2.Dashboard}, "keys", "list"); code != 1 || !strings.Contains(errOut, "Not authorised") {
		t.Fatalf("wrong access key: %d %s", code, errOut)
	}
	if _, errOut, code := run(t, []string{"TOLLGATE_ACCESS_KEY="}, "keys", "list"); code != 2 || !strings.Contains(errOut, "no access key") {
		t.Fatalf("missing access key: %d %s", code, errOut)
	}
}
