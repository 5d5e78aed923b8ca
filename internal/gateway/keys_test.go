package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/keys"
)

// keyedAPI is an authenticated API definition (header Authorization).
func keyedAPI(id, lp, target, extra string) string {
	s := `{"api_id":"` + id + `","name":"` + id + `","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"` + lp + `","target_url":"` + target + `","strip_listen_path":true}`
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func mustCreateAPI(t testing.TB, e *testEnv, def string) {
	t.Helper()
	if status, body, _ := e.do(t, "POST", "/tyk/apis", def, admin); status != 200 {
		t.Fatalf("create API: %d %s", status, body)
	}
}

// mustCreateKey creates a key through the control API and returns it.
func mustCreateKey(t testing.TB, e *testEnv, path, body string) string {
	t.Helper()
	status, resp, _ := e.do(t, "POST", path, body, admin)
	if status != 200 {
		t.Fatalf("create key: %d %s", status, resp)
	}
	var r tykReply
	if err := json.Unmarshal([]byte(resp), &r); err != nil || r.Key == "" || r.Action != "added" || len(r.KeyHash) != 64 {
		t.Fatalf("create key reply: %s", resp)
	}
	return r.Key
}

func auth(key string) map[string]string { return map[string]string{"Authorization": key} }

// rights returns an access_rights object granting the APIs.
func rights(ids ...string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, `"`+id+`":{"api_id":"`+id+`","api_name":"`+id+`","versions":["Default"]}`)
	}
	return `{` + strings.Join(parts, ",") + `}`
}

