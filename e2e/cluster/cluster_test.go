// Package cluster runs Tollgate as a cluster the way an operator deploys one: real
// `tollgate gateway` and `tollgate dashboard` processes sharing a real PostgreSQL
// (durable data) and a real Redis (limits and change events).
package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
)

func TestMain(m *testing.M) { e2eutil.MainWith(m, pgtest.Run) }

const (
	secret = "cluster-admin-secret-4b7e91d2"
	encKey = "6f1c2a9e5b7d3f8a0c4e6b2d9f1a3c5e7b9d0f2a4c6e8b1d3f5a7c9e0b2d4f6a"
)

var client = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

func do(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGatewaysAndDashboardShareOneTruth: one dashboard and two gateways on one
// PostgreSQL and one Redis. The dashboard creates the first administrator; an API
// and a key created there serve on both gateways; the key's rate limit holds for
// the cluster; a key deleted on the dashboard stops on every gateway at once.
func TestGatewaysAndDashboardShareOneTruth(t *testing.T) {
	shared := []string{"--postgres", pgtest.DSN(t), "--redis", "redis://" + redistest.Start(t), "--encryption-key", encKey}
	dash := e2eutil.Serve(t, e2eutil.Options{Command: "dashboard", Secret: secret, Args: shared})
	access := dash.Field("Dashboard API access credentials:")
	if access == "" {
		t.Fatalf("the first dashboard on an empty database did not create an administrator:\n%s", dash.Stdout)
	}
	var gws []*e2eutil.Process
	for range 2 {
		gws = append(gws, e2eutil.Serve(t, e2eutil.Options{Command: "gateway", Secret: secret, Args: shared}))
	}
	if out := gws[0].Stdout.String(); strings.Contains(out, "First run") {
		t.Fatalf("a gateway created an administrator:\n%s", out)
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }))
	t.Cleanup(up.Close)
	as := map[string]string{"authorization": access}
	api := `{"api_definition":{"api_id":"shared","name":"shared","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},"proxy":{"listen_path":"/shared/","target_url":"` + up.URL + `"}}}`
	if s, b := do(t, "POST", "http://"+dash.Dashboard+"/api/apis", api, as); s != 200 {
		t.Fatalf("create API on the dashboard: %d %s", s, b)
	}
	s, b := do(t, "POST", "http://"+dash.Dashboard+"/api/keys", `{"rate":5,"per":60,"access_rights":{"shared":{"api_id":"shared","versions":["Default"]}}}`, as)
	var created struct {
		Key string `json:"key"`
	}
	if s != 200 || json.Unmarshal([]byte(b), &created) != nil || created.Key == "" {
		t.Fatalf("create key on the dashboard: %d %s", s, b)
	}
	key := map[string]string{"Authorization": created.Key}
	// Changes reach the gateways through Redis after the dashboard has answered.
	// Without a key the API answers 401 once a gateway routes it (404 before).
	for i, gw := range gws {
		within(t, time.Second, func() bool { s, _ := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", nil); return s == 401 },
			"gateway %d does not route the API made on the dashboard", i)
	}

	got := map[int]int{}
	for i := range 8 {
		s, _ := do(t, "GET", "http://"+gws[i%2].Gateway+"/shared/x", "", key)
		got[s]++
	}
	if got[200] != 5 || got[429] != 3 {
		t.Fatalf("8 requests over 2 gateways, rate 5 per minute: %v, want 5 admitted", got)
	}

	if s, b := do(t, "DELETE", "http://"+dash.Dashboard+"/api/keys/"+created.Key, "", as); s != 200 {
		t.Fatalf("delete the key on the dashboard: %d %s", s, b)
	}
	// Each gateway must refuse the key within the design bound of one second.
	deleted := time.Now()
	for i, gw := range gws {
		within(t, time.Second, func() bool { s, _ := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", key); return s == 403 },
			"gateway %d still serves the deleted key", i)
	}
	t.Logf("the deleted key was refused by both gateways %v after DELETE answered", time.Since(deleted))
}

// within waits for cond, checking every 5 ms, for at most d: for changes that
// travel between processes after the call that made them has answered. It fails
// the test with msg when d passes.
func within(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg+" after %v", append(args, d)...)
		}
		<-tick.C
	}
}

// TestNodesRefuseMismatchedSecrets: a node that would hold another encryption key
// than the cluster's does not start, and says why.
func TestNodesRefuseMismatchedSecrets(t *testing.T) {
	dsn, redisURL := pgtest.DSN(t), "redis://"+redistest.Start(t)
	first := e2eutil.Serve(t, e2eutil.Options{Command: "dashboard", Secret: secret, Args: []string{"--postgres", dsn, "--redis", redisURL, "--encryption-key", encKey}})
	first.Stop(t)
	other := strings.Repeat("ab", 32)
	p := e2eutil.Serve(t, e2eutil.Options{Command: "dashboard", Secret: secret, MayExit: true, Args: []string{"--postgres", dsn, "--redis", redisURL, "--encryption-key", other}})
	if code := p.Wait(t, 30*time.Second); code == 0 || !strings.Contains(p.Stderr.String(), "encryption key does not open the access keys") {
		t.Fatalf("a dashboard with another encryption key: exit %d\n%s", code, p.Stderr)
	}
	missing := e2eutil.Run(t, e2eutil.CleanEnv(), "gateway", "--postgres", dsn, "--redis", redisURL, "--secret", secret)
	if missing.Code != 2 || !strings.Contains(missing.Stderr, "need one encryption key") {
		t.Fatalf("a gateway on PostgreSQL without an encryption key: exit %d\n%s", missing.Code, missing.Stderr)
	}
}
