// Package browser drives the web dashboard in a real Chromium, following the "Create
// an API Key" tutorials step by step against the real tollgate binary.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

func TestMain(m *testing.M) { e2eutil.Main(m) }

func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no Chromium found (make test installs Debian's chromium); skipping browser tests")
	return ""
}

// server is a running `tollgate serve` with the first-run credentials it printed.
type server struct {
	gateway, dashboard string
	password, access   string
}

func startServer(t *testing.T) *server {
	t.Helper()
	p := e2eutil.Serve(t, e2eutil.Options{Args: []string{"--log-level", "warn"}})
	s := &server{gateway: p.Gateway, dashboard: p.Dashboard, password: p.Field("password:"), access: p.Field("Dashboard API access credentials:")}
	if s.password == "" || s.access == "" {
		t.Fatalf("first-run credentials were not printed:\n%s", p.Stdout)
	}
	return s
}

// browser starts a headless Chromium with the flags that work on these machines.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// Accept the confirmation dialogs of delete buttons.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot saves a full-page PNG to $TOLLGATE_SCREENSHOTS (docs/screenshots when
// refreshing the README's pictures) or the test's temp dir.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, chromedp.FullScreenshot(100))
	dir := os.Getenv("TOLLGATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func upstream(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"message":"hello from the upstream","path":%q}`, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	return up
}

func callGateway(t *testing.T, s *server, path, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.gateway+path, nil)
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// loggedIn starts the server, an upstream and a browser logged in as the first
// administrator, on the Keys page; base is the dashboard's URL.
func loggedIn(t *testing.T) (s *server, up *httptest.Server, ctx context.Context, base string) {
	t.Helper()
	chromium(t)
	s = startServer(t)
	up = upstream(t)
	ctx = browser(t)
	base = "http://" + s.dashboard
	do(t, ctx, append(loginSteps(base, "admin@tollgate.local", s.password), chromedp.WaitVisible(`//h1[text()="Keys"]`))...)
	return s, up, ctx, base
}

// fill sets form fields by id, empty values included (which SetValue refuses).
func fill(t *testing.T, ctx context.Context, values map[string]string) {
	t.Helper()
	b, _ := json.Marshal(values)
	js := `(function (v) { for (const id in v) { document.getElementById(id).value = v[id]; } return true; })(` + string(b) + `)`
	get(t, ctx, chromedp.Evaluate[bool](js))
}

