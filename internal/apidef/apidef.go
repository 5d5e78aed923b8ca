// Package apidef holds API definitions in Tyk's classic JSON shape: parsing that keeps
// fields Tollgate does not know, validation with messages that name the problem, and the
// listen-path rules the gateway routes by.
package apidef

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"unicode"

	"github.com/tollgate/tollgate/internal/fault"
)

// AuthConfig is Tyk's token-auth configuration (auth / auth_configs.authToken).
type AuthConfig struct {
	AuthHeaderName string `json:"auth_header_name"`
	UseParam       bool   `json:"use_param"`
	ParamName      string `json:"param_name"`
	UseCookie      bool   `json:"use_cookie"`
	CookieName     string `json:"cookie_name"`
	DisableHeader  bool   `json:"disable_header"`
}

// Proxy is the proxy section of a definition.
type Proxy struct {
	ListenPath         string `json:"listen_path"`
	TargetURL          string `json:"target_url"`
	StripListenPath    bool   `json:"strip_listen_path"`
	PreserveHostHeader bool   `json:"preserve_host_header"`
}

// Version is one entry of version_data.versions.
type Version struct {
	Name    string `json:"name"`
	Expires string `json:"expires"`
}

// VersionData is the version_data section.
type VersionData struct {
	NotVersioned   bool               `json:"not_versioned"`
	DefaultVersion string             `json:"default_version"`
	Versions       map[string]Version `json:"versions"`
}

// VersionDefinition is the definition section: where a request carries its version.
type VersionDefinition struct {
	Location string `json:"location"`
	Key      string `json:"key"`
}

// GlobalRateLimit is the API-level rate limit shared by all callers.
type GlobalRateLimit struct {
	Rate     float64 `json:"rate"`
	Per      float64 `json:"per"`
	Disabled bool    `json:"disabled"`
}

// fields is the typed view of the keys Tollgate acts on.
type fields struct {
	APIID            string                `json:"api_id"`
	Name             string                `json:"name"`
	OrgID            string                `json:"org_id"`
	Active           *bool                 `json:"active"`
	UseKeyless       bool                  `json:"use_keyless"`
	Auth             *AuthConfig           `json:"auth"`
	AuthConfigs      map[string]AuthConfig `json:"auth_configs"`
	Proxy            Proxy                 `json:"proxy"`
	VersionData      VersionData           `json:"version_data"`
	Definition       VersionDefinition     `json:"definition"`
	GlobalRateLimit  GlobalRateLimit       `json:"global_rate_limit"`
	DisableRateLimit bool                  `json:"disable_rate_limit"`
	DisableQuota     bool                  `json:"disable_quota"`
	Domain           string                `json:"domain"`
}

// Definition is one API definition. The typed fields are what Tollgate acts on; raw
// keeps the whole document, unknown fields included, so that what a client stores is
// what it reads back.
type Definition struct {
	fields
	raw map[string]json.RawMessage
}

// invalid is a problem with one field of a definition that the client can fix.
func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, format, args...)
}

// malformed is a definition that cannot be read at all.
func malformed(format string, args ...any) error { return fault.Newf(fault.Malformed, format, args...) }