func TestKeyEnforcement(t *testing.T) {
	up := echoUpstream(t)
	var good, inactive, expiring, urls, v1only, custom string
	seed := newSeed(t, func(t *testing.T, e *testEnv) {
		mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
		mustCreateAPI(t, e, keyedAPI("api2", "/api2/", up.URL, ""))
		mustCreateAPI(t, e, `{"api_id":"ver","name":"ver","auth":{"auth_header_name":"Authorization"},"definition":{"location":"header","key":"x-api-version"},`+
			`"version_data":{"not_versioned":false,"versions":{"v1":{"name":"v1"},"v2":{"name":"v2"},"old":{"name":"old","expires":"2020-01-01 00:00"}}},`+
			`"proxy":{"listen_path":"/ver/","target_url":"`+up.URL+`"}}`)
		mustCreateAPI(t, e, keyedAPI("param", "/param/", up.URL, `"auth_configs":{"authToken":{"auth_header_name":"X-Key","use_param":true,"param_name":"k","use_cookie":true,"cookie_name":"kc"}}`))

		now := e.clock.Now().Unix()
		good = mustCreateKey(t, e, "/tyk/keys", `{"rate":0,"per":0,"quota_max":-1,"expires":0,"access_rights":`+rights("api1", "param")+`}`)
		inactive = mustCreateKey(t, e, "/tyk/keys", `{"is_inactive":true,"access_rights":`+rights("api1")+`}`)
		expiring = mustCreateKey(t, e, "/tyk/keys", fmt.Sprintf(`{"expires":%d,"access_rights":%s}`, now+60, rights("api1")))
		urls = mustCreateKey(t, e, "/tyk/keys", `{"access_rights":{"api1":{"api_id":"api1","versions":["Default"],"allowed_urls":[{"url":"^/api1/users(/.*)?$","methods":["GET"]}]}}}`)
		v1only = mustCreateKey(t, e, "/tyk/keys", `{"access_rights":{"ver":{"api_id":"ver","versions":["v1","old"]}}}`)
		custom = mustCreateKey(t, e, "/tyk/keys/my-custom-key", `{"access_rights":`+rights("api1")+`}`)
	})

	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
		msg    string // error message, or "" for a proxied 200
	}{
		{"no key", "GET", "/api1/x", nil, 401, "Authorization field missing"},
		{"unknown key", "GET", "/api1/x", auth("nope-nope-nope"), 403, "Access to this API has been disallowed"},
		{"too short", "GET", "/api1/x", auth("ab"), 403, "Access to this API has been disallowed"},
		{"good key", "GET", "/api1/x", auth(good), 200, ""},
		{"bearer prefix", "GET", "/api1/x", auth("Bearer " + good), 200, ""},
		{"custom key", "GET", "/api1/x", auth(custom), 200, ""},
		{"inactive", "GET", "/api1/x", auth(inactive), 403, "Key is inactive, please renew"},
		{"expired", "GET", "/api1/x", auth(expiring), 401, "Key has expired, please renew"},
		{"API not in access rights", "GET", "/api2/x", auth(good), 403, "Access to this API has been disallowed"},
		{"allowed url and method", "GET", "/api1/users/7", auth(urls), 200, ""},
		{"allowed url wrong method", "POST", "/api1/users/7", auth(urls), 403, "Access to this resource has been disallowed"},
		{"url not allowed", "GET", "/api1/admin", auth(urls), 403, "Access to this resource has been disallowed"},
		{"version allowed", "GET", "/ver/x", map[string]string{"Authorization": v1only, "X-Api-Version": "v1"}, 200, ""},
		{"version not in key", "GET", "/ver/x", map[string]string{"Authorization": v1only, "X-Api-Version": "v2"}, 403, "Access to this API has been disallowed"},
		{"version missing", "GET", "/ver/x", auth(v1only), 403, "Version information not found"},
		{"version unknown", "GET", "/ver/x", map[string]string{"Authorization": v1only, "X-Api-Version": "v9"}, 403, "This API version does not seem to exist"},
		{"version expired", "GET", "/ver/x", map[string]string{"Authorization": v1only, "X-Api-Version": "old"}, 403, "Api Version has expired, please check documentation or contact administrator"},
		{"key in custom header", "GET", "/param/x", map[string]string{"X-Key": good}, 200, ""},
		{"key in query param", "GET", "/param/x?k=" + good, nil, 200, ""},
		{"key in cookie", "GET", "/param/x", map[string]string{"Cookie": "kc=" + good}, 200, ""},
		{"param overrides header", "GET", "/param/x?k=bad-key-here", map[string]string{"X-Key": good}, 403, "Access to this API has been disallowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := seed.node(t)
			e.clock.Advance(2 * time.Minute) // expiring is now expired
			status, body, hdr := e.do(t, tt.method, tt.path, "", tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.msg != "" {
				want := "{\n    \"error\": \"" + tt.msg + "\"\n}"
				if body != want {
					t.Errorf("body %q, want %q", body, want)
				}
				if hdr.Get("X-Ratelimit-Limit") != "" {
					t.Errorf("refused response carries X-RateLimit headers")
				}
			} else if hdr.Get("X-Ratelimit-Limit") != "-1" {
				t.Errorf("unlimited quota should report X-RateLimit-Limit -1, got %q", hdr.Get("X-Ratelimit-Limit"))
			}
		})
	}
}

func TestMasterKeys(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			e := newEnv(t, withConfig(func(c *config.Config) { c.AllowMasterKeys = allow }))
			up := echoUpstream(t)
			mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
			status, body, _ := e.do(t, "POST", "/tyk/keys", `{"rate":0}`, admin)
			if !allow {
				if status != 400 || !strings.Contains(body, "at least one Access Rights record") {
					t.Fatalf("master key without allow: %d %s", status, body)
				}
				return
			}
			var r tykReply
			_ = json.Unmarshal([]byte(body), &r)
			if status, body, _ := e.do(t, "GET", "/api1/x", "", auth(r.Key)); status != 200 {
				t.Fatalf("master key refused: %d %s", status, body)
			}
		})
	}
}