// createAPI creates an API through the Dashboard API with the printed access
// credentials, served at /<id>/.
func createAPI(t *testing.T, s *server, id, name string, keyless bool, target string) {
	t.Helper()
	api := fmt.Sprintf(`{"api_definition":{"api_id":%q,"name":%q,"use_keyless":%t,"auth":{"auth_header_name":"Authorization"},`+
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},`+
		`"proxy":{"listen_path":"/%s/","target_url":%q,"strip_listen_path":true}}}`, id, name, keyless, id, target)
	dashAPI(t, s, "POST", "/api/apis", api, nil)
}

// dashAPI calls the Dashboard API with the printed access credentials; anything
// but 200 fails the test. A non-nil out receives the JSON reply.
func dashAPI(t *testing.T, s *server, method, path, body string, out any) {
	t.Helper()
	status, b := dashCall(t, s, method, path, body)
	if status != 200 {
		t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// dashCall calls the Dashboard API with the printed access credentials.
func dashCall(t *testing.T, s *server, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.dashboard+path, strings.NewReader(body))
	req.Header.Set("authorization", s.access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func loginSteps(base, email, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/keys"),
		chromedp.WaitVisible(chromedp.CSS("#email")), // redirected to the login page
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
	}
}

// TestTutorialInBrowser follows the tutorial: log in, create an API and read its ID
// on the APIs page, open Keys, Create, pick the API, Add, Create, read the key from
// the pop-up and call the gateway with it; then open Users > Edit, read the Dashboard
// API access credentials and create a key with the tutorial's curl body.
func TestTutorialInBrowser(t *testing.T) {
	s := startServer(t)
	up := upstream(t)
	ctx := browser(t)
	base := "http://" + s.dashboard
	h1 := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(`//h1[text()="` + text + `"]`)
	}

	// A wrong password is refused without saying which part was wrong.
	do(t, ctx, append(loginSteps(base, "admin@tollgate.local", "wrong-password-here"), chromedp.WaitVisible(chromedp.CSS(".notice.error")))...)
	if msg := get(t, ctx, chromedp.Text(chromedp.CSS(".notice.error"))); !strings.Contains(msg, "Invalid e-mail or password") {
		t.Fatalf("wrong password message: %q", msg)
	}
	screenshot(t, ctx, "login")

	// Log in and create the API; read its API ID on the APIs page.
	do(t, ctx, append(loginSteps(base, "admin@tollgate.local", s.password),
		h1("Keys"),
		chromedp.Click(`//nav//a[text()="APIs"]`),
		h1("APIs"),
		chromedp.Click(`//a[text()="Create API"]`),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "test-api"),
		chromedp.SendKeys(chromedp.CSS("#listen_path"), "/test-api/"),
		chromedp.SendKeys(chromedp.CSS("#target_url"), up.URL),
		chromedp.Click(`//button[text()="Create"]`),
		chromedp.WaitVisible(chromedp.CSS("code.api-id")),
	)...)
	apiID := get(t, ctx, chromedp.Text(chromedp.CSS("code.api-id")))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(apiID) {
		t.Fatalf("API ID on the APIs page: %q", apiID)
	}
	screenshot(t, ctx, "apis")

	// Creating a key without an access rule is refused with a clear message.
	do(t, ctx,
		chromedp.Navigate(base+"/keys/new"),
		chromedp.WaitVisible(chromedp.CSS("#submit")),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#ar-err")),
	)
	if msg := get(t, ctx, chromedp.Text(chromedp.CSS("#ar-err"))); !strings.Contains(msg, "Add at least one API") {
		t.Fatalf("no-access-rule message: %q", msg)
	}

	// Keys > Create > pick the API > Add > Create > pop-up.
	do(t, ctx,
		chromedp.Click(`//nav//a[text()="Keys"]`),
		h1("Keys"),
		chromedp.Click(`//a[text()="Create"]`),
		chromedp.WaitVisible(chromedp.CSS("#api_select")),
		chromedp.SetValue(chromedp.CSS("#api_select"), apiID),
		chromedp.Click(chromedp.CSS("#add_rule")),
		chromedp.WaitVisible(chromedp.CSS("#rules tr.rule")),
		chromedp.SendKeys(chromedp.CSS("#alias"), "tutorial key"),
	)
	screenshot(t, ctx, "key-create")
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#created")))
	title := get(t, ctx, chromedp.Text(chromedp.CSS("#created-title")))
	key := get(t, ctx, chromedp.Text(chromedp.CSS("#new-key")))
	if title != "Key successfully generated" || key == "" {
		t.Fatalf("pop-up: %q %q", title, key)
	}
	if label := get(t, ctx, chromedp.Text(chromedp.CSS("#copy-key"))); label != "Copy to clipboard" {
		t.Errorf("copy button says %q", label)
	}
	// The button confirms the copy (asynchronously, when the clipboard answers).
	do(t, ctx, chromedp.Click(chromedp.CSS("#copy-key")), chromedp.WaitVisible(`//button[@id="copy-key" and text()="Copied!"]`))
	screenshot(t, ctx, "key-created")
	status, body := callGateway(t, s, "/test-api/hello", key)
	if status != 200 || !strings.Contains(body, "hello from the upstream") || !strings.Contains(body, `"path":"/hello"`) {
		t.Fatalf("gateway with the UI key: %d %s", status, body)
	}

	// The key is shown once: reloading the page does not show it again.
	do(t, ctx, chromedp.Reload(), h1("Keys"))
	html := get(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, key) || strings.Contains(html, "Key successfully generated") {
		t.Fatal("the key was shown a second time")
	}
	if !strings.Contains(html, "tutorial key") {
		t.Fatal("the new key is not listed")
	}
	screenshot(t, ctx, "keys")

	// Users > Edit shows the Dashboard API access credentials.
	do(t, ctx,
		chromedp.Click(`//nav//a[text()="Users"]`),
		h1("Users"),
		chromedp.Click(`//a[text()="Edit"]`),
		chromedp.WaitVisible(chromedp.CSS("#access-key")),
	)
	access := get(t, ctx, chromedp.Text(chromedp.CSS("#access-key")))
	if access != s.access {
		t.Fatalf("access credentials on the user page %q, printed at first start %q", access, s.access)
	}
	screenshot(t, ctx, "user")

	// The tutorial's curl body, with the credentials from the page and the API ID
	// from the APIs page.
	tutorial := `{
        "allowance": 1000, "rate": 1000, "per": 1, "expires": -1, "quota_max": -1,
        "quota_renews": 1449051461, "quota_remaining": -1, "quota_renewal_rate": 60,
        "access_rights": {"` + apiID + `": {"api_id": "` + apiID + `", "api_name": "test-api", "versions": ["Default"]}},
        "meta_data": {}
     }`
	req, _ := http.NewRequest("POST", base+"/api/keys", strings.NewReader(tutorial))
	req.Header.Set("authorization", access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Action, Key, Status string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 200 || created.Action != "create" || created.Status != "ok" {
		t.Fatalf("tutorial curl: %d %+v", resp.StatusCode, created)
	}
	if status, body := callGateway(t, s, "/test-api/x", created.Key); status != 200 {
		t.Fatalf("gateway with the curl key: %d %s", status, body)
	}

	// Deactivate the key on its detail page: the very next request is refused.
	do(t, ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.Click(`//a[text()="tutorial key"]`),
		chromedp.WaitVisible(`//input[@name="inactive"]`),
		chromedp.Click(`//input[@name="inactive"]`),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS(".notice.success")),
	)
	if status, body := callGateway(t, s, "/test-api/x", key); status != 403 || !strings.Contains(body, "Key is inactive, please renew") {
		t.Fatalf("deactivated key: %d %s", status, body)
	}

	// Users > Add user with permissions; the new user appears in the list.
	do(t, ctx,
		chromedp.Navigate(base+"/users"),
		chromedp.Click(`//a[text()="Add user"]`),
		chromedp.WaitVisible(chromedp.CSS("#email_address")),
		chromedp.SendKeys(chromedp.CSS("#first_name"), "Kim"),
		chromedp.SendKeys(chromedp.CSS("#email_address"), "kim@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "kims-long-password"),
		chromedp.SetValue(chromedp.CSS("#perm-keys"), "write"),
		chromedp.Click(`//button[text()="Create user"]`),
		chromedp.WaitVisible(`//td[text()="kim@example.com"]`),
	)
	if perms := get(t, ctx, chromedp.Text(`//td[text()="kim@example.com"]/following-sibling::td[1]`)); !strings.Contains(perms, "keys: write") {
		t.Fatalf("new user's permissions: %q", perms)
	}

	// Delete the UI key from its detail page (with confirmation); it stops working.
	do(t, ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.Click(`//a[text()="tutorial key"]`),
		chromedp.WaitVisible(`//button[text()="Delete key"]`),
		chromedp.Click(`//button[text()="Delete key"]`),
		chromedp.WaitVisible(chromedp.CSS(".notice.success")),
	)
	if status, _ := callGateway(t, s, "/test-api/x", key); status != 403 {
		t.Fatalf("deleted key still works: %d", status)
	}

	// Phone width.
	do(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/keys"), h1("Keys"))
	screenshot(t, ctx, "keys-phone")

	// Logging out ends the session.
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/keys"),
		chromedp.Click(`//button[text()="Log out"]`), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if loc := get(t, ctx, chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Fatalf("after logout /users is at %s", loc)
	}
}

// TestChangeOwnPasswordInBrowser: on their own page a user changes their password
// (the current one is asked for), stays logged in, and logs in with the new one.
func TestChangeOwnPasswordInBrowser(t *testing.T) {
	chromium(t)
	s := startServer(t)
	ctx := browser(t)
	base := "http://" + s.dashboard
	do(t, ctx, loginSteps(base, "admin@tollgate.local", s.password)...)
	do(t, ctx,
		chromedp.WaitVisible(`//nav//a[text()="Users"]`),
		chromedp.Click(`//nav//a[text()="Users"]`),
		chromedp.Click(`//a[text()="Edit"]`),
		chromedp.WaitVisible(chromedp.CSS("#change-password")),
		chromedp.SendKeys(chromedp.CSS("#current_password"), "not-the-password"),
		chromedp.SendKeys(chromedp.CSS("#new_password"), "my-new-password-1"),
		chromedp.SendKeys(chromedp.CSS("#confirm_password"), "my-new-password-1"),
		chromedp.Click(`//button[text()="Change password"]`),
		chromedp.WaitVisible(`//p[@class="ferr" and text()="The current password is wrong."]`),
		chromedp.SendKeys(chromedp.CSS("#current_password"), s.password),
		chromedp.SendKeys(chromedp.CSS("#new_password"), "my-new-password-1"),
		chromedp.SendKeys(chromedp.CSS("#confirm_password"), "my-new-password-1"),
		chromedp.Click(`//button[text()="Change password"]`),
		chromedp.WaitVisible(`//*[contains(text(), "Password changed.")]`),
	)
	screenshot(t, ctx, "password-changed")
	// Still logged in; after logging out, only the new password works.
	do(t, ctx, chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(`//nav//a[text()="Users"]`))
	do(t, ctx, chromedp.Click(`//button[text()="Log out"]`), chromedp.WaitVisible(chromedp.CSS("#email")))
	do(t, ctx, loginSteps(base, "admin@tollgate.local", "my-new-password-1")...)
	do(t, ctx, chromedp.WaitVisible(`//nav//a[text()="Users"]`))
}

// TestPolicyInBrowser: Policies > Create a policy of 2 requests a minute, find it
// in the list and by search, then Keys > Create > Choose a policy, read the key
// from the pop-up and use it: the gateway admits two requests and refuses the
// third. The key's page says the limits are the policy's.
func TestPolicyInBrowser(t *testing.T) {
	s, up, ctx, base := loggedIn(t)

	// The API, through the Dashboard API with the printed access credentials.
	createAPI(t, s, "pol-api", "Policy API", false, up.URL)

	// Policies > Create: name, the API, 2 requests per 60 seconds.
	do(t, ctx,
		chromedp.WaitVisible(`//nav//a[text()="Policies"]`),
		chromedp.Click(`//nav//a[text()="Policies"]`),
		chromedp.WaitVisible(`//h1[text()="Policies"]`),
		chromedp.Click(`//a[text()="Create policy"]`),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "Two a minute"),
		chromedp.SetValue(chromedp.CSS("#api_select"), "pol-api"),
		chromedp.Click(chromedp.CSS("#add_rule")),
		chromedp.WaitVisible(chromedp.CSS("#rules tr.rule")),
		chromedp.SetValue(chromedp.CSS("#rate"), "2"),
		chromedp.SetValue(chromedp.CSS("#per"), "60"),
		chromedp.SetValue(chromedp.CSS("#key_expires_in"), "86400"),
	)
	screenshot(t, ctx, "policy-create")
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS(".notice.success")))
	policyID := get(t, ctx, chromedp.Text(chromedp.CSS("code.policy-id")))
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(policyID) {
		t.Fatalf("policy ID on the Policies page: %q", policyID)
	}
	if row := get(t, ctx, chromedp.Text(`//a[text()="Two a minute"]/ancestor::tr`)); !strings.Contains(row, "2 per 60 s") || !strings.Contains(row, "after 1 day") {
		t.Fatalf("policy row: %q", row)
	}
	screenshot(t, ctx, "policies")

	// Search: a miss, then the policy by a part of its name in other letter case.
	do(t, ctx,
		chromedp.SetValue(chromedp.CSS("#q"), "gold"),
		chromedp.Click(`//form[@role="search"]//button`),
		chromedp.WaitVisible(`//p[contains(text(), "No policies match")]`),
		chromedp.SetValue(chromedp.CSS("#q"), "TWO A"),
		chromedp.Click(`//form[@role="search"]//button`),
		chromedp.WaitVisible(`//div[@id="policylist"]//a[text()="Two a minute"]`),
	)

	// Keys > Create starts on Choose a policy: tick it, Create, read the pop-up.
	do(t, ctx,
		chromedp.Click(`//nav//a[text()="Keys"]`),
		chromedp.Click(`//a[text()="Create"]`),
		chromedp.WaitVisible(chromedp.CSS("#pol-"+policyID)),
		chromedp.Click(chromedp.CSS("#pol-"+policyID)),
		chromedp.SendKeys(chromedp.CSS("#alias"), "policy key"),
	)
	if visible := get(t, ctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("panel-manual")).display !== "none"`)); visible {
		t.Error("the Choose an API panel shows on the Choose a policy tab")
	}
	screenshot(t, ctx, "key-create-policy")
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS("#created")))
	key := get(t, ctx, chromedp.Text(chromedp.CSS("#new-key")))
	if key == "" {
		t.Fatal("no key in the pop-up")
	}
	for i, want := range []int{200, 200, 429} {
		if status, body := callGateway(t, s, "/pol-api/x", key); status != want {
			t.Fatalf("request %d with the policy's key: %d %s", i+1, status, body)
		}
	}

	// The key's page: the rate is the policy's.
	do(t, ctx,
		chromedp.Navigate(base+"/keys"),
		chromedp.Click(`//a[text()="policy key"]`),
		chromedp.WaitVisible(chromedp.CSS("#effective")),
	)
	if rate := get(t, ctx, chromedp.Text(`//td[contains(@class, "eff-rate")]/ancestor::tr`)); !strings.Contains(rate, "2 per 60 s") || !strings.Contains(rate, "policy Two a minute") {
		t.Fatalf("effective rate on the key page: %q", rate)
	}
	screenshot(t, ctx, "key-effective")
}

