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

// cluster is one dashboard and gateways on one PostgreSQL and one Redis, with an API
// ("shared" on /shared/) made on the dashboard and routed by every gateway.
type cluster struct {
	dash *e2eutil.Process
	gws  []*e2eutil.Process
	// as carries the first administrator's access key.
	as map[string]string
}

// newCluster starts the dashboard, which creates the first administrator, then
// gateways with gatewayArgs added, and makes the API.
func newCluster(t *testing.T, dsn, redisURL string, gateways int, gatewayArgs ...string) *cluster {
	t.Helper()
	shared := []string{"--postgres", dsn, "--redis", redisURL, "--encryption-key", encKey}
	c := &cluster{dash: e2eutil.Serve(t, e2eutil.Options{Command: "dashboard", Secret: secret, Args: shared})}
	access := c.dash.Field("Dashboard API access credentials:")
	if access == "" {
		t.Fatalf("the first dashboard on an empty database did not create an administrator:\n%s", c.dash.Stdout)
	}
	c.as = map[string]string{"authorization": access}
	for range gateways {
		c.gws = append(c.gws, e2eutil.Serve(t, e2eutil.Options{Command: "gateway", Secret: secret, Args: append(shared, gatewayArgs...)}))
	}
	if out := c.gws[0].Stdout.String(); strings.Contains(out, "First run") {
		t.Fatalf("a gateway created an administrator:\n%s", out)
	}
	c.createSharedAPI(t)
	return c
}

// createSharedAPI makes the API "shared" (on /shared/, to an upstream of the
// test) on the dashboard and waits until every gateway routes it.
func (c *cluster) createSharedAPI(t *testing.T) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }))
	t.Cleanup(up.Close)
	api := `{"api_definition":{"api_id":"shared","name":"shared","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},"proxy":{"listen_path":"/shared/","target_url":"` + up.URL + `"}}}`
	if s, b := do(t, "POST", "http://"+c.dash.Dashboard+"/api/apis", api, c.as); s != 200 {
		t.Fatalf("create API on the dashboard: %d %s", s, b)
	}
	// Changes reach the gateways through Redis after the dashboard has answered.
	// Without a key the API answers 401 once a gateway routes it (404 before).
	for i, gw := range c.gws {
		within(t, time.Second, func() bool { s, _ := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", nil); return s == 401 },
			"gateway %d does not route the API made on the dashboard", i)
	}
}

// createKey makes a key for the shared API on the dashboard and returns it.
func (c *cluster) createKey(t *testing.T, fields string) string {
	t.Helper()
	s, b := do(t, "POST", "http://"+c.dash.Dashboard+"/api/keys", `{`+fields+`"access_rights":{"shared":{"api_id":"shared","versions":["Default"]}}}`, c.as)
	var created struct {
		Key string `json:"key"`
	}
	if s != 200 || json.Unmarshal([]byte(b), &created) != nil || created.Key == "" {
		t.Fatalf("create key on the dashboard: %d %s", s, b)
	}
	return created.Key
}

