package dashboard

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/store"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// ui is the web dashboard: server-rendered pages over the same services as the API.
type ui struct {
	s        *Server
	pages    map[string]*template.Template
	sessions *webSessions
	created  *createdKeys
}

// view is a page's template data; layout fields are filled by render.
type view map[string]any

// uiHandler is a page handler for a logged-in user.
type uiHandler func(w http.ResponseWriter, r *http.Request, c *uiCtx) error

// uiCtx is the logged-in user, the accounts service as they see it, and their web
// session.
type uiCtx struct {
	user  store.User
	perms accounts.Permissions
	acct  *accounts.Caller
	sess  *webSession
}

// need is what a page asks of the logged-in user: a permission section, read or
// write, or ownAccount for the user pages that everyone may open for themself (the
// accounts service then decides, user by user). Every page declares one; the zero
// need is no declaration, and enableUI refuses it.
type need struct {
	section string
	write   bool
}

func reads(section string) need  { return need{section: section} }
func writes(section string) need { return need{section: section, write: true} }

var ownAccount = need{section: "own account"}

// pageRoute is one web UI page: its pattern, what it needs, and its handler.
type pageRoute struct {
	pattern string
	need    need
	page    uiHandler
}

// pageRoutes lists every page of the web UI that needs a logged-in user.
func (u *ui) pageRoutes() []pageRoute {
	return []pageRoute{
		{"GET /apis", reads("apis"), u.listAPIs},
		{"GET /apis/new", writes("apis"), u.apiForm},
		{"POST /apis/new", writes("apis"), u.saveAPI},
		{"GET /apis/{id}", reads("apis"), u.apiForm},
		{"POST /apis/{id}", writes("apis"), u.saveAPI},
		{"POST /apis/{id}/delete", writes("apis"), u.deleteAPI},

		{"GET /keys", reads("keys"), u.listKeys},
		{"GET /keys/new", writes("keys"), u.keyForm},
		{"POST /keys/new", writes("keys"), u.saveKey},
		{"GET /keys/{hash}", reads("keys"), u.keyForm},
		{"POST /keys/{hash}", writes("keys"), u.saveKey},
		{"POST /keys/{hash}/delete", writes("keys"), u.deleteKey},

		{"GET /policies", reads("policies"), u.listPolicies},
		{"GET /policies/new", writes("policies"), u.policyForm},
		{"POST /policies/new", writes("policies"), u.savePolicy},
		{"GET /policies/{id}", reads("policies"), u.policyForm},
		{"POST /policies/{id}", writes("policies"), u.savePolicy},
		{"POST /policies/{id}/delete", writes("policies"), u.deletePolicy},

		{"GET /users", reads("users"), u.listUsers},
		{"GET /users/new", writes("users"), u.userForm},
		{"POST /users/new", writes("users"), u.saveUser},
		{"GET /users/{id}", ownAccount, u.userForm},
		{"POST /users/{id}", ownAccount, u.saveUser},
		{"POST /users/{id}/reset-key", ownAccount, u.resetUserKey},
		{"POST /users/{id}/password", ownAccount, u.changePassword},
		{"POST /users/{id}/delete", writes("users"), u.deleteUser},
	}
}

// statusError is a page-level failure rendered as an error page.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// noPermissionPage is the web UI's refusal of a page the user's permissions do not
// open.
const noPermissionPage = "You do not have permission to see this page."

func forbidden() error { return &statusError{http.StatusForbidden, noPermissionPage} }

func notFound(what string) error { return &statusError{http.StatusNotFound, what + " not found."} }

// formFault is a fault the user can fix on the form they sent.
type formFault struct {
	status int
	// field is the form field the message belongs to; "" puts it above the form.
	field string
	msg   string
}

// form is how one form shows faults: at which of its fields, and with which status a
// conflict answers.
type form struct {
	// field maps a fault's field (as the service names it) to the form's; nil, or
	// "", shows the message above the form.
	field func(string) string
	// conflictStatus replaces 409 (the user forms answer a taken e-mail with 400, as
	// the API does).
	conflictStatus int
	// refused words a refusal that is not for want of a section's permission; ""
	// shows the service's reason.
	refused string
}

// uiFault is the one place the web UI turns a service's fault into what the user
// sees. A fault about the input (malformed, invalid, conflict) comes back as a
// *formFault for the form to show again; any other becomes an error page, where what
// (an "API", a "Key") names a missing entity.
func uiFault(err error, what string, f form) (*formFault, error) {
	ft, ok := fault.As(err)
	if !ok {
		return nil, err
	}
	switch ft.Kind {
	case fault.Malformed, fault.Invalid, fault.Conflict:
		ff := &formFault{status: httpx.StatusOf(ft.Kind), msg: ft.Reason}
		if ft.Kind == fault.Conflict && f.conflictStatus != 0 {
			ff.status = f.conflictStatus
		}
		if f.field != nil {
			ff.field = f.field(ft.Field)
		}
		return ff, nil
	case fault.NotFound:
		return nil, notFound(what)
	case fault.Forbidden:
		if ft.Field != "" {
			// The user lacks a section's permission.
			return nil, forbidden()
		}
		return nil, &statusError{http.StatusForbidden, cmp.Or(f.refused, ft.Reason, noPermissionPage)}
	case fault.Unavailable:
		return nil, unavailablePage(ft)
	}
	return nil, err
}

