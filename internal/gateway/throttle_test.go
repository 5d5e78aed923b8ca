package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
)

// TestEndpointLimits drives per-endpoint key limits (access_rights[api].endpoints)
// through the proxy: a request matching an endpoint's path and method is counted
// under that endpoint's rate, on a counter of its own, instead of the key's.
func TestEndpointLimits(t *testing.T) {
	type step struct {
		method, path string
		want         int
	}
	// The key allows 2 requests a minute; GET on /api1/slow... 1 a minute and
	// POST on an item 3 a minute, each apart from the key's own count.
	const endpoints = `"endpoints":[` +
		`{"path":"^/api1/slow","methods":[{"name":"GET","limit":{"rate":1,"per":60}}]},` +
		`{"path":"/items/[0-9]+$","methods":[{"name":"POST","limit":{"rate":3,"per":60}},{"name":"DELETE","limit":{"rate":1,"per":60}}]}]`
	tests := []struct {
		name, session string
		steps         []step
	}{
		{"endpoint rate replaces the key's", `{"rate":2,"per":60,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],` + endpoints + `}}}`, []step{
			{"POST", "/api1/items/1", 200}, {"POST", "/api1/items/2", 200}, {"POST", "/api1/items/3", 200},
			{"POST", "/api1/items/4", 429},
			// The key's own count is untouched by the endpoint's requests.
			{"GET", "/api1/other", 200}, {"GET", "/api1/other", 200}, {"GET", "/api1/other", 429},
		}},
		{"each endpoint method its own counter", `{"rate":100,"per":60,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],` + endpoints + `}}}`, []step{
			{"DELETE", "/api1/items/7", 200}, {"DELETE", "/api1/items/8", 429},
			{"POST", "/api1/items/7", 200},
			{"GET", "/api1/slow", 200}, {"GET", "/api1/slow/deeper", 429},
			// Letter case does not escape the limit (Tyk compares methods so).
			{"get", "/api1/slow", 429},
			// A method the endpoint does not list falls to the key's limit.
			{"PUT", "/api1/slow", 200}, {"PUT", "/api1/slow", 200},
			// The path is a regular expression on the whole request path.
			{"POST", "/api1/items/7/notes", 200},
		}},
		{"per-API limit with endpoints", `{"rate":100,"per":60,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],"limit":{"rate":1,"per":60},` + endpoints + `}}}`, []step{
			{"GET", "/api1/other", 200}, {"GET", "/api1/other", 429},
			{"GET", "/api1/slow", 200}, {"GET", "/api1/slow", 429},
		}},
	}
	up := echoUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, key := keyOnAPI1(t, up.URL, tt.session)
			for i, s := range tt.steps {
				status, body, _ := e.do(t, s.method, s.path, "", auth(key))
				if status != s.want {
					t.Fatalf("step %d, %s %s: %d %s, want %d", i, s.method, s.path, status, body, s.want)
				}
			}
		})
	}
}

// keyOnAPI1 starts a node with one keyed API, api1 at /api1/ in front of target,
// and a key made from session.
func keyOnAPI1(t *testing.T, target, session string, opts ...envOption) (*testEnv, string) {
	t.Helper()
	e := newEnv(t, opts...)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", target, ""))
	return e, mustCreateKey(t, e, "/tyk/keys", session)
}

// TestEndpointLimitWindow: an endpoint's window renews like any rate limit.
func TestEndpointLimitWindow(t *testing.T) {
	e, key := keyOnAPI1(t, echoUpstream(t).URL, `{"access_rights":{"api1":{"api_id":"api1","versions":["Default"],`+
		`"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":10}}]}]}}}`)
	e.mustDo(t, "GET", "/api1/x", "", auth(key), 200)
	status, _, hdr := e.do(t, "GET", "/api1/x", "", auth(key))
	if status != 429 || hdr.Get("Retry-After") != "10" {
		t.Fatalf("second: %d Retry-After %q", status, hdr.Get("Retry-After"))
	}
	e.clock.Advance(10 * time.Second)
	e.mustDo(t, "GET", "/api1/x", "", auth(key), 200)
}

// pending is a request sent in the background.
type pending struct {
	cancel context.CancelFunc
	done   chan apptest.Response
	err    chan error
}

// send sends a request in the background; cancel abandons it as a client that
// hangs up.
func (e *testEnv) send(t *testing.T, method, path string, hdr map[string]string) *pending {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	p := &pending{cancel: cancel, done: make(chan apptest.Response, 1), err: make(chan error, 1)}
	go func() {
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			p.err <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			p.err <- err
			return
		}
		p.done <- apptest.Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header}
	}()
	return p
}

// answer waits for the request's reply. If the gateway instead parks it on the
// clock again (a wait the test did not expect), the test fails rather than hangs.
func (p *pending) answer(t *testing.T, e *testEnv) apptest.Response {
	t.Helper()
	parked := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		if e.clock.AwaitWaiting(ctx, 1) == nil {
			close(parked)
		}
	}()
	select {
	case r := <-p.done:
		return r
	case err := <-p.err:
		t.Fatalf("request failed: %v", err)
	case <-parked:
		t.Fatal("the request waits again instead of being answered")
	}
	return apptest.Response{}
}