// TestFirstRunInBrowser: before there is an API a key can open, the Keys page and
// the Create-key form say so and link to APIs > Create, instead of offering an
// empty drop-down; a keyless API does not count. Once an API takes keys, the
// drop-down is back and the notice gone.
func TestFirstRunInBrowser(t *testing.T) {
	s, up, ctx, base := loggedIn(t)
	noAPIs := func(page string) string {
		t.Helper()
		do(t, ctx, chromedp.Navigate(base+page), chromedp.WaitVisible(chromedp.CSS("#no-apis")))
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#api_select").length`)); n != 0 {
			t.Errorf("%s shows an API drop-down with no API to choose", page)
		}
		if href := get(t, ctx, chromedp.Evaluate[string](`document.querySelector("#no-apis a").getAttribute("href")`)); href != "/apis/new" {
			t.Errorf("%s: the notice links to %q, want /apis/new", page, href)
		}
		return get(t, ctx, chromedp.Text(chromedp.CSS("#no-apis")))
	}

	for _, page := range []string{"/keys", "/keys/new"} {
		if msg := noAPIs(page); !strings.Contains(msg, "no API yet") || !strings.Contains(msg, "APIs > Create") {
			t.Errorf("%s says %q", page, msg)
		}
	}
	screenshot(t, ctx, "first-run-key-create")

	// A keyless API is open to all: still nothing for a key to open.
	createAPI(t, s, "open-api", "Open API", true, up.URL)
	if msg := noAPIs("/keys/new"); !strings.Contains(msg, "keyless") {
		t.Errorf("with only a keyless API the form says %q", msg)
	}

	// Follow the link, create an API: the drop-down offers it, the notice is gone.
	do(t, ctx,
		chromedp.Click(`//div[@id="no-apis"]//a`),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "first-api"),
		chromedp.SendKeys(chromedp.CSS("#listen_path"), "/first-api/"),
		chromedp.SendKeys(chromedp.CSS("#target_url"), up.URL),
		chromedp.Click(`//button[text()="Create"]`),
		chromedp.WaitVisible(chromedp.CSS(".notice.success")),
	)
	for _, page := range []string{"/keys", "/keys/new"} {
		do(t, ctx, chromedp.Navigate(base+page), chromedp.WaitVisible(`//h1`))
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#no-apis").length`)); n != 0 {
			t.Errorf("%s still says there is no API", page)
		}
	}
	if opts := get(t, ctx, chromedp.Text(chromedp.CSS("#api_select"))); !strings.Contains(opts, "first-api") || strings.Contains(opts, "Open API") {
		t.Errorf("the API drop-down offers %q", opts)
	}
}