// unavailablePage is the error page for a store or limiter that cannot answer.
func unavailablePage(f *fault.Error) *statusError {
	if f.Reason == fault.StoreUnavailable {
		return &statusError{http.StatusServiceUnavailable, "The database is unavailable, so the dashboard cannot show or change anything right now. Nothing was changed; try again in a moment."}
	}
	return &statusError{http.StatusServiceUnavailable, "The service is unavailable; try again in a moment."}
}

// pageError is uiFault for a page with no form to go back to.
func pageError(err error, what string, f form) error {
	ff, err := uiFault(err, what, f)
	if ff != nil {
		return &statusError{ff.status, ff.msg}
	}
	return err
}

func (s *Server) enableUI() error {
	u := &ui{s: s, pages: map[string]*template.Template{}, sessions: newWebSessions(s.opts.Store, s.log),
		created: newCreatedKeys(s.opts.Store, s.opts.Accounts.Sealer, s.log)}
	for _, name := range []string{"login", "apis", "api_form", "keys", "key_form", "policies", "policy_form", "users", "user_form", "error"} {
		t, err := template.New("").ParseFS(templateFS, "web/templates/layout.html", "web/templates/parts.html", "web/templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("parse template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	s.ui = u
	static, _ := fs.Sub(staticFS, "web/static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	s.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	}))

	// Cross-origin form posts are refused before any handler runs (Sec-Fetch-Site /
	// Origin checks); every form also carries a per-session CSRF token.
	cop := http.NewCrossOriginProtection()
	handle := func(pattern string, h http.Handler) { s.mux.Handle(pattern, securityHeaders(cop.Handler(h))) }

	handle("GET /login", http.HandlerFunc(u.loginPage))
	handle("POST /login", http.HandlerFunc(u.login))
	handle("POST /logout", http.HandlerFunc(u.logout))
	handle("GET /{$}", http.RedirectHandler("/keys", http.StatusSeeOther))

	for _, p := range u.pageRoutes() {
		if p.need == (need{}) {
			return fmt.Errorf("web UI page %s declares no permission", p.pattern)
		}
		handle(p.pattern, u.authed(p.need, p.page))
	}
	return nil
}

// securityHeaders keeps pages out of frames and pins scripts to our own files.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// authed loads the session and user, redirecting to the login page without one,
// checks the CSRF token on every POST, then what the page needs.
func (u *ui) authed(n need, h uiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := u.s.now()
		sess, err := u.sessions.get(r, now)
		var user store.User
		if sess != nil {
			user, err = u.s.opts.Store.GetUser(r.Context(), sess.userID)
		}
		if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
			// The store cannot say who this is: the session stays, and the
			// user is told to retry rather than sent to log in again (which
			// needs the store too).
			u.renderError(w, r, nil, unavailablePage(f))
			return
		}
		if err != nil && sess == nil {
			u.renderError(w, r, nil, err)
			return
		}
		if sess == nil || err != nil || !user.Active || accounts.SessionStamp(user) != sess.stamp {
			if sess != nil {
				if err := u.sessions.destroy(r); err != nil {
					u.s.log.Warn("end a stale web session", "error", err.Error())
				}
			}
			if r.Method != http.MethodGet {
				u.renderError(w, r, nil, &statusError{http.StatusUnauthorized, "Your session has ended; log in again."})
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		c := &uiCtx{user: user, perms: accounts.PermissionsOf(user), acct: u.s.accountsAs(user), sess: sess}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil || !sameToken(r.PostFormValue("csrf"), sess.csrf) {
				u.renderError(w, r, c, &statusError{http.StatusForbidden, "The form expired or did not come from this dashboard. Reload the page and try again."})
				return
			}
		}
		if n != ownAccount {
			if err := c.acct.May(n.section, n.write); err != nil {
				u.renderError(w, r, c, pageError(err, "", form{}))
				return
			}
		}
		r = r.WithContext(audit.WithActor(r.Context(), userActor(user, r)))
		if err := h(w, r, c); err != nil {
			u.renderError(w, r, c, err)
		}
	})
}

func (u *ui) render(w http.ResponseWriter, r *http.Request, c *uiCtx, status int, name string, v view) {
	if c != nil {
		v["User"] = &c.user
		v["CSRF"] = c.sess.csrf
		if f := u.sessions.popFlash(r.Context(), c.sess); f != "" {
			v["Flash"], v["FlashKind"] = f, "success"
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.pages[name].ExecuteTemplate(w, "layout", v); err != nil {
		u.s.log.Error("render page", "page", name, "error", err.Error())
	}
}

func (u *ui) renderError(w http.ResponseWriter, r *http.Request, c *uiCtx, err error) {
	var se *statusError
	if !errors.As(err, &se) {
		var he *httpx.Error
		if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
			se = unavailablePage(f)
		} else if errors.As(err, &he) && he.Status < 500 {
			se = &statusError{he.Status, he.Message}
		} else {
			u.s.log.Error("page failed", "path", r.URL.Path, "error", err.Error())
			se = &statusError{http.StatusInternalServerError, "Something went wrong; the error has been logged."}
		}
	}
	title := http.StatusText(se.status)
	u.render(w, r, c, se.status, "error", view{"Title": title, "Error": se.msg})
}

func (u *ui) loginPage(w http.ResponseWriter, r *http.Request) {
	sess, err := u.sessions.get(r, u.s.now())
	if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
		// Logging in needs the store too: say so now, not after the password.
		u.showLogin(w, r, http.StatusServiceUnavailable, "", unavailablePage(f).msg)
		return
	}
	if sess != nil {
		http.Redirect(w, r, "/keys", http.StatusSeeOther)
		return
	}
	u.showLogin(w, r, http.StatusOK, "", "")
}

func (u *ui) showLogin(w http.ResponseWriter, r *http.Request, status int, email, msg string) {
	tok := randomToken()
	setCookie(w, u.s.https(r), loginCSRFCookie, tok, 0)
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	v := view{"Title": "Log in", "CSRF": tok, "Next": safeNext(next), "Email": email, "Error": msg}
	if err := u.pages["login"].ExecuteTemplate(w, "layout", v); err != nil {
		u.s.log.Error("render login", "error", err.Error())
	}
}

// loginKey is the throttle key of a password attempt: the account and the address.
func loginKey(email string, r *http.Request) string {
	return strings.ToLower(strings.TrimSpace(email)) + "\x00" + clientIP(r)
}

// safeNext keeps post-login redirects on this site: only a path on this origin is
// kept. Browsers drop tabs and newlines from URLs and read '\\' as '/', so
// "/\t/evil.example" or "/\\evil.example" would leave the site: any control
// character, space or backslash, and anything that parses with a scheme or a host,
// sends the user to the keys page instead.
func safeNext(next string) string {
	const fallback = "/keys"
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return fallback
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		strings.HasPrefix(next, "//") || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return fallback
	}
	return next
}

