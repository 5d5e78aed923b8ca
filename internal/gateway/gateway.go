// Package gateway is Tollgate's data plane: it routes requests by listen path over an
// immutable snapshot, enforces keys, proxies to upstreams, and serves Tyk's /tyk/
// control API, /hello and /ready on the same listener.
package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/authguard"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/health"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
)

// Options configure a Gateway.
type Options struct {
	Store store.Store
	APIs  *manage.APIs
	// Secret guards the /tyk/ control API. It must be validated by the caller.
	Secret string
	// ProxyTimeout bounds the wait for an upstream's response headers.
	ProxyTimeout time.Duration
	Log          *slog.Logger
	Version      string

	// Keys manages key sessions for /tyk/keys and for lookups on cache misses.
	Keys *manage.Keys
	// Policies are the policies keys apply, merged in when a session is
	// compiled (on a cache miss), and /tyk/policies.
	Policies *manage.Policies
	// Limits are the rate limiter and quotas the gateway charges.
	Limits *limit.Engine
	// RateLimitHeaders is "quotas" (Tyk's X-RateLimit-* describe the quota) or "ietf"
	// (RateLimit-* describe the rate limit).
	RateLimitHeaders string
	// NegativeCacheTTL is how long an unknown key is remembered as unknown.
	NegativeCacheTTL time.Duration
	// SessionCacheTTL bounds how long a cached session is used before it is read
	// from the store again (default 30 s): the longest a revoked key can live on
	// if its change event is lost.
	SessionCacheTTL time.Duration
	// StaleIfError is how long past SessionCacheTTL a cached session is still
	// used while the store cannot be read (0: not at all; the key gets 503).
	// Nothing makes it longer: a key revoked during an outage whose event is
	// lost lives on for SessionCacheTTL + StaleIfError at most.
	StaleIfError time.Duration
	// BodyReadTimeout cuts a client whose request body sends nothing this long
	// (default 30 s).
	BodyReadTimeout time.Duration
	// ControlElsewhere takes /tyk/ off the proxy listener: ControlHandler serves it
	// on its own (--control-addr), and the proxy treats /tyk/... like any path.
	ControlElsewhere bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wait blocks for d on Now's clock, or until ctx ends (returning its error);
	// nil means a real timer. Throttled requests wait with it.
	Wait func(ctx context.Context, d time.Duration) error
	// MaxThrottled is how many throttled requests may wait at once; past it, and
	// with 0, a throttled request is refused at once.
	MaxThrottled int
	// Health lists components beside the store that /hello and /ready report
	// (the shared limits of a cluster member, say).
	Health []HealthCheck
}

// HealthCheck is one component in /hello's details and /ready's verdict.
type HealthCheck = health.Check

// Gateway serves proxied APIs and the control API. It is an http.Handler.
type Gateway struct {
	opts       Options
	log        *slog.Logger
	errorLog   *log.Logger
	snap       atomic.Pointer[snapshot]
	rebuildMu  sync.Mutex
	transports *transportPool
	buffers    *bufferPool
	control    http.Handler
	draining   atomic.Bool
	sessions   *sessionCache
	policies   *policyCache
	ietf       bool
	// allowMaster is the key service's AllowMasterKeys: the rule that lets a key
	// without access rights exist is the rule that lets it through.
	allowMaster bool
	// limitsFailing is set while the limiter or quota engine fails, so the outage
	// is logged once rather than per request.
	limitsFailing atomic.Bool
	// storeFailing is the same for key lookups on a cache miss.
	storeFailing atomic.Bool
	// health is the store's check (built once: it remembers whether the store
	// failed, to log only changes) and Options.Health.
	health []HealthCheck
	// authFailures throttles and reports wrong control-API secrets.
	authFailures *authguard.Guard
	// waiting counts throttled requests waiting now; throttleFull is set while
	// refusals for want of room are logged (once per episode).
	waiting      atomic.Int64
	throttleFull atomic.Bool
	// drainCtx ends when draining starts: throttled requests stop waiting.
	drainCtx context.Context
	drain    context.CancelFunc
}

