package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
)

// flakyLimits fail every call while down is set, as a Redis backend that times out
// would.
type flakyLimits struct {
	rate   limit.RateLimiter
	quotas limit.QuotaEngine
	down   *atomic.Bool
}

var errDown = errors.New("limits backend: i/o timeout")

func (f flakyLimits) Allow(ctx context.Context, k limit.Key, rate, per float64) (limit.Decision, error) {
	if f.down.Load() {
		return limit.Decision{}, errDown
	}
	return f.rate.Allow(ctx, k, rate, per)
}

func (f flakyLimits) Charge(ctx context.Context, k limit.Key, max, renewal int64) (limit.QuotaState, error) {
	if f.down.Load() {
		return limit.QuotaState{}, errDown
	}
	return f.quotas.Charge(ctx, k, max, renewal)
}

func (f flakyLimits) Peek(ctx context.Context, k limit.Key, max int64) (limit.QuotaState, bool, error) {
	if f.down.Load() {
		return limit.QuotaState{}, false, errDown
	}
	return f.quotas.Peek(ctx, k, max)
}

func (f flakyLimits) Reset(ctx context.Context, h keys.Hash) error {
	if f.down.Load() {
		return errDown
	}
	if err := f.rate.Reset(ctx, h); err != nil {
		return err
	}
	return f.quotas.Reset(ctx, h)
}

