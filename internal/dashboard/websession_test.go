package dashboard_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apptest"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/store"
)

var newKeyShown = regexp.MustCompile(`<code id="new-key">([^<]+)</code>`)

// manualKey is the key form for a key to API apia, with its own limits.
func manualKey(csrf, alias string) url.Values {
	return url.Values{"csrf": {csrf}, "mode": {"manual"}, "api": {"apia"}, "versions_apia": {"Default"}, "alias": {alias},
		"rate": {"50"}, "per": {"1"}, "quota_max": {"-1"}, "unlimited": {"on"}, "quota_renewal": {"3600"}, "expires": {"never"}}
}

// createKeyInUI creates a key on the key form and returns where the dashboard
// sends the browser to see it (/keys?created=...).
func createKeyInUI(t *testing.T, b *browser, alias string) string {
	t.Helper()
	status, body, h := b.post("/keys/new", manualKey(b.csrf("/keys/new"), alias))
	if loc := h.Get("Location"); status != 303 || !strings.HasPrefix(loc, "/keys?created=") {
		t.Fatalf("create key %q in the UI: %d %v\n%s", alias, status, h, body)
	}
	return h.Get("Location")
}

// sessionHash is the store's name of the browser's web session: the SHA-256 of its
// cookie.
func sessionHash(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(b.srv)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "tollgate_session" {
			sum := sha256.Sum256([]byte(c.Value))
			return hex.EncodeToString(sum[:])
		}
	}
	t.Fatal("the browser holds no session cookie")
	return ""
}

// TestDashboardsShareWebSessions: two dashboards on one PostgreSQL, as a cluster
// runs them behind a load balancer without sticky sessions. A browser logged in on
// one is logged in on the other; a key created on one is shown once, on either;
// a flash left by one is shown once, by either; logging out on one logs out of both;
// wrong passwords spread over both are throttled as on one.
func TestDashboardsShareWebSessions(t *testing.T) {
	pg := pgtest.New(t)
	dsn, redisURL := pg.DSN(t), "redis://"+redistest.Start(t)
	cfg := func(c *config.Config) { c.Postgres, c.Redis, c.EncryptionKey = dsn, redisURL, strings.Repeat("5e", 32) }
	nodeA := apptest.New(t, apptest.Options{Config: cfg})
	nodeB := apptest.New(t, apptest.Options{Config: cfg})
	boot, err := nodeA.Node.Accounts.Bootstrap(t.Context(), "Org A", "a@a.io", "password-a")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{node: nodeA, dash: nodeA.Dashboard, keys: map[string]string{"a": boot.AccessKey}}
	e.upstream = nodeA.Gateway // any URL: the key is not used here
	e.createAPIA(t, "a")

	// One browser (one cookie jar: cookies ignore the port) talking to both.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	a := &browser{t: t, c: client, srv: nodeA.Dashboard.URL}
	b := &browser{t: t, c: client, srv: nodeB.Dashboard.URL}
	if b.loggedIn() {
		t.Fatal("logged in on B before logging in at all")
	}
	if status, _ := a.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatalf("login on A: %d", status)
	}
	if !b.loggedIn() {
		t.Fatal("the session made on dashboard A does not open a page on dashboard B")
	}

	created := createKeyInUI(t, a, "made on A")
	_, body, _ := b.get(created)
	m := newKeyShown.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("dashboard B does not show the key created on A:\n%s", body)
	}
	if _, err := nodeB.Node.Store.GetKey(t.Context(), keys.Sum(m[1]).String()); err != nil {
		t.Fatalf("the key B showed is not a stored key: %v", err)
	}
	for name, br := range map[string]*browser{"A": a, "B": b} {
		if _, body, _ := br.get(created); newKeyShown.MatchString(body) {
			t.Errorf("dashboard %s shows the created key a second time", name)
		}
	}

	// A flash left on B (saving the key) is shown once, wherever the next page is.
	hash := keys.Sum(m[1]).String()
	if status, body, _ := b.post("/keys/"+hash, manualKey(b.csrf("/keys/"+hash), "saved on B")); status != 303 {
		t.Fatalf("save the key on B: %d %s", status, body)
	}
	if _, body, _ := a.get("/keys"); !strings.Contains(body, "Key updated.") {
		t.Errorf("dashboard A does not show the flash left on B:\n%s", body)
	}
	if _, body, _ := b.get("/keys"); strings.Contains(body, "Key updated.") {
		t.Error("the flash is shown a second time")
	}

	if status, _, _ := b.post("/logout", url.Values{"csrf": {b.csrf("/keys")}}); status != 303 {
		t.Fatalf("logout on B: %d", status)
	}
	if a.loggedIn() {
		t.Error("still logged in on A after logging out on B")
	}

	// Wrong passwords spread over both dashboards count as on one: 10 a minute
	// per account and address, then 429 on either, the right password too.
	for i := range 10 {
		if status, _ := []*browser{a, b}[i%2].login("a@a.io", "wrong password", ""); status != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i+1, status)
		}
	}
	for name, br := range map[string]*browser{"A": a, "B": b} {
		if status, _ := br.login("a@a.io", "password-a", ""); status != 429 {
			t.Errorf("login on %s after 10 wrong passwords spread over A and B: %d, want 429", name, status)
		}
	}
}

