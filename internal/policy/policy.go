// Package policy holds Tyk security policies: a named template of access rights,
// rate limit, quota and throttling that keys apply by id (apply_policies), so that
// changing the policy changes every key that applies it. It decodes and validates
// policy documents in Tyk's shape and merges a key with its policies into the
// session the gateway enforces (Apply). It knows nothing about storage or HTTP.
package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"time"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/session"
)

// States of a policy (Tyk's dashboard `state`).
const (
	// StateActive policies are applied to their keys.
	StateActive = "active"
	// StateDraft policies are not in force: keys that apply one are refused, as
	// Tyk's gateways never receive drafts.
	StateDraft = "draft"
	// StateDeny policies refuse every key that applies them.
	StateDeny = "deny"
)

// Partitions say which parts of a policy apply. With none set the policy supplies
// everything (access rights, rate limit, quota, complexity); PerAPI makes each of
// its access rights carry its own limits, counted per API (or per policy).
type Partitions struct {
	Quota      bool `json:"quota"`
	RateLimit  bool `json:"rate_limit"`
	ACL        bool `json:"acl"`
	Complexity bool `json:"complexity"`
	PerAPI     bool `json:"per_api"`
}

// Enabled reports whether any of quota, rate_limit, acl or complexity is set.
func (p Partitions) Enabled() bool { return p.Quota || p.RateLimit || p.ACL || p.Complexity }

// Policy is a policy document, field for field as Tyk defines it (gateway and
// dashboard shapes: the dashboard adds `_id` and `state`).
type Policy struct {
	// MID is the dashboard's database id (24 hex), minted on create.
	MID string `json:"_id"`
	// ID is the id keys name in apply_policies; it defaults to MID.
	ID                            string                              `json:"id"`
	Name                          string                              `json:"name"`
	OrgID                         string                              `json:"org_id"`
	Rate                          float64                             `json:"rate"`
	Per                           float64                             `json:"per"`
	QuotaMax                      session.Int                         `json:"quota_max"`
	QuotaRenewalRate              session.Int                         `json:"quota_renewal_rate"`
	ThrottleInterval              float64                             `json:"throttle_interval"`
	ThrottleRetryLimit            session.Int                         `json:"throttle_retry_limit"`
	MaxQueryDepth                 session.Int                         `json:"max_query_depth"`
	AccessRights                  map[string]session.AccessDefinition `json:"access_rights"`
	HMACEnabled                   bool                                `json:"hmac_enabled"`
	EnableHTTPSignatureValidation bool                                `json:"enable_http_signature_validation"`
	// Active is Tyk's older switch; State is the one Tollgate reads (Normalise
	// keeps the two in step).
	Active       *bool              `json:"active"`
	IsInactive   bool               `json:"is_inactive"`
	State        string             `json:"state"`
	Tags         []string           `json:"tags"`
	KeyExpiresIn session.Int        `json:"key_expires_in"`
	Partitions   Partitions         `json:"partitions"`
	MetaData     map[string]any     `json:"meta_data"`
	Smoothing    json.RawMessage    `json:"smoothing,omitempty"`
	LastUpdated  session.UnixString `json:"last_updated"`
	DateCreated  session.Time       `json:"date_created"`
	// Extra keeps members Tollgate does not know.
	Extra session.Extra `json:"-"`
}

type policyJSON Policy

var policyNames = session.JSONNames(reflect.TypeFor[policyJSON]())

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var v policyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	extra, err := session.SplitExtra(b, policyNames)
	if err != nil {
		return err
	}
	v.Extra = extra
	*p = Policy(v)
	return nil
}

// MarshalJSON implements json.Marshaler: the full object plus unknown members.
func (p Policy) MarshalJSON() ([]byte, error) {
	v := policyJSON(p)
	if v.AccessRights == nil {
		v.AccessRights = map[string]session.AccessDefinition{}
	}
	if v.MetaData == nil {
		v.MetaData = map[string]any{}
	}
	if v.Tags == nil {
		v.Tags = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return session.AppendExtra(b, p.Extra)
}

// MaxBodyBytes bounds a policy document.
const MaxBodyBytes = 1 << 20

// Decode parses a policy body. A body that is not one JSON object is a
// fault.Malformed; a value of the wrong type is a fault.Invalid naming its field.
func Decode(data []byte) (*Policy, error) {
	var p Policy
	if err := session.DecodeObject(data, &p, "policy"); err != nil {
		return nil, err
	}
	return &p, nil
}

// idPattern is what a policy id may hold: ids travel in URL paths and in keys'
// apply_policies, so no spaces, slashes or control characters.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// midPattern is a dashboard database id: 24 lower-case hex characters.
var midPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ValidID reports whether id may name a policy.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ValidMID reports whether id has the shape of a database id.
func ValidMID(id string) bool { return midPattern.MatchString(id) }

func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, format, args...)
}

