package gateway_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/keys"
)

func TestKeyAPI(t *testing.T) {
	up := echoUpstream(t)
	var now int64
	var key, hash, compact string
	seed := newSeed(t, func(t *testing.T, e *testEnv) {
		mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
		now = e.clock.Now().Unix()

		// Full pre-5.12 style, with exponent notation and an unknown field.
		full := fmt.Sprintf(`{"last_check":0,"allowance":1000,"rate":1000,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,`+
			`"max_query_depth":-1,"date_created":"0001-01-01T00:00:00Z","expires":%d,"quota_max":1.0e+02,"quota_renews":0,"quota_remaining":5,`+
			`"quota_renewal_rate":3.6e3,"access_rights":{"api1":{"api_id":"api1","api_name":"a","versions":["Default"],"allowed_urls":[],"limit":null}},`+
			`"org_id":"org1","oauth_client_id":"","oauth_keys":null,"basic_auth_data":{"password":"","hash_type":""},"jwt_data":{"secret":""},`+
			`"hmac_enabled":false,"hmac_string":"","is_inactive":false,"apply_policy_id":"","apply_policies":null,"data_expires":0,`+
			`"monitor":{"trigger_limits":null},"enable_detailed_recording":false,"meta_data":{"team":"a"},"tags":["t"],"alias":"my alias",`+
			`"last_updated":"1700000000","x_custom_field":{"kept":true}}`, now+3600)
		key = mustCreateKey(t, e, "/tyk/keys", full)
		if !strings.HasPrefix(key, "org1") || len(key) != 4+32 {
			t.Fatalf("generated key %q is not org id + 32 hex", key)
		}
		// Compact (5.12+) style without org_id: the key takes its API's organisation.
		compact = mustCreateKey(t, e, "/tyk/keys/create", `{"access_rights":{"api1":{"api_id":"api1","versions":["Default"]}}}`)
		if !strings.HasPrefix(compact, "org1") || len(compact) != 4+32 {
			t.Fatalf("compact key %q", compact)
		}
	})
	hash = keys.Sum(key).String()
	compactHash := keys.Sum(compact).String()
	seeded := []string{hash, compactHash}
	slices.Sort(seeded)
	invalid := `{"rate":-7,"access_rights":` + rights("api1") + `}`
	renamed := `{"alias":"renamed","access_rights":` + rights("api1") + `}`
	deleted := func(t *testing.T, e *testEnv) { e.mustDo(t, "DELETE", "/tyk/keys/"+key, "", admin, 200) }

	tests := []struct {
		name string
		// setup makes the state the request needs on the row's own node, which
		// starts with the seed's API and two keys.
		setup              func(t *testing.T, e *testEnv)
		method, path, body string
		status             int
		contains           []string
		absent             []string
		// check asserts what the reply does not show.
		check func(t *testing.T, e *testEnv)
	}{
		{name: "get by key", method: "GET", path: "/tyk/keys/" + key, status: 200, contains: []string{`"quota_max":100`, `"quota_renewal_rate":3600`, `"quota_remaining":100`, `"x_custom_field":{"kept":true}`, `"alias":"my alias"`, fmt.Sprintf(`"quota_renews":%d`, now+3600), `"last_updated":"` + fmt.Sprint(now) + `"`, `"date_created":"2026-11-22T12:00:00Z"`}, absent: []string{key, `"key_hash"`}},
		{name: "get by hash", method: "GET", path: "/tyk/keys/" + hash + "?hashed=true", status: 200, contains: []string{`"org_id":"org1"`}},
		{name: "hashed=false means the key", method: "GET", path: "/tyk/keys/" + key + "?hashed=false", status: 200, contains: []string{`"org_id":"org1"`}},
		{name: "hash without hashed flag", method: "GET", path: "/tyk/keys/" + hash, status: 404, contains: []string{`"Key not found"`}},
		{name: "bad hashed value", method: "GET", path: "/tyk/keys/" + key + "?hashed=maybe", status: 400, contains: []string{"hashed must be true or false"}},
		{name: "hashed=True, as Python's requests sends it", method: "GET", path: "/tyk/keys/" + hash + "?hashed=True", status: 200, contains: []string{`"org_id":"org1"`}},
		{name: "bad suppress_reset value", method: "PUT", path: "/tyk/keys/" + key + "?suppress_reset=maybe", body: `{"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{`"Query parameter suppress_reset must be true or false, not \"maybe\""`}},
		{name: "get unknown", method: "GET", path: "/tyk/keys/nothing-here", status: 404, contains: []string{`{"status":"error","message":"Key not found"}`}},
		{name: "list shows hashes only", method: "GET", path: "/tyk/keys", status: 200, contains: []string{`"keys":[`, hash}, absent: []string{key}},
		{name: "list filter by hash prefix", method: "GET", path: "/tyk/keys?filter=" + hash[:10], status: 200, contains: []string{hash}, absent: []string{keys.Sum(compact).String()}},
		{name: "list filter by api", method: "GET", path: "/tyk/keys?api_id=nope", status: 200, contains: []string{`{"keys":[]}`}},
		{name: "list bad filter", method: "GET", path: "/tyk/keys?filter=xyz", status: 400, contains: []string{"filter"}},
		{name: "custom id conflict", method: "POST", path: "/tyk/keys/" + key, body: `{"access_rights":` + rights("api1") + `}`, status: 409, contains: []string{"already exists"}},
		{name: "custom id invalid", method: "POST", path: "/tyk/keys/a%20b", body: `{"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"custom key"}},
		{name: "malformed", method: "POST", path: "/tyk/keys", body: `{"rate":`, status: 400, contains: []string{"Request malformed"}},
		{name: "not an object", method: "POST", path: "/tyk/keys", body: `[1]`, status: 400, contains: []string{"JSON object"}},
		{name: "wrong type names field", method: "POST", path: "/tyk/keys", body: `{"rate":"fast","access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"rate", "a number"}},
		{name: "fractional int names field", method: "POST", path: "/tyk/keys", body: `{"quota_max":1.5,"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"quota_max", "an integer"}},
		{name: "rate without per", method: "POST", path: "/tyk/keys", body: `{"rate":10,"per":0,"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"per must be positive"}},
		{name: "negative not sentinel", method: "POST", path: "/tyk/keys", body: `{"quota_max":-5,"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"quota_max must be -1, 0 or positive"}},
		{name: "past expiry on create", method: "POST", path: "/tyk/keys", body: fmt.Sprintf(`{"expires":%d,"access_rights":%s}`, now-10, rights("api1")), status: 400, contains: []string{"expires", "in the past"}},
		{name: "unknown API", method: "POST", path: "/tyk/keys", body: `{"access_rights":` + rights("ghost") + `}`, status: 400, contains: []string{"API ghost, which does not exist"}},
		{name: "api_id mismatch", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"api_id":"other"}}}`, status: 400, contains: []string{"does not match"}},
		{name: "bad regex", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"allowed_urls":[{"url":"(","methods":["GET"]}]}}}`, status: 400, contains: []string{"allowed_urls[0].url"}},
		{name: "lowercase method", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"allowed_urls":[{"url":"/x","methods":["get"]}]}}}`, status: 400, contains: []string{"upper-case HTTP method"}},
		{name: "per-API limit rate without per", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"limit":{"rate":5}}}}`, status: 400, contains: []string{"access_rights.api1.limit.per"}},
		{name: "basic auth refused", method: "POST", path: "/tyk/keys", body: `{"basic_auth_data":{"password":"pw"},"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"basic_auth_data"}},
		{name: "unenforceable limit refused", method: "POST", path: "/tyk/keys", body: `{"hmac_enabled":true,"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"hmac_enabled is not supported"}},
		{name: "enabled smoothing refused", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"limit":{"rate":1,"per":1,"smoothing":{"enabled":true}}}}}`, status: 400, contains: []string{"access_rights.api1.limit.smoothing is not supported"}},
		{name: "bad endpoint limit names the field", method: "POST", path: "/tyk/keys", body: `{"access_rights":{"api1":{"endpoints":[{"path":"/x","methods":[{"name":"GET","limit":{"rate":1,"per":1}},{"name":"POST","limit":{"rate":2,"per":0}}]}]}}}`, status: 400, contains: []string{"access_rights.api1.endpoints[0].methods[1].limit.per"}},
		{name: "put with an unenforceable limit keeps stored", method: "PUT", path: "/tyk/keys/" + key, body: `{"max_query_depth":3,"access_rights":` + rights("api1") + `}`, status: 400, contains: []string{"max_query_depth"}},
		{name: "trailing data", method: "POST", path: "/tyk/keys", body: `{"access_rights":` + rights("api1") + `} {}`, status: 400, contains: []string{"trailing data"}},
		{name: "preview stores nothing", method: "POST", path: "/tyk/keys/preview", body: `{"alias":"preview-only","quota_max":5,"quota_renewal_rate":60,"access_rights":` + rights("api1") + `}`, status: 200, contains: []string{`"alias":"preview-only"`, `"quota_remaining":5`}},
		{name: "put unknown", method: "PUT", path: "/tyk/keys/nothing-here", body: `{"access_rights":` + rights("api1") + `}`, status: 404, contains: []string{`"Key is not found"`}},
		{name: "put invalid keeps stored", method: "PUT", path: "/tyk/keys/" + key, body: invalid, status: 400, contains: []string{"rate"}},
		{name: "still intact", method: "GET", path: "/tyk/keys/" + key, status: 200, contains: []string{`"alias":"my alias"`},
			setup: func(t *testing.T, e *testEnv) { e.mustDo(t, "PUT", "/tyk/keys/"+key, invalid, admin, 400) }},
		{name: "put by hash", method: "PUT", path: "/tyk/keys/" + hash + "?hashed=1", body: renamed, status: 200, contains: []string{`"key":"` + hash + `"`, `"action":"modified"`}},
		{name: "put kept date_created", method: "GET", path: "/tyk/keys/" + key, status: 200, contains: []string{`"alias":"renamed"`, `"date_created":"2026-11-22T12:00:00Z"`},
			setup: func(t *testing.T, e *testEnv) { e.mustDo(t, "PUT", "/tyk/keys/"+hash+"?hashed=1", renamed, admin, 200) }},
		{name: "wrong method", method: "PATCH", path: "/tyk/keys/" + key, status: 405, contains: []string{"Method not supported"}},
		{name: "delete", method: "DELETE", path: "/tyk/keys/" + key, status: 200, contains: []string{`{"key":"` + key + `","status":"ok","action":"deleted"}`},
			check: func(t *testing.T, e *testEnv) {
				if got := storedKeys(t, e); !slices.Equal(got, []string{compactHash}) {
					t.Errorf("keys left: %v, want only the compact key's %s", got, compactHash)
				}
			}},
		{name: "delete again", method: "DELETE", path: "/tyk/keys/" + key, status: 404, contains: []string{`"There is no such key found"`},
			setup: deleted},
		{name: "gone", method: "GET", path: "/tyk/keys/" + hash + "?hashed=true", status: 404,
			setup: deleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := seed.node(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			status, body, _ := e.do(t, tt.method, tt.path, tt.body, admin)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			checkBody(t, body, tt.contains, tt.absent)
			if tt.method == "POST" {
				// No POST here stores a key: each is refused, or a preview.
				if got := storedKeys(t, e); !slices.Equal(got, seeded) {
					t.Errorf("keys stored after the POST: %v, want the seed's %v", got, seeded)
				}
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

// storedKeys lists the hashes of the keys the control API holds, sorted.
func storedKeys(t *testing.T, e *testEnv) []string {
	t.Helper()
	body := e.mustDo(t, "GET", "/tyk/keys", "", admin, 200)
	var list struct{ Keys []string }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("key list: %v: %s", err, body)
	}
	slices.Sort(list.Keys)
	return list.Keys
}