// TestKeyDisplayIsSealedAndItsCreatorsOnly: the key waiting in the store for its
// one-time display is sealed (the store never holds it readable), and only the user
// who created it gets it.
func TestKeyDisplayIsSealedAndItsCreatorsOnly(t *testing.T) {
	e := newEnv(t)
	e.createAPIA(t, "a")
	e.addUser(t, "writer", map[string]string{"keys": "write", "apis": "read"})
	admin, other := e.uiLogin(t, "a"), e.uiLogin(t, "writer")

	created := createKeyInUI(t, admin, "sealed")
	if _, body, _ := other.get(created); newKeyShown.MatchString(body) {
		t.Fatal("another user was shown the created key")
	}
	_, body, _ := admin.get(created)
	m := newKeyShown.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the creator is not shown the key after another user tried:\n%s", body)
	}

	// What the store holds for a display: read it as someone with the database
	// alone would.
	created = createKeyInUI(t, admin, "sealed too")
	u, _ := url.Parse(created)
	sum := sha256.Sum256([]byte(u.Query().Get("created")))
	d, err := e.node.Node.Store.TakeKeyDisplay(t.Context(), hex.EncodeToString(sum[:]), e.ids["a"], time.Now())
	if err != nil {
		t.Fatalf("the display is not in the store: %v", err)
	}
	if bytes.Contains(d.Sealed, []byte(m[1][:8])) || len(d.Sealed) < 28 {
		t.Errorf("the stored display does not look sealed: %q", d.Sealed)
	}
	if time.Until(d.ExpiresAt) > 5*time.Minute || d.ExpiresAt.Before(time.Now().Add(4*time.Minute)) {
		t.Errorf("the display expires at %v, want 5 minutes after its creation", d.ExpiresAt)
	}
}

// TestWebSessionLifetime: a session ends after 8 hours unused or 24 hours in all,
// whatever its use, and its last use is written at most once a minute, not on every
// page.
func TestWebSessionLifetime(t *testing.T) {
	e := newEnvClock(t)
	b := e.uiLogin(t, "a")
	h := sessionHash(t, b)
	seen := func() time.Time {
		t.Helper()
		s, err := e.node.Node.Store.GetWebSession(t.Context(), h)
		if err != nil {
			t.Fatalf("the session is not in the store: %v", err)
		}
		return s.SeenAt
	}
	login := seen()
	e.node.Clock.Advance(59 * time.Second)
	if !b.loggedIn() || !seen().Equal(login) {
		t.Errorf("a page 59 s after login wrote the last use: %v, want %v", seen(), login)
	}
	e.node.Clock.Advance(2 * time.Second)
	if !b.loggedIn() || !seen().Equal(e.node.Clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("a page 61 s after login: last use %v, want now", seen())
	}

	// Used every 7 hours, it lives until 24 hours after login.
	for range 3 {
		e.node.Clock.Advance(7 * time.Hour)
		if !b.loggedIn() {
			t.Fatalf("logged out at %v after login, used every 7 hours", e.node.Clock.Now().Sub(login))
		}
	}
	e.node.Clock.Advance(3 * time.Hour)
	if b.loggedIn() {
		t.Error("still logged in 24 hours after login")
	}
	if _, err := e.node.Node.Store.GetWebSession(t.Context(), h); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the ended session is still stored: %v", err)
	}

	b = e.uiLogin(t, "a")
	e.node.Clock.Advance(8*time.Hour + time.Second)
	if b.loggedIn() {
		t.Error("still logged in after 8 hours unused")
	}

	// The sweep removes what nobody came back for.
	b = e.uiLogin(t, "a")
	h = sessionHash(t, b)
	e.node.Clock.Advance(9 * time.Hour)
	if err := e.server().Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Node.Store.GetWebSession(t.Context(), h); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the sweep left a session unused for 9 hours: %v", err)
	}
}

// TestDeactivatingAUserEndsTheirStoredSessions: the sessions of a user an
// administrator deactivates leave the store, on every dashboard at once.
func TestDeactivatingAUserEndsTheirStoredSessions(t *testing.T) {
	e := newEnv(t)
	e.addUser(t, "leaver", map[string]string{"keys": "read"})
	admin, leaver := e.uiLogin(t, "a"), e.uiLogin(t, "leaver")
	h := sessionHash(t, leaver)
	form := url.Values{"csrf": {admin.csrf("/users/" + e.ids["leaver"])}, "email_address": {"leaver@a.io"}, "first_name": {"L"},
		"last_name": {"V"}, "perm_keys": {"read"}}
	if status, body, _ := admin.post("/users/"+e.ids["leaver"], form); status != 303 {
		t.Fatalf("deactivate: %d %s", status, body)
	}
	if _, err := e.node.Node.Store.GetWebSession(t.Context(), h); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deactivated user's session is still stored: %v", err)
	}
	if leaver.loggedIn() {
		t.Error("the deactivated user is still logged in")
	}
}
