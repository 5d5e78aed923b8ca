package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// admitted sends n requests with key and counts the 200s; every other answer
// must be want (429 for a rate limit, 403 for a quota).
func admitted(t *testing.T, e *testEnv, key, path string, n, want int) int {
	t.Helper()
	ok := 0
	for i := 0; i < n; i++ {
		status, body, _ := e.do(t, "GET", path, "", auth(key))
		switch status {
		case 200:
			ok++
		case want:
		default:
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	return ok
}

func mustCreatePolicy(t *testing.T, e *testEnv, body string) string {
	t.Helper()
	status, resp, _ := e.do(t, "POST", "/tyk/policies", body, admin)
	var r tykReply
	if status != 200 || json.Unmarshal([]byte(resp), &r) != nil || r.Action != "added" || r.Key == "" {
		t.Fatalf("create policy: %d %s", status, resp)
	}
	return r.Key
}

// TestPolicyLimitsAreLive drives the scenario over the control API: a
// policy of 5 requests a second and 20 a period, keys created from it, the
// policy raised to 10 a second (the same keys get it at once, without being
// touched), then switched off (the keys are refused).
func TestPolicyLimitsAreLive(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
	pol := mustCreatePolicy(t, e, `{"id":"free","name":"Free","org_id":"org1","rate":5,"per":1,"quota_max":20,"quota_renewal_rate":3600,`+
		`"access_rights":`+rights("api1")+`}`)
	if pol != "free" {
		t.Fatalf("policy id %q", pol)
	}
	// Through /tyk/keys with no access rights and no org_id: both come from the
	// policy, as Tyk's clients create keys.
	key := mustCreateKey(t, e, "/tyk/keys", `{"apply_policies":["free"]}`)
	if !strings.HasPrefix(key, "org1") {
		t.Fatalf("key %q did not take the policy's organisation", key)
	}
	if got := admitted(t, e, key, "/api1/x", 8, 429); got != 5 {
		t.Fatalf("admitted %d of 8 at the policy's 5/s", got)
	}
	// Raised to 10/s: live on the next request.
	if s, b, _ := e.do(t, "PUT", "/tyk/policies/free", `{"name":"Free","rate":10,"per":1,"quota_max":20,"quota_renewal_rate":3600,`+
		`"access_rights":`+rights("api1")+`}`, admin); s != 200 || !strings.Contains(b, `"action":"modified"`) {
		t.Fatalf("update policy: %d %s", s, b)
	}
	e.clock.Advance(time.Second)
	if got := admitted(t, e, key, "/api1/x", 12, 429); got != 10 {
		t.Fatalf("admitted %d of 12 at the raised 10/s", got)
	}
	// The quota of 20 is counted across both: 15 used, 5 left.
	e.clock.Advance(time.Second)
	if got := admitted(t, e, key, "/api1/x", 8, 403); got != 5 {
		t.Fatalf("admitted %d with 5 of the policy's quota left", got)
	}
	// GET of the key shows it applies the policy, unchanged.
	if b := e.mustDo(t, "GET", "/tyk/keys/"+key, "", admin, 200); !strings.Contains(b, `"apply_policies":["free"]`) {
		t.Fatalf("key: %s", b)
	}
	// Inactive policy: the key is inactive.
	e.mustDo(t, "PUT", "/tyk/policies/free", `{"name":"Free","is_inactive":true,"rate":10,"per":1,"access_rights":`+rights("api1")+`}`, admin, 200)
	if s, b, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 || !strings.Contains(b, "Key is inactive") {
		t.Fatalf("inactive policy: %d %s", s, b)
	}
	// state deny refuses the key.
	e.mustDo(t, "PUT", "/tyk/policies/free", `{"name":"Free","state":"deny","rate":10,"per":1,"access_rights":`+rights("api1")+`}`, admin, 200)
	if s, b, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 || !strings.Contains(b, "disallowed") {
		t.Fatalf("denying policy: %d %s", s, b)
	}
	// Deleting a policy in use is refused, saying how many keys use it...
	if s, b, _ := e.do(t, "DELETE", "/tyk/policies/free", "", admin); s != 409 || !strings.Contains(b, "applied by 1 key") {
		t.Fatalf("delete in use: %d %s", s, b)
	}
	// ...unless forced, which leaves the key refused.
	e.mustDo(t, "PUT", "/tyk/policies/free", `{"name":"Free","rate":10,"per":1,"access_rights":`+rights("api1")+`}`, admin, 200)
	e.clock.Advance(time.Hour)
	if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
		t.Fatalf("active again: %d", s)
	}
	e.mustDo(t, "DELETE", "/tyk/policies/free?force=true", "", admin, 200)
	if s, b, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 {
		t.Fatalf("deleted policy: %d %s", s, b)
	}
}

func TestPolicyControlAPI(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
	mustCreateAPI(t, e, keyedAPI("other", "/other/", up.URL, `"org_id":"org2"`))
	mid := mustCreatePolicy(t, e, `{"name":"Gold","org_id":"org1","rate":100,"per":1,"access_rights":`+rights("api1")+`}`)
	if len(mid) != 24 {
		t.Fatalf("minted id %q", mid)
	}
	key := mustCreateKey(t, e, "/tyk/keys", `{"access_rights":`+rights("api1")+`}`)
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 []string
	}{
		{"list", "GET", "/tyk/policies", "", 200, []string{`"name":"Gold"`, `"_id":"` + mid + `"`, `"state":"active"`, `"active":true`}},
		{"get", "GET", "/tyk/policies/" + mid, "", 200, []string{`"id":"` + mid + `"`, `"org_id":"org1"`}},
		{"get missing", "GET", "/tyk/policies/nope", "", 404, []string{`{"status":"error","message":"Policy not found"}`}},
		{"trailing slash", "GET", "/tyk/policies/", "", 200, []string{`"Gold"`}},
		{"duplicate id", "POST", "/tyk/policies", `{"id":"` + mid + `","name":"Other"}`, 409, []string{"already exists"}},
		{"duplicate name", "POST", "/tyk/policies", `{"name":"Gold","org_id":"org1"}`, 409, []string{`\"Gold\" already exists`}},
		{"no name", "POST", "/tyk/policies", `{"rate":1,"per":1}`, 400, []string{"name is required"}},
		{"malformed", "POST", "/tyk/policies", `{"name":`, 400, []string{"Request malformed"}},
		{"bad limit", "POST", "/tyk/policies", `{"name":"x","rate":5}`, 400, []string{"per must be positive"}},
		{"unknown API", "POST", "/tyk/policies", `{"name":"x","access_rights":` + rights("ghost") + `}`, 400, []string{"API ghost, which does not exist"}},
		{"APIs of another org", "POST", "/tyk/policies", `{"name":"x","org_id":"org1","access_rights":` + rights("other") + `}`, 400, []string{"another organisation"}},
		{"per_api and partitions", "POST", "/tyk/policies", `{"name":"x","partitions":{"per_api":true,"acl":true}}`, 400, []string{"per_api"}},
		{"id cannot change", "PUT", "/tyk/policies/" + mid, `{"id":"renamed","name":"Gold"}`, 400, []string{"cannot change"}},
		{"update missing", "PUT", "/tyk/policies/nope", `{"name":"x"}`, 404, []string{"Policy not found"}},
		{"key with a malformed policy id", "POST", "/tyk/keys", `{"apply_policies":["a b"],"access_rights":` + rights("api1") + `}`, 400, []string{"apply_policies[0] must be a policy id"}},
		{"key with too many policies", "POST", "/tyk/keys", `{"apply_policies":["` + strings.Repeat(`p","`, 100) + `p"],"access_rights":` + rights("api1") + `}`, 400, []string{"too many policies"}},
		{"key with missing policy", "POST", "/tyk/keys", `{"apply_policies":["nope"],"access_rights":` + rights("api1") + `}`, 403, []string{"policy nope does not exist"}},
		{"key with another org's policy", "POST", "/tyk/keys", `{"org_id":"org2","apply_policies":["` + mid + `"],"access_rights":` + rights("other") + `}`, 403, []string{"does not exist"}},
		{"set policies by hash", "POST", "/tyk/keys/policy/" + hashOf(key), `{"apply_policies":["` + mid + `"]}`, 200, []string{`"action":"updated"`}},
		{"set policies, missing", "POST", "/tyk/keys/policy/" + hashOf(key), `{"apply_policies":["nope"]}`, 403, []string{"does not exist"}},
		{"set policies, none", "POST", "/tyk/keys/policy/" + hashOf(key), `{"apply_policies":[]}`, 400, []string{"at least one policy"}},
		{"set policies, unknown key", "POST", "/tyk/keys/policy/" + strings.Repeat("0", 64), `{"apply_policies":["` + mid + `"]}`, 404, []string{"Key not found"}},
		{"set policies, bad body", "POST", "/tyk/keys/policy/" + hashOf(key), `{"apply":1}`, 400, []string{"Couldn't decode instruction"}},
		{"no secret", "GET", "/tyk/policies", "", 403, []string{"Attempted administrative access"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := admin
			if tc.name == "no secret" {
				hdr = nil
			}
			status, body, _ := e.do(t, tc.method, tc.path, tc.body, hdr)
			if status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, status, body, tc.status)
			}
			checkBody(t, body, tc.contains, nil)
		})
	}
	// The key now applies Gold (set by hash above): its rate is the policy's.
	if b := e.mustDo(t, "GET", "/tyk/keys/"+key, "", admin, 200); !strings.Contains(b, `"apply_policies":["`+mid+`"]`) {
		t.Fatalf("key after set: %s", b)
	}
	if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 200 {
		t.Fatalf("key with Gold: %d", s)
	}
}

