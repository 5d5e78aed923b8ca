package e2e

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// burst sends n requests at once with key and counts the answers by status. A
// burst that took longer than maxBurst straddled a one-second window and says
// nothing about a per-second limit: it reports ok=false, and the caller retries.
func burst(t *testing.T, p *proc, path, key string, n int) (counts map[int]int, ok bool) {
	t.Helper()
	const maxBurst = 400 * time.Millisecond
	counts = map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			r := hardCall(t, p, path, key)
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts, time.Since(start) < maxBurst
}

// admittedInBurst is burst's 200s, retried (after the window passed) until a
// burst fits in its window; statuses other than 200 and refused fail the test.
func admittedInBurst(t *testing.T, p *proc, path, key string, n, refused int) int {
	t.Helper()
	for try := 0; ; try++ {
		time.Sleep(1100 * time.Millisecond) // the previous burst leaves the 1 s window
		counts, ok := burst(t, p, path, key, n)
		if counts[200]+counts[refused] != n {
			t.Fatalf("burst of %d: answers %v, want only 200 and %d", n, counts, refused)
		}
		if ok || try == 3 {
			return counts[200]
		}
		t.Logf("burst %d straddled a window (%v); again", try, counts)
	}
}

// TestPoliciesEndToEnd drives policies as users do, against the real binary: a
// policy of 5 requests a second and 20 a period, keys created from it through
// the Gateway API (the policy from --policies-dir) and the Dashboard API; the
// policy raised to 10 a second changes the same keys at once; a deactivated
// policy refuses them; a restart loads the policy file again without
// duplicating it, and the keys keep their quota.
func TestPoliciesEndToEnd(t *testing.T) {
	t.Parallel()
	up := newEcho(t, "U")
	dataDir := t.TempDir()
	apps, pols := t.TempDir(), t.TempDir()
	api := hardKeyedAPI("Policy API", "pol-api", "/pol/", up.URL)
	api["org_id"] = "default"
	writeFile(t, apps, "api.json", mustJSON(t, api))
	writeFile(t, pols, "free.json", `{"name":"Free","org_id":"default","rate":5,"per":1,"quota_max":20,"quota_renewal_rate":3600,
		"access_rights":{"pol-api":{"api_id":"pol-api","versions":["Default"]}}}`)
	args := []string{"--apps-dir", apps, "--policies-dir", pols}
	p := startServe(t, e2eutil.Options{DataDir: dataDir, Args: args})

	// Gateway API: the policy from the file is there as "free" (its file name).
	if r := p.admin(t, http.MethodGet, "/tyk/policies/free", ""); r.status != 200 {
		t.Fatalf("GET /tyk/policies/free = %d %s", r.status, r.body)
	}
	r := p.admin(t, http.MethodPost, "/tyk/keys", `{"apply_policies":["free"]}`)
	var created struct{ Key string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &created) != nil || created.Key == "" {
		t.Fatalf("POST /tyk/keys = %d %s", r.status, r.body)
	}
	gwKey := created.Key
	if got := admittedInBurst(t, p, "/pol/x", gwKey, 8, 429); got != 5 {
		t.Fatalf("gateway key: %d of 8 admitted at the policy's 5/s", got)
	}
	raised := `{"name":"Free","rate":10,"per":1,"quota_max":20,"quota_renewal_rate":3600,"access_rights":{"pol-api":{"versions":["Default"]}}}`
	if r := p.admin(t, http.MethodPut, "/tyk/policies/free", raised); r.status != 200 {
		t.Fatalf("PUT /tyk/policies/free = %d %s", r.status, r.body)
	}
	if got := admittedInBurst(t, p, "/pol/x", gwKey, 12, 429); got != 10 {
		t.Fatalf("gateway key: %d of 12 admitted once the policy was raised to 10/s", got)
	}
	// 15 of the quota's 20 are used: 5 more, then "Quota exceeded".
	if got := admittedInBurst(t, p, "/pol/x", gwKey, 8, 403); got != 5 {
		t.Fatalf("gateway key: %d admitted with 5 of the quota left", got)
	}

	// Dashboard API: the administrator's own API, policy and key.
	admin := hardFirstRun(t, p)
	dashAPI := hardCreateAPI(t, p, admin.accessKey, hardKeyedAPI("Dash API", "", "/dash/", up.URL))
	r = hardAPI(t, p, http.MethodPost, "/api/portal/policies", admin.accessKey,
		`{"name":"Plan","rate":5,"per":1,"quota_max":100,"quota_renewal_rate":3600,"access_rights":{"`+dashAPI+`":{"versions":["Default"]}}}`)
	var env struct{ Message string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &env) != nil || len(env.Message) != 24 {
		t.Fatalf("POST /api/portal/policies = %d %s", r.status, r.body)
	}
	polID := env.Message
	r = hardAPI(t, p, http.MethodPost, "/api/keys", admin.accessKey, `{"apply_policies":["`+polID+`"]}`)
	if r.status != 200 || json.Unmarshal([]byte(r.body), &created) != nil || created.Key == "" {
		t.Fatalf("POST /api/keys = %d %s", r.status, r.body)
	}
	dashKey := created.Key
	if got := admittedInBurst(t, p, "/dash/x", dashKey, 8, 429); got != 5 {
		t.Fatalf("dashboard key: %d of 8 admitted at 5/s", got)
	}
	r = hardAPI(t, p, http.MethodPut, "/api/portal/policies/"+polID, admin.accessKey,
		`{"name":"Plan","rate":10,"per":1,"quota_max":100,"quota_renewal_rate":3600,"access_rights":{"`+dashAPI+`":{"versions":["Default"]}}}`)
	if r.status != 200 {
		t.Fatalf("PUT /api/portal/policies = %d %s", r.status, r.body)
	}
	if got := admittedInBurst(t, p, "/dash/x", dashKey, 12, 429); got != 10 {
		t.Fatalf("dashboard key: %d of 12 admitted at the raised 10/s", got)
	}
	r = hardAPI(t, p, http.MethodPut, "/api/portal/policies/"+polID, admin.accessKey,
		`{"name":"Plan","is_inactive":true,"rate":10,"per":1,"access_rights":{"`+dashAPI+`":{"versions":["Default"]}}}`)
	if r.status != 200 {
		t.Fatalf("deactivate = %d %s", r.status, r.body)
	}
	if r := hardCall(t, p, "/dash/x", dashKey); r.status != 403 {
		t.Fatalf("key of an inactive policy = %d %s", r.status, r.body)
	}

	// A restart loads the policy file again: the file's rate (5/s) is back, there
	// is still one "free", and the gateway key's quota is still spent.
	p.Stop(t)
	p = startServe(t, e2eutil.Options{DataDir: dataDir, Args: args})
	r = p.admin(t, http.MethodGet, "/tyk/policies", "")
	var list []map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil || len(list) != 2 {
		t.Fatalf("GET /tyk/policies after restart = %d %s", r.status, r.body)
	}
	if r := hardCall(t, p, "/pol/x", gwKey); r.status != 403 {
		t.Fatalf("gateway key after restart = %d %s, want its quota spent (403)", r.status, r.body)
	}
}

