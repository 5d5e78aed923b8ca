package dashboard_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// createPolicy creates a policy through the Dashboard API as user and returns its
// database id (Tyk's reply carries it as the message).
func (e *env) createPolicy(t testing.TB, user, body string) string {
	t.Helper()
	status, resp := e.call(t, e.dash, "POST", "/api/portal/policies", body, e.as(user))
	var r struct{ Status, Message string }
	if err := json.Unmarshal([]byte(resp), &r); status != 200 || err != nil || r.Status != "OK" || len(r.Message) != 24 {
		t.Fatalf("create policy: %d %s", status, resp)
	}
	return r.Message
}

func TestPolicyAPI(t *testing.T) {
	made := func(t *testing.T, e *env) {
		e.createAPIA(t, "a")
		e.vars["free"] = e.createPolicy(t, "a", `{"name":"Free plan","rate":2,"per":60,"quota_max":100,"quota_renewal_rate":3600,`+
			`"key_expires_in":3600,"tags":["plan"],"access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}}`)
		e.vars["draft"] = e.createPolicy(t, "a", `{"name":"Draft plan","active":false,"access_rights":{"apia":{"api_id":"apia"}}}`)
		for i := range 11 {
			e.createPolicy(t, "a", fmt.Sprintf(`{"name":"Filler %02d","rate":1,"per":1}`, i))
		}
		e.createPolicy(t, "b", `{"name":"Free plan of B"}`)
	}
	keyFromPolicy := func(t *testing.T, e *env) {
		status, resp := e.call(t, e.dash, "POST", "/api/keys", `{"apply_policies":["`+e.vars["free"]+`"]}`, e.as("a"))
		var c struct {
			Key     string `json:"key"`
			KeyHash string `json:"key_hash"`
		}
		if status != 200 || json.Unmarshal([]byte(resp), &c) != nil || c.Key == "" {
			t.Fatalf("key from policy: %d %s", status, resp)
		}
		e.vars["key"], e.vars["hash"] = c.Key, c.KeyHash
	}
	scenarios{setup: made, rows: []scenario{
		{name: "list, first page by name", method: "GET", path: "/api/portal/policies", as: "a", status: 200,
			contains: []string{`"Pages":2`, `"name":"Draft plan"`, `"name":"Filler 00"`}, absent: []string{"Free plan", "of B"}},
		{name: "list page 2", method: "GET", path: "/api/portal/policies?p=2", as: "a", status: 200, contains: []string{`"name":"Free plan"`, `"Pages":2`}},
		{name: "list all", method: "GET", path: "/api/portal/policies?p=-1", as: "a", status: 200, contains: []string{`"name":"Free plan"`, `"name":"Draft plan"`, `"Pages":1`}},
		{name: "active only", method: "GET", path: "/api/portal/policies?active=true&p=-1", as: "a", status: 200, contains: []string{`"name":"Free plan"`}, absent: []string{"Draft plan"}},
		{name: "bad active", method: "GET", path: "/api/portal/policies?active=yes", as: "a", status: 400, contains: []string{"active must be true or false"}},
		{name: "search by name", method: "GET", path: "/api/portal/policies/search?q=FREE", as: "a", status: 200, contains: []string{`"name":"Free plan"`, `"Pages":1`}, absent: []string{"of B", "Filler"}},
		{name: "search by id", method: "GET", path: "/api/portal/policies/search?q={free}", as: "a", status: 200, contains: []string{`"_id":"{free}"`}},
		{name: "search by state", method: "GET", path: "/api/portal/policies/search?state=draft", as: "a", status: 200, contains: []string{"Draft plan"}, absent: []string{"Free plan"}},
		{name: "search by policy_ids", method: "GET", path: "/api/portal/policies/search?policy_ids={free},{draft}", as: "a", status: 200, contains: []string{"Draft plan", "Free plan"}, absent: []string{"Filler"}},
		{name: "policy_ids not hex", method: "GET", path: "/api/portal/policies/search?policy_ids=nope", as: "a", status: 400, contains: []string{"Policy ID is not in hex format."}},
		{name: "search by api", method: "GET", path: "/api/portal/policies/search?api_id=apia", as: "a", status: 200, contains: []string{"Free plan", "Draft plan"}, absent: []string{"Filler"}},
		{name: "bad sort", method: "GET", path: "/api/portal/policies/search?sort=color", as: "a", status: 400, contains: []string{"sort must be"}},
		{name: "get", method: "GET", path: "/api/portal/policies/{free}", as: "a", status: 200, contains: []string{`"rate":2`, `"state":"active"`, `"id":"{free}"`}},
		{name: "get trailing slash", method: "GET", path: "/api/portal/policies/{free}/", as: "a", status: 200, contains: []string{`"Free plan"`}},
		{name: "other org cannot see it", method: "GET", path: "/api/portal/policies/{free}", as: "b", status: 404, contains: []string{"Could not retrieve portal object."}},
		{name: "reader has no policies permission", method: "GET", path: "/api/portal/policies", as: "reader", status: 403, contains: []string{"access denied"}},
		{name: "no key", method: "GET", path: "/api/portal/policies", status: 401},
		{name: "create malformed", method: "POST", path: "/api/portal/policies", body: `{"name":`, as: "a", status: 400, contains: []string{"Request body malformed"}},
		{name: "create names a field", method: "POST", path: "/api/portal/policies", body: `{"name":"x","quota_max":-7}`, as: "a", status: 400, contains: []string{"quota_max must be -1, 0 or positive"}},
		{name: "create with another org's API", method: "POST", path: "/api/portal/policies", body: `{"name":"x","access_rights":{"apia":{}}}`, as: "b", status: 400, contains: []string{"API apia, which does not exist"}},
		{name: "update", method: "PUT", path: "/api/portal/policies/{free}", body: `{"name":"Free plan","rate":5,"per":1,"access_rights":{"apia":{}}}`, as: "a", status: 200, contains: []string{`"Message":"Data updated"`},
			check: func(t *testing.T, e *env, _ string) {
				if _, b := e.call(t, e.dash, "GET", "/api/portal/policies/"+e.vars["free"], "", e.as("a")); !strings.Contains(b, `"rate":5`) {
					t.Errorf("after update: %s", b)
				}
			}},
		{name: "update other org", method: "PUT", path: "/api/portal/policies/{free}", body: `{"name":"x"}`, as: "b", status: 404},
		{name: "delete", method: "DELETE", path: "/api/portal/policies/{draft}", as: "a", status: 200, contains: []string{`"Message":"Data deleted"`}},
		{name: "delete missing", method: "DELETE", path: "/api/portal/policies/nope", as: "a", status: 404, contains: []string{"Could not retrieve object for deletion"}},
		{name: "key from policy works on the gateway", setup: keyFromPolicy, method: "GET", path: "/api/keys/{hash}?hashed=true", as: "a", status: 200,
			contains: []string{`"apply_policies":["{free}"]`},
			check: func(t *testing.T, e *env, body string) {
				// key_expires_in set the expiry; rate 2 per 60 s is the policy's.
				if strings.Contains(body, `"expires":0`) {
					t.Errorf("key_expires_in did not set an expiry: %s", body)
				}
				for i, want := range []int{200, 200, 429} {
					if s, b := e.call(t, e.gw, "GET", "/apia-a/x", "", map[string]string{"Authorization": e.vars["key"]}); s != want {
						t.Fatalf("request %d: %d %s, want %d", i, s, b, want)
					}
				}
			}},
		{name: "delete in use", setup: keyFromPolicy, method: "DELETE", path: "/api/portal/policies/{free}", as: "a", status: 409, contains: []string{"applied by 1 key"}},
		{name: "key with a draft policy", method: "POST", path: "/api/keys", body: `{"apply_policies":["{draft}"]}`, as: "a", status: 403, contains: []string{"is a draft"}},
		{name: "key with another org's policy", method: "POST", path: "/api/keys", body: `{"apply_policies":["{free}"]}`, as: "b", status: 403, contains: []string{"does not exist"}},
	}}.run(t)
}
