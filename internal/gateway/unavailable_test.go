package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/apptest"
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
}