// Parse decodes a definition from JSON. It reports a body that is not a JSON object
// as a fault.Malformed and wrongly typed fields as fault.Invalid; it does not check
// semantics (see Validate).
func Parse(data []byte) (*Definition, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, malformed("API definition must be a JSON object")
	}
	d := &Definition{}
	if err := json.Unmarshal(data, &d.raw); err != nil {
		return nil, malformed("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := json.Unmarshal(data, &d.fields); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, "field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return nil, malformed("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if d.raw == nil {
		return nil, malformed("API definition must be a JSON object")
	}
	return d, nil
}

// MarshalJSON writes the stored document, unknown fields included.
func (d *Definition) MarshalJSON() ([]byte, error) { return json.Marshal(d.raw) }

// APIID is the public API id that keys reference.
func (d *Definition) APIID() string { return d.fields.APIID }

// Name is the display name.
func (d *Definition) Name() string { return d.fields.Name }

// OrgID is the owning organisation.
func (d *Definition) OrgID() string { return d.fields.OrgID }

// Proxy is the proxy section.
func (d *Definition) Proxy() Proxy { return d.fields.Proxy }

// Domain is the optional host the API is bound to.
func (d *Definition) Domain() string { return strings.ToLower(d.fields.Domain) }

// Keyless reports whether requests need no key.
func (d *Definition) Keyless() bool { return d.fields.UseKeyless }

// Active reports whether the API is served. An absent "active" means active, as the
// gateway serves what it is given.
func (d *Definition) Active() bool { return d.fields.Active == nil || *d.fields.Active }

// GlobalRateLimit is the API-level rate limit.
func (d *Definition) GlobalRateLimit() GlobalRateLimit { return d.fields.GlobalRateLimit }

// DisableRateLimit reports whether key rate limits are switched off for this API.
func (d *Definition) DisableRateLimit() bool { return d.fields.DisableRateLimit }

// DisableQuota reports whether key quotas are switched off for this API.
func (d *Definition) DisableQuota() bool { return d.fields.DisableQuota }

// VersionData is the version_data section.
func (d *Definition) VersionData() VersionData { return d.fields.VersionData }

// VersionLocation is the definition section (where the version is read from).
func (d *Definition) VersionLocation() VersionDefinition { return d.fields.Definition }

// AuthToken returns the token-auth configuration: auth_configs.authToken, falling back
// to the deprecated top-level auth, with Tyk's default header.
func (d *Definition) AuthToken() AuthConfig {
	var a AuthConfig
	if c, ok := d.fields.AuthConfigs["authToken"]; ok {
		a = c
	} else if d.fields.Auth != nil {
		a = *d.fields.Auth
	}
	if a.AuthHeaderName == "" {
		a.AuthHeaderName = "Authorization"
	}
	return a
}

// SetAPIID sets api_id in both views.
func (d *Definition) SetAPIID(id string) { d.setString("api_id", id); d.fields.APIID = id }

// SetOrgID sets org_id in both views.
func (d *Definition) SetOrgID(id string) { d.setString("org_id", id); d.fields.OrgID = id }

// MarkActive writes "active": true into a definition that does not say: absent
// means active (Active), and a definition read back must say what is served, so
// that a dump re-imported into Tyk or Tollgate is not switched off.
func (d *Definition) MarkActive() {
	if d.fields.Active == nil {
		t := true
		d.fields.Active = &t
		d.raw["active"] = json.RawMessage("true")
	}
}

func (d *Definition) setString(key, v string) {
	b, _ := json.Marshal(v)
	d.raw[key] = b
}

// NewAPIID returns a random 32-hex-character API id, the form Tyk generates.
func NewAPIID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Validate checks the definition's semantics. Its fault is the first problem
// found, carrying every other as fault.Error.Others (see Problems), so that a form
// can mark each field at fault at once while an API answers with the first.
func (d *Definition) Validate() error { return fault.Join(d.Problems()) }

// Problems lists the definition's problems, at most one a field, in a fixed
// order: api_id, name, proxy.listen_path, proxy.target_url, domain, auth,
// global_rate_limit, definition.location.
func (d *Definition) Problems() []*fault.Error {
	var out []*fault.Error
	add := func(err error) {
		if f, ok := fault.As(err); ok {
			out = append(out, f)
		}
	}
	add(ValidateAPIID(d.fields.APIID))
	if strings.TrimSpace(d.fields.Name) == "" {
		add(invalid("name", "name must not be empty"))
	}
	_, err := NormalizeListenPath(d.fields.Proxy.ListenPath)
	add(err)
	add(validateTarget(d.fields.Proxy.TargetURL))
	if dom := d.fields.Domain; dom != "" && strings.ContainsAny(dom, " /\\?#@") {
		add(invalid("domain", "domain %q is not a host name", dom))
	}
	if !d.fields.UseKeyless {
		a := d.AuthToken()
		switch {
		case a.DisableHeader && !a.UseParam && !a.UseCookie:
			add(invalid("auth", "auth: header, query parameter and cookie are all disabled; the key could not be read from anywhere"))
		case strings.ContainsAny(a.AuthHeaderName, " :\r\n"):
			add(invalid("auth.auth_header_name", "auth: auth_header_name %q is not a valid header name", a.AuthHeaderName))
		}
	}
	g := d.fields.GlobalRateLimit
	switch {
	case g.Rate < 0 || g.Per < 0 || isNaNOrInf(g.Rate) || isNaNOrInf(g.Per):
		add(invalid("global_rate_limit", "global_rate_limit: rate and per must be finite and not negative"))
	case g.Per > 100*365*24*3600 || (g.Rate > 0 && g.Rate < 1 && g.Per/g.Rate > 100*365*24*3600):
		add(invalid("global_rate_limit", "global_rate_limit: per is too long (a window of more than 100 years)"))
	case g.Rate > 0 && g.Per <= 0 && !g.Disabled:
		add(invalid("global_rate_limit", "global_rate_limit: per must be positive when rate is set"))
	}
	if !d.fields.VersionData.NotVersioned {
		switch d.fields.Definition.Location {
		case "", "header", "url-param", "url":
		default:
			add(invalid("definition.location", "definition.location must be header, url-param or url, not %q", d.fields.Definition.Location))
		}
	}
	return out
}

func isNaNOrInf(f float64) bool { return f != f || f > 1e308 || f < -1e308 }

// ValidateAPIID checks an API id: non-empty, at most 128 characters of letters, digits,
// '-', '_' and '.', so that it is safe in URLs and file names.
func ValidateAPIID(id string) error {
	if id == "" {
		return invalid("api_id", "api_id must not be empty")
	}
	if len(id) > 128 {
		return invalid("api_id", "api_id must be at most 128 characters")
	}
	for _, r := range id {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.')) {
			return invalid("api_id", "api_id %q may contain only letters, digits, '-', '_' and '.'", id)
		}
	}
	if id == "." || id == ".." {
		return invalid("api_id", "api_id %q is not allowed", id)
	}
	return nil
}

