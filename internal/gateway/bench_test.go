package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
)

// BenchmarkProxy compares Tollgate's routing + proxy path with a bare
// httputil.ReverseProxy (tuned transport) in front of the same upstream, over real
// loopback HTTP. Compare the two sub-benchmarks' ns/op as a ratio; absolute numbers
// depend on the machine.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)

	run := func(b *testing.B, h http.Handler, path string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		loadParallel(b, srv.URL+path, "")
	}

	b.Run("bare-reverseproxy", func(b *testing.B) {
		// The same stock tunings Tollgate uses: many idle connections, pooled buffers.
		rp := &httputil.ReverseProxy{
			Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport:  &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second},
			BufferPool: gateway.NewBufferPool(),
		}
		run(b, rp, "/bench/x")
	})
	b.Run("tollgate-keyless", func(b *testing.B) {
		e := newEnv(b)
		for i, lp := range []string{"/other", "/more/paths", "/bench", "/bench/deeper"} {
			def := apiJSON("api"+string(rune('a'+i)), lp, up.URL, `"strip_listen_path":true`)
			if status, body, _ := e.do(b, "POST", "/tyk/apis", def, admin); status != 200 {
				b.Fatalf("create: %d %s", status, body)
			}
		}
		run(b, e.gw, "/bench/x")
	})
}

// BenchmarkCheckChain measures the per-request checks for a cached key: key read and
// hash, session cache, access rights, rate limit and quota (limits high enough never
// to refuse); "full" adds allowed_urls and an API-level limit; "endpoint" matches
// the request against two per-endpoint limits (the second applies). Target: no
// allocation, well under 1 µs.
func BenchmarkCheckChain(b *testing.B) {
	b.Run("key+rate+quota", func(b *testing.B) {
		benchChain(b, "", `{"rate":1000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,"access_rights":{"api1":{"api_id":"api1","versions":["Default"]}}}`)
	})
	// The same limits from two partitioned policies (rate from one, quota and
	// access from the other): merged when the session is compiled, so a
	// request costs what the key's own limits cost.
	b.Run("key+rate+quota from two policies", func(b *testing.B) {
		benchChain(b, "", `{"apply_policies":["rate","quota"]}`,
			`{"id":"rate","name":"rate","rate":1000,"per":1,"partitions":{"rate_limit":true}}`,
			`{"id":"quota","name":"quota","quota_max":1000000000000,"quota_renewal_rate":3600,"partitions":{"quota":true,"acl":true},`+
				`"access_rights":{"api1":{"api_id":"api1","versions":["Default"]}}}`)
	})
	b.Run("full", func(b *testing.B) {
		benchChain(b, `"global_rate_limit":{"rate":1000000000,"per":1}`, `{"rate":1000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,`+
			`"access_rights":{"api1":{"api_id":"api1","versions":["Default"],"allowed_urls":[{"url":"^/api1/","methods":["GET"]}]}}}`)
	})
	b.Run("endpoint", func(b *testing.B) {
		benchChain(b, "", `{"rate":1,"per":60,"quota_max":1000000000000,"quota_renewal_rate":3600,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],`+
			`"endpoints":[{"path":"^/api1/users","methods":[{"name":"POST","limit":{"rate":10,"per":1}}]},`+
			`{"path":"^/api1/items/","methods":[{"name":"PUT","limit":{"rate":10,"per":1}},{"name":"GET","limit":{"rate":1000,"per":1}}]}]}}}`)
	})
}

func benchChain(b *testing.B, apiExtra, session string, policies ...string) {
	// The manual clock runs 2 ms per request: with the default session cache TTL
	// the benchmark would measure a store read every 15,000 requests, which the
	// real clock makes one per key per 30 s.
	e := newEnv(b, withConfig(func(c *config.Config) { c.SessionCacheTTL = config.Duration(10 * time.Minute) }))
	up := echoUpstream(b)
	mustCreateAPI(b, e, keyedAPI("api1", "/api1/", up.URL, apiExtra))
	for _, p := range policies {
		e.mustDo(b, "POST", "/tyk/policies", p, admin, 200)
	}
	key := mustCreateKey(b, e, "/tyk/keys", session)
	check := e.gw.CheckChain("", "/api1/x")
	req := httptest.NewRequest("GET", "/api1/items/42", nil)
	req.Header.Set("Authorization", key)
	if status, msg := check(req, e.clock.Now()); status != 0 {
		b.Fatalf("refused: %d %s", status, msg)
	}
	b.ReportAllocs()
	for b.Loop() {
		// 2 ms per request: 500 per second, under the sliding limit of 1000 per second.
		e.clock.Advance(2 * time.Millisecond)
		if status, msg := check(req, e.clock.Now()); status != 0 {
			b.Fatalf("refused: %d %s", status, msg)
		}
	}
}

// BenchmarkGatewayKeyed compares a keyed API (auth + rate limit + quota) with a
// keyless one through the whole gateway over loopback HTTP; compare the ns/op.
func BenchmarkGatewayKeyed(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	run := func(b *testing.B, e *testEnv, path, key string) { loadParallel(b, e.srv.URL+path, key) }
	b.Run("keyless", func(b *testing.B) {
		e := newEnv(b)
		mustCreateAPI(b, e, apiJSON("open", "/open", up.URL, `"strip_listen_path":true`))
		run(b, e, "/open/x", "")
	})
	b.Run("key+rate+quota", func(b *testing.B) {
		e := newEnv(b, realClock)
		mustCreateAPI(b, e, keyedAPI("api1", "/api1/", up.URL, ""))
		key := mustCreateKey(b, e, "/tyk/keys", `{"rate":1000000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,"access_rights":`+rights("api1")+`}`)
		run(b, e, "/api1/x", key)
	})
}

// loadParallel sends GET url (with an Authorization header when key is set) from
// GOMAXPROCS goroutines for b.N requests, failing on any status but 200.
func loadParallel(b *testing.B, url, key string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			if key != "" {
				req.Header.Set("Authorization", key)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
