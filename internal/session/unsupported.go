package session

import (
	"bytes"
	"encoding/json"
)

// Tollgate's rule for limits: nothing that restricts access is accepted and then
// ignored. The fields below restrict access in Tyk but Tollgate cannot enforce them,
// so a write that sets one to anything but its default is refused, naming the field.
// Defaults (absent, null, 0, -1 where Tyk means "off", false, "", empty arrays and
// objects) stay accepted: Tyk's own clients send full session objects carrying them.
// Decode stays lenient, so keys stored before these checks still load.

// refuseUnsupported checks the session-level fields.
func (s *Session) refuseUnsupported() error {
	switch {
	case s.MaxQueryDepth > 0:
		return unsupported("max_query_depth", "GraphQL query depth limits")
	case s.HMACEnabled:
		return unsupported("hmac_enabled", "HMAC request signing")
	case s.EnableHTTPSignatureValidation:
		return unsupported("enable_http_signature_validation", "HTTP signature validation")
	case s.Certificate != "":
		return unsupported("certificate", "client-certificate binding")
	case len(s.MTLSStaticCertificateBindings) > 0:
		return unsupported("mtls_static_certificate_bindings", "client-certificate binding")
	case s.SessionLifetime > 0:
		// In Tyk the key disappears session_lifetime seconds after it was last
		// written; expires is the supported way to end a key.
		return unsupported("session_lifetime", "session lifetimes (set expires to end the key at a given time)")
	}
	if p, ok := s.MetaData["rate_limit_pattern"].(string); ok && p != "" {
		return unsupported("meta_data.rate_limit_pattern", "custom rate-limit counter patterns")
	}
	return refuseSmoothing("smoothing", s.Smoothing)
}

// refuseUnsupportedRight checks one access right's fields; p is its prefix.
func refuseUnsupportedRight(p string, ad AccessDefinition) error {
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{
		{"restricted_types", ad.RestrictedTypes},
		{"allowed_types", ad.AllowedTypes},
		{"field_access_rights", ad.FieldAccessRights},
	} {
		if !emptyJSON(f.v) {
			return unsupported(p+f.name, "GraphQL access controls")
		}
	}
	if ad.DisableIntrospection {
		return unsupported(p+"disable_introspection", "GraphQL access controls")
	}
	if ad.Limit.MaxQueryDepth > 0 {
		return unsupported(p+"limit.max_query_depth", "GraphQL query depth limits")
	}
	if err := refuseSmoothing(p+"limit.smoothing", ad.Limit.Smoothing); err != nil {
		return err
	}
	// Tyk 5.12's JSON-RPC and MCP controls arrive as unknown members.
	for _, name := range []string{"json_rpc_methods", "json_rpc_methods_access_rights", "mcp_primitives", "mcp_access_rights"} {
		if v, ok := ad.Extra[name]; ok && !emptyJSON(v) {
			return unsupported(p+name, "JSON-RPC and MCP access controls")
		}
	}
	return nil
}

func unsupported(field, what string) error {
	return invalid(field, "%s is not supported: Tollgate does not enforce %s, and refuses limits it would ignore; remove %s or send its default", field, what, field)
}

// smoothing is the part of Tyk's rate-limit smoothing object that matters here.
type smoothing struct {
	Enabled bool `json:"enabled"`
}

// refuseSmoothing refuses enabled rate-limit smoothing. Tyk's clients send the
// object with enabled false (and its other members set), which is accepted.
func refuseSmoothing(field string, raw json.RawMessage) error {
	if emptyJSON(raw) {
		return nil
	}
	var sm smoothing
	if err := json.Unmarshal(raw, &sm); err != nil {
		return invalid(field, "%s must be an object such as {\"enabled\": false}", field)
	}
	if sm.Enabled {
		return unsupported(field, "rate-limit smoothing")
	}
	return nil
}

// emptyJSON reports whether v is absent or a default: null, false, 0, "", [], or an
// object whose members are all defaults.
func emptyJSON(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return true
	}
	switch v[0] {
	case '{':
		var members map[string]json.RawMessage
		if json.Unmarshal(v, &members) != nil {
			return false
		}
		for _, m := range members {
			if !emptyJSON(m) {
				return false
			}
		}
		return true
	case '[':
		var items []json.RawMessage
		return json.Unmarshal(v, &items) == nil && len(items) == 0
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch x := x.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	}
	return false
}