// TestAPIFormMarksEveryFieldInBrowser: on APIs > Create and on an API's edit page,
// each invalid field is marked at once, next to the field and in plain words (no
// JSON field names), with aria-invalid; the fields that are right are not.
func TestAPIFormMarksEveryFieldInBrowser(t *testing.T) {
	s, up, ctx, base := loggedIn(t)
	createAPI(t, s, "edit-me", "Edit me", false, up.URL)
	// The message element of each field the test fills.
	fields := map[string]string{"name": "name-err", "listen_path": "lp-err", "target_url": "t-err", "global_rate": "gr-err"}
	tests := []struct {
		name, page                        string
		apiName, listenPath, target, rate string
		want                              map[string]string // field -> words its message holds
	}{
		{"name empty", "/apis/new", "", "/a/", up.URL, "0", map[string]string{"name": "The API name must not be empty"}},
		{"listen path relative", "/apis/new", "A", "orders", up.URL, "0", map[string]string{"listen_path": "The listen path \"orders\" must start with '/'"}},
		{"listen path empty", "/apis/new", "A", "", up.URL, "0", map[string]string{"listen_path": "The listen path must not be empty"}},
		{"target missing", "/apis/new", "A", "/a/", "", "0", map[string]string{"target_url": "The target URL must not be empty"}},
		{"target not http", "/apis/new", "A", "/a/", "ftp://files.example", "0", map[string]string{"target_url": "must start with http:// or https://"}},
		{"name and listen path", "/apis/new", "", "/a b/", up.URL, "0", map[string]string{"name": "must not be empty", "listen_path": "must not contain spaces"}},
		{"rate and listen path", "/apis/new", "A", "a", up.URL, "-5", map[string]string{"global_rate": "0 or more", "listen_path": "must start with '/'"}},
		{"all three", "/apis/new", "", "x", "nohost", "0", map[string]string{"name": "name", "listen_path": "listen path", "target_url": "target URL"}},
		{"listen path taken", "/apis/new", "A", "/edit-me/", up.URL, "0", map[string]string{"listen_path": "already used by API edit-me"}},
		{"edit: name and target", "/apis/edit-me", "", "/edit-me/", "", "0", map[string]string{"name": "must not be empty", "target_url": "must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do(t, ctx, chromedp.Navigate(base+tt.page), chromedp.WaitVisible(chromedp.CSS("#name")))
			fill(t, ctx, map[string]string{"name": tt.apiName, "listen_path": tt.listenPath, "target_url": tt.target, "global_rate": tt.rate})
			do(t, ctx,
				chromedp.Click(`//form[contains(@class, "form")]//button[@type="submit"]`),
				chromedp.WaitVisible(chromedp.CSS(".notice.error")),
			)
			for field, errID := range fields {
				invalid := get(t, ctx, chromedp.Evaluate[string](`document.getElementById("`+field+`").getAttribute("aria-invalid") || ""`))
				msg := get(t, ctx, chromedp.Evaluate[string](`(document.getElementById("`+errID+`") || {}).textContent || ""`))
				want, marked := tt.want[field]
				switch {
				case marked && (invalid != "true" || !strings.Contains(msg, want)):
					t.Errorf("%s: aria-invalid %q, message %q; want it marked, saying %q", field, invalid, msg, want)
				case !marked && (invalid != "" || msg != ""):
					t.Errorf("%s is marked (%q, %q) but is right", field, invalid, msg)
				case strings.Contains(msg, "proxy.") || strings.Contains(msg, "_"):
					t.Errorf("%s: the message names a JSON field: %q", field, msg)
				}
			}
		})
	}
	screenshot(t, ctx, "api-form-errors")
}