// TestPolicyEndpointLimitsAndThrottling drives a policy's per-endpoint limit and
// throttling through the real binary: the administrator's policy (Dashboard
// API) grants an API at one request a second, throttled (10 retries 0.2 s
// apart), with GET /thr/slow limited to one a minute on a counter of its own.
// Keys made from it through both doors get exactly that; raising the policy's
// endpoint limit and switching its throttling off change the same keys at once.
func TestPolicyEndpointLimitsAndThrottling(t *testing.T) {
	t.Parallel()
	up := newEcho(t, "T")
	p := startServe(t, e2eutil.Options{})
	admin := hardFirstRun(t, p)
	apiID := hardCreateAPI(t, p, admin.accessKey, hardKeyedAPI("Throttled API", "", "/thr/", up.URL))
	policy := func(endpointRate, retries int) string {
		return `{"name":"Slow plan","rate":1,"per":1,"throttle_interval":0.2,"throttle_retry_limit":` + strconv.Itoa(retries) + `,` +
			`"access_rights":{"` + apiID + `":{"versions":["Default"],` +
			`"endpoints":[{"path":"^/thr/slow","methods":[{"name":"GET","limit":{"rate":` + strconv.Itoa(endpointRate) + `,"per":60}}]}]}}}`
	}
	r := hardAPI(t, p, http.MethodPost, "/api/portal/policies", admin.accessKey, policy(1, 10))
	var env struct{ Message string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &env) != nil || env.Message == "" {
		t.Fatalf("POST /api/portal/policies = %d %s", r.status, r.body)
	}
	polID := env.Message
	newKey := func(door string) string {
		var r response
		body := `{"org_id":"` + admin.orgID + `","apply_policies":["` + polID + `"]}`
		if door == "gateway" {
			r = p.admin(t, http.MethodPost, "/tyk/keys", body)
		} else {
			r = hardAPI(t, p, http.MethodPost, "/api/keys", admin.accessKey, body)
		}
		var created struct{ Key string }
		if r.status != 200 || json.Unmarshal([]byte(r.body), &created) != nil || created.Key == "" {
			t.Fatalf("%s door: create key = %d %s", door, r.status, r.body)
		}
		return created.Key
	}
	doors := []string{"gateway", "dashboard"}
	keys := map[string]string{}
	for _, door := range doors {
		keys[door] = newKey(door)
	}

	get := func(path, key string) (response, time.Duration) {
		start := time.Now()
		r := hardCall(t, p, path, key)
		return r, time.Since(start)
	}
	for _, door := range doors {
		key := keys[door]
		if r, _ := get("/thr/x", key); r.status != http.StatusOK {
			t.Fatalf("%s key: first request %d %s", door, r.status, r.body)
		}
		// Over the policy's rate: held until the second is over, then admitted.
		if r, took := get("/thr/x", key); r.status != http.StatusOK || took < 200*time.Millisecond {
			t.Fatalf("%s key: throttled request %d after %v, want 200 after a 0.2 s wait at least: %s", door, r.status, took, r.body)
		}
		if r, _ := get("/thr/slow", key); r.status != http.StatusOK {
			t.Fatalf("%s key: the endpoint's first request %d %s", door, r.status, r.body)
		}
		// Over the endpoint's one a minute: throttled, refused when the retries run out.
		if r, took := get("/thr/slow", key); r.status != http.StatusTooManyRequests || took < 2*time.Second {
			t.Fatalf("%s key: endpoint over its rate %d after %v, want 429 after 10 retries: %s", door, r.status, took, r.body)
		}
	}

	// Raised to 2 a minute, with no throttling: one more GET /thr/slow each, and
	// the one after is refused at once.
	if r := hardAPI(t, p, http.MethodPut, "/api/portal/policies/"+polID, admin.accessKey, policy(2, 0)); r.status != 200 {
		t.Fatalf("PUT /api/portal/policies = %d %s", r.status, r.body)
	}
	for _, door := range doors {
		key := keys[door]
		if r, _ := get("/thr/slow", key); r.status != http.StatusOK {
			t.Fatalf("%s key: endpoint raised to 2/min, its second request %d %s", door, r.status, r.body)
		}
		if r, took := get("/thr/slow", key); r.status != http.StatusTooManyRequests || took > time.Second {
			t.Fatalf("%s key: third request with throttling off %d after %v, want 429 at once: %s", door, r.status, took, r.body)
		}
	}
}
