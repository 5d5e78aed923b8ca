package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clusterOn is n nodes sharing one real Redis (as redis sets it up) for limits
// and change events. Each has its own store here (shared durable state is
// PostgreSQL's job), so the tests give every node the same API and the same
// custom keys, as a shared store would.
func clusterOn(t *testing.T, n int, redis func(*config.Config)) []*apptest.Env {
	t.Helper()
	var nodes []*apptest.Env
	for range n {
		nodes = append(nodes, apptest.New(t, apptest.Options{Config: redis}))
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }))
	t.Cleanup(up.Close)
	api := `{"api_id":"shared","name":"shared","org_id":"org1","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},"proxy":{"listen_path":"/shared/","target_url":"` + up.URL + `"}}`
	for _, e := range nodes {
		if r := apptest.Do(t, e.Gateway, "POST", "/tyk/apis", api, apptest.Admin); r.Status != 200 {
			t.Fatalf("create API: %d %s", r.Status, r.Body)
		}
	}
	return nodes
}

// everywhere creates the same custom key on every node.
func everywhere(t *testing.T, nodes []*apptest.Env, key, session string) {
	t.Helper()
	for _, e := range nodes {
		if r := apptest.Do(t, e.Gateway, "POST", "/tyk/keys/"+key, session, apptest.Admin); r.Status != 200 {
			t.Fatalf("create key: %d %s", r.Status, r.Body)
		}
	}
}

// roundRobin sends n requests with key across the nodes in turn and counts the
// statuses.
func roundRobin(t *testing.T, nodes []*apptest.Env, key string, n int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for i := range n {
		r := apptest.Do(t, nodes[i%len(nodes)].Gateway, "GET", "/shared/x", "", map[string]string{"Authorization": key})
		got[r.Status]++
	}
	return got
}

const rights = `"access_rights":{"shared":{"api_id":"shared","versions":["Default"]}}`

// TestClusterSharesLimits: three gateways behind a round-robin balancer admit what
// one would: the rate and the quota hold for the cluster, every node reports the
// cluster's remaining quota, and a reset on one node resets them all.
func TestClusterSharesLimits(t *testing.T) {
	sentinel, master, _ := redistest.StartSentinel(t)
	var masters []string
	for _, a := range redistest.StartCluster(t) {
		masters = append(masters, "redis://"+a)
	}
	single := "redis://" + redistest.Start(t)
	topologies := []struct {
		name  string
		redis func(*config.Config)
	}{
		{"one Redis server", func(c *config.Config) { c.Redis = single }},
		// --redis with several URLs: Redis Cluster nodes.
		{"Redis Cluster of 3 masters", func(c *config.Config) { c.Redis = strings.Join(masters, ",") }},
		{"Redis Sentinel", func(c *config.Config) { c.Redis, c.RedisSentinelMaster = "redis://"+sentinel, master }},
	}
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) { sharesLimits(t, clusterOn(t, 3, tp.redis)) })
	}
}