func TestRateLimitOverHTTP(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	mustCreateAPI(t, e, keyedAPI("api2", "/api2/", up.URL, ""))
	mustCreateAPI(t, e, keyedAPI("api3", "/api3/", up.URL, `"disable_rate_limit":true`))
	// Session-level limit shared by api1 and api2 and api3 (where it is disabled);
	// api2 has its own per-API limit below.
	key := mustCreateKey(t, e, "/tyk/keys", `{"rate":2,"per":10,"access_rights":{`+
		`"api1":{"api_id":"api1","versions":["Default"]},`+
		`"api2":{"api_id":"api2","versions":["Default"],"limit":{"rate":1,"per":10}},`+
		`"api3":{"api_id":"api3","versions":["Default"],"limit":null}}}`)
	get := func(path string) (int, http.Header, string) {
		status, body, hdr := e.do(t, "GET", path, "", auth(key))
		return status, hdr, body
	}
	for i := 0; i < 2; i++ {
		if s, _, b := get("/api1/x"); s != 200 {
			t.Fatalf("request %d: %d %s", i, s, b)
		}
	}
	s, hdr, body := get("/api1/x")
	if s != 429 || !strings.Contains(body, `"error": "Rate Limit Exceeded"`) || hdr.Get("Retry-After") != "10" || hdr.Get("Ratelimit-Remaining") != "0" {
		t.Fatalf("third request: %d %v %s", s, hdr, body)
	}
	// api2 has its own counter: one request, then refused.
	if s, _, _ := get("/api2/x"); s != 200 {
		t.Fatalf("api2 first: %d", s)
	}
	if s, _, _ := get("/api2/x"); s != 429 {
		t.Fatalf("api2 second: %d", s)
	}
	// api3 disables rate limiting.
	for i := 0; i < 5; i++ {
		if s, _, _ := get("/api3/x"); s != 200 {
			t.Fatalf("api3 %d: %d", i, s)
		}
	}
	// Refused requests did not count: once the first two leave the window, two more pass.
	e.clock.Advance(10 * time.Second)
	for i := 0; i < 2; i++ {
		if s, _, _ := get("/api1/x"); s != 200 {
			t.Fatalf("after window %d: %d", i, s)
		}
	}
	// An update (without suppress_reset) starts fresh windows, as in Tyk.
	if s, b, _ := e.do(t, "PUT", "/tyk/keys/"+key, `{"rate":2,"per":10,"access_rights":`+rights("api1")+`}`, admin); s != 200 {
		t.Fatalf("update: %d %s", s, b)
	}
	if s, _, _ := get("/api1/x"); s != 200 {
		t.Fatalf("after update: %d", s)
	}
}

