// Package dashboard serves the management side on its own listener (port 3000): the
// Tyk-compatible Dashboard API under /api/, the Dashboard Admin API under /admin/, and
// the web UI. It holds HTTP concerns only; the rules live in manage and accounts.
package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/authguard"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/health"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
)

// Options configure the dashboard.
type Options struct {
	Accounts *accounts.Service
	APIs     *manage.APIs
	Keys     *manage.Keys
	Policies *manage.Policies
	Store    store.Store
	// AdminSecret guards /admin/ (header admin-auth).
	AdminSecret string
	// AdminsSeeAccessKeys lets administrators read other users' access keys. Off by
	// default: an administrator can reset a key, which the owner notices, but not
	// quietly borrow it.
	AdminsSeeAccessKeys bool
	Log                 *slog.Logger
	// TrustedProxies are TLS-terminating proxies whose X-Forwarded-Proto is
	// believed: behind them the dashboard's cookies are Secure too.
	TrustedProxies []netip.Prefix
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Version is what /hello reports.
	Version string
	// Health lists components beside the store that /hello reports (the shared
	// limits and events of a cluster member).
	Health []health.Check
	// LoginFailures, when set, is the failed-login count the dashboards of a
	// cluster share (Redis), so that guesses spread over them are throttled as
	// on one; nil counts in this process only. Wrong access keys and admin
	// secrets are counted per process either way: they cannot be guessed, and
	// that throttle only bounds what a flood costs this process.
	LoginFailures authguard.Shared
}

// Server is the dashboard's http.Handler.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// Failed authentication, per door (see authguard for the scheme).
	apiKeys, adminAuth, logins *authguard.Guard
	ui                         *ui
	// api is mux behind TrimTrailingSlash, for /api/ and /admin/.
	api http.Handler
	// routes are the Dashboard and Admin API's patterns, in the order declared
	// (for tests that walk every route).
	routes []string
	// checks are what /hello reports: the store (built once, as it remembers
	// whether the store failed so as to log only changes), then Options.Health.
	checks []health.Check
}

// envelope is Tyk's dashboard status reply.
type envelope struct {
	Status  string `json:"Status"`
	Message string `json:"Message"`
	Meta    any    `json:"Meta"`
	ID      string `json:"ID,omitempty"`
}

func renderEnvelope(w http.ResponseWriter, status int, msg string) {
	_ = httpx.WriteJSON(w, status, envelope{Status: "Error", Message: msg})
}

func ok(w http.ResponseWriter, msg string, meta any) error {
	return httpx.WriteJSON(w, http.StatusOK, envelope{Status: "OK", Message: msg, Meta: meta})
}

// secretFailures is how many wrong access keys or admin secrets an address may send
// in a minute before its wrong ones get 429. Right ones always pass, so this only
// bounds the cost of a flood; it leaves room for a script's retries.
const secretFailures = 20

