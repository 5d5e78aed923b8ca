// Package session holds key sessions in Tyk's JSON shape (the document a "key" maps
// to) and the pure rules about them: decoding both of Tyk's serialisation styles,
// validation with messages that name the field, and the server-owned fields set on
// create and update. It knows nothing about storage or HTTP.
package session

import (
	"encoding/json"
	"reflect"
)

// APILimit is a per-API limit (access_rights[api].limit). All zero means "no per-API
// limit"; null and absent mean the same.
type APILimit struct {
	Rate               float64         `json:"rate"`
	Per                float64         `json:"per"`
	ThrottleInterval   float64         `json:"throttle_interval"`
	ThrottleRetryLimit Int             `json:"throttle_retry_limit"`
	MaxQueryDepth      Int             `json:"max_query_depth"`
	QuotaMax           Int             `json:"quota_max"`
	QuotaRenews        Int             `json:"quota_renews"`
	QuotaRemaining     Int             `json:"quota_remaining"`
	QuotaRenewalRate   Int             `json:"quota_renewal_rate"`
	Smoothing          json.RawMessage `json:"smoothing,omitempty"`
}

// IsEmpty reports whether the limit sets nothing.
func (l APILimit) IsEmpty() bool {
	return l.Rate == 0 && l.Per == 0 && l.ThrottleInterval == 0 && l.ThrottleRetryLimit == 0 &&
		l.MaxQueryDepth == 0 && l.QuotaMax == 0 && l.QuotaRenews == 0 && l.QuotaRemaining == 0 &&
		l.QuotaRenewalRate == 0
}

// AccessSpec is one allowed_urls entry: a path regular expression and the methods
// allowed on it (compared exactly, as Tyk does).
type AccessSpec struct {
	URL     string   `json:"url"`
	Methods []string `json:"methods"`
}

// AccessDefinition is one access_rights entry: which API, versions, paths and limits.
type AccessDefinition struct {
	APIName              string          `json:"api_name"`
	APIID                string          `json:"api_id"`
	Versions             []string        `json:"versions"`
	AllowedURLs          []AccessSpec    `json:"allowed_urls"`
	RestrictedTypes      json.RawMessage `json:"restricted_types,omitempty"`
	AllowedTypes         json.RawMessage `json:"allowed_types,omitempty"`
	Limit                APILimit        `json:"limit"`
	FieldAccessRights    json.RawMessage `json:"field_access_rights,omitempty"`
	DisableIntrospection bool            `json:"disable_introspection"`
	AllowanceScope       string          `json:"allowance_scope"`
	// Endpoints are per-endpoint rate limits (Tyk 5.x): a request matching one
	// uses its rate instead of the API's or the key's.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Extra keeps members Tollgate does not know.
	Extra Extra `json:"-"`
}

// The GraphQL and endpoint members above are omitted when absent rather than written
// as null: Tyk's schema types them as arrays and objects, and Tyk omits them too.

type accessDefinitionJSON AccessDefinition

var accessDefinitionNames = jsonNames(reflect.TypeFor[accessDefinitionJSON]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members. Endpoints
// that do not decode (stored before they were typed) are kept as they came, in
// Extra: the session still loads, Validate refuses it on the next write, and Compile
// closes the API rather than guess at limits it cannot read.
func (a *AccessDefinition) UnmarshalJSON(b []byte) error {
	var v accessDefinitionWire
	extra, err := decodeKeeping(b, &v, accessDefinitionNames)
	if err != nil {
		return err
	}
	ad := AccessDefinition(v.accessDefinitionJSON)
	if raw := v.Endpoints; len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &ad.Endpoints) != nil {
			ad.Endpoints = nil
			if extra == nil {
				extra = Extra{}
			}
			extra["endpoints"] = raw
		}
	}
	ad.Extra = extra
	*a = ad
	return nil
}

// accessDefinitionWire reads endpoints raw (the shallower field wins over the
// embedded one), so that endpoints of the wrong shape cannot make a stored
// session unreadable.
type accessDefinitionWire struct {
	accessDefinitionJSON
	Endpoints json.RawMessage `json:"endpoints"`
}

// MarshalJSON implements json.Marshaler, writing unknown members back.
func (a AccessDefinition) MarshalJSON() ([]byte, error) {
	return encodeKeeping(accessDefinitionJSON(a), a.Extra)
}