func sharesLimits(t *testing.T, nodes []*apptest.Env) {
	t.Run("rate limit", func(t *testing.T) {
		everywhere(t, nodes, "rate-key-0123456789", `{"rate":10,"per":60,`+rights+`}`)
		if got := roundRobin(t, nodes, "rate-key-0123456789", 25); got[200] != 10 || got[429] != 15 {
			t.Fatalf("25 requests over 3 nodes, rate 10 per minute: %v, want 10 admitted and 15 refused", got)
		}
	})
	t.Run("quota, and its reset from one node", func(t *testing.T) {
		session := `{"quota_max":7,"quota_renewal_rate":3600,` + rights + `}`
		everywhere(t, nodes, "quota-key-0123456789", session)
		if got := roundRobin(t, nodes, "quota-key-0123456789", 12); got[200] != 7 || got[403] != 5 {
			t.Fatalf("12 requests over 3 nodes, quota 7: %v", got)
		}
		for i, e := range nodes {
			r := apptest.Do(t, e.Gateway, "GET", "/tyk/keys/quota-key-0123456789", "", apptest.Admin)
			var s struct {
				QuotaRemaining *int64 `json:"quota_remaining"`
			}
			if r.Status != 200 || json.Unmarshal([]byte(r.Body), &s) != nil || s.QuotaRemaining == nil || *s.QuotaRemaining != 0 {
				t.Fatalf("node %d reports %d %s, want the cluster's quota_remaining 0", i, r.Status, r.Body)
			}
		}
		// An update without suppress_reset on one node starts the quota afresh
		// for every node.
		if r := apptest.Do(t, nodes[0].Gateway, "PUT", "/tyk/keys/quota-key-0123456789", session, apptest.Admin); r.Status != 200 {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		if got := roundRobin(t, nodes[1:], "quota-key-0123456789", 7); got[200] != 7 {
			t.Fatalf("after the reset on node 0, nodes 1 and 2: %v, want 7 admitted", got)
		}
	})
	t.Run("all traffic on one node", func(t *testing.T) {
		everywhere(t, nodes, "one-node-0123456789", `{"rate":5,"per":60,`+rights+`}`)
		if got := roundRobin(t, nodes[:1], "one-node-0123456789", 8); got[200] != 5 {
			t.Fatalf("one node: %v", got)
		}
		if got := roundRobin(t, nodes[1:], "one-node-0123456789", 4); got[200] != 0 {
			t.Fatalf("the others after it: %v, want none admitted", got)
		}
	})
}

// logLines is a log sink that hands every line to the test as it is written, so the
// test can wait for the server to say something instead of polling.
type logLines struct {
	mu    sync.Mutex
	all   strings.Builder
	lines chan string
}

func newLogLines() *logLines { return &logLines{lines: make(chan string, 1024)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.all.Write(p)
	l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case l.lines <- line:
		default:
		}
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// waitFor waits (bounded) for a log line containing s.
func (l *logLines) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case line := <-l.lines:
			if strings.Contains(line, s) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q within 15 s:\n%s", s, l.String())
		}
	}
}

