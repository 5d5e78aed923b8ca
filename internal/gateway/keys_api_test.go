package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/keys"
)

func TestKeyAPI(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
	now := e.clock.Now().Unix()

	// Full pre-5.12 style, with exponent notation and an unknown field.
	full := fmt.Sprintf(`{"last_check":0,"allowance":1000,"rate":1000,"per":60,"throttle_interval":-1,"throttle_retry_limit":-1,`+
		`"max_query_depth":-1,"date_created":"0001-01-01T00:00:00Z","expires":%d,"quota_max":1.0e+02,"quota_renews":0,"quota_remaining":5,`+
		`"quota_renewal_rate":3.6e3,"access_rights":{"api1":{"api_id":"api1","api_name":"a","versions":["Default"],"allowed_urls":[],"limit":null}},`+
		`"org_id":"org1","oauth_client_id":"","oauth_keys":null,"basic_auth_data":{"password":"","hash_type":""},"jwt_data":{"secret":""},`+
		`"hmac_enabled":false,"hmac_string":"","is_inactive":false,"apply_policy_id":"","apply_policies":null,"data_expires":0,`+
		`"monitor":{"trigger_limits":null},"enable_detailed_recording":false,"meta_data":{"team":"a"},"tags":["t"],"alias":"my alias",`+
		`"last_updated":"1700000000","x_custom_field":{"kept":true}}`, now+3600)
	key := mustCreateKey(t, e, "/tyk/keys", full)
	if !strings.HasPrefix(key, "org1") || len(key) != 4+32 {
		t.Fatalf("generated key %q is not org id + 32 hex", key)
	}
	hash := keys.Sum(key).String()
	// Compact (5.12+) style without org_id: the key takes its API's organisation.
	compact := mustCreateKey(t, e, "/tyk/keys/create", `{"access_rights":{"api1":{"api_id":"api1","versions":["Default"]}}}`)
	if !strings.HasPrefix(compact, "org1") || len(compact) != 4+32 {
		t.Fatalf("compact key %q", compact)
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 []string
		absent                   []string
	}{
		{"get by key", "GET", "/tyk/keys/" + key, "", 200, []string{`"quota_max":100`, `"quota_renewal_rate":3600`, `"quota_remaining":100`, `"x_custom_field":{"kept":true}`, `"alias":"my alias"`, fmt.Sprintf(`"quota_renews":%d`, now+3600), `"last_updated":"` + fmt.Sprint(now) + `"`, `"date_created":"2026-11-22T12:00:00Z"`}, []string{key, `"key_hash"`}},
		{"get by hash", "GET", "/tyk/keys/" + hash + "?hashed=true", "", 200, []string{`"org_id":"org1"`}, nil},
		{"hashed=false means the key", "GET", "/tyk/keys/" + key + "?hashed=false", "", 200, []string{`"org_id":"org1"`}, nil},
		{"hash without hashed flag", "GET", "/tyk/keys/" + hash, "", 404, []string{`"Key not found"`}, nil},
		{"bad hashed value", "GET", "/tyk/keys/" + key + "?hashed=maybe", "", 400, []string{"hashed must be true or false"}, nil},
		{"hashed=True, as Python's requests sends it", "GET", "/tyk/keys/" + hash + "?hashed=True", "", 200, []string{`"org_id":"org1"`}, nil},
		{"bad suppress_reset value", "PUT", "/tyk/keys/" + key + "?suppress_reset=maybe", `{"access_rights":` + rights("api1") + `}`, 400, []string{`"Query parameter suppress_reset must be true or false, not \"maybe\""`}, nil},
		{"get unknown", "GET", "/tyk/keys/nothing-here", "", 404, []string{`{"status":"error","message":"Key not found"}`}, nil},
		{"list shows hashes only", "GET", "/tyk/keys", "", 200, []string{`"keys":[`, hash}, []string{key}},
		{"list filter by hash prefix", "GET", "/tyk/keys?filter=" + hash[:10], "", 200, []string{hash}, []string{keys.Sum(compact).String()}},
		{"list filter by api", "GET", "/tyk/keys?api_id=nope", "", 200, []string{`{"keys":[]}`}, nil},
		{"list bad filter", "GET", "/tyk/keys?filter=xyz", "", 400, []string{"filter"}, nil},
		{"custom id conflict", "POST", "/tyk/keys/" + key, `{"access_rights":` + rights("api1") + `}`, 409, []string{"already exists"}, nil},
		{"custom id invalid", "POST", "/tyk/keys/a%20b", `{"access_rights":` + rights("api1") + `}`, 400, []string{"custom key"}, nil},
		{"malformed", "POST", "/tyk/keys", `{"rate":`, 400, []string{"Request malformed"}, nil},
		{"not an object", "POST", "/tyk/keys", `[1]`, 400, []string{"JSON object"}, nil},
		{"wrong type names field", "POST", "/tyk/keys", `{"rate":"fast","access_rights":` + rights("api1") + `}`, 400, []string{"rate", "a number"}, nil},
		{"fractional int names field", "POST", "/tyk/keys", `{"quota_max":1.5,"access_rights":` + rights("api1") + `}`, 400, []string{"quota_max", "an integer"}, nil},
		{"rate without per", "POST", "/tyk/keys", `{"rate":10,"per":0,"access_rights":` + rights("api1") + `}`, 400, []string{"per must be positive"}, nil},
		{"negative not sentinel", "POST", "/tyk/keys", `{"quota_max":-5,"access_rights":` + rights("api1") + `}`, 400, []string{"quota_max must be -1, 0 or positive"}, nil},
		{"past expiry on create", "POST", "/tyk/keys", fmt.Sprintf(`{"expires":%d,"access_rights":%s}`, now-10, rights("api1")), 400, []string{"expires", "in the past"}, nil},
		{"unknown API", "POST", "/tyk/keys", `{"access_rights":` + rights("ghost") + `}`, 400, []string{"API ghost, which does not exist"}, nil},
		{"api_id mismatch", "POST", "/tyk/keys", `{"access_rights":{"api1":{"api_id":"other"}}}`, 400, []string{"does not match"}, nil},
		{"bad regex", "POST", "/tyk/keys", `{"access_rights":{"api1":{"allowed_urls":[{"url":"(","methods":["GET"]}]}}}`, 400, []string{"allowed_urls[0].url"}, nil},
		{"lowercase method", "POST", "/tyk/keys", `{"access_rights":{"api1":{"allowed_urls":[{"url":"/x","methods":["get"]}]}}}`, 400, []string{"upper-case HTTP method"}, nil},
		{"per-API limit rate without per", "POST", "/tyk/keys", `{"access_rights":{"api1":{"limit":{"rate":5}}}}`, 400, []string{"access_rights.api1.limit.per"}, nil},
		{"basic auth refused", "POST", "/tyk/keys", `{"basic_auth_data":{"password":"pw"},"access_rights":` + rights("api1") + `}`, 400, []string{"basic_auth_data"}, nil},
		{"trailing data", "POST", "/tyk/keys", `{"access_rights":` + rights("api1") + `} {}`, 400, []string{"trailing data"}, nil},
		{"preview stores nothing", "POST", "/tyk/keys/preview", `{"alias":"preview-only","quota_max":5,"quota_renewal_rate":60,"access_rights":` + rights("api1") + `}`, 200, []string{`"alias":"preview-only"`, `"quota_remaining":5`}, nil},
		{"put unknown", "PUT", "/tyk/keys/nothing-here", `{"access_rights":` + rights("api1") + `}`, 404, []string{`"Key is not found"`}, nil},
		{"put invalid keeps stored", "PUT", "/tyk/keys/" + key, `{"rate":-7,"access_rights":` + rights("api1") + `}`, 400, []string{"rate"}, nil},
		{"still intact", "GET", "/tyk/keys/" + key, "", 200, []string{`"alias":"my alias"`}, nil},
		{"put by hash", "PUT", "/tyk/keys/" + hash + "?hashed=1", `{"alias":"renamed","access_rights":` + rights("api1") + `}`, 200, []string{`"key":"` + hash + `"`, `"action":"modified"`}, nil},
		{"put kept date_created", "GET", "/tyk/keys/" + key, "", 200, []string{`"alias":"renamed"`, `"date_created":"2026-11-22T12:00:00Z"`}, nil},
		{"wrong method", "PATCH", "/tyk/keys/" + key, "", 405, []string{"Method not supported"}, nil},
		{"delete", "DELETE", "/tyk/keys/" + key, "", 200, []string{`{"key":"` + key + `","status":"ok","action":"deleted"}`}, nil},
		{"delete again", "DELETE", "/tyk/keys/" + key, "", 404, []string{`"There is no such key found"`}, nil},
		{"gone", "GET", "/tyk/keys/" + hash + "?hashed=true", "", 404, nil, nil},
	}
	for _, tt := range tests {
		status, body, _ := e.do(t, tt.method, tt.path, tt.body, admin)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, body)
			continue
		}
		for _, s := range tt.contains {
			if !strings.Contains(body, s) {
				t.Errorf("%s: body lacks %s: %s", tt.name, s, body)
			}
		}
		for _, s := range tt.absent {
			if strings.Contains(body, s) {
				t.Errorf("%s: body must not contain %s: %s", tt.name, s, body)
			}
		}
	}
	// preview stored nothing: only the compact key remains.
	_, body, _ := e.do(t, "GET", "/tyk/keys", "", admin)
	var list struct{ Keys []string }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Keys) != 1 || list.Keys[0] != keys.Sum(compact).String() {
		t.Fatalf("keys left: %s", body)
	}
}
