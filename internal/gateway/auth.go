package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// Tyk's messages for refused requests (spec/tyk-compat.md §5.3).
const (
	msgAuthMissing    = "Authorization field missing"
	msgDisallowed     = "Access to this API has been disallowed"
	msgInactive       = "Key is inactive, please renew"
	msgExpired        = "Key has expired, please renew"
	msgURLDisallowed  = "Access to this resource has been disallowed"
	msgRateLimited    = "Rate Limit Exceeded"
	msgAPIRateLimited = "API Rate Limit Exceeded"
	msgQuotaExceeded  = "Quota exceeded"
	msgNoVersion      = "Version information not found"
	msgUnknownVersion = "This API version does not seem to exist"
	msgVersionExpired = "Api Version has expired, please check documentation or contact administrator"
	// Not Tyk's: Tyk has no verdict for a limiter or store that cannot answer. A
	// 503 tells the client to retry; a 401/403 would look like a bad key.
	msgLimitsUnavailable = "Service temporarily unavailable: rate limits and quotas could not be checked, please retry"
	msgKeysUnavailable   = "Service temporarily unavailable: the key could not be looked up, please retry"
)

// verdict is the outcome of the request checks. status 0 means admitted.
type verdict struct {
	status int
	msg    string
	// rate is the decision of the limiter that refused the request (status 429), or
	// of the key's rate limit when it admitted it (rated).
	rate  limit.Decision
	rated bool
	keyed bool
	quota limit.QuotaState
	// quotaMax is the quota that applied (-1: unlimited).
	quotaMax int64
	c        *session.Compiled
	// throttle, on a 429 from the key's own rate limit, is how the request may
	// wait and ask again (see throttle.go).
	throttle session.Throttle
}

// check runs the request checks and answers refused requests itself. On success it
// sets the rate-limit response headers and returns true.
func (g *Gateway) check(w http.ResponseWriter, r *http.Request, rt *route) bool {
	var v verdict
	g.authorize(r, rt, g.opts.Now(), &v)
	if v.throttle.Enabled() {
		g.throttle(r, rt, &v)
	}
	h := w.Header()
	switch {
	case v.status == http.StatusTooManyRequests:
		h.Set("Retry-After", strconv.FormatInt(ceilSeconds(v.rate.RetryAfter), 10))
		setIETFHeaders(h, v.rate)
		writeError(w, v.status, v.msg)
		return false
	case v.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
		writeError(w, v.status, v.msg)
		return false
	case v.status != 0:
		writeError(w, v.status, v.msg)
		return false
	case g.ietf:
		if v.rated {
			setIETFHeaders(h, v.rate)
		}
	case !v.keyed:
		setQuotaHeaders(h, 0, 0, 0)
	case v.quotaMax > 0:
		var reset int64
		if !v.quota.RenewsAt.IsZero() {
			reset = v.quota.RenewsAt.Unix()
		}
		setQuotaHeaders(h, v.quotaMax, v.quota.Remaining, reset)
	default:
		s := v.c.Session
		setQuotaHeaders(h, -1, int64(s.QuotaRemaining), int64(s.QuotaRenews))
	}
	return true
}