func validateTarget(s string) error {
	if strings.TrimSpace(s) == "" {
		return invalid("proxy.target_url", "proxy.target_url must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("proxy.target_url", "proxy.target_url %q is not a valid URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("proxy.target_url", "proxy.target_url %q must start with http:// or https://", s)
	}
	if u.Host == "" {
		return invalid("proxy.target_url", "proxy.target_url %q has no host", s)
	}
	if u.User != nil {
		return invalid("proxy.target_url", "proxy.target_url must not carry credentials")
	}
	if u.Fragment != "" {
		return invalid("proxy.target_url", "proxy.target_url must not have a fragment")
	}
	return nil
}

// NormalizeListenPath validates a listen path and returns the form the router matches
// on: a leading '/', no trailing '/', except that the root stays "/". Tollgate matches
// on path-segment boundaries, so "/foo" serves /foo and /foo/... but not /foobar.
func NormalizeListenPath(p string) (string, error) {
	if p == "" {
		return "", invalid("proxy.listen_path", "proxy.listen_path must not be empty")
	}
	if !strings.HasPrefix(p, "/") {
		return "", invalid("proxy.listen_path", "proxy.listen_path %q must start with '/'", p)
	}
	if len(p) > 1024 {
		return "", invalid("proxy.listen_path", "proxy.listen_path must be at most 1024 characters")
	}
	for _, r := range p {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", invalid("proxy.listen_path", "proxy.listen_path %q must not contain spaces or control characters", p)
		}
		if r == '?' || r == '#' || r == '{' || r == '}' || r == '\\' {
			return "", invalid("proxy.listen_path", "proxy.listen_path %q must not contain %q", p, r)
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return "", invalid("proxy.listen_path", "proxy.listen_path %q must not contain '.' or '..' segments", p)
		}
	}
	if strings.Contains(p, "//") {
		return "", invalid("proxy.listen_path", "proxy.listen_path %q must not contain empty segments", p)
	}
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	return p, nil
}

// RouteKey is what must be unique among stored APIs: the domain and the normalised
// listen path. The definition must be valid.
func (d *Definition) RouteKey() string {
	lp, _ := NormalizeListenPath(d.fields.Proxy.ListenPath)
	return d.Domain() + lp
}
