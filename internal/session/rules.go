package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tollgate/tollgate/internal/fault"
)

// invalid is a problem with one field of a session body that the client can fix;
// the reason names the field.
func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, format, args...)
}

// MaxBodyBytes bounds a session document.
const MaxBodyBytes = 1 << 20

// Decode parses a session body in either of Tyk's serialisation styles. A body that
// is not one JSON object is a fault.Malformed; a value of the wrong type is a
// fault.Invalid naming its field.
func Decode(data []byte) (*Session, error) {
	var s Session
	if err := DecodeObject(data, &s, "session"); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeError describes a decoding error without echoing the input: broken JSON is
// malformed, a value the session's types refuse is invalid.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fault.Newf(fault.Malformed, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		want := typ.Type.String()
		switch typ.Type.Kind().String() {
		case "int64", "int", "float64":
			want = "a number"
			if strings.HasPrefix(typ.Type.Kind().String(), "int") {
				want = "an integer"
			}
		case "string":
			want = "a string"
		case "bool":
			want = "a boolean"
		case "slice":
			want = "an array"
		case "map", "struct":
			want = "an object"
		}
		if typ.Field != "" {
			return invalid(typ.Field, "field %s must be %s, not %s", typ.Field, want, typ.Value)
		}
		return invalid("", "a value must be %s, not %s", want, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.Malformed, "unexpected end of JSON input")
	}
	return invalid("", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// sentinelOK checks a number where -1 (and 0) mean "off" and positives are values.
func sentinelOK(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(field, "%s must be a finite number", field)
	}
	if v < 0 && v != -1 {
		return invalid(field, "%s must be -1, 0 or positive, not %v", field, v)
	}
	return nil
}

func checkLimits(prefix string, rate, per, throttleInterval float64, throttleRetry, depth, quotaMax, renewal Int) error {
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"rate", rate}, {"per", per}, {"throttle_interval", throttleInterval},
		{"throttle_retry_limit", float64(throttleRetry)}, {"max_query_depth", float64(depth)},
		{"quota_max", float64(quotaMax)}, {"quota_renewal_rate", float64(renewal)},
	} {
		if err := sentinelOK(prefix+c.name, c.v); err != nil {
			return err
		}
	}
	if throttleInterval > MaxThrottleWait.Seconds() {
		return invalid(prefix+"throttle_interval", "%sthrottle_interval must be at most %v seconds: a throttled request waits that long at most in all", prefix, MaxThrottleWait.Seconds())
	}
	if rate > 0 && per <= 0 {
		return invalid(prefix+"per", "%sper must be positive when %srate is set (rate %v per %v seconds is undefined)", prefix, prefix, rate, per)
	}
	if rate > 0 && per > 0 && rate/per > 1e9 {
		return invalid(prefix+"rate", "%srate is too high (more than 1e9 requests per second)", prefix)
	}
	// Longer windows and periods are not limits anyone means, and would overflow
	// the engines' nanosecond arithmetic (a limit silently not enforced).
	if per > MaxLimitSeconds || (rate > 0 && rate < 1 && per/rate > MaxLimitSeconds) {
		return invalid(prefix+"per", "%sper is too long (a rate-limit window of more than 100 years)", prefix)
	}
	if float64(renewal) > MaxLimitSeconds {
		return invalid(prefix+"quota_renewal_rate", "%squota_renewal_rate is too long (more than 100 years)", prefix)
	}
	return nil
}

// MaxThrottleWait bounds how long the gateway holds one throttled request, all its
// retries together: a client waiting longer has usually given up, and every wait
// holds a connection and a goroutine. Retries that would end later are not made.
const MaxThrottleWait = 30 * time.Second

// MaxLimitSeconds bounds rate-limit windows and quota periods: 100 years.
const MaxLimitSeconds = 100 * 365 * 24 * 3600