// TestClusterSurvivesRedisOutage: with Redis down a gateway keeps serving known keys
// with node-local limits, says so once in its log and in /hello and /ready, never
// answers 401/403 for it, and shares limits again once Redis is back.
func TestClusterSurvivesRedisOutage(t *testing.T) {
	srv := redistest.New(t)
	logs := newLogLines()
	e := apptest.New(t, apptest.Options{Log: logs, Config: func(c *config.Config) { c.Redis = "redis://" + srv.Addr }})
	nodes := []*apptest.Env{e}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }))
	t.Cleanup(up.Close)
	api := `{"api_id":"shared","name":"shared","org_id":"org1","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},"proxy":{"listen_path":"/shared/","target_url":"` + up.URL + `"}}`
	if r := apptest.Do(t, e.Gateway, "POST", "/tyk/apis", api, apptest.Admin); r.Status != 200 {
		t.Fatalf("create API: %d %s", r.Status, r.Body)
	}
	everywhere(t, nodes, "outage-key-0123456789", `{"rate":3,"per":60,"quota_max":100,"quota_renewal_rate":3600,`+rights+`}`)
	if got := roundRobin(t, nodes, "outage-key-0123456789", 2); got[200] != 2 {
		t.Fatalf("before the outage: %v", got)
	}

	srv.Kill()
	// The node-local limiter starts empty: 3 more are admitted, then 429; never
	// 401/403/503 for a good key.
	if got := roundRobin(t, nodes, "outage-key-0123456789", 5); got[200] != 3 || got[429] != 2 {
		t.Fatalf("during the outage: %v, want 3 admitted by the node-local limit, then 429", got)
	}
	if n := strings.Count(logs.String(), "shared limits unavailable"); n != 1 {
		t.Fatalf("the outage was logged %d times, want once:\n%s", n, logs.String())
	}
	hello := apptest.Do(t, e.Gateway, "GET", "/hello", "", nil)
	var h struct {
		Status  string `json:"status"`
		Details map[string]struct {
			Status string `json:"status"`
			Output string `json:"output"`
		} `json:"details"`
	}
	if hello.Status != 200 || json.Unmarshal([]byte(hello.Body), &h) != nil || h.Status != "warn" ||
		h.Details["redis"].Status != "warn" || h.Details["store"].Status != "pass" {
		t.Fatalf("/hello during the outage: %d %s", hello.Status, hello.Body)
	}
	// The dashboard's /hello reports the same components.
	dash := apptest.Do(t, e.Dashboard, "GET", "/hello", "", nil)
	if dash.Status != 200 || json.Unmarshal([]byte(dash.Body), &h) != nil || h.Status != "warn" || h.Details["redis"].Status != "warn" {
		t.Fatalf("dashboard /hello during the outage: %d %s", dash.Status, dash.Body)
	}
	if r := apptest.Do(t, e.Gateway, "GET", "/ready", "", nil); r.Status != 200 || !strings.Contains(r.Body, `"warn"`) {
		t.Fatalf("/ready during the outage: %d %s, want 200 with a warning (the node still serves)", r.Status, r.Body)
	}

	srv.Restart(t)
	logs.waitFor(t, "shared limits answer again")
	if r := apptest.Do(t, e.Gateway, "GET", "/hello", "", nil); r.Status != 200 || !strings.Contains(r.Body, `"status":"pass"`) || strings.Contains(r.Body, "warn") {
		t.Fatalf("/hello after the outage: %d %s", r.Status, r.Body)
	}
	if r := apptest.Do(t, e.Dashboard, "GET", "/hello", "", nil); r.Status != 200 || !strings.HasPrefix(r.Body, `{"status":"ok"`) || strings.Contains(r.Body, "warn") {
		t.Fatalf("dashboard /hello after the outage: %d %s", r.Status, r.Body)
	}
	// The restarted Redis is empty: the shared window starts afresh.
	if got := roundRobin(t, nodes, "outage-key-0123456789", 4); got[200] != 3 || got[429] != 1 {
		t.Fatalf("after the outage: %v, want the shared limit again", got)
	}
}

// TestDashboardsStartingTogether: several dashboards starting at once on one empty
// PostgreSQL all start, and exactly one creates (and announces) the administrator.
func TestDashboardsStartingTogether(t *testing.T) {
	dsn, redisURL := pgtest.DSN(t), "redis://"+redistest.Start(t)
	const n = 4
	envs := make([]*apptest.Env, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			envs[i] = apptest.New(t, apptest.Options{FirstRun: true, Config: func(c *config.Config) {
				c.Postgres, c.Redis = dsn, redisURL
				c.EncryptionKey = strings.Repeat("5a", 32)
			}})
		})
	}
	wg.Wait()
	made := 0
	for _, e := range envs {
		if e != nil && e.Node.FirstRun != nil {
			made++
		}
	}
	users, err := envs[0].Node.Store.CountUsers(t.Context())
	if made != 1 || err != nil || users != 1 {
		t.Fatalf("%d of %d dashboards made the first administrator, %d users in the store (%v); want exactly one", made, n, users, err)
	}
	// The losers' attempts leave no empty organisation behind: the only one is
	// the administrator's, so it is the default one too.
	orgs, err := envs[0].Node.Store.ListOrgs(t.Context())
	var winner string
	for _, e := range envs {
		if e.Node.FirstRun != nil {
			winner = e.Node.FirstRun.OrgID
		}
	}
	if err != nil || len(orgs) != 1 || orgs[0].ID != winner {
		t.Fatalf("organisations after the race: %+v (%v), want only the administrator's %s", orgs, err, winner)
	}
}