// New builds the dashboard with every route in one place.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Log, mux: http.NewServeMux(),
		apiKeys:   authguard.New(authguard.Options{Door: "dashboard API", Max: secretFailures, Log: opts.Log}),
		adminAuth: authguard.New(authguard.Options{Door: "admin API", Max: secretFailures, Log: opts.Log}),
		logins:    authguard.New(authguard.Options{Door: "web login", Log: opts.Log, Shared: opts.LoginFailures}),
	}
	s.checks = append([]health.Check{health.Store(opts.Store, opts.Log)}, opts.Health...)
	a := httpx.Adapter{Log: s.log, Render: renderEnvelope, LogPath: keys.RedactPath}
	// api registers a Dashboard API route: authenticated by access key, then checked
	// against the section's permission ("" means any authenticated user).
	api := func(pattern, section string, write bool, h httpx.HandlerFunc) {
		s.routes = append(s.routes, pattern)
		s.mux.Handle(pattern, a.Handle(s.authenticated(section, write, h)))
	}
	admin := func(pattern string, h httpx.HandlerFunc) {
		s.routes = append(s.routes, pattern)
		s.mux.Handle(pattern, a.Handle(s.adminOnly(h)))
	}
	notAllowed := func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusMethodNotAllowed, "Method not supported")
	}
	fallback := func(pattern string) { s.mux.Handle(pattern, a.Handle(notAllowed)) }

	api("GET /api/users", "users", false, s.listUsers)
	api("POST /api/users", "users", true, s.createUser)
	fallback("/api/users")
	api("POST /api/users/search", "users", false, s.searchUsers)
	// Tyk's deprecated form of the search, ?q= instead of a body.
	api("GET /api/users/search", "users", false, s.searchUsers)
	api("GET /api/users/me", "", false, s.getMe)
	api("GET /api/users/{id}", "", false, s.getUser)
	api("PUT /api/users/{id}", "", false, s.updateUser)
	api("DELETE /api/users/{id}", "users", true, s.deleteUser)
	fallback("/api/users/{id}")
	// Tyk's swagger says PUT, its older docs POST; both work.
	api("PUT /api/users/{id}/actions/key/reset", "", false, s.resetUserKey)
	api("POST /api/users/{id}/actions/key/reset", "", false, s.resetUserKey)
	api("POST /api/users/{id}/actions/reset", "", false, s.resetPassword)

	api("GET /api/apis", "apis", false, s.listAPIs)
	api("POST /api/apis", "apis", true, s.createAPI)
	fallback("/api/apis")
	api("GET /api/apis/keys", "keys", false, s.listKeyIDs)
	api("GET /api/apis/search", "apis", false, s.listAPIs)
	api("GET /api/apis/{id}", "apis", false, s.getAPI)
	api("PUT /api/apis/{id}", "apis", true, s.updateAPI)
	api("DELETE /api/apis/{id}", "apis", true, s.deleteAPI)
	fallback("/api/apis/{id}")
	api("GET /api/apis/{id}/keys", "keys", false, s.listKeyIDs)
	api("GET /api/apis/{id}/keys/search", "keys", false, s.searchKeyIDs)
	api("GET /api/apis/{id}/keys/{keyId}", "keys", false, s.getAPIKey)

	api("GET /api/keys", "keys", false, s.listKeyIDs)
	api("POST /api/keys", "keys", true, s.createKey)
	fallback("/api/keys")
	api("GET /api/keys/detailed", "keys", false, s.listKeysDetailed)
	api("POST /api/keys/preview", "keys", false, s.previewKey)
	api("POST /api/keys/{id}", "keys", true, s.createKey)
	api("GET /api/keys/{id}", "keys", false, s.getKey)
	api("PUT /api/keys/{id}", "keys", true, s.updateKey)
	api("DELETE /api/keys/{id}", "keys", true, s.deleteKey)
	fallback("/api/keys/{id}")

	api("GET /api/portal/policies", "policies", false, s.listPolicies)
	api("POST /api/portal/policies", "policies", true, s.createPolicy)
	fallback("/api/portal/policies")
	api("GET /api/portal/policies/search", "policies", false, s.listPolicies)
	api("GET /api/portal/policies/{id}", "policies", false, s.getPolicy)
	api("PUT /api/portal/policies/{id}", "policies", true, s.updatePolicy)
	api("DELETE /api/portal/policies/{id}", "policies", true, s.deletePolicy)
	fallback("/api/portal/policies/{id}")

	api("GET /api/audit", "audit_logs", false, s.listAudit)
	api("GET /api/audit-logs", "audit_logs", false, s.listAuditLogs)
	api("GET /api/system/stats", "system", false, s.systemStats)

	// Liveness for load balancers and for tools that wait for the stack to come
	// up: no credentials, nothing secret, one store ping.
	s.mux.Handle("GET /hello", a.Handle(s.hello))
	s.mux.Handle("GET /admin/hello", a.Handle(s.hello))

	admin("GET /admin/organisations", s.listOrgs)
	admin("POST /admin/organisations", s.createOrg)
	admin("GET /admin/organisations/{id}", s.getOrg)
	admin("GET /admin/users", s.adminListUsers)
	admin("POST /admin/users", s.adminCreateUser)
	admin("PUT /admin/users/{id}", s.adminUpdateUser)

	s.mux.Handle("/api/", a.Handle(func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "Not found")
	}))
	s.mux.Handle("/admin/", a.Handle(func(http.ResponseWriter, *http.Request) error {
		return httpx.Errorf(http.StatusNotFound, "Not found")
	}))
	s.api = httpx.TrimTrailingSlash(s.mux)
	if err := s.enableUI(); err != nil {
		// The templates are embedded and parsed by every test run; failing here
		// means a broken build, not bad input.
		panic(err)
	}
	return s
}

// Handle adds a route outside /api/ and /admin/ (the web UI).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler. The Dashboard and Admin APIs answer their paths
// with or without a trailing slash, as Tyk's do (its clients send both).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; (strings.HasPrefix(p, "/api/") && p != "/api/") || (strings.HasPrefix(p, "/admin/") && p != "/admin/") {
		s.api.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// principal is the authenticated caller, and the accounts service as they see it.
type principal struct {
	user store.User
	acct *accounts.Caller
}

type principalKey struct{}

func caller(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// userActor is who the services audit a user's changes as.
func userActor(u store.User, r *http.Request) audit.Actor {
	return audit.Actor{OrgID: u.OrgID, ID: u.ID, Email: u.Email, Remote: clientIP(r)}
}

// https reports whether the browser reached the dashboard over HTTPS: directly, or
// through a trusted TLS-terminating proxy that says so. Cookies are then Secure, so a
// browser never sends them over plain HTTP.
func (s *Server) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if len(s.opts.TrustedProxies) == 0 || !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	a, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// accountsAs is the accounts service as u sees it, with the operator's options.
func (s *Server) accountsAs(u store.User) *accounts.Caller {
	c := s.opts.Accounts.As(u)
	c.AdminsSeeAccessKeys = s.opts.AdminsSeeAccessKeys
	return c
}

// authenticated checks the access key in the authorization header (raw, no Bearer,
// as Tyk's clients send it) and the caller's permission on section; "" leaves the
// rules to the accounts service (the user endpoints, where users act on themselves).
func (s *Server) authenticated(section string, write bool, h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.opts.Accounts.Authenticate(r.Context(), r.Header.Get("Authorization"))
		if errors.Is(err, store.ErrNotFound) {
			ip := clientIP(r)
			return refused(w, s.apiKeys.Fail(r.Context(), ip, ip, s.now()), http.StatusUnauthorized)
		}
		if err != nil {
			return err
		}
		p := principal{user: u, acct: s.accountsAs(u)}
		if section != "" {
			if err := p.acct.May(section, write); err != nil {
				return noPermission(r)
			}
		}
		ctx := audit.WithActor(context.WithValue(r.Context(), principalKey{}, p), userActor(u, r))
		return h(w, r.WithContext(ctx))
	}
}