// Validate checks a policy's semantics, with messages that name the field. The
// limits and access rights follow the session rules (a policy is the part of a
// session that keys inherit), so what a key may not carry a policy may not either.
func (p *Policy) Validate(now time.Time) error {
	if p.ID != "" && !ValidID(p.ID) {
		return invalid("id", "id must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
	}
	if p.MID != "" && !ValidMID(p.MID) {
		return invalid("_id", "_id must be 24 lower-case hexadecimal characters")
	}
	if p.Name == "" {
		return invalid("name", "name is required")
	}
	if len(p.Name) > 256 {
		return invalid("name", "name must be at most 256 characters")
	}
	switch p.State {
	case "", StateActive, StateDraft, StateDeny:
	default:
		return invalid("state", "state must be \"active\", \"draft\" or \"deny\", not %q", p.State)
	}
	if p.KeyExpiresIn < 0 {
		return invalid("key_expires_in", "key_expires_in must be 0 (keys never expire) or a number of seconds")
	}
	if p.KeyExpiresIn > session.MaxLimitSeconds {
		return invalid("key_expires_in", "key_expires_in is too long (more than 100 years)")
	}
	if p.Partitions.PerAPI && p.Partitions.Enabled() {
		return invalid("partitions", "partitions.per_api cannot be combined with the quota, rate_limit, acl or complexity partitions")
	}
	for i, t := range p.Tags {
		if len(t) > 256 {
			return invalid(fmt.Sprintf("tags[%d]", i), "tags[%d] must be at most 256 characters", i)
		}
	}
	if len(p.Tags) > 1000 {
		return invalid("tags", "tags has too many entries (at most 1000)")
	}
	// The session rules check limits, access rights and the fields Tollgate
	// cannot enforce. A policy's expiry lives in key_expires_in, not expires.
	return p.template().Validate(now, false)
}

// template is the policy as a session: the fields a key inherits from it.
func (p *Policy) template() *session.Session {
	return &session.Session{
		Rate: p.Rate, Per: p.Per, QuotaMax: p.QuotaMax, QuotaRenewalRate: p.QuotaRenewalRate,
		ThrottleInterval: p.ThrottleInterval, ThrottleRetryLimit: p.ThrottleRetryLimit,
		MaxQueryDepth: p.MaxQueryDepth, AccessRights: p.AccessRights, MetaData: p.MetaData,
		Smoothing: p.Smoothing, Tags: p.Tags, OrgID: p.OrgID,
		HMACEnabled: p.HMACEnabled, EnableHTTPSignatureValidation: p.EnableHTTPSignatureValidation,
	}
}

// APIIDs lists the APIs named in the access rights, sorted.
func (p *Policy) APIIDs() []string { return p.template().APIIDs() }

// Normalise settles the fields the server owns or derives: state from active
// when absent (a policy without either is active, as Tyk's gateway treats every
// policy it loads), active from state, access rights' api_id from their keys.
func (p *Policy) Normalise(now time.Time) {
	if p.State == "" {
		p.State = StateActive
		if p.Active != nil && !*p.Active {
			p.State = StateDraft
		}
	}
	active := p.State == StateActive
	p.Active = &active
	if p.AccessRights == nil {
		p.AccessRights = map[string]session.AccessDefinition{}
	}
	for id, ad := range p.AccessRights {
		ad.APIID = id
		if ad.Versions == nil {
			ad.Versions = []string{}
		}
		p.AccessRights[id] = ad
	}
	p.LastUpdated = session.UnixString(fmt.Sprint(now.Unix()))
}

// InForce reports whether keys may apply the policy at all: drafts and denying
// policies refuse their keys.
func (p *Policy) InForce() bool { return p.State == "" || p.State == StateActive }
