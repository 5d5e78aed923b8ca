package session

import (
	"regexp"
	"slices"
)

// Limits are the rate limit and quota that apply to one request, with the counter
// scope they are counted under: "" for the session-level limits shared by all of a
// key's APIs, or the API id for a per-API limit.
type Limits struct {
	Rate         float64
	Per          float64
	QuotaMax     int64
	QuotaRenewal int64
	Scope        string
}

// RateLimited reports whether a rate limit applies (rate <= 0 means none).
func (l Limits) RateLimited() bool { return l.Rate > 0 && l.Per > 0 }

// QuotaLimited reports whether a quota applies (quota_max <= 0 means none).
func (l Limits) QuotaLimited() bool { return l.QuotaMax > 0 }

type urlRule struct {
	re      *regexp.Regexp
	methods []string
}

// Right is an access_rights entry prepared for the request path.
type Right struct {
	versions []string
	urls     []urlRule
	limits   Limits
}

// AllowsVersion reports whether the key may call version v.
func (r *Right) AllowsVersion(v string) bool { return slices.Contains(r.versions, v) }

// AllowsURL applies allowed_urls: with none set everything is allowed; otherwise one
// entry must match the path and list the method exactly.
func (r *Right) AllowsURL(method, path string) bool {
	if len(r.urls) == 0 {
		return true
	}
	for _, u := range r.urls {
		if slices.Contains(u.methods, method) && u.re.MatchString(path) {
			return true
		}
	}
	return false
}

// Limits returns the limits for requests under this right.
func (r *Right) Limits() Limits { return r.limits }

// Compiled is a session prepared for enforcement: regular expressions compiled and
// limits resolved once, so checking a request allocates nothing.
type Compiled struct {
	// Session is the decoded document (read-only).
	Session *Session
	// OrgID is the key's organisation: it opens that organisation's APIs only.
	OrgID    string
	Inactive bool
	// Denied refuses the key whatever it asks for: its policies cannot be
	// applied (set by the caller that merges them).
	Denied bool
	// Expires is the Unix expiry; values below 1 mean never.
	Expires int64
	rights  map[string]*Right
	master  *Right
}

// Compile prepares s for enforcement. s must have passed Validate.
func Compile(s *Session) *Compiled {
	session := Limits{Rate: s.Rate, Per: s.Per, QuotaMax: int64(s.QuotaMax), QuotaRenewal: int64(s.QuotaRenewalRate)}
	c := &Compiled{Session: s, OrgID: s.OrgID, Inactive: s.IsInactive, Expires: int64(s.Expires), rights: make(map[string]*Right, len(s.AccessRights))}
	for id, ad := range s.AccessRights {
		r := &Right{versions: ad.Versions, limits: session}
		if !ad.Limit.IsEmpty() {
			l := ad.Limit
			scope := ad.AllowanceScope
			if scope == "" {
				scope = id
			}
			r.limits = Limits{Rate: l.Rate, Per: l.Per, QuotaMax: int64(l.QuotaMax), QuotaRenewal: int64(l.QuotaRenewalRate), Scope: scope}
		}
		for _, u := range ad.AllowedURLs {
			re, err := regexp.Compile(u.URL)
			if err != nil {
				// Validated on write; a stored rule that no longer compiles denies
				// rather than opening the API.
				re = regexp.MustCompile(`\A\z.`)
			}
			r.urls = append(r.urls, urlRule{re: re, methods: u.Methods})
		}
		c.rights[id] = r
	}
	if len(s.AccessRights) == 0 {
		c.master = &Right{limits: session}
	}
	return c
}

// Access returns the key's right to apiID. A key without any access rights is a
// master key: it reaches every API only when allowMaster is set.
func (c *Compiled) Access(apiID string, allowMaster bool) (*Right, bool) {
	if c.master != nil {
		return c.master, allowMaster
	}
	r, ok := c.rights[apiID]
	return r, ok
}

// IsMaster reports whether the key has no access rights.
func (c *Compiled) IsMaster() bool { return c.master != nil }

// Expired reports whether the key has expired at Unix time now.
func (c *Compiled) Expired(now int64) bool { return c.Expires >= 1 && now >= c.Expires }