// validMethod reports whether m is an upper-case HTTP method token.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Validate checks a session's semantics. creating refuses an expiry in the past: a
// key that is dead on arrival is always a mistake (Tyk silently drops such values).
// On update a past expiry is allowed, as a way to expire a key now.
func (s *Session) Validate(now time.Time, creating bool) error {
	if err := checkLimits("", s.Rate, s.Per, s.ThrottleInterval, s.ThrottleRetryLimit, s.MaxQueryDepth, s.QuotaMax, s.QuotaRenewalRate); err != nil {
		return err
	}
	if err := s.refuseUnsupported(); err != nil {
		return err
	}
	if s.Expires < -1 {
		return invalid("expires", "expires must be a Unix time, or 0 or -1 for never, not %d", s.Expires)
	}
	if creating && s.Expires >= 1 && int64(s.Expires) <= now.Unix() {
		return invalid("expires", "expires (%d) is in the past; use 0 for a key that never expires", s.Expires)
	}
	if s.PostExpiryGracePeriod < -1 {
		return invalid("post_expiry_grace_period", "post_expiry_grace_period must be -1, 0 or positive")
	}
	switch s.PostExpiryAction {
	case "", "retain", "delete":
	default:
		return invalid("post_expiry_action", "post_expiry_action must be \"retain\" or \"delete\", not %q", s.PostExpiryAction)
	}
	if s.DataExpires < 0 || s.SessionLifetime < 0 {
		return invalid("data_expires", "data_expires and session_lifetime must not be negative")
	}
	if s.BasicAuthData.Password != "" {
		return invalid("basic_auth_data", "basic_auth_data: basic-auth users are not supported; use a key")
	}
	if len(s.AccessRights) > 10000 {
		return invalid("access_rights", "access_rights has too many entries (at most 10000)")
	}
	if len(s.Alias) > 1024 {
		return invalid("alias", "alias must be at most 1024 characters")
	}
	if err := checkPolicyIDs(s); err != nil {
		return err
	}
	for _, id := range sortedKeys(s.AccessRights) {
		ad := s.AccessRights[id]
		p := "access_rights." + id + "."
		if id == "" {
			return invalid("access_rights", "access_rights must not have an empty API id")
		}
		if ad.APIID != "" && ad.APIID != id {
			return invalid(p+"api_id", "%sapi_id %q does not match its key %q", p, ad.APIID, id)
		}
		for i, v := range ad.Versions {
			if strings.TrimSpace(v) == "" {
				return invalid(fmt.Sprintf("%sversions[%d]", p, i), "%sversions[%d] must not be empty", p, i)
			}
		}
		for i, spec := range ad.AllowedURLs {
			if spec.URL == "" {
				return invalid(fmt.Sprintf("%sallowed_urls[%d].url", p, i), "%sallowed_urls[%d].url must not be empty", p, i)
			}
			if _, err := regexp.Compile(spec.URL); err != nil {
				return invalid(fmt.Sprintf("%sallowed_urls[%d].url", p, i), "%sallowed_urls[%d].url is not a valid regular expression: %v", p, i, err)
			}
			for j, m := range spec.Methods {
				if !validMethod(m) {
					return invalid(fmt.Sprintf("%sallowed_urls[%d].methods[%d]", p, i, j), "%sallowed_urls[%d].methods[%d] %q must be an upper-case HTTP method such as GET", p, i, j, m)
				}
			}
		}
		if sc := ad.AllowanceScope; len(sc) > 128 || strings.ContainsRune(sc, '#') || strings.ContainsFunc(sc, func(r rune) bool { return !unicode.IsPrint(r) }) {
			// '#' separates an endpoint's counter from its right's (endpointScope).
			return invalid(p+"allowance_scope", "%sallowance_scope must be at most 128 printable characters without '#'", p)
		}
		l := ad.Limit
		if err := checkLimits(p+"limit.", l.Rate, l.Per, l.ThrottleInterval, l.ThrottleRetryLimit, l.MaxQueryDepth, l.QuotaMax, l.QuotaRenewalRate); err != nil {
			return err
		}
		if err := validateEndpoints(p, ad); err != nil {
			return err
		}
		if err := refuseUnsupportedRight(p, ad); err != nil {
			return err
		}
	}
	return nil
}

