package session

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits are the rate limit and quota that apply to one request, with the counter
// scopes they are counted under: Scope is "" for the session-level limits shared by
// all of a key's APIs, or the API id for a per-API limit; RateScope is Scope, or for
// a per-endpoint limit Scope plus a hash of its method and path.
type Limits struct {
	Rate         float64
	Per          float64
	QuotaMax     int64
	QuotaRenewal int64
	Scope        string
	RateScope    string
	// Throttle says how a request the rate limit refuses waits and asks again.
	Throttle Throttle
}

// Throttle is Tyk's throttling: a request the key's rate limit refuses waits
// Interval and asks again, up to Retries times, before it is refused. Retries is
// already cut to the waits that end within MaxThrottleWait. The zero Throttle
// refuses at once.
type Throttle struct {
	Interval time.Duration
	Retries  int
}

// Enabled reports whether refused requests wait and retry.
func (t Throttle) Enabled() bool { return t.Interval > 0 && t.Retries > 0 }

// NewThrottle reads Tyk's throttle_interval (seconds) and throttle_retry_limit as
// the gateway enforces them: either at 0 or -1 turns throttling off, and the
// retries are cut to those that end within MaxThrottleWait (the forms warn of
// such a cut with it).
func NewThrottle(interval float64, retries Int) Throttle {
	if !(interval > 0) || retries <= 0 || interval > MaxThrottleWait.Seconds() {
		return Throttle{}
	}
	t := Throttle{Interval: time.Duration(interval * float64(time.Second))}
	if t.Interval <= 0 {
		return Throttle{}
	}
	t.Retries = int(min(int64(retries), int64(MaxThrottleWait/t.Interval)))
	return t
}

// RateLimited reports whether a rate limit applies (rate <= 0 means none).
func (l Limits) RateLimited() bool { return l.Rate > 0 && l.Per > 0 }

// QuotaLimited reports whether a quota applies (quota_max <= 0 means none).
func (l Limits) QuotaLimited() bool { return l.QuotaMax > 0 }

type urlRule struct {
	re      *regexp.Regexp
	methods []string
}

// endpointRule is an Endpoint prepared for matching.
type endpointRule struct {
	re      *regexp.Regexp
	methods []endpointLimit
}

type endpointLimit struct {
	method    string
	rate, per float64
	scope     string
}

// Right is an access_rights entry prepared for the request path.
type Right struct {
	versions  []string
	urls      []urlRule
	limits    Limits
	endpoints []endpointRule
	// closed is set when the stored endpoints cannot be read: limits that cannot
	// be known close the API rather than leave it unlimited.
	closed bool
}

// AllowsVersion reports whether the key may call version v.
func (r *Right) AllowsVersion(v string) bool { return slices.Contains(r.versions, v) }

// AllowsURL applies allowed_urls: with none set everything is allowed; otherwise one
// entry must match the path and list the method exactly.
func (r *Right) AllowsURL(method, path string) bool {
	if r.closed {
		return false
	}
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

// Limits returns the limits for requests under this right, per-endpoint limits
// aside (see LimitsFor).
func (r *Right) Limits() Limits { return r.limits }

// LimitsFor returns the limits for one request: those of the first endpoint whose
// path matches and which lists the method (letter case aside, as Tyk compares), or
// the right's own. An endpoint replaces the rate and counts it under a scope of its
// own; the quota and the throttle stay the right's. It allocates nothing.
func (r *Right) LimitsFor(method, path string) Limits {
	l := r.limits
	for i := range r.endpoints {
		e := &r.endpoints[i]
		if !e.re.MatchString(path) {
			continue
		}
		for j := range e.methods {
			if m := &e.methods[j]; strings.EqualFold(m.method, method) {
				l.Rate, l.Per, l.RateScope = m.rate, m.per, m.scope
				return l
			}
		}
	}
	return l
}

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
	session := sessionLimits(s)
	c := &Compiled{Session: s, OrgID: s.OrgID, Inactive: s.IsInactive, Expires: int64(s.Expires), rights: make(map[string]*Right, len(s.AccessRights))}
	for id, ad := range s.AccessRights {
		r := &Right{versions: ad.Versions, limits: rightLimits(session, id, ad)}
		for _, u := range ad.AllowedURLs {
			r.urls = append(r.urls, urlRule{re: compileOrDeny(u.URL), methods: u.Methods})
		}
		_, r.closed = ad.Extra["endpoints"]
		for _, e := range ad.Endpoints {
			rule := endpointRule{re: compileOrDeny(e.Path)}
			for _, m := range e.Methods {
				rule.methods = append(rule.methods, endpointLimit{method: m.Name, rate: m.Limit.Rate, per: m.Limit.Per, scope: endpointScope(r.limits.Scope, m.Name, e.Path)})
			}
			r.endpoints = append(r.endpoints, rule)
		}
		c.rights[id] = r
	}
	if len(s.AccessRights) == 0 {
		c.master = &Right{limits: session}
	}
	return c
}

// compileOrDeny compiles a stored expression. Expressions are validated on write;
// one that no longer compiles matches nothing, which for allowed_urls denies rather
// than opening the API.
func compileOrDeny(expr string) *regexp.Regexp {
	re, err := regexp.Compile(expr)
	if err != nil {
		return regexp.MustCompile(`\A\z.`)
	}
	return re
}

// endpointScope is the counter scope of one endpoint limit: the right's scope plus
// a hash of method and path, as Tyk suffixes its limiter key. '#' appears in no
// API id, so it cannot meet another API's counter.
func endpointScope(scope, method, path string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(method) + ":" + path))
	return scope + "#" + hex.EncodeToString(sum[:8])
}

// sessionLimits are the session-level limits.
func sessionLimits(s *Session) Limits {
	return Limits{Rate: s.Rate, Per: s.Per, QuotaMax: int64(s.QuotaMax), QuotaRenewal: int64(s.QuotaRenewalRate),
		Throttle: NewThrottle(s.ThrottleInterval, s.ThrottleRetryLimit)}
}

// rightLimits are the limits of requests under access right id: its own limit when
// it sets one (all of it, the throttle included, even fields left at zero: Tyk's
// rule), the session's otherwise.
func rightLimits(session Limits, id string, ad AccessDefinition) Limits {
	if ad.Limit.IsEmpty() {
		return session
	}
	l := ad.Limit
	scope := ad.AllowanceScope
	if scope == "" {
		scope = id
	}
	return Limits{Rate: l.Rate, Per: l.Per, QuotaMax: int64(l.QuotaMax), QuotaRenewal: int64(l.QuotaRenewalRate),
		Scope: scope, RateScope: scope, Throttle: NewThrottle(l.ThrottleInterval, l.ThrottleRetryLimit)}
}

// Throttle reports the throttling that applies to the key's requests on apiID (see
// rightLimits for which settings win), as the gateway enforces it. A policy merge
// can compare candidates with it.
func (s *Session) Throttle(apiID string) Throttle {
	l := sessionLimits(s)
	if ad, ok := s.AccessRights[apiID]; ok {
		l = rightLimits(l, apiID, ad)
	}
	return l.Throttle
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
