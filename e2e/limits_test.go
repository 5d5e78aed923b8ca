package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// TestEndpointLimitsAndThrottling: a key made over /tyk/keys with a per-endpoint
// limit and throttling, driven through the proxy of the real binary on the real
// clock. The waits are the gateway's (a fifth of a second each), not the test's.
func TestEndpointLimitsAndThrottling(t *testing.T) {
	t.Parallel()
	up := newEcho(t, "limited")
	p := startServe(t, e2eutil.Options{})
	def := keylessAPI("limited", "/lim/", up.URL, true)
	def["api_id"], def["use_keyless"] = "limited", false
	def["auth"] = map[string]any{"auth_header_name": "Authorization"}
	p.createAPI(t, def)

	// One request a second for the key, throttled: 10 retries 0.2 s apart. GET on
	// /lim/slow... is limited to one a minute on a counter of its own.
	const key = "limits-key-0123456789"
	p.mustAdmin(t, http.MethodPost, "/tyk/keys/"+key, `{"rate":1,"per":1,"throttle_interval":0.2,"throttle_retry_limit":10,`+
		`"access_rights":{"limited":{"api_id":"limited","versions":["Default"],`+
		`"endpoints":[{"path":"^/lim/slow","methods":[{"name":"GET","limit":{"rate":1,"per":60}}]}]}}}`, http.StatusOK)
	// A limit the gateway could not enforce is refused, not stored.
	r := p.admin(t, http.MethodPost, "/tyk/keys", `{"smoothing":{"enabled":true},"access_rights":{"limited":{"api_id":"limited"}}}`)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "smoothing is not supported") {
		t.Fatalf("key with smoothing: %d %s, want 400 naming smoothing", r.status, r.body)
	}

	get := func(path string) (response, time.Duration) {
		start := time.Now()
		r := p.request(t, http.MethodGet, path, map[string]string{"Authorization": key}, "")
		return r, time.Since(start)
	}
	if r, _ := get("/lim/x"); r.status != http.StatusOK {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	// Over the key's rate: held until the second is over, then admitted.
	if r, took := get("/lim/x"); r.status != http.StatusOK || took < 200*time.Millisecond {
		t.Fatalf("throttled request: %d after %v, want 200 after at least one 0.2 s wait: %s", r.status, took, r.body)
	}
	// The endpoint has its own counter: the key's count does not refuse it.
	if r, _ := get("/lim/slow"); r.status != http.StatusOK {
		t.Fatalf("endpoint's first request: %d %s", r.status, r.body)
	}
	// Over the endpoint's rate: throttled too, and refused when the retries run
	// out (2 s), the minute not being over.
	r, took := get("/lim/slow/again")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Rate Limit Exceeded") || took < 2*time.Second {
		t.Fatalf("endpoint over its rate: %d after %v, want 429 after the 10 retries: %s", r.status, took, r.body)
	}
}