// MaxPolicies bounds apply_policies: each named policy is read whenever the key
// is compiled, so the list must stay short.
const MaxPolicies = 100

// checkPolicyIDs checks the policies a session names: each is read by id, so an
// id is short, printable text without spaces or slashes (policy ids travel in
// URL paths).
func checkPolicyIDs(s *Session) error {
	if len(s.ApplyPolicies) > MaxPolicies {
		return invalid("apply_policies", "apply_policies names too many policies (at most %d)", MaxPolicies)
	}
	ok := func(id string) bool {
		if id == "" || len(id) > 128 {
			return false
		}
		for _, r := range id {
			if r <= ' ' || r == '/' || r == 0x7f {
				return false
			}
		}
		return true
	}
	for i, id := range s.ApplyPolicies {
		if !ok(id) {
			return invalid(fmt.Sprintf("apply_policies[%d]", i), "apply_policies[%d] must be a policy id (1 to 128 characters, no spaces or slashes)", i)
		}
	}
	if s.ApplyPolicyID != "" && !ok(s.ApplyPolicyID) {
		return invalid("apply_policy_id", "apply_policy_id must be a policy id (1 to 128 characters, no spaces or slashes)")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// APIIDs lists the APIs named in the access rights, sorted.
func (s *Session) APIIDs() []string { return sortedKeys(s.AccessRights) }

// Prepare sets the fields the server owns. prev is the stored session on update (nil
// on create). With suppressReset the quota period and last_updated carry over from
// prev, as Tyk's suppress_reset=1 does; otherwise the quota starts afresh.
func (s *Session) Prepare(now time.Time, prev *Session, suppressReset bool) {
	if prev != nil {
		s.DateCreated = prev.DateCreated
	} else {
		s.DateCreated = Time{now.UTC().Truncate(time.Second)}
	}
	keep := prev != nil && suppressReset
	if keep {
		s.LastUpdated = prev.LastUpdated
		s.QuotaRenews = prev.QuotaRenews
		s.QuotaRemaining = prev.QuotaRemaining
	} else {
		s.LastUpdated = UnixString(strconv.FormatInt(now.Unix(), 10))
		s.QuotaRenews = renewsAt(now, s.QuotaRenewalRate)
		s.QuotaRemaining = s.QuotaMax
	}
	if s.AccessRights == nil {
		s.AccessRights = map[string]AccessDefinition{}
	}
	for id, ad := range s.AccessRights {
		ad.APIID = id
		if ad.Limit.IsEmpty() {
			ad.Limit = APILimit{}
			ad.AllowanceScope = ""
		} else {
			// A scope the client chose is kept (Tyk clients send back what a
			// dump gave them; two rights naming one scope share its counters, as
			// in Tyk); without one the right counts on its own.
			if ad.AllowanceScope == "" {
				ad.AllowanceScope = id
			}
			var old *AccessDefinition
			if keep {
				if o, ok := prev.AccessRights[id]; ok {
					old = &o
				}
			}
			if old != nil {
				ad.Limit.QuotaRenews = old.Limit.QuotaRenews
				ad.Limit.QuotaRemaining = old.Limit.QuotaRemaining
			} else {
				ad.Limit.QuotaRenews = renewsAt(now, ad.Limit.QuotaRenewalRate)
				ad.Limit.QuotaRemaining = ad.Limit.QuotaMax
			}
		}
		if ad.Versions == nil {
			ad.Versions = []string{}
		}
		s.AccessRights[id] = ad
	}
	if s.Allowance == 0 {
		s.Allowance = s.Rate
	}
}

func renewsAt(now time.Time, renewal Int) Int {
	if renewal <= 0 {
		return 0
	}
	return Int(now.Unix() + int64(renewal))
}