// parked waits until n requests wait on the clock.
func (e *testEnv) parked(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.clock.AwaitWaiting(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// TestThrottling drives throttle_interval and throttle_retry_limit through the
// proxy on the node's manual clock: a rate-limited request waits the interval and
// asks again, up to the retry limit, before its 429.
func TestThrottling(t *testing.T) {
	tests := []struct {
		name, session string
		// waits is how many intervals of 5 s the request waits; admitted says
		// whether it is then admitted (or refused with 429).
		waits    int
		admitted bool
	}{
		// 1 request per 8 s: the retry at 5 s is refused, the one at 10 s admitted.
		{"admitted on the second retry", `{"rate":1,"per":8,"throttle_interval":5,"throttle_retry_limit":3,"access_rights":` + rights("api1") + `}`, 2, true},
		{"refused when the retries run out", `{"rate":1,"per":8,"throttle_interval":5,"throttle_retry_limit":1,"access_rights":` + rights("api1") + `}`, 1, false},
		// 10 retries of 5 s would wait 50 s: only the 6 within 30 s are made.
		{"total wait capped at 30 s", `{"rate":1,"per":3600,"throttle_interval":5,"throttle_retry_limit":10,"access_rights":` + rights("api1") + `}`, 6, false},
		// A per-API limit brings its own throttle settings, as in Tyk.
		{"per-API throttle", `{"rate":1,"per":8,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],` +
			`"limit":{"rate":1,"per":8,"throttle_interval":5,"throttle_retry_limit":2}}}}`, 2, true},
		{"endpoint limits throttle too", `{"throttle_interval":5,"throttle_retry_limit":2,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],` +
			`"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":8}}]}]}}}`, 2, true},
	}
	up := echoUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, key := keyOnAPI1(t, up.URL, tt.session)
			e.mustDo(t, "GET", "/api1/x", "", auth(key), 200)
			p := e.send(t, "GET", "/api1/x", auth(key))
			for range tt.waits - 1 {
				e.parked(t, 1)
				e.clock.Advance(5 * time.Second)
			}
			e.parked(t, 1)
			e.clock.Advance(5 * time.Second)
			r := p.answer(t, e)
			want := 429
			if tt.admitted {
				want = 200
			}
			if r.Status != want {
				t.Fatalf("after %d waits: %d %s, want %d", tt.waits, r.Status, r.Body, want)
			}
			if !tt.admitted && !strings.Contains(r.Body, "Rate Limit Exceeded") {
				t.Errorf("refusal body: %s", r.Body)
			}
		})
	}
}

// TestThrottlingOff: settings that switch throttling off answer 429 at once, with
// nothing waiting on the clock.
func TestThrottlingOff(t *testing.T) {
	tests := []struct {
		name, session string
		maxThrottled  int
	}{
		{"Tyk's -1", `{"rate":1,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,"access_rights":` + rights("api1") + `}`, 1000},
		{"no interval", `{"rate":1,"per":60,"throttle_interval":0,"throttle_retry_limit":5,"access_rights":` + rights("api1") + `}`, 1000},
		// The per-API limit's throttle (none) wins over the session's.
		{"per-API limit without throttle", `{"rate":1,"per":60,"throttle_interval":5,"throttle_retry_limit":5,"access_rights":{"api1":{"api_id":"api1","versions":["Default"],"limit":{"rate":1,"per":60}}}}`, 1000},
		{"max_throttled 0", `{"rate":1,"per":60,"throttle_interval":5,"throttle_retry_limit":5,"access_rights":` + rights("api1") + `}`, 0},
	}
	up := echoUpstream(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, key := keyOnAPI1(t, up.URL, tt.session, withConfig(func(c *config.Config) { c.MaxThrottled = tt.maxThrottled }))
			e.mustDo(t, "GET", "/api1/x", "", auth(key), 200)
			// Sent in the foreground: a wait would never end, as nothing moves
			// the clock.
			e.mustDo(t, "GET", "/api1/x", "", auth(key), 429)
		})
	}
}

// TestThrottleBounds: beyond max_throttled waiting requests a throttled one is
// refused at once; a client that hangs up stops its wait; a gateway that starts
// draining ends every wait.
func TestThrottleBounds(t *testing.T) {
	up := echoUpstream(t)
	const session = `{"rate":1,"per":8,"throttle_interval":5,"throttle_retry_limit":5,"access_rights":{"api1":{"api_id":"api1","versions":["Default"]}}}`
	start := func(t *testing.T) (*testEnv, string) {
		e, key := keyOnAPI1(t, up.URL, session, withConfig(func(c *config.Config) { c.MaxThrottled = 1 }))
		e.mustDo(t, "GET", "/api1/x", "", auth(key), 200)
		return e, key
	}
	t.Run("full: refused at once, room again after", func(t *testing.T) {
		e, key := start(t)
		first := e.send(t, "GET", "/api1/x", auth(key))
		e.parked(t, 1)
		e.mustDo(t, "GET", "/api1/x", "", auth(key), 429)
		// 10 s later the first is admitted, and its slot is free again.
		e.clock.Advance(5 * time.Second)
		e.parked(t, 1)
		e.clock.Advance(5 * time.Second)
		if r := first.answer(t, e); r.Status != 200 {
			t.Fatalf("first: %d %s", r.Status, r.Body)
		}
		again := e.send(t, "GET", "/api1/x", auth(key))
		e.parked(t, 1)
		again.cancel()
		e.parked(t, 0)
	})
	// The ways a wait ends early, and what the client then gets (0: nothing, it
	// is gone).
	for _, tt := range []struct {
		name string
		end  func(e *testEnv, p *pending)
		want int
	}{
		{"client gone", func(_ *testEnv, p *pending) { p.cancel() }, 0},
		{"draining", func(e *testEnv, _ *pending) { e.gw.SetDraining() }, 429},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, key := start(t)
			p := e.send(t, "GET", "/api1/x", auth(key))
			e.parked(t, 1)
			tt.end(e, p)
			e.parked(t, 0)
			if tt.want == 0 {
				return
			}
			if r := p.answer(t, e); r.Status != tt.want {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tt.want)
			}
		})
	}
}