func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.showLogin(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		u.showLogin(w, r, http.StatusForbidden, "", "The login form expired. Please try again.")
		return
	}
	now := u.s.now()
	email := r.PostFormValue("email")
	// Passwords can be guessed, so a throttled account is refused before its
	// password is checked; the throttle is per account and address, so neither
	// other accounts from this address nor this account from elsewhere suffer.
	key := loginKey(email, r)
	if wait := u.s.logins.Blocked(r.Context(), key, now); wait > 0 {
		u.showLogin(w, r, http.StatusTooManyRequests, email,
			fmt.Sprintf("Too many failed attempts. Try again in %d seconds.", int(wait.Seconds())+1))
		return
	}
	user, err := u.s.opts.Accounts.CheckPassword(r.Context(), email, r.PostFormValue("password"))
	if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
		// Not a failed attempt: the password was never checked.
		u.showLogin(w, r, http.StatusServiceUnavailable, email, unavailablePage(f).msg)
		return
	}
	if err != nil {
		if !errors.Is(err, accounts.ErrBadCredentials) {
			u.s.log.Error("login failed", "error", err.Error())
		}
		u.s.logins.Fail(r.Context(), key, clientIP(r), now)
		u.showLogin(w, r, http.StatusUnauthorized, email, "Invalid e-mail or password.")
		return
	}
	tok, _, err := u.sessions.create(r.Context(), user, now)
	if err != nil {
		// The password was right: not a failed attempt.
		msg := "The session could not be started; try again in a moment."
		if f, ok := fault.As(err); ok && f.Kind == fault.Unavailable {
			msg = unavailablePage(f).msg
		} else {
			u.s.log.Error("start web session", "error", err.Error())
		}
		u.showLogin(w, r, http.StatusServiceUnavailable, email, msg)
		return
	}
	setCookie(w, u.s.https(r), sessionCookie, tok, sessionMaxAge)
	setCookie(w, u.s.https(r), loginCSRFCookie, "", -1)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := u.sessions.get(r, u.s.now())
	if err == nil && sess != nil && r.ParseForm() == nil && sameToken(r.PostFormValue("csrf"), sess.csrf) {
		err = u.sessions.destroy(r)
	}
	if err != nil {
		// The session may live on in the store: keep the cookie, so that the
		// user sees that logging out failed and tries again, rather than
		// believing they are out.
		u.renderError(w, r, nil, err)
		return
	}
	setCookie(w, u.s.https(r), sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