// BasicAuthData is a basic-auth user's credentials.
type BasicAuthData struct {
	Password string `json:"password"`
	HashType string `json:"hash_type"`
}

// JWTData is a per-key JWT secret.
type JWTData struct {
	Secret string `json:"secret"`
}

// Monitor holds quota-usage trigger percentages.
type Monitor struct {
	TriggerLimits []float64 `json:"trigger_limits"`
}

// Session is a key's session document, field for field as Tyk defines it. Output is
// always the full object (Tyk's pre-5.12 style), which every Tyk client can read.
type Session struct {
	LastCheck                     Int                         `json:"last_check"`
	Allowance                     float64                     `json:"allowance"`
	Rate                          float64                     `json:"rate"`
	Per                           float64                     `json:"per"`
	ThrottleInterval              float64                     `json:"throttle_interval"`
	ThrottleRetryLimit            Int                         `json:"throttle_retry_limit"`
	MaxQueryDepth                 Int                         `json:"max_query_depth"`
	DateCreated                   Time                        `json:"date_created"`
	Expires                       Int                         `json:"expires"`
	QuotaMax                      Int                         `json:"quota_max"`
	QuotaRenews                   Int                         `json:"quota_renews"`
	QuotaRemaining                Int                         `json:"quota_remaining"`
	QuotaRenewalRate              Int                         `json:"quota_renewal_rate"`
	AccessRights                  map[string]AccessDefinition `json:"access_rights"`
	OrgID                         string                      `json:"org_id"`
	OauthClientID                 string                      `json:"oauth_client_id"`
	OauthKeys                     map[string]string           `json:"oauth_keys"`
	Certificate                   string                      `json:"certificate"`
	MTLSStaticCertificateBindings []string                    `json:"mtls_static_certificate_bindings"`
	BasicAuthData                 BasicAuthData               `json:"basic_auth_data"`
	JWTData                       JWTData                     `json:"jwt_data"`
	HMACEnabled                   bool                        `json:"hmac_enabled"`
	EnableHTTPSignatureValidation bool                        `json:"enable_http_signature_validation"`
	HMACSecret                    string                      `json:"hmac_string"`
	RSACertificateID              string                      `json:"rsa_certificate_id"`
	IsInactive                    bool                        `json:"is_inactive"`
	ApplyPolicyID                 string                      `json:"apply_policy_id"`
	ApplyPolicies                 []string                    `json:"apply_policies"`
	DataExpires                   Int                         `json:"data_expires"`
	Monitor                       Monitor                     `json:"monitor"`
	EnableDetailRecording         bool                        `json:"enable_detail_recording"`
	EnableDetailedRecording       bool                        `json:"enable_detailed_recording"`
	MetaData                      map[string]any              `json:"meta_data"`
	Tags                          []string                    `json:"tags"`
	Alias                         string                      `json:"alias"`
	LastUpdated                   UnixString                  `json:"last_updated"`
	IDExtractorDeadline           Int                         `json:"id_extractor_deadline"`
	SessionLifetime               Int                         `json:"session_lifetime"`
	PostExpiryAction              string                      `json:"post_expiry_action,omitempty"` // Tyk's enum has no empty value
	PostExpiryGracePeriod         Int                         `json:"post_expiry_grace_period"`
	Smoothing                     json.RawMessage             `json:"smoothing"`
	// Extra keeps members Tollgate does not know.
	Extra Extra `json:"-"`
}

type sessionJSON Session

var sessionNames = jsonNames(reflect.TypeFor[sessionJSON]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (s *Session) UnmarshalJSON(b []byte) error {
	var v sessionJSON
	extra, err := decodeKeeping(b, &v, sessionNames)
	if err != nil {
		return err
	}
	v.Extra = extra
	*s = Session(v)
	return nil
}

// MarshalJSON implements json.Marshaler: the full object plus unknown members. The
// deprecated smoothing null and empty maps are written the way Tyk writes them.
func (s Session) MarshalJSON() ([]byte, error) {
	v := sessionJSON(s)
	if v.AccessRights == nil {
		v.AccessRights = map[string]AccessDefinition{}
	}
	if v.MetaData == nil {
		v.MetaData = map[string]any{}
	}
	return encodeKeeping(v, s.Extra)
}