func TestGlobalRateLimitBeforeQuota(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"global_rate_limit":{"rate":2,"per":60}`))
	mustCreateAPI(t, e, `{"api_id":"open","name":"open","use_keyless":true,"global_rate_limit":{"rate":1,"per":60},"proxy":{"listen_path":"/open","target_url":"`+up.URL+`"}}`)
	key := mustCreateKey(t, e, "/tyk/keys", `{"quota_max":10,"quota_renewal_rate":3600,"access_rights":`+rights("api1")+`}`)
	for i := 0; i < 2; i++ {
		if s, b, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
			t.Fatalf("%d: %d %s", i, s, b)
		}
	}
	s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key))
	if s != 429 || !strings.Contains(body, "API Rate Limit Exceeded") {
		t.Fatalf("over API limit: %d %s", s, body)
	}
	// The refused request did not cost quota: 10 - 2 = 8 remain.
	_, body, _ = e.do(t, "GET", "/tyk/keys/"+key, "", admin)
	if !strings.Contains(body, `"quota_remaining":8`) {
		t.Fatalf("quota charged for an API-limited request: %s", body)
	}
	if s, _, hdr := e.do(t, "GET", "/open", "", nil); s != 200 || hdr.Get("X-Ratelimit-Limit") != "0" {
		t.Fatalf("keyless first: %d %v", s, hdr)
	}
	if s, _, _ := e.do(t, "GET", "/open", "", nil); s != 429 {
		t.Fatalf("keyless over API limit: %d", s)
	}
}

func TestQuotaOverHTTP(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	mustCreateAPI(t, e, keyedAPI("nq", "/nq/", up.URL, `"disable_quota":true`))
	key := mustCreateKey(t, e, "/tyk/keys", `{"quota_max":3,"quota_renewal_rate":60,"access_rights":`+rights("api1", "nq")+`}`)
	start := e.clock.Now().Unix()
	for i := 1; i <= 3; i++ {
		s, b, hdr := e.do(t, "GET", "/api1/x", "", auth(key))
		if s != 200 || hdr.Get("X-Ratelimit-Limit") != "3" || hdr.Get("X-Ratelimit-Remaining") != fmt.Sprint(3-i) || hdr.Get("X-Ratelimit-Reset") != fmt.Sprint(start+60) {
			t.Fatalf("request %d: %d %v %s", i, s, hdr, b)
		}
	}
	s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key))
	if s != 403 || !strings.Contains(body, `"error": "Quota exceeded"`) {
		t.Fatalf("over quota: %d %s", s, body)
	}
	if s, _, _ := e.do(t, "GET", "/nq/x", "", auth(key)); s != 200 {
		t.Fatalf("disable_quota API refused: %d", s)
	}
	_, body, _ = e.do(t, "GET", "/tyk/keys/"+key, "", admin)
	if !strings.Contains(body, `"quota_remaining":0`) || !strings.Contains(body, fmt.Sprintf(`"quota_renews":%d`, start+60)) {
		t.Fatalf("GET after exhausting: %s", body)
	}
	// suppress_reset keeps the count; a plain update resets it.
	if s, b, _ := e.do(t, "PUT", "/tyk/keys/"+key+"?suppress_reset=1", `{"quota_max":3,"quota_renewal_rate":60,"access_rights":`+rights("api1")+`}`, admin); s != 200 {
		t.Fatalf("suppressed update: %d %s", s, b)
	}
	if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 {
		t.Fatalf("suppress_reset reset the quota: %d", s)
	}
	// Renewal: the period ends 60 s after it started.
	e.clock.Advance(60 * time.Second)
	if s, _, hdr := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 || hdr.Get("X-Ratelimit-Remaining") != "2" {
		t.Fatalf("after renewal: %d %v", s, hdr)
	}
	if s, b, _ := e.do(t, "PUT", "/tyk/keys/"+key, `{"quota_max":3,"quota_renewal_rate":60,"access_rights":`+rights("api1")+`}`, admin); s != 200 {
		t.Fatalf("update: %d %s", s, b)
	}
	if s, _, hdr := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 || hdr.Get("X-Ratelimit-Remaining") != "2" {
		t.Fatalf("after reset: %d %v", s, hdr)
	}
}

// TestConcurrentKeyLimits hammers one key from 64 goroutines over HTTP: a rate of R
// admits exactly R per window and a quota of N admits exactly N.
func TestConcurrentKeyLimits(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	const R, N = 25, 40
	rateKey := mustCreateKey(t, e, "/tyk/keys", fmt.Sprintf(`{"rate":%d,"per":60,"access_rights":%s}`, R, rights("api1")))
	quotaKey := mustCreateKey(t, e, "/tyk/keys", fmt.Sprintf(`{"quota_max":%d,"quota_renewal_rate":3600,"access_rights":%s}`, N, rights("api1")))
	hammer := func(key string) (ok, refused int64) {
		var okN, refusedN atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 64; g++ {
			wg.Go(func() {
				for i := 0; i < 3; i++ {
					req, _ := http.NewRequest("GET", e.srv.URL+"/api1/x", nil)
					req.Header.Set("Authorization", key)
					resp, err := e.srv.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						okN.Add(1)
					case 429, 403:
						refusedN.Add(1)
					default:
						t.Errorf("status %d", resp.StatusCode)
					}
				}
			})
		}
		wg.Wait()
		return okN.Load(), refusedN.Load()
	}
	if ok, refused := hammer(rateKey); ok != R || refused != 192-R {
		t.Errorf("rate %d: admitted %d, refused %d", R, ok, refused)
	}
	if ok, refused := hammer(quotaKey); ok != N || refused != 192-N {
		t.Errorf("quota %d: admitted %d, refused %d", N, ok, refused)
	}
}

func TestKeyChangesAreImmediate(t *testing.T) {
	up := echoUpstream(t)
	var key string
	seed := newSeed(t, func(t *testing.T, e *testEnv) {
		mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
		mustCreateAPI(t, e, keyedAPI("api2", "/api2/", up.URL, ""))
		key = mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`)
	})
	toAPI2 := func(t *testing.T, e *testEnv) {
		e.mustDo(t, "PUT", "/tyk/keys/"+key, `{"access_rights":`+rights("api2")+`}`, admin, 200)
	}
	deactivate := func(t *testing.T, e *testEnv) {
		e.mustDo(t, "PUT", "/tyk/keys/"+key, `{"is_inactive":true,"access_rights":`+rights("api2")+`}`, admin, 200)
	}
	remove := func(t *testing.T, e *testEnv) { e.mustDo(t, "DELETE", "/tyk/keys/"+key, "", admin, 200) }
	recreate := func(t *testing.T, e *testEnv) {
		mustCreateKey(t, e, "/tyk/keys/"+key, `{"access_rights":`+rights("api2")+`}`)
	}
	// A step is a change through the control API, then a request with the key and
	// the status it must get: the gateway caches the session it served (or that
	// there is none), so each change meets a cached state.
	type step struct {
		change     func(t *testing.T, e *testEnv)
		path       string
		wantStatus int
	}
	cachedOnAPI2 := step{toAPI2, "/api2/x", 200}
	tests := []struct {
		name   string
		before []step // the state the change meets, made on the row's own node
		step   step
	}{
		{"cached and allowed", nil, step{nil, "/api1/x", 200}},
		{"edited to api2 only", []step{{nil, "/api1/x", 200}}, step{toAPI2, "/api1/x", 403}},
		{"edit took effect for api2", []step{{nil, "/api1/x", 200}}, step{toAPI2, "/api2/x", 200}},
		{"deactivated", []step{cachedOnAPI2}, step{deactivate, "/api2/x", 403}},
		{"deleted", []step{cachedOnAPI2}, step{remove, "/api2/x", 403}},
		{"re-created with the same custom id clears the negative cache", []step{cachedOnAPI2, {remove, "/api2/x", 403}}, step{recreate, "/api2/x", 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := seed.node(t)
			for i, st := range append(slices.Clone(tt.before), tt.step) {
				if st.change != nil {
					st.change(t, e)
				}
				if s, b, _ := e.do(t, "GET", st.path, "", auth(key)); s != st.wantStatus {
					t.Fatalf("step %d of %d: %s: %d, want %d: %s", i+1, len(tt.before)+1, st.path, s, st.wantStatus, b)
				}
			}
		})
	}
}