// TestKeyPageInBrowser: a key's page says when the key was created and last
// updated, when it expires, its rate limit, and how much of its quota is used and
// remains and when it renews, all as the gateway enforces them (here: from a
// policy). The Keys list shows the APIs a key's policies grant, and "expired" for
// an expired key.
func TestKeyPageInBrowser(t *testing.T) {
	s, up, ctx, base := loggedIn(t)
	createAPI(t, s, "kp-api", "KP API", false, up.URL)
	var pol struct{ Message string }
	dashAPI(t, s, "POST", "/api/portal/policies", `{"name":"Ten an hour","active":true,"state":"active","rate":5,"per":60,`+
		`"quota_max":10,"quota_renewal_rate":3600,"access_rights":{"kp-api":{"api_id":"kp-api","versions":["Default"]}}}`, &pol)
	var key struct{ Key string }
	dashAPI(t, s, "POST", "/api/keys", `{"alias":"policy only","apply_policies":["`+pol.Message+`"],"quota_max":-1,"rate":-1,"per":-1}`, &key)
	for i := range 3 {
		if status, body := callGateway(t, s, "/kp-api/x", key.Key); status != 200 {
			t.Fatalf("request %d with the policy key: %d %s", i+1, status, body)
		}
	}
	// A key of its own, then expired an hour ago (an update may set a past expiry).
	var own struct{ Key string }
	rights := `"access_rights":{"kp-api":{"api_id":"kp-api","versions":["Default"]}}`
	dashAPI(t, s, "POST", "/api/keys", `{"alias":"old key","rate":-1,"per":-1,"quota_max":-1,`+rights+`}`, &own)
	past := time.Now().Add(-time.Hour).Unix()
	dashAPI(t, s, "PUT", "/api/keys/"+own.Key, fmt.Sprintf(`{"alias":"old key","rate":-1,"per":-1,"quota_max":-1,"expires":%d,%s}`, past, rights), nil)

	do(t, ctx, chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(`//a[text()="policy only"]`))
	row := func(alias, column string) string {
		return get(t, ctx, chromedp.Text(`//a[text()="`+alias+`"]/ancestor::tr/td[@data-label="`+column+`"]`))
	}
	if apis := row("policy only", "APIs"); apis != "KP API" {
		t.Errorf("APIs of the policy key in the list: %q", apis)
	}
	if q := row("policy only", "Quota"); q != "3 used / 7 remaining" {
		t.Errorf("quota of the policy key in the list: %q", q)
	}
	if st := row("old key", "Status"); st != "expired" {
		t.Errorf("status of the expired key: %q", st)
	}
	if st := row("policy only", "Status"); st != "active" {
		t.Errorf("status of the policy key: %q", st)
	}
	screenshot(t, ctx, "keys-policy")

	do(t, ctx, chromedp.Click(`//a[text()="policy only"]`), chromedp.WaitVisible(chromedp.CSS("#key-details")))
	date := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d UTC$`)
	// recent: a time the page shows for something done during the test.
	recent := func(v string) bool {
		at, err := time.Parse("2006-01-02 15:04 UTC", v)
		return err == nil && time.Since(at) < 5*time.Minute && time.Until(at) < time.Minute
	}
	fact := func(id string) string { return get(t, ctx, chromedp.Text(chromedp.CSS("#"+id))) }
	for _, tt := range []struct {
		id    string
		check func(string) bool
	}{
		{"kd-created", recent},
		{"kd-updated", recent},
		{"kd-expires", func(v string) bool { return v == "never" }},
		{"kd-rate", func(v string) bool {
			return strings.Contains(v, "5 per 60 s") && strings.Contains(v, "policy Ten an hour")
		}},
		{"kd-quota", func(v string) bool {
			return strings.Contains(v, "10 per 1 hour") && strings.Contains(v, "3 used / 7 remaining")
		}},
		{"kd-renews", date.MatchString},
	} {
		if v := fact(tt.id); !tt.check(v) {
			t.Errorf("%s on the key page: %q", tt.id, v)
		}
	}
	renews, err := time.Parse("2006-01-02 15:04 UTC", fact("kd-renews"))
	if err != nil || renews.Before(time.Now().Add(58*time.Minute)) || renews.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("the quota renews at %v, want about an hour from the first request (%v)", renews, err)
	}
	screenshot(t, ctx, "key-details")

	do(t, ctx, chromedp.Navigate(base+"/keys"), chromedp.Click(`//a[text()="old key"]`), chromedp.WaitVisible(chromedp.CSS("#key-details")))
	if st, exp := fact("kd-status"), fact("kd-expires"); st != "expired" || exp != time.Unix(past, 0).UTC().Format("2006-01-02 15:04 UTC") {
		t.Errorf("the expired key's page: status %q, expires %q", st, exp)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#kd-renews").length`)); n != 0 {
		t.Error("a key without a quota shows when its quota renews")
	}
}

