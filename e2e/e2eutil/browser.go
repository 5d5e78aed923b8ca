package e2eutil

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser is a web UI client that keeps cookies as a browser does (by host, not
// port, so one Browser can talk to several dashboards on one machine) and does not
// follow redirects, so tests see where the dashboard sends it.
type Browser struct {
	t testing.TB
	c *http.Client
}

// NewBrowser returns a Browser with no cookies.
func NewBrowser(t testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Page is one answer of the dashboard.
type Page struct {
	Status   int
	Location string
	Body     string
}

func (b *Browser) do(req *http.Request) Page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body)}
}

// Get opens path on the dashboard at addr (host:port).
func (b *Browser) Get(addr, path string) Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// Post submits a form to path on the dashboard at addr, as a same-origin form
// post.
func (b *Browser) Post(addr, path string, form url.Values) Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+addr)
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF reads the form token from the page at path.
func (b *Browser) CSRF(addr, path string) string {
	b.t.Helper()
	p := b.Get(addr, path)
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("GET %s on %s: %d, no csrf token:\n%s", path, addr, p.Status, p.Body)
	}
	return m[1]
}

// Login fills in and submits the login form of the dashboard at addr, as a user
// does, and returns the answer (303 into the app when it worked).
func (b *Browser) Login(addr, email, password string) Page {
	b.t.Helper()
	tok := b.CSRF(addr, "/login")
	return b.Post(addr, "/login", url.Values{"email": {email}, "password": {password}, "csrf": {tok}})
}

// LoggedIn reports whether the browser's session opens the key list at addr.
func (b *Browser) LoggedIn(addr string) bool {
	b.t.Helper()
	return b.Get(addr, "/keys").Status == http.StatusOK
}
