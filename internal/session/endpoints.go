package session

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// Endpoint is one per-endpoint rate limit entry of an access right
// (access_rights[api].endpoints[i], Tyk 5.x): a path regular expression and the
// limit of each method on it.
//
// As in Tyk, the path is an unanchored regular expression matched against the full
// request path (listen path included, as allowed_urls is), the endpoints are tried in
// order, and the first whose path matches and which lists the request's method
// (letter case aside) applies.
type Endpoint struct {
	Path    string           `json:"path"`
	Methods []EndpointMethod `json:"methods"`
	// Extra keeps members Tollgate does not know.
	Extra Extra `json:"-"`
}

// EndpointMethod is one method's limit on an endpoint.
type EndpointMethod struct {
	Name  string    `json:"name"`
	Limit RateLimit `json:"limit"`
	// Extra keeps members Tollgate does not know.
	Extra Extra `json:"-"`
}

// RateLimit is Tyk's rate limit object: rate requests per per seconds.
type RateLimit struct {
	Rate float64 `json:"rate"`
	Per  float64 `json:"per"`
	// Smoothing is refused when enabled (see Validate); kept as sent otherwise.
	Smoothing json.RawMessage `json:"smoothing,omitempty"`
	// Extra keeps members Tollgate does not know.
	Extra Extra `json:"-"`
}

// Interval is the time between two requests at this rate (0 without a rate): the
// smaller it is, the more the limit allows. Tyk's policy merge keeps the limit
// with the smaller interval.
func (l RateLimit) Interval() time.Duration {
	if l.Rate <= 0 || l.Per <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) * l.Per / l.Rate)
}

type (
	endpointJSON       Endpoint
	endpointMethodJSON EndpointMethod
	rateLimitJSON      RateLimit
)

var (
	endpointNames       = jsonNames(reflect.TypeFor[endpointJSON]())
	endpointMethodNames = jsonNames(reflect.TypeFor[endpointMethodJSON]())
	rateLimitNames      = jsonNames(reflect.TypeFor[rateLimitJSON]())
)

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (e *Endpoint) UnmarshalJSON(b []byte) error {
	var v endpointJSON
	extra, err := decodeKeeping(b, &v, endpointNames)
	v.Extra = extra
	*e = Endpoint(v)
	return err
}

// MarshalJSON implements json.Marshaler, writing unknown members back.
func (e Endpoint) MarshalJSON() ([]byte, error) { return encodeKeeping(endpointJSON(e), e.Extra) }

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (m *EndpointMethod) UnmarshalJSON(b []byte) error {
	var v endpointMethodJSON
	extra, err := decodeKeeping(b, &v, endpointMethodNames)
	v.Extra = extra
	*m = EndpointMethod(v)
	return err
}