// TestLimitsUnavailable checks the verdict for limits that cannot answer: 503 in
// Tyk's error shape with Retry-After, never 401/403 (the key is fine), logged once
// per outage rather than per request; traffic flows again when they recover.
func TestLimitsUnavailable(t *testing.T) {
	tests := []struct {
		name, session, api string
	}{
		{"key rate limit", `{"rate":100,"per":1,"access_rights":` + rights("api1") + `}`, ""},
		{"quota", `{"quota_max":100,"quota_renewal_rate":3600,"access_rights":` + rights("api1") + `}`, ""},
		{"API-level limit", `{"access_rights":` + rights("api1") + `}`, `"global_rate_limit":{"rate":100,"per":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var down atomic.Bool
			var logs lockedBuffer
			e := newEnv(t, func(o *apptest.Options) {
				o.Log = &logs
				o.WrapLimits = func(l limit.Engine) limit.Engine {
					f := flakyLimits{rate: l.Rate, quotas: l.Quotas, down: &down}
					return limit.Engine{Rate: f, Quotas: f}
				}
			})
			up := echoUpstream(t)
			mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, tt.api))
			key := mustCreateKey(t, e, "/tyk/keys", tt.session)
			if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
				t.Fatalf("before the outage: %d %s", s, body)
			}
			down.Store(true)
			for range 3 {
				s, body, h := e.do(t, "GET", "/api1/x", "", auth(key))
				var reply map[string]string
				if s != 503 || json.Unmarshal([]byte(body), &reply) != nil || !strings.Contains(reply["error"], "temporarily unavailable") {
					t.Fatalf("during the outage: %d %s, want 503 with an error field", s, body)
				}
				if h.Get("Retry-After") != "1" {
					t.Fatalf("Retry-After = %q", h.Get("Retry-After"))
				}
			}
			if n := strings.Count(logs.String(), "rate limits and quotas unavailable"); n != 1 {
				t.Fatalf("outage logged %d times over 3 requests, want once:\n%s", n, logs.String())
			}
			down.Store(false)
			if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
				t.Fatalf("after the outage: %d %s", s, body)
			}
			if !strings.Contains(logs.String(), "rate limits and quotas answer again") {
				t.Fatalf("recovery not logged:\n%s", logs.String())
			}
		})
	}
}

// TestKeyChangesWhileLimitsUnavailable checks the management side: a change that
// must reset counters is refused with 503 and leaves the key as it was; reading a key
// whose quota cannot be read is 503; deleting still works (the key must stop).
func TestKeyChangesWhileLimitsUnavailable(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, func(o *apptest.Options) {
		o.WrapLimits = func(l limit.Engine) limit.Engine {
			f := flakyLimits{rate: l.Rate, quotas: l.Quotas, down: &down}
			return limit.Engine{Rate: f, Quotas: f}
		}
	})
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	key := mustCreateKey(t, e, "/tyk/keys", `{"quota_max":10,"quota_renewal_rate":3600,"alias":"before","access_rights":`+rights("api1")+`}`)
	down.Store(true)
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/tyk/keys/" + key, `{"quota_max":10,"quota_renewal_rate":3600,"alias":"after","access_rights":` + rights("api1") + `}`},
		{"GET", "/tyk/keys/" + key, ""},
		{"POST", "/tyk/keys/custom-key-0123456789", `{"access_rights":` + rights("api1") + `}`},
	} {
		if s, body, _ := e.do(t, tc.method, tc.path, tc.body, admin); s != 503 || !strings.Contains(body, "temporarily unavailable") {
			t.Errorf("%s %s with limits down: %d %s, want 503", tc.method, tc.path, s, body)
		}
	}
	down.Store(false)
	if s, body, _ := e.do(t, "GET", "/tyk/keys/"+key, "", admin); s != 200 || !strings.Contains(body, `"alias":"before"`) {
		t.Fatalf("after the outage: %d %s, want the key unchanged", s, body)
	}
	if s, _, _ := e.do(t, "GET", "/tyk/keys/custom-key-0123456789", "", admin); s != 404 {
		t.Fatalf("the refused custom key exists: %d", s)
	}
	down.Store(true)
	if s, body, _ := e.do(t, "DELETE", "/tyk/keys/"+key, "", admin); s != 200 {
		t.Fatalf("delete with limits down: %d %s", s, body)
	}
	if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 {
		t.Fatalf("deleted key still works: %d", s)
	}
}

// TestStoreUnavailable: with the store gone, keys the gateway has not cached are
// answered 503 (never 403: they may be fine), the outage is logged once however many
// requests meet it, and cached keys keep working.
func TestStoreUnavailable(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, func(o *apptest.Options) { o.Log = &logs })
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	cached := mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`)
	var others []string
	for range 3 {
		others = append(others, mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`))
	}
	if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(cached)); s != 200 {
		t.Fatalf("before: %d %s", s, body)
	}
	closer, ok := e.keys.Store.(interface{ Close() error })
	if !ok {
		t.Fatalf("store %T cannot be closed", e.keys.Store)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	for _, k := range others {
		s, body, h := e.do(t, "GET", "/api1/x", "", auth(k))
		if s != 503 || !strings.Contains(body, "temporarily unavailable") || h.Get("Retry-After") != "1" {
			t.Fatalf("uncached key with the store gone: %d %s, want 503 with Retry-After", s, body)
		}
	}
	if n := strings.Count(logs.String(), "key lookups failing"); n != 1 {
		t.Fatalf("the store outage was logged %d times over 3 requests, want once:\n%s", n, logs.String())
	}
	if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(cached)); s != 200 {
		t.Fatalf("a cached key with the store gone: %d %s, want it served", s, body)
	}
	// The node serves from its cache, so it is degraded, not down: a load
	// balancer must keep it (every gateway shares the store), an operator sees
	// why, and probes every second do not flood the log.
	for range 3 {
		s, body, _ := e.do(t, "GET", "/hello", "", nil)
		var rep struct {
			Status  string
			Details map[string]struct{ Status, Output string }
		}
		if s != 200 || json.Unmarshal([]byte(body), &rep) != nil || rep.Status != "warn" || rep.Details["store"].Status != "warn" ||
			!strings.Contains(rep.Details["store"].Output, "serving cached keys") {
			t.Fatalf("/hello with the store gone: %d %s, want 200 and the store as warn", s, body)
		}
		if s, body, _ := e.do(t, "GET", "/ready", "", nil); s != 200 || !strings.Contains(body, `"status":"warn"`) {
			t.Fatalf("/ready with the store gone: %d %s, want 200 warn", s, body)
		}
	}
	if n := strings.Count(logs.String(), "store ping failed"); n != 1 {
		t.Fatalf("6 probes of a store that is gone were logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestStaleIfError: while the store cannot be read, a key the gateway has cached is
// served past its TTL for --stale-if-error more, and no longer; a key a change
// event dropped or flushed during the outage is not brought back (503, not served,
// and never 403: the key may be fine); with --stale-if-error 0 the TTL is the end.
func TestStaleIfError(t *testing.T) {
	const ttl = 30 * time.Second // the default --session-cache-ttl
	tests := []struct {
		name  string
		stale time.Duration
		// during runs once the store is gone, before the request.
		during func(e *testEnv, h string)
		want   int
	}{
		{"within the TTL", time.Hour, func(e *testEnv, _ string) { e.clock.Advance(ttl / 2) }, 200},
		{"past the TTL, within stale-if-error", time.Hour, func(e *testEnv, _ string) { e.clock.Advance(ttl + 59*time.Minute) }, 200},
		{"past the TTL and stale-if-error", time.Hour, func(e *testEnv, _ string) { e.clock.Advance(ttl + time.Hour + time.Second) }, 503},
		{"stale-if-error off", 0, func(e *testEnv, _ string) { e.clock.Advance(ttl + time.Second) }, 503},
		{"dropped by a key event", time.Hour, func(e *testEnv, h string) {
			e.bus.Publish(events.Event{Kind: events.KeyChanged, KeyHash: h})
		}, 503},
		{"flushed by a flush-all", time.Hour, func(e *testEnv, _ string) { e.bus.Publish(events.Event{Kind: events.FlushAll}) }, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			e := newEnv(t, func(o *apptest.Options) {
				o.Log = &logs
				o.Config = func(c *config.Config) { c.StaleIfError = config.Duration(tt.stale) }
			})
			up := echoUpstream(t)
			mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
			key := mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`)
			if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
				t.Fatalf("before the outage: %d %s", s, body)
			}
			if err := e.keys.Store.(interface{ Close() error }).Close(); err != nil {
				t.Fatal(err)
			}
			tt.during(e, keys.Sum(key).String())
			// Twice: the second request is answered from what the first left in
			// the cache (a stale entry is retried once a second, not per request).
			for range 2 {
				s, body, h := e.do(t, "GET", "/api1/x", "", auth(key))
				if s != tt.want {
					t.Fatalf("with the store gone: %d %s, want %d", s, body, tt.want)
				}
				if s == 503 && (!strings.Contains(body, "temporarily unavailable") || h.Get("Retry-After") != "1") {
					t.Fatalf("503 without Tyk's error body or Retry-After: %s %v", body, h)
				}
			}
			if n := strings.Count(logs.String(), "key lookups failing"); tt.name != "within the TTL" && n != 1 {
				t.Errorf("the store outage was logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// hangingLimits answer only when the request's context ends, with its error, as
// a Redis call does when the client goes away mid-request.
type hangingLimits struct {
	limit.RateLimiter
	hang *atomic.Bool
}

func (h hangingLimits) Allow(ctx context.Context, k limit.Key, rate, per float64) (limit.Decision, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return limit.Decision{}, ctx.Err()
	}
	return h.RateLimiter.Allow(ctx, k, rate, per)
}

// TestClientGoneIsNoOutage: a client that goes away while its rate limit is
// being decided ends that call with its context; that is not a limits outage,
// so nothing is logged as one and the next requests are not "recovering".
func TestClientGoneIsNoOutage(t *testing.T) {
	var hang atomic.Bool
	var logs lockedBuffer
	e := newEnv(t, func(o *apptest.Options) {
		o.Log = &logs
		o.WrapLimits = func(l limit.Engine) limit.Engine {
			return limit.Engine{Rate: hangingLimits{RateLimiter: l.Rate, hang: &hang}, Quotas: l.Quotas}
		}
	})
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, ""))
	key := mustCreateKey(t, e, "/tyk/keys", `{"rate":100,"per":1,"access_rights":`+rights("api1")+`}`)
	hang.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api1/x", nil)
	req.Header.Set("Authorization", key)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request whose client gave up got an answer: %d", resp.StatusCode)
	}
	hang.Store(false)
	if s, body, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
		t.Fatalf("next request: %d %s", s, body)
	}
	time.Sleep(50 * time.Millisecond) // the abandoned request's handler has finished
	if out := logs.String(); strings.Contains(out, "unavailable") || strings.Contains(out, "answer again") {
		t.Fatalf("a client going away was logged as a limits outage:\n%s", out)
	}
}
