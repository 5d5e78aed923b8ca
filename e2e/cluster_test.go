package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
	"github.com/tollgate/tollgate/internal/redistest"
)

// TestServeWithRedisSharesLimits runs two real `tollgate serve --redis` processes on
// one real Redis: a key's rate limit holds across both, as for one gateway. (Each
// has its own data dir until the PostgreSQL store lands, so both get the same API
// and the same custom key.)
func TestServeWithRedisSharesLimits(t *testing.T) {
	redis := "redis://" + redistest.Start(t)
	up := newEcho(t, "shared")
	var nodes []*proc
	for range 2 {
		p := startServe(t, e2eutil.Options{Args: []string{"--redis", redis}})
		def := keylessAPI("shared", "/shared/", up.URL, false)
		def["api_id"], def["use_keyless"] = "shared", false
		def["auth"] = map[string]any{"auth_header_name": "Authorization"}
		p.createAPI(t, def)
		p.mustAdmin(t, http.MethodPost, "/tyk/keys/cluster-key-0123456789",
			`{"rate":4,"per":60,"access_rights":{"shared":{"api_id":"shared","versions":["Default"]}}}`, http.StatusOK)
		nodes = append(nodes, p)
	}
	got := map[int]int{}
	for i := range 10 {
		r := nodes[i%2].request(t, http.MethodGet, "/shared/x", map[string]string{"Authorization": "cluster-key-0123456789"}, "")
		got[r.status]++
	}
	if got[200] != 4 || got[429] != 6 {
		t.Fatalf("10 requests over 2 processes, rate 4 per minute: %v, want 4 admitted", got)
	}
	if r := nodes[1].request(t, http.MethodGet, "/hello", nil, ""); r.status != 200 || !strings.Contains(r.body, `"redis"`) {
		t.Fatalf("/hello: %d %s, want a redis component", r.status, r.body)
	}
}

// TestServeRefusesUnreachableRedis: a node that cannot share limits does not start
// as if it could, and says why without echoing the URL's password.
func TestServeRefusesUnreachableRedis(t *testing.T) {
	p := startServe(t, e2eutil.Options{Args: []string{"--redis", "redis://user:s3cret-pass@" + refusedAddr(t)}, MayExit: true})
	if code := p.Wait(t, 30*time.Second); code == 0 {
		t.Fatalf("serve with an unreachable Redis exited 0")
	}
	if out := p.Stderr.String() + p.Stdout.String(); !strings.Contains(out, "does not answer") || strings.Contains(out, "s3cret-pass") {
		t.Fatalf("output should say Redis does not answer, without the password:\n%s", out)
	}
}