// TestNegativeCache checks that an unknown key is remembered as unknown for the TTL,
// so repeated random keys do not each cost a store read.
func TestNegativeCache(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	for i := 0; i < 5; i++ {
		if s, _, _ := e.do(t, "GET", "/api1/x", "", auth("random-key-123")); s != 403 {
			t.Fatalf("random key: %d", s)
		}
		if !e.gw.SessionCached("random-key-123", e.clock.Now()) {
			t.Fatalf("request %d: unknown key not negatively cached", i)
		}
	}
	e.clock.Advance(3 * time.Second)
	if e.gw.SessionCached("random-key-123", e.clock.Now()) {
		t.Fatal("negative entry outlived its TTL")
	}
}

// TestLostEventsAreBounded deletes a key behind the gateway's back, as a change event
// lost between nodes would leave it: the cached session serves until
// --session-cache-ttl, never after; a FlushAll event (what a transport sends after
// it reconnects) ends it at once.
func TestLostEventsAreBounded(t *testing.T) {
	const ttl = 5 * time.Second
	for _, tc := range []struct {
		name string
		end  func(e *testEnv)
	}{
		{"the cached session expires", func(e *testEnv) { e.clock.Advance(ttl) }},
		{"flush-all drops it", func(e *testEnv) { e.bus.Publish(events.Event{Kind: events.FlushAll}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withConfig(func(c *config.Config) { c.SessionCacheTTL = config.Duration(ttl) }))
			up := echoUpstream(t)
			mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
			key := mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`)
			if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
				t.Fatalf("new key: %d %s", s, body)
			}
			// Delete in the store only: no event reaches the gateway.
			if err := e.keys.Store.DeleteKey(t.Context(), keys.Sum(key).String()); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(ttl - time.Millisecond)
			if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
				t.Fatalf("within the TTL the cached session serves (a lost event's cost): got %d", s)
			}
			tc.end(e)
			if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 {
				t.Fatalf("deleted key still served: %d %s", s, body)
			}
		})
	}
}

// TestIETFHeaders drives --rate-limit-headers ietf: successful responses describe the
// rate limit with RateLimit-* instead of Tyk's quota-flavoured X-RateLimit-*.
func TestIETFHeaders(t *testing.T) {
	e := newEnv(t, withConfig(func(c *config.Config) { c.RateLimitHeaders = "ietf" }))
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	key := mustCreateKey(t, e, "/tyk/keys", `{"rate":3,"per":60,"quota_max":10,"quota_renewal_rate":60,"access_rights":`+rights("api1")+`}`)
	for i, want := range []string{"2", "1", "0"} {
		s, _, hdr := e.do(t, "GET", "/api1/x", "", auth(key))
		if s != 200 || hdr.Get("Ratelimit-Limit") != "3" || hdr.Get("Ratelimit-Remaining") != want || hdr.Get("Ratelimit-Reset") != "60" {
			t.Fatalf("request %d: %d %v", i, s, hdr)
		}
		if hdr.Get("X-Ratelimit-Limit") != "" {
			t.Fatalf("ietf mode sent X-RateLimit-Limit %q", hdr.Get("X-Ratelimit-Limit"))
		}
	}
	s, _, hdr := e.do(t, "GET", "/api1/x", "", auth(key))
	if s != 429 || hdr.Get("Retry-After") != "60" || hdr.Get("Ratelimit-Remaining") != "0" {
		t.Fatalf("over the limit: %d %v", s, hdr)
	}
	// The quota still counts in ietf mode: 3 of 10 used.
	_, body, _ := e.do(t, "GET", "/tyk/keys/"+key, "", admin)
	if !strings.Contains(body, `"quota_remaining":7`) {
		t.Fatalf("quota not charged in ietf mode: %s", body)
	}
}

// TestAllowanceScopeKept: a per-API limit's allowance_scope that a Tyk client
// sends is stored as sent (a dump re-imported keeps it), and two rights naming
// one scope share its counters, as in Tyk; without one each right counts alone.
func TestAllowanceScopeKept(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	for _, id := range []string{"sa", "sb", "sc"} {
		mustCreateAPI(t, e, keyedAPI(id, "/"+id+"/", up.URL, ""))
	}
	limit := `"limit":{"rate":2,"per":60}`
	key := mustCreateKey(t, e, "/tyk/keys", `{"access_rights":{`+
		`"sa":{"api_id":"sa","versions":["Default"],"allowance_scope":"plan",`+limit+`},`+
		`"sb":{"api_id":"sb","versions":["Default"],"allowance_scope":"plan",`+limit+`},`+
		`"sc":{"api_id":"sc","versions":["Default"],`+limit+`}}}`)
	_, body, _ := e.do(t, "GET", "/tyk/keys/"+key, "", admin)
	var got struct {
		AccessRights map[string]struct {
			Scope string `json:"allowance_scope"`
		} `json:"access_rights"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.AccessRights["sa"].Scope != "plan" ||
		got.AccessRights["sb"].Scope != "plan" || got.AccessRights["sc"].Scope != "sc" {
		t.Fatalf("stored scopes: %s", body)
	}
	for i, path := range []string{"/sa/x", "/sb/x", "/sb/x", "/sc/x", "/sc/x", "/sc/x"} {
		want := 200
		if i == 2 || i == 5 {
			want = 429
		}
		if s, b, _ := e.do(t, "GET", path, "", auth(key)); s != want {
			t.Fatalf("request %d on %s: %d %s, want %d", i+1, path, s, b, want)
		}
	}
	// '#' is the endpoint counters' separator: refused, the stored key untouched.
	s, b, _ := e.do(t, "PUT", "/tyk/keys/"+key, `{"access_rights":{"sa":{"api_id":"sa","allowance_scope":"a#b",`+limit+`}}}`, admin)
	if s != 400 || !strings.Contains(b, "allowance_scope") {
		t.Fatalf("scope with '#': %d %s", s, b)
	}
}