// TestPolicyThrottleInBrowser: throttling beyond the gateway's bound (a throttled
// request is held 30 s at most, all retries together) is treated in the policy
// form as the Dashboard API treats it: an interval over 30 s is refused, marked
// at the field in plain words; retries that together wait longer are saved, and
// the form says at the field that the gateway will make only the first ones.
func TestPolicyThrottleInBrowser(t *testing.T) {
	s, up, ctx, base := loggedIn(t)
	createAPI(t, s, "thr-api", "Throttle API", false, up.URL)

	// What the Dashboard API does with the same values.
	policyBody := func(name string, interval float64, retries int) string {
		return fmt.Sprintf(`{"name":%q,"state":"active","rate":1,"per":1,"quota_max":-1,"throttle_interval":%v,"throttle_retry_limit":%d,`+
			`"access_rights":{"thr-api":{"api_id":"thr-api","versions":["Default"]}}}`, name, interval, retries)
	}
	if status, body := dashCall(t, s, "POST", "/api/portal/policies", policyBody("over", 31, 1)); status != 400 {
		t.Fatalf("the API with a 31 s throttle interval: %d %s, want 400", status, body)
	}
	if status, body := dashCall(t, s, "POST", "/api/portal/policies", policyBody("cut", 10, 5)); status != 200 {
		t.Fatalf("the API with 5 retries 10 s apart: %d %s, want 200 (the gateway cuts them)", status, body)
	}

	throttle := func(interval, retries string) {
		t.Helper()
		do(t, ctx,
			chromedp.Navigate(base+"/policies/new"),
			chromedp.WaitVisible(chromedp.CSS("#name")),
			chromedp.SendKeys(chromedp.CSS("#name"), "Throttled "+interval+"x"+retries),
			chromedp.SetValue(chromedp.CSS("#api_select"), "thr-api"),
			chromedp.Click(chromedp.CSS("#add_rule")),
			chromedp.Click(chromedp.CSS("#disable_throttle")),
		)
		fill(t, ctx, map[string]string{"throttle_interval": interval, "throttle_retry_limit": retries})
		do(t, ctx, chromedp.Click(chromedp.CSS("#submit")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	}
	attr := func(id, name string) string {
		return get(t, ctx, chromedp.Evaluate[string](`document.getElementById("`+id+`").getAttribute("`+name+`") || ""`))
	}
	count := func(sel string) int {
		return get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("`+sel+`").length`))
	}

	// Over the bound: refused, at the field, in plain words.
	throttle("31", "1")
	msg := get(t, ctx, chromedp.Text(chromedp.CSS("#thr-err")))
	if !strings.Contains(msg, "at most 30 seconds between retries") || strings.Contains(msg, "_") {
		t.Errorf("31 s between retries: %q", msg)
	}
	if attr("throttle_interval", "aria-invalid") != "true" {
		t.Error("the interval field is not marked invalid")
	}
	if count("#policy-id") != 0 {
		t.Error("the refused policy was saved")
	}
	screenshot(t, ctx, "policy-throttle-refused")

	// Within the bound each, beyond it together: saved, with the gateway's cut said
	// at the throttle fields of the saved policy's page.
	throttle("10", "5")
	if kind := get(t, ctx, chromedp.Evaluate[string](`document.querySelector(".notice").className`)); !strings.Contains(kind, "success") {
		t.Fatalf("5 retries 10 s apart not saved: %q", get(t, ctx, chromedp.Text(chromedp.CSS(".notice"))))
	}
	id := get(t, ctx, chromedp.Text(chromedp.CSS("#policy-id")))
	warn := get(t, ctx, chromedp.Text(chromedp.CSS("#thr-warn")))
	if !strings.Contains(warn, "only the first 3 retries") || !strings.Contains(warn, "30 seconds") {
		t.Errorf("the warning says %q", warn)
	}
	if !strings.Contains(attr("throttle_interval", "aria-describedby"), "thr-warn") {
		t.Error("the interval field is not described by the warning")
	}
	var stored struct {
		ThrottleInterval   float64 `json:"throttle_interval"`
		ThrottleRetryLimit int     `json:"throttle_retry_limit"`
	}
	dashAPI(t, s, "GET", "/api/portal/policies/"+id, "", &stored)
	if stored.ThrottleInterval != 10 || stored.ThrottleRetryLimit != 5 {
		t.Errorf("stored throttling %+v, want 10 s and 5 retries as entered", stored)
	}
	screenshot(t, ctx, "policy-throttle-cut")

	// Exactly the bound: saved without a word, and its page has none either.
	throttle("10", "3")
	do(t, ctx, chromedp.Click(`//a[text()="Throttled 10x3"]`), chromedp.WaitVisible(chromedp.CSS("#policy-id")))
	if count("#thr-warn") != 0 {
		t.Error("3 retries 10 s apart are warned of, though all are made")
	}
}