// authorize runs the checks in order: key, session state, expiry, access rights
// (API, version, allowed_urls), the key's rate limit (an endpoint's when the request
// matches one of the right's endpoints), the API-level limit, then the
// quota. Checking the API-level limit before the quota means a request the API
// refuses never costs the key quota (Tyk charges it). A store or limiter that cannot
// answer gives 503, never 401/403: the key may be perfectly good. It writes nothing but *v
// (filled in place: the verdict is large enough for copies to show in profiles) and,
// for a cached key, allocates nothing.
func (g *Gateway) authorize(r *http.Request, rt *route, now time.Time, v *verdict) {
	*v = verdict{}
	var (
		h   keys.Hash
		lim session.Limits
	)
	if !rt.keyless {
		key := rt.readKey(r)
		if key == "" {
			*v = verdict{status: http.StatusUnauthorized, msg: msgAuthMissing}
			return
		}
		if len(key) < keys.MinLength || len(key) > keys.MaxLength*2 {
			*v = verdict{status: http.StatusForbidden, msg: msgDisallowed}
			return
		}
		h = keys.Sum(key)
		c, err := g.session(r, h, now)
		if err != nil {
			*v = verdict{status: http.StatusServiceUnavailable, msg: msgKeysUnavailable}
			return
		}
		if c == nil {
			*v = verdict{status: http.StatusForbidden, msg: msgDisallowed}
			return
		}
		if c.Denied {
			*v = verdict{status: http.StatusForbidden, msg: msgDisallowed}
			return
		}
		if c.Inactive {
			*v = verdict{status: http.StatusForbidden, msg: msgInactive}
			return
		}
		if c.Expired(now.Unix()) {
			*v = verdict{status: http.StatusUnauthorized, msg: msgExpired}
			return
		}
		right, ok := c.Access(rt.apiID, g.allowMaster)
		// A key opens only its own organisation's APIs, whatever its access rights
		// say (Tyk answers an org mismatch the same way): an id another
		// organisation uses is never a grant.
		if !ok || c.OrgID != rt.orgID {
			*v = verdict{status: http.StatusForbidden, msg: msgDisallowed}
			return
		}
		if rt.versioned {
			status, msg, ver := rt.version(r, now)
			if status != 0 {
				*v = verdict{status: status, msg: msg}
				return
			}
			if !c.IsMaster() && !right.AllowsVersion(ver) {
				*v = verdict{status: http.StatusForbidden, msg: msgDisallowed}
				return
			}
		}
		if !right.AllowsURL(r.Method, r.URL.Path) {
			*v = verdict{status: http.StatusForbidden, msg: msgURLDisallowed}
			return
		}
		v.keyed, v.c = true, c
		lim = right.LimitsFor(r.Method, r.URL.Path)
		if rt.disableRate {
			lim.Rate = 0
		}
		if rt.disableQuota {
			lim.QuotaMax = 0
		}
		if lim.RateLimited() {
			d, err := g.opts.Limits.Rate.Allow(r.Context(), limit.Key{Hash: h, Scope: lim.RateScope}, lim.Rate, lim.Per)
			if err != nil {
				g.limitsFailed(r.Context(), v, err)
				return
			}
			v.rate = d
			if !v.rate.Allowed {
				*v = verdict{status: http.StatusTooManyRequests, msg: msgRateLimited, rate: v.rate, throttle: lim.Throttle}
				return
			}
			v.rated = true
		}
	}
	if rt.globalRate > 0 {
		d, err := g.opts.Limits.Rate.Allow(r.Context(), rt.globalKey, rt.globalRate, rt.globalPer)
		if err != nil {
			g.limitsFailed(r.Context(), v, err)
			return
		}
		if !d.Allowed {
			*v = verdict{status: http.StatusTooManyRequests, msg: msgAPIRateLimited, rate: d}
			return
		}
	}
	if v.keyed {
		v.quotaMax = -1
		if lim.QuotaLimited() {
			v.quotaMax = lim.QuotaMax
			st, err := g.opts.Limits.Quotas.Charge(r.Context(), limit.Key{Hash: h, Scope: lim.Scope}, lim.QuotaMax, lim.QuotaRenewal)
			if err != nil {
				g.limitsFailed(r.Context(), v, err)
				return
			}
			v.quota = st
			if !v.quota.Allowed {
				*v = verdict{status: http.StatusForbidden, msg: msgQuotaExceeded}
				return
			}
		}
	}
	if g.limitsFailing.Load() && (v.rated || rt.globalRate > 0 || v.quotaMax > 0) && g.limitsFailing.CompareAndSwap(true, false) {
		g.log.Info("rate limits and quotas answer again")
	}
}

// limitsFailed sets the "limits unavailable" verdict. The failure is logged when
// limits stop answering, not on every request they refuse meanwhile: a backend
// outage under load would otherwise flood the log. A call that failed because
// the client went away (its context ended) says nothing about the limits: it is
// neither logged nor counted as an outage.
func (g *Gateway) limitsFailed(ctx context.Context, v *verdict, err error) {
	*v = verdict{status: http.StatusServiceUnavailable, msg: msgLimitsUnavailable}
	if ctx.Err() != nil {
		return
	}
	if g.limitsFailing.CompareAndSwap(false, true) {
		g.log.Error("rate limits and quotas unavailable; answering 503 until they recover", "error", err.Error())
	}
}

// session returns the compiled session for h from the cache, or from the store on a
// miss; nil when the key does not exist. When the store cannot be read, a cached
// session past its TTL stands in for it up to --stale-if-error (sessionCache.stale);
// otherwise the error is returned (503).
func (g *Gateway) session(r *http.Request, h keys.Hash, now time.Time) (*session.Compiled, error) {
	t := now.UnixNano()
	e, ok, gen := g.sessions.get(h, t)
	if ok {
		return e.c, nil
	}
	sess, err := g.opts.Keys.Lookup(r.Context(), h)
	if errors.Is(err, store.ErrNotFound) {
		g.storeAnswers()
		g.sessions.put(h, nil, t, gen)
		return nil, nil
	}
	var c *session.Compiled
	if err == nil {
		c, err = g.compile(r.Context(), sess, h)
	}
	if err != nil {
		if g.storeFailing.CompareAndSwap(false, true) {
			// Once per outage, not per request (see limitsFailed).
			g.log.Error("key lookups failing; serving cached keys up to --stale-if-error past their TTL and answering 503 for others until the store answers",
				"key", h.Short(), "stale_if_error", g.opts.StaleIfError.String(), "error", err.Error())
		}
		if c, ok := g.sessions.stale(h, t); ok {
			return c, nil
		}
		return nil, err
	}
	g.storeAnswers()
	g.sessions.put(h, c, t, gen)
	return c, nil
}