// New returns a Gateway. Call Reload before serving traffic (New does not touch the
// store) and subscribe it to change events with Watch.
func New(opts Options) *Gateway {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ProxyTimeout <= 0 {
		opts.ProxyTimeout = 30 * time.Second
	}
	if opts.SessionCacheTTL <= 0 {
		opts.SessionCacheTTL = DefaultSessionCacheTTL
	}
	if opts.NegativeCacheTTL <= 0 {
		opts.NegativeCacheTTL = 2 * time.Second
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Wait == nil {
		opts.Wait = sleep
	}
	g := &Gateway{
		opts:        opts,
		log:         opts.Log,
		errorLog:    slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
		transports:  newTransportPool(opts.ProxyTimeout),
		buffers:     newBufferPool(),
		sessions:    newSessionCache(opts.SessionCacheTTL, opts.NegativeCacheTTL, max(opts.StaleIfError, 0)),
		policies:    newPolicyCache(int64(opts.SessionCacheTTL)),
		ietf:        opts.RateLimitHeaders == "ietf",
		allowMaster: opts.Keys != nil && opts.Keys.AllowMasterKeys,
		// Right secrets always pass; 20 wrong ones a minute per address leave
		// room for a script's retries before its wrong ones get 429.
		authFailures: authguard.New(authguard.Options{Door: "control API", Max: 20, Log: opts.Log}),
	}
	// The gateway serves known keys and its routes without the store, so a
	// store that does not answer degrades it ("warn") rather than failing it.
	g.health = append([]HealthCheck{health.CachedStore(opts.Store, opts.Log)}, opts.Health...)
	g.drainCtx, g.drain = context.WithCancel(context.Background())
	g.control = g.controlHandler()
	return g
}

// DefaultSessionCacheTTL is how long a cached session is used without reading the
// store, unless configured.
const DefaultSessionCacheTTL = 30 * time.Second

// Watch subscribes the gateway to change events: API changes rebuild the routing
// snapshot before the event's delivery returns (on one node: before Publish
// returns); FlushAll drops every cached session and rebuilds the routes. It returns
// the function that ends the subscription.
func (g *Gateway) Watch(sub events.Subscriber) (cancel func()) {
	return sub.Subscribe(func(e events.Event) {
		switch e.Kind {
		case events.APIsChanged:
			if err := g.Reload(context.Background()); err != nil {
				g.log.Error("rebuild routes after change", "error", err.Error())
			}
		case events.FlushAll:
			g.policies.flush()
			g.sessions.flush()
			if err := g.Reload(context.Background()); err != nil {
				g.log.Error("rebuild routes after flush", "error", err.Error())
			}
		case events.PolicyChanged:
			// Any cached key may apply the policy, by either of its ids: each
			// is compiled again, with the policy as it is now, on its next
			// request. The policy cache goes first, so that no key is
			// compiled again from the old policy.
			g.policies.flush()
			g.sessions.flush()
		case events.KeyChanged:
			if h, ok := keys.ParseHash(e.KeyHash); ok {
				g.sessions.drop(h)
			} else {
				// A malformed hash names no key we can find: drop everything
				// rather than risk serving a stale session.
				g.sessions.flush()
			}
		}
	})
}

// Reload rebuilds the routing snapshot from the store and swaps it in. A stored
// definition that no longer parses is logged and skipped rather than taking every
// other API down with it.
func (g *Gateway) Reload(ctx context.Context) error {
	g.rebuildMu.Lock()
	defer g.rebuildMu.Unlock()
	apis, err := g.opts.Store.ListAPIs(ctx)
	if err != nil {
		return fmt.Errorf("load APIs: %w", err)
	}
	s := newSnapshot()
	inUse := map[string]bool{}
	for _, a := range apis {
		d, err := apidef.Parse(a.Definition)
		if err == nil {
			err = d.Validate()
		}
		if err != nil {
			g.log.Error("skipping stored API definition", "api_id", a.ID, "error", err.Error())
			continue
		}
		if !d.Active() {
			continue
		}
		rt, err := g.newRoute(d)
		if err != nil {
			g.log.Error("skipping stored API definition", "api_id", a.ID, "error", err.Error())
			continue
		}
		s.add(d.Domain(), rt)
		inUse[rt.target.Scheme+"://"+rt.target.Host] = true
	}
	g.snap.Store(s)
	g.transports.retain(inUse)
	g.log.Debug("routes rebuilt", "apis", len(apis))
	return nil
}

func (g *Gateway) newRoute(d *apidef.Definition) (*route, error) {
	p := d.Proxy()
	lp, err := apidef.NormalizeListenPath(p.ListenPath)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(p.TargetURL)
	if err != nil {
		return nil, fmt.Errorf("target_url: %w", err)
	}
	rt := &route{
		def:               d,
		apiID:             d.APIID(),
		orgID:             d.OrgID(),
		listenPath:        lp,
		escapedListenPath: (&url.URL{Path: lp}).EscapedPath(),
		target:            target,
		strip:             p.StripListenPath,
		preserveHost:      p.PreserveHostHeader,
	}
	rt.keyless = d.Keyless()
	a := d.AuthToken()
	if !a.DisableHeader {
		rt.auth.header = textproto.CanonicalMIMEHeaderKey(a.AuthHeaderName)
	}
	if a.UseParam {
		rt.auth.param = cmp.Or(a.ParamName, a.AuthHeaderName)
	}
	if a.UseCookie {
		rt.auth.cookie = cmp.Or(a.CookieName, a.AuthHeaderName)
	}
	vd := d.VersionData()
	if !vd.NotVersioned && len(vd.Versions) > 0 {
		loc := d.VersionLocation()
		rt.versioned = true
		rt.versionLoc = cmp.Or(loc.Location, "header")
		rt.versionKey = cmp.Or(loc.Key, "version")
		if rt.versionLoc == "header" {
			rt.versionKey = textproto.CanonicalMIMEHeaderKey(rt.versionKey)
		}
		rt.defaultVersion = vd.DefaultVersion
		rt.versions = make(map[string]int64, len(vd.Versions))
		for name, v := range vd.Versions {
			rt.versions[cmp.Or(v.Name, name)] = versionExpiry(v.Expires)
		}
	}
	rt.disableRate, rt.disableQuota = d.DisableRateLimit(), d.DisableQuota()
	if gl := d.GlobalRateLimit(); !gl.Disabled && gl.Rate > 0 && gl.Per > 0 {
		rt.globalRate, rt.globalPer = gl.Rate, gl.Per
		rt.globalKey = limit.APIKey("api:" + d.APIID())
	}
	rt.proxy = g.newProxy(rt)
	return rt, nil
}

// SetDraining marks the gateway as shutting down, so /ready answers 503 and load
// balancers stop sending new traffic while in-flight requests finish. Throttled
// requests stop waiting and are refused, so they do not hold the shutdown up.
func (g *Gateway) SetDraining() {
	g.draining.Store(true)
	g.drain()
}

// Close releases idle upstream connections and reports failed authentications not
// reported yet.
func (g *Gateway) Close() {
	g.drain()
	g.transports.closeAll()
	g.authFailures.Flush()
}

// ServeHTTP dispatches to health checks, the control API or a proxied API.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case httpx.IsOverflow(r.Context()) && p != "/hello" && p != "/ready":
		// The listener is full: this connection is in the reserve kept for
		// health checks (httpx.LimitedListener).
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusServiceUnavailable, "Too many connections; retry later")
	case p == "/hello":
		g.hello(w, r)
	case p == "/ready":
		g.ready(w, r)
	case !g.opts.ControlElsewhere && (p == "/tyk" || strings.HasPrefix(p, "/tyk/")):
		g.control.ServeHTTP(w, r)
	default:
		g.serveAPI(w, r)
	}
}