func hashOf(key string) string { return keys.Sum(key).String() }

// TestDeletedAPILeavesPolicies: an API's deletion takes it out of the policies
// that grant it, so that an API created again with its id is not opened by them.
func TestDeletedAPILeavesPolicies(t *testing.T) {
	e := newEnv(t)
	up := echoUpstream(t)
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
	mustCreateAPI(t, e, keyedAPI("api2", "/api2/", up.URL, `"org_id":"org1"`))
	mustCreatePolicy(t, e, `{"id":"both","name":"Both","access_rights":`+rights("api1", "api2")+`}`)
	key := mustCreateKey(t, e, "/tyk/keys", `{"apply_policies":["both"]}`)
	e.mustDo(t, "DELETE", "/tyk/apis/api1", "", admin, 200)
	b := e.mustDo(t, "GET", "/tyk/policies/both", "", admin, 200)
	if strings.Contains(b, `"api1"`) || !strings.Contains(b, `"api2"`) {
		t.Fatalf("policy after deleting api1: %s", b)
	}
	mustCreateAPI(t, e, keyedAPI("api1", "/api1/", up.URL, `"org_id":"org1"`))
	if s, _, _ := e.do(t, "GET", "/api1/x", "", auth(key)); s != 403 {
		t.Fatalf("re-created api1 with the old policy's key: %d", s)
	}
	if s, _, _ := e.do(t, "GET", "/api2/x", "", auth(key)); s != 200 {
		t.Fatalf("api2: %d", s)
	}
}