// adminOnly guards the Admin API with the admin secret (header admin-auth), compared
// in constant time over hashes so its length does not leak either.
func (s *Server) adminOnly(h httpx.HandlerFunc) httpx.HandlerFunc {
	want := sha256.Sum256([]byte(s.opts.AdminSecret))
	return func(w http.ResponseWriter, r *http.Request) error {
		got := r.Header.Get("Admin-Auth")
		sum := sha256.Sum256([]byte(got))
		if got == "" || s.opts.AdminSecret == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			ip := clientIP(r)
			return refused(w, s.adminAuth.Fail(r.Context(), ip, ip, s.now()), http.StatusUnauthorized)
		}
		return h(w, r.WithContext(audit.WithActor(r.Context(), audit.AdminSecretActor(clientIP(r)))))
	}
}

// refused answers a failed authentication: status, or 429 with Retry-After once the
// client's failures reached the throttle. A right credential is never refused (see
// authguard), so the 429 only ever meets wrong ones.
func refused(w http.ResponseWriter, wait time.Duration, status int) error {
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		return httpx.Errorf(http.StatusTooManyRequests, "Too many failed attempts; retry later")
	}
	return httpx.Errorf(status, "Not authorised")
}

// decodeBody reads a size-limited JSON body into v, answering Tyk's malformed-input
// message with the decoder's reason.
func decodeBody(r *http.Request, v any) error {
	body, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "Request body malformed: %s", httpx.DescribeJSONError(err))
	}
	return nil
}

// The Dashboard and Admin APIs' dialect: Tyk's dashboard's words for the faults the
// services report. Every status and message a fault gets on /api/ and /admin/ is
// decided here.
var (
	apiWording = httpx.Wording{Malformed: definitionRejected, Invalid: definitionRejected, NotFound: "Could not retrieve API detail"}
	// Tyk's dashboard answers an unknown API on GET with 400, not 404.
	apiDetailWording = httpx.Wording{Malformed: definitionRejected, Invalid: definitionRejected, NotFound: "Could not retrieve API detail",
		Status: map[fault.Kind]int{fault.NotFound: http.StatusBadRequest}}
	keyWording = httpx.Wording{
		Malformed: func(reason string) string { return "Request body malformed: " + reason },
		NotFound:  "Could not retrieve key detail.",
	}
	// A taken e-mail or organisation id is a 400 naming it (docs/tyk-differences.md).
	userWording = httpx.Wording{NotFound: "User not found", Status: map[fault.Kind]int{fault.Conflict: http.StatusBadRequest}}
	orgWording  = httpx.Wording{NotFound: "Organisation not found", Status: map[fault.Kind]int{fault.Conflict: http.StatusBadRequest}}
)

// noPermission is Tyk's refusal of a caller without a section's permission.
func noPermission(r *http.Request) error {
	return httpx.Errorf(http.StatusForbidden, "access denied: You do not have permission to access %s", r.URL.Path)
}

// userFault is userWording, except that a refusal for want of a section's permission
// (a Forbidden fault naming the section) is Tyk's, which names the path.
func userFault(r *http.Request, err error) error {
	if f, ok := fault.As(err); ok && f.Kind == fault.Forbidden && f.Field != "" {
		return noPermission(r)
	}
	return userWording.Fault(err)
}

func definitionRejected(reason string) string {
	return "Validation of API Definition failed. Reason: " + strings.TrimSuffix(reason, ".") + "."
}

// pageSize is Tyk's default dashboard page size.
const pageSize = 10

// paginate reads p (1-based; p <= 0, such as Tyk clients' -2, means everything) and
// returns the slice bounds and the page count.
func paginate(r *http.Request, total int) (from, to, pages int, err error) {
	pages = (total + pageSize - 1) / pageSize
	if pages == 0 {
		pages = 1
	}
	v := r.URL.Query().Get("p")
	if v == "" {
		v = "1"
	}
	p, convErr := strconv.Atoi(v)
	if convErr != nil {
		return 0, 0, 0, httpx.Errorf(http.StatusBadRequest, "p must be a page number, not %q", v)
	}
	if p <= 0 {
		return 0, total, pages, nil
	}
	from = min((p-1)*pageSize, total)
	to = min(from+pageSize, total)
	return from, to, pages, nil
}
