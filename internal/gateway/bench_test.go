package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
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
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		u := srv.URL + path
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(u)
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

	b.Run("bare-reverseproxy", func(b *testing.B) {
		rp := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second},
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

// BenchmarkLookup measures route matching alone.
func BenchmarkLookup(b *testing.B) {
	s := newSnapshot()
	for _, lp := range []string{"/", "/a", "/a/b", "/users", "/users/v2", "/orders", "/payments/api"} {
		s.add("", &route{listenPath: lp})
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.lookup("example.com", "/users/v2/123/profile") == nil {
			b.Fatal("no route")
		}
	}
}