// ControlHandler serves the /tyk/ control API with /hello and /ready, for a control
// listener of its own.
func (g *Gateway) ControlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/hello":
			g.hello(w, r)
		case p == "/ready":
			g.ready(w, r)
		case p == "/tyk" || strings.HasPrefix(p, "/tyk/"):
			g.control.ServeHTTP(w, r)
		default:
			writeError(w, http.StatusNotFound, "Not found: this listener serves the control API under /tyk/")
		}
	})
}

func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		defer guardBody(w, r, g.opts.BodyReadTimeout).done()
	}
	if hasDotSegment(r.URL.Path) {
		writeError(w, http.StatusBadRequest, "Request path must not contain '.' or '..' segments")
		return
	}
	s := g.snap.Load()
	var rt *route
	if s != nil {
		rt = s.lookup(r.Host, r.URL.Path)
	}
	if rt == nil {
		writeError(w, http.StatusNotFound, "No API is served at this path")
		return
	}
	if !g.check(w, r, rt) {
		return
	}
	// The gateway's listener sets no whole-request deadlines (httpx.ProxyTimeouts),
	// so long streams and upgraded connections need nothing lifted here.
	rt.proxy.ServeHTTP(w, r)
}

// writeError writes Tyk's gateway error body: {"error": "..."}, indented as Tyk does.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(msg)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\n    \"error\": %s\n}", b)
}

// hello is the liveness check in Tyk's shape. It answers 200 while the process works
// and reports the store's state in details. A store that does not answer is "warn",
// not "fail": the gateway goes on serving the keys it cached and the routes it
// loaded (Tyk's gateway also stays up on its cache). A component the gateway cannot
// do without failing makes it "fail" with 503.
func (g *Gateway) hello(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "Method not supported")
		return
	}
	rep := health.Run(r.Context(), g.checks(), time.Now())
	rep.Version, rep.Description = g.opts.Version, "Tollgate gateway"
	code := http.StatusOK
	if rep.Status == "fail" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}

// checks are the components /hello and /ready report: the store, then the rest.
func (g *Gateway) checks() []HealthCheck { return g.health }

// ready answers 200 once routes are loaded, and 503 while starting, draining or
// when a component it cannot do without fails. A degraded component (the store
// while the gateway serves from its cache, Redis while limits are node-local) is
// 200 with "warn": every gateway shares the store, and taking them all out of the
// load balancer would turn an outage of writes into an outage of everything.
func (g *Gateway) ready(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "Method not supported")
		return
	}
	reason, warning := "", ""
	ctx, cancel := context.WithTimeout(r.Context(), health.Timeout)
	defer cancel()
	switch {
	case g.draining.Load():
		reason = "shutting down"
	case g.snap.Load() == nil:
		reason = "routes not loaded yet"
	default:
		for _, c := range g.checks() {
			problem, degraded := c.Check(ctx)
			switch {
			case problem == "":
			case !degraded:
				reason = problem
			case warning == "":
				warning = problem
			}
			if reason != "" {
				break
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case reason != "":
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "fail", "message": reason})
	case warning != "":
		// Serving, degraded: a load balancer keeps the node, an operator sees why.
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "warn", "message": warning})
	default:
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "pass"})
	}
}