// TestGatewaysAndDashboardShareOneTruth: one dashboard and two gateways on one
// PostgreSQL and one Redis. The dashboard creates the first administrator; an API
// and a key created there serve on both gateways; the key's rate limit holds for
// the cluster; a key deleted on the dashboard stops on every gateway at once.
func TestGatewaysAndDashboardShareOneTruth(t *testing.T) {
	c := newCluster(t, pgtest.DSN(t), "redis://"+redistest.Start(t), 2)
	gws, dash, as := c.gws, c.dash, c.as
	k := c.createKey(t, `"rate":5,"per":60,`)
	key := map[string]string{"Authorization": k}

	got := map[int]int{}
	for i := range 8 {
		s, _ := do(t, "GET", "http://"+gws[i%2].Gateway+"/shared/x", "", key)
		got[s]++
	}
	if got[200] != 5 || got[429] != 3 {
		t.Fatalf("8 requests over 2 gateways, rate 5 per minute: %v, want 5 admitted", got)
	}

	if s, b := do(t, "DELETE", "http://"+dash.Dashboard+"/api/keys/"+k, "", as); s != 200 {
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
// or admin secret than the cluster's does not start, and says why.
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

	// The admin secret: a gateway with another one than the cluster's (the first
	// node's) refuses to start, saying how to change it; with
	// --replace-cluster-secret it starts, and then the old secret is refused.
	shared := []string{"--postgres", dsn, "--redis", redisURL, "--encryption-key", encKey}
	const rotated = "rotated-cluster-secret-8c1f0e"
	start := func(sec string, extra ...string) *e2eutil.Process {
		return e2eutil.Serve(t, e2eutil.Options{Command: "gateway", Secret: sec, MayExit: true, Args: append(append([]string{}, shared...), extra...)})
	}
	refused := func(p *e2eutil.Process, what string) {
		t.Helper()
		if code := p.Wait(t, 30*time.Second); code == 0 || !strings.Contains(p.Stderr.String(), "admin secret") ||
			!strings.Contains(p.Stderr.String(), "--replace-cluster-secret") {
			t.Fatalf("%s: exit %d\n%s", what, code, p.Stderr)
		}
	}
	refused(start(rotated), "a gateway with another admin secret")
	p = start(rotated, "--replace-cluster-secret", "true")
	if p.Exited() {
		t.Fatalf("a gateway replacing the cluster's secret did not start:\n%s", p.Stderr)
	}
	if s, b := do(t, "GET", "http://"+p.Gateway+"/tyk/apis", "", map[string]string{"x-tyk-authorization": rotated}); s != 200 {
		t.Fatalf("the new secret on the gateway that recorded it: %d %s", s, b)
	}
	p.Stop(t)
	refused(start(secret), "a gateway with the replaced secret")
	if p := start(rotated); p.Exited() {
		t.Fatalf("a gateway with the cluster's new secret did not start:\n%s", p.Stderr)
	}
}

// TestPostgresStoppedAndStarted: a dashboard and two gateways on a PostgreSQL that
// is stopped and started again. While it is down the gateways keep serving a key
// they know past the session cache's TTL (stale-if-error), answer a key they never
// saw with 503 (never 401/403: the key may be fine), and say "warn" in /hello; the
// dashboard answers 503 saying the database is unavailable. Once it is back, with
// no process restarted, the dashboard works, a key made now serves on both
// gateways, and everything acknowledged before the outage is still there.
func TestPostgresStoppedAndStarted(t *testing.T) {
	pg := pgtest.New(t)
	const ttl = 300 * time.Millisecond
	c := newCluster(t, pg.DSN(t), "redis://"+redistest.Start(t), 2, "--session-cache-ttl", ttl.String())
	dash := "http://" + c.dash.Dashboard
	before := c.createKey(t, `"alias":"before",`)
	unseen := c.createKey(t, `"alias":"never used",`)
	for i, gw := range c.gws {
		if s, b := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", map[string]string{"Authorization": before}); s != 200 {
			t.Fatalf("gateway %d before the outage: %d %s", i, s, b)
		}
	}

	pg.Stop(t)
	// Ten TTLs of traffic on both gateways: every request is served, though each
	// gateway's cached session expired several times over.
	for start := time.Now(); time.Since(start) < 10*ttl; {
		for i, gw := range c.gws {
			if s, b := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", map[string]string{"Authorization": before}); s != 200 {
				t.Fatalf("gateway %d, %v into the outage: %d %s, want the known key served", i, time.Since(start), s, b)
			}
		}
	}
	for i, gw := range c.gws {
		s, b := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", map[string]string{"Authorization": unseen})
		var reply struct{ Error string }
		if s != 503 || json.Unmarshal([]byte(b), &reply) != nil || !strings.Contains(reply.Error, "temporarily unavailable") {
			t.Errorf("gateway %d, a key it never saw, PostgreSQL down: %d %s, want 503 with an error", i, s, b)
		}
		if s, b := do(t, "GET", "http://"+gw.Gateway+"/hello", "", nil); s != 200 || !strings.Contains(b, `"status":"warn"`) ||
			!strings.Contains(b, `"store":{"status":"warn"`) {
			t.Errorf("gateway %d /hello, PostgreSQL down: %d %s, want 200 with the store as warn", i, s, b)
		}
		if s, b := do(t, "GET", "http://"+gw.Gateway+"/ready", "", nil); s != 200 || !strings.Contains(b, `"status":"warn"`) {
			t.Errorf("gateway %d /ready, PostgreSQL down: %d %s, want 200 warn (keep it in the balancer)", i, s, b)
		}
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/keys", ""},
		{"GET", "/api/keys/" + before, ""},
		{"POST", "/api/keys", `{"access_rights":{"shared":{"api_id":"shared","versions":["Default"]}}}`},
		{"DELETE", "/api/keys/" + before, ""},
		{"GET", "/api/apis", ""},
	} {
		s, b := do(t, r.method, dash+r.path, r.body, c.as)
		var reply struct{ Status, Message string }
		if s != 503 || json.Unmarshal([]byte(b), &reply) != nil || reply.Status != "Error" || !strings.Contains(reply.Message, "database is unavailable") {
			t.Errorf("dashboard %s %s, PostgreSQL down: %d %s, want 503 saying the database is unavailable", r.method, r.path, s, b)
		}
	}
	if s, b := do(t, "GET", dash+"/hello", "", nil); s != 503 || !strings.Contains(b, `"store":{"status":"fail"`) {
		t.Errorf("dashboard /hello, PostgreSQL down: %d %s, want 503 with the store failing", s, b)
	}

	pg.Start(t)
	within(t, 5*time.Second, func() bool { s, _ := do(t, "GET", dash+"/api/apis", "", c.as); return s == 200 },
		"the dashboard does not answer once PostgreSQL is back")
	// The refused DELETE did not happen; the refused POST made nothing.
	if s, b := do(t, "GET", dash+"/api/keys/"+before, "", c.as); s != 200 || !strings.Contains(b, `"alias":"before"`) {
		t.Errorf("the key made before the outage, after it: %d %s", s, b)
	}
	if s, b := do(t, "GET", dash+"/api/keys", "", c.as); s != 200 || len(keyList(t, b)) != 2 {
		t.Errorf("keys after the outage: %d %s, want the two made before it", s, b)
	}
	after := c.createKey(t, `"alias":"after",`)
	for i, gw := range c.gws {
		within(t, 5*time.Second, func() bool {
			s, _ := do(t, "GET", "http://"+gw.Gateway+"/hello", "", nil)
			return s == 200
		}, "gateway %d /hello once PostgreSQL is back", i)
		for _, k := range []string{before, unseen, after} {
			if s, b := do(t, "GET", "http://"+gw.Gateway+"/shared/x", "", map[string]string{"Authorization": k}); s != 200 {
				t.Errorf("gateway %d once PostgreSQL is back: %d %s", i, s, b)
			}
		}
		if s, b := do(t, "GET", "http://"+gw.Gateway+"/hello", "", nil); !strings.Contains(b, `"status":"pass"`) {
			t.Errorf("gateway %d /hello once PostgreSQL is back: %d %s, want pass", i, s, b)
		}
		// One line when lookups began failing, one when they answered again:
		// not one per request.
		if log := gw.Stderr.String(); strings.Count(log, "key lookups failing") != 1 || strings.Count(log, "key lookups answer again") != 1 {
			t.Errorf("gateway %d logged the outage %d times and the recovery %d times, want once each:\n%s", i,
				strings.Count(log, "key lookups failing"), strings.Count(log, "key lookups answer again"), log)
		}
	}
}

// keyList reads the key ids of GET /api/keys.
func keyList(t *testing.T, body string) []string {
	t.Helper()
	var reply struct {
		Data struct {
			Keys []string `json:"keys"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil {
		t.Fatalf("GET /api/keys: %v: %s", err, body)
	}
	return reply.Data.Keys
}
