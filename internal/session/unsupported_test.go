package session

import "testing"

// TestRefuseUnsupported: every limiting field Tollgate cannot enforce is refused
// when set, naming the field; its defaults, as Tyk's clients send them, pass.
func TestRefuseUnsupported(t *testing.T) {
	tests := []struct {
		name, json, field string
	}{
		{"smoothing on", `{"smoothing":{"enabled":true,"threshold":500,"trigger":0.8,"step":100,"delay":30}}`, "smoothing"},
		{"smoothing off", `{"smoothing":{"enabled":false,"threshold":500,"trigger":0.8,"step":100,"delay":30}}`, ""},
		{"smoothing null", `{"smoothing":null}`, ""},
		{"smoothing not an object", `{"smoothing":"on"}`, "smoothing"},
		{"per-API smoothing on", right(`,"limit":{"rate":1,"per":1,"smoothing":{"enabled":true}}`), "access_rights.a.limit.smoothing"},
		{"per-API smoothing off", right(`,"limit":{"rate":1,"per":1,"smoothing":{"enabled":false,"threshold":500}}`), ""},
		{"rate_limit_pattern", `{"meta_data":{"rate_limit_pattern":"$tyk_context.request_data.user"}}`, "meta_data.rate_limit_pattern"},
		{"empty rate_limit_pattern", `{"meta_data":{"rate_limit_pattern":"","owner":"x"}}`, ""},
		{"max_query_depth", `{"max_query_depth":5}`, "max_query_depth"},
		{"max_query_depth off", `{"max_query_depth":-1}`, ""},
		{"per-API max_query_depth", right(`,"limit":{"max_query_depth":3}`), "access_rights.a.limit.max_query_depth"},
		{"restricted_types", right(`,"restricted_types":[{"name":"Query","fields":["secret"]}]`), "access_rights.a.restricted_types"},
		{"allowed_types", right(`,"allowed_types":[{"name":"Query","fields":["hello"]}]`), "access_rights.a.allowed_types"},
		{"field_access_rights", right(`,"field_access_rights":[{"type_name":"Query","field_name":"x","limits":{"max_query_depth":2}}]`), "access_rights.a.field_access_rights"},
		{"disable_introspection", right(`,"disable_introspection":true`), "access_rights.a.disable_introspection"},
		{"GraphQL defaults", right(`,"restricted_types":[],"allowed_types":null,"field_access_rights":[],"disable_introspection":false`), ""},
		{"hmac_enabled", `{"hmac_enabled":true,"hmac_string":"s3cret"}`, "hmac_enabled"},
		{"http signatures", `{"enable_http_signature_validation":true,"rsa_certificate_id":"c1"}`, "enable_http_signature_validation"},
		{"certificate", `{"certificate":"5e9d9544a1dcd60001d0ed20abc"}`, "certificate"},
		{"mtls bindings", `{"mtls_static_certificate_bindings":["cert-1"]}`, "mtls_static_certificate_bindings"},
		{"mtls bindings empty", `{"mtls_static_certificate_bindings":[]}`, ""},
		{"session_lifetime", `{"session_lifetime":3600}`, "session_lifetime"},
		{"json_rpc_methods", right(`,"json_rpc_methods":[{"name":"tools/call","limit":{"rate":1,"per":1}}]`), "access_rights.a.json_rpc_methods"},
		{"mcp_access_rights", right(`,"mcp_access_rights":{"tools":{"allowed":["search"]}}`), "access_rights.a.mcp_access_rights"},
		{"mcp_access_rights empty", right(`,"mcp_access_rights":{"tools":{"allowed":[],"blocked":[]}},"mcp_primitives":[]`), ""},
		{"throttle_interval past the wait cap", `{"throttle_interval":31,"throttle_retry_limit":1}`, "throttle_interval"},
		{"per-API throttle_interval past the cap", right(`,"limit":{"rate":1,"per":1,"throttle_interval":60,"throttle_retry_limit":1}`), "access_rights.a.limit.throttle_interval"},
		{"Tyk's sample throttle", `{"throttle_interval":10,"throttle_retry_limit":10}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkField(t, tt.json, tt.field) })
	}
}

// TestFullTykSessionAccepted: the session Tyk's GET returns, every member at its
// default, is accepted as a client echoes it back.
func TestFullTykSessionAccepted(t *testing.T) {
	const full = `{"last_check":0,"allowance":100,"rate":100,"per":1,"throttle_interval":-1,"throttle_retry_limit":-1,
	"max_query_depth":-1,"date_created":"2024-08-09T14:40:34.87614+03:00","expires":0,"quota_max":-1,"quota_renews":1723207234,
	"quota_remaining":-1,"quota_renewal_rate":-1,"access_rights":{"a":{"api_name":"A","api_id":"a","versions":["Default"],
	"allowed_urls":[{"url":"/users","methods":["GET"]}],"restricted_types":[],"allowed_types":[],
	"limit":{"rate":0,"per":0,"throttle_interval":0,"throttle_retry_limit":0,"max_query_depth":0,"quota_max":0,
	"quota_renews":0,"quota_remaining":0,"quota_renewal_rate":0,"smoothing":null},"field_access_rights":[],
	"disable_introspection":false,"allowance_scope":"","endpoints":[{"path":"/users","methods":[{"name":"GET","limit":{"rate":10,"per":1}}]}]}},
	"org_id":"o","oauth_client_id":"","oauth_keys":null,"certificate":"","mtls_static_certificate_bindings":null,
	"basic_auth_data":{"password":"","hash_type":""},"jwt_data":{"secret":""},"hmac_enabled":false,
	"enable_http_signature_validation":false,"hmac_string":"","rsa_certificate_id":"","is_inactive":false,
	"apply_policy_id":"","apply_policies":[],"data_expires":0,"monitor":{"trigger_limits":[80,95]},
	"enable_detail_recording":false,"enable_detailed_recording":true,"meta_data":{"user_type":"mobile_user"},
	"tags":["edge"],"alias":"full-key","last_updated":"1723203634","id_extractor_deadline":0,"session_lifetime":0,
	"smoothing":{"enabled":false,"threshold":500,"trigger":0.8,"step":100,"delay":30},
	"post_expiry_action":"retain","post_expiry_grace_period":3600}`
	checkField(t, full, "")
}

// TestStoredUnsupportedStillLoads: keys stored with such values before these checks
// decode and compile; only a write refuses them.
func TestStoredUnsupportedStillLoads(t *testing.T) {
	s, err := Decode([]byte(`{"hmac_enabled":true,"max_query_depth":4,"smoothing":{"enabled":true},` +
		`"access_rights":{"a":{"disable_introspection":true,"restricted_types":[{"name":"Q"}]}}}`))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if _, ok := Compile(s).Access("a", false); !ok {
		t.Fatal("compiled session lost its right")
	}
	if s.Validate(now, false) == nil {
		t.Fatal("a write keeping the values was accepted")
	}
}
