package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
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
)

// check runs the request checks in order and answers refused requests itself: key,
// session state, access rights, the key's rate limit, the API-level limit, then the
// quota. Checking the API-level limit before the quota means a request the API
// refuses never costs the key quota (Tyk charges it). On success it sets the
// rate-limit response headers and returns true.
func (g *Gateway) check(w http.ResponseWriter, r *http.Request, rt *route) bool {
	now := g.opts.Now()
	var (
		keyed bool
		h     keys.Hash
		c     *session.Compiled
		lim   session.Limits
	)
	if !rt.keyless {
		key := rt.readKey(r)
		if key == "" {
			writeError(w, http.StatusUnauthorized, msgAuthMissing)
			return false
		}
		if len(key) < keys.MinLength || len(key) > keys.MaxLength*2 {
			writeError(w, http.StatusForbidden, msgDisallowed)
			return false
		}
		h = keys.Sum(key)
		var err error
		c, err = g.session(r, h, now)
		if err != nil {
			g.log.Error("key lookup failed", "key", h.Short(), "error", err.Error())
			writeError(w, http.StatusInternalServerError, "There was a problem proxying the request")
			return false
		}
		if c == nil {
			writeError(w, http.StatusForbidden, msgDisallowed)
			return false
		}
		if c.Inactive {
			writeError(w, http.StatusForbidden, msgInactive)
			return false
		}
		if c.Expired(now.Unix()) {
			writeError(w, http.StatusUnauthorized, msgExpired)
			return false
		}
		right, ok := c.Access(rt.apiID, g.opts.AllowMasterKeys)
		if !ok {
			writeError(w, http.StatusForbidden, msgDisallowed)
			return false
		}
		if rt.versioned {
			status, msg, v := rt.version(r, now)
			if status != 0 {
				writeError(w, status, msg)
				return false
			}
			if !c.IsMaster() && !right.AllowsVersion(v) {
				writeError(w, http.StatusForbidden, msgDisallowed)
				return false
			}
		}
		if !right.AllowsURL(r.Method, r.URL.Path) {
			writeError(w, http.StatusForbidden, msgURLDisallowed)
			return false
		}
		keyed = true
		lim = right.Limits()
		if rt.disableRate {
			lim.Rate = 0
		}
		if rt.disableQuota {
			lim.QuotaMax = 0
		}
		if lim.RateLimited() {
			d := g.opts.Limits.Rate.Allow(limit.Key{Hash: h, Scope: lim.Scope}, lim.Rate, lim.Per, now)
			if !d.Allowed {
				refuseRate(w, d, msgRateLimited)
				return false
			}
			if g.ietf {
				setIETFHeaders(w.Header(), d)
			}
		}
	}
	if rt.globalRate > 0 {
		d := g.opts.Limits.Rate.Allow(rt.globalKey, rt.globalRate, rt.globalPer, now)
		if !d.Allowed {
			refuseRate(w, d, msgAPIRateLimited)
			return false
		}
	}
	if g.ietf {
		return true
	}
	hdr := w.Header()
	switch {
	case !keyed:
		setQuotaHeaders(hdr, 0, 0, 0)
	case lim.QuotaLimited():
		st := g.opts.Limits.Quotas.Charge(limit.Key{Hash: h, Scope: lim.Scope}, lim.QuotaMax, lim.QuotaRenewal, now)
		if !st.Allowed {
			writeError(w, http.StatusForbidden, msgQuotaExceeded)
			return false
		}
		var reset int64
		if !st.RenewsAt.IsZero() {
			reset = st.RenewsAt.Unix()
		}
		setQuotaHeaders(hdr, lim.QuotaMax, st.Remaining, reset)
	default:
		s := c.Session
		setQuotaHeaders(hdr, -1, int64(s.QuotaRemaining), int64(s.QuotaRenews))
	}
	return true
}

// session returns the compiled session for h from the cache, or from the store on a
// miss; nil when the key does not exist.
func (g *Gateway) session(r *http.Request, h keys.Hash, now time.Time) (*session.Compiled, error) {
	t := now.UnixNano()
	e, ok, gen := g.sessions.get(h, t)
	if ok {
		return e.c, nil
	}
	sess, err := g.opts.Keys.Lookup(r.Context(), h)
	if errors.Is(err, store.ErrNotFound) {
		g.sessions.put(h, nil, t, gen)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := session.Compile(sess)
	g.sessions.put(h, c, t, gen)
	return c, nil
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

// refuseRate answers 429 with Retry-After and IETF RateLimit-* headers describing
// the limit that refused the request (Tyk sends neither).
func refuseRate(w http.ResponseWriter, d limit.Decision, msg string) {
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(ceilSeconds(d.RetryAfter), 10))
	setIETFHeaders(h, d)
	writeError(w, http.StatusTooManyRequests, msg)
}

func setIETFHeaders(h http.Header, d limit.Decision) {
	h["Ratelimit-Limit"] = []string{strconv.FormatInt(d.Limit, 10)}
	h["Ratelimit-Remaining"] = []string{strconv.FormatInt(d.Remaining, 10)}
	h["Ratelimit-Reset"] = []string{strconv.FormatInt(ceilSeconds(d.Reset), 10)}
}

// setQuotaHeaders sets Tyk's quota-flavoured X-RateLimit-* headers.
func setQuotaHeaders(h http.Header, limit, remaining, reset int64) {
	h["X-Ratelimit-Limit"] = []string{strconv.FormatInt(limit, 10)}
	h["X-Ratelimit-Remaining"] = []string{strconv.FormatInt(remaining, 10)}
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(reset, 10)}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