// storeAnswers ends a key-lookup outage, logging the recovery once.
func (g *Gateway) storeAnswers() {
	if g.storeFailing.Load() && g.storeFailing.CompareAndSwap(true, false) {
		g.log.Info("key lookups answer again")
	}
}

// compile prepares a stored session for enforcement, merged with the policies it
// applies as they are now. A key whose policies cannot be applied (missing,
// another organisation's, a draft, denying) is compiled as denied: refused, never
// let through with fewer limits. A store that cannot answer is an error (503).
func (g *Gateway) compile(ctx context.Context, sess *session.Session, h keys.Hash) (*session.Compiled, error) {
	if len(policy.IDs(sess)) == 0 {
		return session.Compile(sess), nil
	}
	if g.opts.Policies == nil {
		c := session.Compile(sess)
		c.Denied = true
		return c, nil
	}
	res := &policyLookup{ctx: ctx, cache: g.policies, read: g.opts.Store.GetPolicy, now: g.opts.Now().UnixNano()}
	eff, err := policy.Apply(sess, res.Lookup)
	if res.err != nil {
		return nil, res.err
	}
	if err != nil {
		g.log.Debug("key refused: its policies cannot be applied", "key", h.Short(), "reason", err.Error())
		c := session.Compile(sess)
		c.Denied = true
		return c, nil
	}
	return session.Compile(eff), nil
}

// readKey finds the key where the API says it is: the header (unless disabled), then
// a query parameter, then a cookie, each overriding the one before when present, as
// in Tyk. A leading "Bearer " is dropped.
func (rt *route) readKey(r *http.Request) string {
	var v string
	if rt.auth.header != "" {
		if vs := r.Header[rt.auth.header]; len(vs) > 0 {
			v = vs[0]
		}
	}
	if rt.auth.param != "" {
		if p := r.URL.Query().Get(rt.auth.param); p != "" {
			v = p
		}
	}
	if rt.auth.cookie != "" {
		if ck, err := r.Cookie(rt.auth.cookie); err == nil && ck.Value != "" {
			v = ck.Value
		}
	}
	return keys.FromCredential(v)
}

// version finds the requested API version; a non-zero status means the request is
// refused with msg.
func (rt *route) version(r *http.Request, now time.Time) (status int, msg, v string) {
	switch rt.versionLoc {
	case "header":
		if vs := r.Header[rt.versionKey]; len(vs) > 0 {
			v = vs[0]
		}
	case "url-param":
		v = r.URL.Query().Get(rt.versionKey)
	case "url":
		rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, rt.listenPath), "/")
		v, _, _ = strings.Cut(rest, "/")
	}
	if v == "" {
		v = rt.defaultVersion
	}
	if v == "" {
		return http.StatusForbidden, msgNoVersion, ""
	}
	exp, ok := rt.versions[v]
	if !ok {
		return http.StatusForbidden, msgUnknownVersion, v
	}
	if exp != 0 && now.Unix() >= exp {
		return http.StatusForbidden, msgVersionExpired, v
	}
	return 0, "", v
}

// setIETFHeaders describes a rate limit with the IETF RateLimit-* headers; refused
// requests always carry them (with Retry-After), which Tyk never sends.
func setIETFHeaders(h http.Header, d limit.Decision) {
	h["Ratelimit-Limit"] = []string{strconv.FormatInt(d.Limit, 10)}
	h["Ratelimit-Remaining"] = []string{strconv.FormatInt(d.Remaining, 10)}
	h["Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
}

// zeroHeader is the shared value of keyless responses' X-RateLimit-* headers. Its
// capacity equals its length, so a later Add (ReverseProxy copying an upstream
// header of the same name) reallocates instead of writing into it.
var zeroHeader = []string{"0"}[:1:1]

// setQuotaHeaders sets Tyk's quota-flavoured X-RateLimit-* headers, with one
// allocation for the three values (this runs on every proxied request).
func setQuotaHeaders(h http.Header, limit, remaining, reset int64) {
	if limit == 0 && remaining == 0 && reset == 0 {
		h["X-Ratelimit-Limit"], h["X-Ratelimit-Remaining"], h["X-Ratelimit-Reset"] = zeroHeader, zeroHeader, zeroHeader
		return
	}
	v := make([]string, 3)
	v[0], v[1], v[2] = strconv.FormatInt(limit, 10), strconv.FormatInt(remaining, 10), strconv.FormatInt(reset, 10)
	h["X-Ratelimit-Limit"], h["X-Ratelimit-Remaining"], h["X-Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