// MarshalJSON implements json.Marshaler, writing unknown members back.
func (m EndpointMethod) MarshalJSON() ([]byte, error) {
	return encodeKeeping(endpointMethodJSON(m), m.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, keeping unknown members.
func (l *RateLimit) UnmarshalJSON(b []byte) error {
	var v rateLimitJSON
	extra, err := decodeKeeping(b, &v, rateLimitNames)
	v.Extra = extra
	*l = RateLimit(v)
	return err
}

// MarshalJSON implements json.Marshaler, writing unknown members back.
func (l RateLimit) MarshalJSON() ([]byte, error) { return encodeKeeping(rateLimitJSON(l), l.Extra) }

// MaxEndpoints bounds the endpoint entries of one access right: every request to
// the API may try each one's regular expression.
const MaxEndpoints = 100

// validateEndpoints checks one access right's endpoints; p is the right's field
// prefix ("access_rights.<api>.").
func validateEndpoints(p string, ad AccessDefinition) error {
	if raw, ok := ad.Extra["endpoints"]; ok {
		var probe []Endpoint
		err := json.Unmarshal(raw, &probe)
		return invalid(p+"endpoints", "%sendpoints must be an array of {\"path\", \"methods\"} objects: %v", p, strings.TrimPrefix(fmt.Sprint(err), "json: "))
	}
	if len(ad.Endpoints) > MaxEndpoints {
		return invalid(p+"endpoints", "%sendpoints has too many entries (at most %d)", p, MaxEndpoints)
	}
	seen := map[string]string{}
	for i, e := range ad.Endpoints {
		ep := fmt.Sprintf("%sendpoints[%d]", p, i)
		if e.Path == "" {
			return invalid(ep+".path", "%s.path must not be empty", ep)
		}
		if _, err := regexp.Compile(e.Path); err != nil {
			return invalid(ep+".path", "%s.path is not a valid regular expression: %v", ep, err)
		}
		if len(e.Methods) == 0 {
			return invalid(ep+".methods", "%s.methods must list at least one method and its limit", ep)
		}
		for j, m := range e.Methods {
			mp := fmt.Sprintf("%s.methods[%d]", ep, j)
			if !validMethod(m.Name) {
				return invalid(mp+".name", "%s.name %q must be an upper-case HTTP method such as GET", mp, m.Name)
			}
			// A second entry for the same method and path would never apply
			// (the first one matches first): refused rather than ignored.
			id := m.Name + ":" + e.Path
			if first, dup := seen[id]; dup {
				return invalid(mp+".name", "%s.name repeats %s on path %q, already limited by %s", mp, m.Name, e.Path, first)
			}
			seen[id] = mp
			if err := validateEndpointLimit(mp+".limit.", m.Limit); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateEndpointLimit requires a real limit: in Tyk an endpoint entry with no
// rate lifts every rate limit from that endpoint, which is never what a limit
// entry means.
func validateEndpointLimit(p string, l RateLimit) error {
	switch {
	case math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate <= 0:
		return invalid(p+"rate", "%srate must be a positive number of requests", p)
	case math.IsNaN(l.Per) || math.IsInf(l.Per, 0) || l.Per <= 0:
		return invalid(p+"per", "%sper must be a positive number of seconds", p)
	}
	if err := checkLimits(p, l.Rate, l.Per, 0, 0, 0, 0, 0); err != nil {
		return err
	}
	return refuseSmoothing(p+"smoothing", l.Smoothing)
}

// MergeEndpoints combines two lists of endpoint limits the way Tyk's policy merge
// does: every method and path of either, and where both limit the same one, the
// limit that allows more (the smaller Interval; on a tie, the higher rate). The
// result is in a's order, then b's additions in theirs. Neither input is changed.
func MergeEndpoints(a, b []Endpoint) []Endpoint {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	type at struct{ i, j int }
	out := make([]Endpoint, len(a))
	where := map[string]at{}
	for i, e := range a {
		out[i] = e
		out[i].Methods = append([]EndpointMethod(nil), e.Methods...)
		for j, m := range e.Methods {
			where[strings.ToUpper(m.Name)+":"+e.Path] = at{i, j}
		}
	}
	paths := map[string]int{}
	for i, e := range out {
		if _, ok := paths[e.Path]; !ok {
			paths[e.Path] = i
		}
	}
	for _, e := range b {
		for _, m := range e.Methods {
			if w, ok := where[strings.ToUpper(m.Name)+":"+e.Path]; ok {
				cur := &out[w.i].Methods[w.j]
				if allowsMore(m.Limit, cur.Limit) {
					cur.Limit = m.Limit
				}
				continue
			}
			i, ok := paths[e.Path]
			if !ok {
				out = append(out, Endpoint{Path: e.Path, Extra: e.Extra})
				i = len(out) - 1
				paths[e.Path] = i
			}
			out[i].Methods = append(out[i].Methods, m)
			where[strings.ToUpper(m.Name)+":"+e.Path] = at{i, len(out[i].Methods) - 1}
		}
	}
	return out
}

// allowsMore reports whether x allows more requests than y.
func allowsMore(x, y RateLimit) bool {
	xi, yi := x.Interval(), y.Interval()
	return xi < yi || (xi == yi && x.Rate > y.Rate)
}
