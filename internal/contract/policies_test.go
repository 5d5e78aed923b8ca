package contract

import "strings"

// tykPolicy is the policy body of Tyk's OpenAPI examples (POST /tyk/policies and
// /api/portal/policies), for the API the exchanges make.
const tykPolicy = `{"access_rights":{"{api}":{"allowed_urls":[{"methods":["GET"],"url":"/users"}],"api_id":"{api}",` +
	`"api_name":"Itachi API","disable_introspection":false,"versions":["Default"]}},"active":true,"hmac_enabled":false,` +
	`"is_inactive":false,"key_expires_in":2.592e+06,"max_query_depth":-1,"meta_data":{"email":"itachi@tyk.io","user_type":"mobile_user"},` +
	`"name":"Sample policy","partitions":{"acl":true,"complexity":false,"per_api":false,"quota":true,"rate_limit":true},` +
	`"per":60,"quota_max":10000,"quota_renewal_rate":3600,"rate":1000,"tags":["security"],"throttle_interval":10,"throttle_retry_limit":10}`

// policyExchanges covers the policy endpoints of both APIs and keys that apply a
// policy.
func policyExchanges() []exchange {
	const g, d = gatewaySpec, dashboardSpec
	gwAPI := `{"api_id":"gwapi","name":"Gateway API","org_id":"{org}","use_keyless":false,"active":true,` +
		`"auth":{"auth_header_name":"Authorization"},"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"/gw/","target_url":"http://127.0.0.1:9","strip_listen_path":true}}`
	gwPolicy := `{"id":"5ead7120575961000181867e","org_id":"{org}",` + tykPolicy[1:]
	gwPolicyMade := []step{
		{spec: g, method: "POST", path: "/tyk/apis", body: gwAPI, as: "secret"},
		{spec: g, method: "POST", path: "/tyk/policies", body: subst(gwPolicy, "gwapi"), as: "secret"},
	}
	gwKeyMade := plus(gwPolicyMade, step{spec: g, method: "POST", path: "/tyk/keys", body: `{"apply_policies":["5ead7120575961000181867e"]}`, as: "secret",
		save: map[string]string{"gwHash": "key_hash"}})
	dashAPIMade := []step{{spec: d, method: "POST", path: "/api/apis", body: `{"api_definition":` + classicAPI + `}`, as: "admin"}}
	dashPolicyMade := plus(dashAPIMade, step{spec: d, method: "POST", path: "/api/portal/policies", body: subst(tykPolicy, "{apiID}"), as: "admin",
		save: map[string]string{"pol": "Message"}})

	return []exchange{
		{name: "create policy", spec: g, setup: gwPolicyMade[:1], op: "POST /tyk/policies", method: "POST", path: "/tyk/policies", body: subst(gwPolicy, "gwapi"), as: "secret", status: 200},
		{name: "create policy, body not JSON", spec: g, op: "POST /tyk/policies", method: "POST", path: "/tyk/policies", body: `{"name":`, as: "secret", status: 400, invalid: "request body"},
		{name: "list policies", spec: g, setup: gwPolicyMade, op: "GET /tyk/policies", method: "GET", path: "/tyk/policies", as: "secret", status: 200},
		{name: "get policy", spec: g, setup: gwPolicyMade, op: "GET /tyk/policies/{polID}", method: "GET", path: "/tyk/policies/5ead7120575961000181867e", as: "secret", status: 200},
		{name: "get unknown policy", spec: g, op: "GET /tyk/policies/{polID}", method: "GET", path: "/tyk/policies/nope", as: "secret", status: 404},
		{name: "update policy", spec: g, setup: gwPolicyMade, op: "PUT /tyk/policies/{polID}", method: "PUT", path: "/tyk/policies/5ead7120575961000181867e", body: subst(gwPolicy, "gwapi"), as: "secret", status: 200},
		{name: "delete policy", spec: g, setup: gwPolicyMade, op: "DELETE /tyk/policies/{polID}", method: "DELETE", path: "/tyk/policies/5ead7120575961000181867e", as: "secret", status: 200},
		{name: "create key from policy", spec: g, setup: gwPolicyMade, op: "POST /tyk/keys", method: "POST", path: "/tyk/keys", body: `{"apply_policies":["5ead7120575961000181867e"]}`, as: "secret", status: 200},
		{name: "set a key's policies", spec: g, setup: gwKeyMade, op: "POST /tyk/keys/policy/{keyID}", method: "POST", path: "/tyk/keys/policy/{gwHash}",
			body: `{"apply_policies":["5ead7120575961000181867e"],"policy":""}`, as: "secret", status: 200},
		{name: "set an unknown key's policies", spec: g, setup: gwPolicyMade, op: "POST /tyk/keys/policy/{keyID}", method: "POST", path: "/tyk/keys/policy/0000000000000000000000000000000000000000000000000000000000000000",
			body: `{"apply_policies":["5ead7120575961000181867e"],"policy":""}`, as: "secret", status: 404},

		{name: "create policy", spec: d, setup: dashAPIMade, op: "POST /api/portal/policies", method: "POST", path: "/api/portal/policies", body: subst(tykPolicy, "{apiID}"), as: "admin", status: 200},
		{name: "create policy, body not JSON", spec: d, op: "POST /api/portal/policies", method: "POST", path: "/api/portal/policies", body: `{"name":`, as: "admin", status: 400, invalid: "request body"},
		{name: "list policies", spec: d, setup: dashPolicyMade, op: "GET /api/portal/policies", method: "GET", path: "/api/portal/policies?p=1&active=true", as: "admin", status: 200},
		{name: "search policies", spec: d, setup: dashPolicyMade, op: "GET /api/portal/policies/search", method: "GET", path: "/api/portal/policies/search?q=sample&sort=name", as: "admin", status: 200},
		{name: "get policy", spec: d, setup: dashPolicyMade, op: "GET /api/portal/policies/{id}", method: "GET", path: "/api/portal/policies/{pol}", as: "admin", status: 200},
		{name: "get unknown policy", spec: d, op: "GET /api/portal/policies/{id}", method: "GET", path: "/api/portal/policies/663b4bbd5715ec323b424dca", as: "admin", status: 404},
		{name: "update policy", spec: d, setup: dashPolicyMade, op: "PUT /api/portal/policies/{id}", method: "PUT", path: "/api/portal/policies/{pol}", body: subst(tykPolicy, "{apiID}"), as: "admin", status: 200},
		{name: "delete policy", spec: d, setup: dashPolicyMade, op: "DELETE /api/portal/policies/{id}", method: "DELETE", path: "/api/portal/policies/{pol}", as: "admin", status: 200},
		{name: "delete unknown policy", spec: d, op: "DELETE /api/portal/policies/{id}", method: "DELETE", path: "/api/portal/policies/663b4bbd5715ec323b424dca", as: "admin", status: 404},
		{name: "create key from policy", spec: d, setup: dashPolicyMade, op: "POST /api/keys", method: "POST", path: "/api/keys", body: `{"apply_policies":["{pol}"]}`, as: "admin", status: 200},
	}
}

// subst puts the API id into a policy body.
func subst(body, api string) string { return strings.ReplaceAll(body, "{api}", api) }
