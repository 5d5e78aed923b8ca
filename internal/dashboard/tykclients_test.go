package dashboard_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/config"
)

// The endpoints and behaviours Tyk's generated clients and SDKs rely on (issue 14):
// users created without a password, the Admin API's user update, the health check,
// user search, the newer audit log and the system stats.

// loginFails asserts that the web UI refuses email with password.
func loginFails(t *testing.T, e *env, email, password string) {
	t.Helper()
	b := newBrowser(t, e)
	if status, _ := b.login(email, password, ""); status != 401 || b.loggedIn() {
		t.Fatalf("login as %s with %q: %d, want 401 and no session", email, password, status)
	}
}

// metaUser decodes the user in an Admin API reply's Meta.
func metaUser(t *testing.T, body string) (msg string, u struct {
	ID        string `json:"id"`
	AccessKey string `json:"access_key"`
}) {
	t.Helper()
	var reply struct {
		Message string
		Meta    json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &reply); err != nil {
		t.Fatalf("reply: %v %s", err, body)
	}
	if err := json.Unmarshal(reply.Meta, &u); err != nil {
		t.Fatalf("Meta is not a user: %v %s", err, body)
	}
	return reply.Message, u
}

func TestPasswordlessUsers(t *testing.T) {
	secret := "admin-auth:" + adminSecret
	// keyless makes user "np" in org A without a password, through the Admin API,
	// keeping its id and access key.
	keyless := func(t *testing.T, e *env) {
		body := e.must(t, e.dash, "POST", "/admin/users", `{"org_id":"`+e.orgA+`","email_address":"np@a.io","first_name":"No","last_name":"Password","user_permissions":{"keys":"read"}}`,
			map[string]string{"admin-auth": adminSecret})
		_, u := metaUser(t, body)
		e.keys["np"], e.ids["np"] = u.AccessKey, u.ID
	}
	scenarios{rows: []scenario{
		{name: "the Dashboard API creates a user without a password", method: "POST", path: "/api/users",
			body: `{"email_address":"tyk@a.io","first_name":"Tyk","last_name":"Client","user_permissions":{"keys":"read"}}`, as: "a", status: 200,
			contains: []string{`"Message":"User and session have been created"`},
			check: func(t *testing.T, e *env, _ string) {
				u, err := e.db.GetUserByEmail(t.Context(), "tyk@a.io")
				if err != nil || accounts.HasPassword(u) {
					t.Fatalf("stored user: %v, has a password: %v", err, accounts.HasPassword(u))
				}
				loginFails(t, e, "tyk@a.io", "")
			}},
		{name: "the Admin API creates one whose access key works at once", method: "POST", path: "/admin/users",
			body: `{"org_id":"{orgA}","email_address":"np2@a.io","first_name":"No","last_name":"Password"}`, as: secret, status: 200,
			check: func(t *testing.T, e *env, body string) {
				msg, u := metaUser(t, body)
				if len(u.AccessKey) != 32 || msg != u.AccessKey {
					t.Fatalf("reply carries no access key: %s", body)
				}
				if s, b := e.call(t, e.dash, "GET", "/api/users/me", "", map[string]string{"authorization": u.AccessKey}); s != 200 || !strings.Contains(b, "np2@a.io") {
					t.Fatalf("its access key: %d %s", s, b)
				}
			}},
		{name: "a password that is given is still checked", method: "POST", path: "/admin/users",
			body: `{"org_id":"{orgA}","email_address":"short@a.io","password":"short"}`, as: secret, status: 400, contains: []string{"at least 8"}},
		{name: "no password logs in, empty or not", setup: keyless, method: "GET", path: "/api/users/me", as: "np", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				for _, pw := range []string{"", " ", "password-np"} {
					loginFails(t, e, "np@a.io", pw)
				}
			}},
		{name: "an empty password never logs in a user who has one", method: "GET", path: "/api/users/me", as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) { loginFails(t, e, "a@a.io", "") }},
		{name: "nor does one change a password the user does not have", setup: keyless, method: "GET", path: "/api/users/me", as: "np", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				np, _ := e.db.GetUser(t.Context(), e.ids["np"])
				if _, err := e.acct.As(np).ChangePassword(t.Context(), "", "a-new-password"); err == nil {
					t.Fatal("a password was changed from none without being set")
				}
			}},
		{name: "setting the password opens the web UI", setup: keyless, method: "POST", path: "/api/users/{id:np}/actions/reset",
			body: `{"new_password":"now-it-has-one"}`, as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				if status, _ := newBrowser(t, e).login("np@a.io", "now-it-has-one", ""); status != 303 {
					t.Fatalf("login after the password was set: %d", status)
				}
			}},
	}}.run(t)
}

// TestPasswordlessUsersInTheUI: the users page and the user's page say that no
// password is set; the UI's own form still asks for one.
func TestPasswordlessUsersInTheUI(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.acct.CreateUser(t.Context(), accounts.NewUser{OrgID: e.orgA, Email: "np@a.io", Permissions: map[string]string{"keys": "read"}, Active: true}); err != nil {
		t.Fatal(err)
	}
	np, _ := e.db.GetUserByEmail(t.Context(), "np@a.io")
	b := newBrowser(t, e)
	if status, _ := b.login("a@a.io", "password-a", ""); status != 303 {
		t.Fatalf("login: %d", status)
	}
	_, list, _ := b.get("/users")
	if strings.Count(list, ">no password</span>") != 1 {
		t.Errorf("the users page should mark exactly the one user without a password:\n%s", list)
	}
	if _, page, _ := b.get("/users/" + np.ID); !strings.Contains(page, `id="no-password"`) || !strings.Contains(page, "np@a.io cannot log in") {
		t.Errorf("the user page does not say no password is set:\n%s", page)
	}
	if _, page, _ := b.get("/users/" + e.ids["reader"]); strings.Contains(page, `id="no-password"`) {
		t.Errorf("a user with a password is shown as having none")
	}
	tok := b.csrf("/users/new")
	status, page, _ := b.post("/users/new", url.Values{"csrf": {tok}, "email_address": {"form@a.io"}, "perm_keys": {"read"}})
	if status != 400 || !strings.Contains(page, "Enter a password") {
		t.Errorf("the UI's form without a password: %d", status)
	}
	if _, err := e.db.GetUserByEmail(t.Context(), "form@a.io"); err == nil {
		t.Error("the UI created a user without a password")
	}
}

func TestAdminUpdateUser(t *testing.T) {
	secret := "admin-auth:" + adminSecret
	scenarios{rows: []scenario{
		{name: "sets the password", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"password":"brand-new-password"}`, as: secret, status: 200,
			contains: []string{`"Status":"OK"`, `"Message":"User updated"`, `"email_address":"nobody@a.io"`, `"id":"{id:nobody}"`, `"access_key":""`},
			absent:   []string{"{key:nobody}", "brand-new-password"},
			check: func(t *testing.T, e *env, _ string) {
				if _, err := e.acct.CheckPassword(t.Context(), "nobody@a.io", "brand-new-password"); err != nil {
					t.Errorf("new password: %v", err)
				}
				if _, err := e.acct.CheckPassword(t.Context(), "nobody@a.io", "password-nobody"); err == nil {
					t.Error("the old password still works")
				}
				_, audit := e.call(t, e.dash, "GET", "/api/audit?p=-1", "", e.as("a"))
				for _, want := range []string{`"action":"reset_password","object_type":"user","object_id":"` + e.ids["nobody"] + `","user_id":"admin-secret"`,
					`"action":"update","object_type":"user","object_id":"` + e.ids["nobody"] + `","user_id":"admin-secret"`} {
					if !strings.Contains(audit, want) {
						t.Errorf("audit lacks %s: %s", want, audit)
					}
				}
			}},
		{name: "changes the profile, permissions and active flag", method: "PUT", path: "/admin/users/{id:reader}",
			body: `{"first_name":"Rita","last_name":"Reads","email_address":"rita@a.io","active":false,"user_permissions":{"apis":"write"}}`, as: secret, status: 200,
			contains: []string{`"first_name":"Rita"`, `"email_address":"rita@a.io"`, `"active":false`, `"user_permissions":{"apis":"write"}`},
			check: func(t *testing.T, e *env, _ string) {
				if s, _ := e.call(t, e.dash, "GET", "/api/users/me", "", e.as("reader")); s != 401 {
					t.Errorf("a deactivated user's key: %d, want 401", s)
				}
			}},
		{name: "takes back the user as read, access key and org included", method: "PUT", path: "/admin/users/{id:reader}",
			body: `{"id":"{id:reader}","org_id":"{orgA}","access_key":"{key:reader}","email_address":"reader@a.io","first_name":"R","active":true,"user_permissions":{"keys":"read"}}`,
			as:   secret, status: 200, contains: []string{`"first_name":"R"`}},
		{name: "reaches users of any organisation", method: "PUT", path: "/admin/users/{id:b}", body: `{"last_name":"Bee"}`, as: secret, status: 200, contains: []string{`"last_name":"Bee"`, `"org_id":"{orgB}"`}},
		{name: "unknown user", method: "PUT", path: "/admin/users/5f0c0ffee0000000000000000", body: `{"first_name":"x"}`, as: secret, status: 404, contains: []string{`"Message":"User not found"`}},
		{name: "a short password is refused and changes nothing", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"first_name":"Changed","password":"short"}`, as: secret, status: 400,
			contains: []string{"password must be at least 8 characters"},
			check: func(t *testing.T, e *env, _ string) {
				u, _ := e.db.GetUser(t.Context(), e.ids["nobody"])
				if u.FirstName == "Changed" {
					t.Error("a refused update was stored")
				}
				if _, err := e.acct.CheckPassword(t.Context(), "nobody@a.io", "password-nobody"); err != nil {
					t.Errorf("the old password: %v", err)
				}
			}},
		{name: "moving to another organisation is refused", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"org_id":"{orgB}"}`, as: secret, status: 400, contains: []string{"org_id cannot be changed"}},
		{name: "another user's id in the body is refused", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"id":"{id:a}","first_name":"x"}`, as: secret, status: 400, contains: []string{"does not match"}},
		{name: "an access key cannot be chosen", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"access_key":"0123456789abcdef0123456789abcdef"}`, as: secret, status: 400, contains: []string{"access_key cannot be set"}},
		{name: "a taken e-mail", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"email_address":"a@a.io"}`, as: secret, status: 400, contains: []string{"already exists"}},
		{name: "bad permissions", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"user_permissions":{"keys":"all"}}`, as: secret, status: 400, contains: []string{"user_permissions.keys"}},
		{name: "body not JSON", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"first_name":`, as: secret, status: 400, contains: []string{"Request body malformed"}},
		{name: "needs the admin secret", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"password":"brand-new-password"}`, as: "a", status: 401},
		{name: "the Dashboard API still sets passwords only by reset", method: "PUT", path: "/api/users/{id:nobody}", body: `{"password":"brand-new-password"}`, as: "a", status: 400,
			contains: []string{"actions/reset"}},
		{name: "the Dashboard API takes its user back as read", method: "PUT", path: "/api/users/{id:a}",
			body: `{"id":"{id:a}","org_id":"{orgA}","access_key":"{key:a}","email_address":"a@a.io","first_name":"Ann","user_permissions":{"IsAdmin":"admin"}}`, as: "a", status: 200},
		{name: "nor moves a user to another organisation", method: "PUT", path: "/api/users/{id:nobody}", body: `{"org_id":"{orgB}"}`, as: "a", status: 400, contains: []string{"org_id"}},
	}}.run(t)
}

func TestAdminUpdateUserShowsKeysWhenAdminsSeeThem(t *testing.T) {
	scenarios{config: func(c *config.Config) { c.AdminsSeeAccessKeys = true }, rows: []scenario{
		{name: "Tyk's reply: the access key in Message and Meta", method: "PUT", path: "/admin/users/{id:nobody}", body: `{"first_name":"N"}`,
			as: "admin-auth:" + adminSecret, status: 200, contains: []string{`"Message":"{key:nobody}"`, `"access_key":"{key:nobody}"`}},
	}}.run(t)
}

func TestDashboardHello(t *testing.T) {
	healthy := []string{`{"status":"ok"`, `"description":"Tollgate dashboard"`, `"store":{"status":"pass","componentType":"datastore"`, `"version":"`}
	scenarios{rows: []scenario{
		{name: "hello", method: "GET", path: "/hello", status: 200, contains: healthy},
		{name: "admin hello", method: "GET", path: "/admin/hello", status: 200, contains: healthy},
		{name: "admin hello with a slash", method: "GET", path: "/admin/hello/", status: 200, contains: healthy},
		{name: "needs no credentials and shows none", method: "GET", path: "/hello", as: "a", status: 200, absent: []string{"{key:a}", adminSecret}},
		{name: "only reads", method: "POST", path: "/hello", status: 405},
		{name: "a store that does not answer fails it", method: "GET", path: "/hello", status: 503,
			contains: []string{`"status":"fail"`, `"store":{"status":"fail","componentType":"datastore","output":"store did not answer"`},
			setup:    func(t *testing.T, e *env) { e.db.Close() }},
	}}.run(t)
}

func TestUserSearch(t *testing.T) {
	search := func(q string) string { return `{"filters":{"query":"` + q + `"}}` }
	scenarios{rows: []scenario{
		{name: "by part of the e-mail, any case", method: "POST", path: "/api/users/search", body: search("READ"), as: "a", status: 200,
			contains: []string{`"pages":1`, `"email_address":"reader@a.io"`}, absent: []string{"nobody@a.io", "a@a.io\""}},
		{name: "an empty query finds everyone", method: "POST", path: "/api/users/search", body: search(""), as: "a", status: 200,
			contains: []string{"reader@a.io", "nobody@a.io", `"email_address":"a@a.io"`}},
		{name: "only in the caller's organisation", method: "POST", path: "/api/users/search", body: search("a.io"), as: "b", status: 200,
			contains: []string{`"users":[]`}},
		{name: "no access keys of others", method: "POST", path: "/api/users/search", body: search("@"), as: "a", status: 200,
			absent: []string{"{key:reader}", "{key:nobody}"}},
		{name: "paged", method: "POST", path: "/api/users/search?p=2", body: search(""), as: "a", status: 200, contains: []string{`"users":[]`, `"pages":1`}},
		{name: "Tyk's deprecated GET", method: "GET", path: "/api/users/search?q=nobody", as: "a", status: 200,
			contains: []string{"nobody@a.io"}, absent: []string{"reader@a.io"}},
		{name: "GET without q", method: "GET", path: "/api/users/search", as: "a", status: 400, contains: []string{"q must be given"}},
		{name: "no filters", method: "POST", path: "/api/users/search", body: `{"query":"a"}`, as: "a", status: 400, contains: []string{"filters.query must be given"}},
		{name: "body not JSON", method: "POST", path: "/api/users/search", body: `{"filters":`, as: "a", status: 400, contains: []string{"Request body malformed"}},
		{name: "needs users: read", method: "POST", path: "/api/users/search", body: search("a"), as: "reader", status: 403,
			contains: []string{"You do not have permission to access /api/users/search"}},
	}}.run(t)
}

func TestAuditLogs(t *testing.T) {
	today := time.Now().UTC().Format("2006-01-02")
	scenarios{setup: func(t *testing.T, e *env) {
		e.must(t, e.dash, "POST", "/api/apis", apiBody("audited", "/audited/", e.upstream.URL), e.as("a"))
		e.vars["auditedKey"], _ = e.createKey(t, "a", keyBody("audited"))
		e.must(t, e.dash, "PUT", "/api/users/"+e.ids["reader"], `{"first_name":"Rita"}`, e.as("reader"))
	}, rows: []scenario{
		{name: "Tyk's shape", method: "GET", path: "/api/audit-logs", as: "a", status: 200,
			contains: []string{`"audit_logs":[{"_id":"`, `"pages":1`, `"user":"a@a.io"`, `"ip":"127.0.0.1"`, `"org_id":"{orgA}"`, `"timestamp":`, `"object_id":"audited"`}},
		{name: "newest first", method: "GET", path: "/api/audit-logs", as: "a", status: 200,
			check: func(t *testing.T, e *env, body string) {
				if u, k := strings.Index(body, `"user":"reader@a.io"`), strings.Index(body, `"object_type":"api"`); u < 0 || k < 0 || u > k {
					t.Errorf("the latest change is not first: %s", body)
				}
			}},
		{name: "by user", method: "GET", path: "/api/audit-logs?user=READER@a.io", as: "a", status: 200,
			contains: []string{`"user":"reader@a.io"`, `"action":"update"`}, absent: []string{`"user":"a@a.io"`}},
		{name: "by action", method: "GET", path: "/api/audit-logs?action=update", as: "a", status: 200,
			contains: []string{`"action":"update"`}, absent: []string{`"action":"create"`}},
		{name: "by address", method: "GET", path: "/api/audit-logs?ip=192.0.2.1", as: "a", status: 200, contains: []string{`"audit_logs":[]`}},
		{name: "by dates that hold today", method: "GET", path: "/api/audit-logs?from_date=" + today + "&to_date=" + today, as: "a", status: 200, contains: []string{`"object_id":"audited"`}},
		{name: "by dates before today", method: "GET", path: "/api/audit-logs?to_date=2000-01-31", as: "a", status: 200, contains: []string{`"audit_logs":[]`, `"pages":1`}},
		{name: "by dates after today", method: "GET", path: "/api/audit-logs?from_date=2999-01-01", as: "a", status: 200, contains: []string{`"audit_logs":[]`}},
		{name: "a page past the end", method: "GET", path: "/api/audit-logs?p=5", as: "a", status: 200, contains: []string{`"audit_logs":[]`}},
		{name: "per organisation", method: "GET", path: "/api/audit-logs?p=-1", as: "b", status: 200, absent: []string{"audited", "a@a.io"}},
		{name: "never a key", method: "GET", path: "/api/audit-logs?p=-1", as: "a", status: 200, absent: []string{"{auditedKey}", "{key:a}"}},
		{name: "download as JSON", method: "GET", path: "/api/audit-logs?download=true&action=create", as: "a", status: 200,
			check: func(t *testing.T, e *env, body string) {
				var es []struct{ Action string }
				if err := json.Unmarshal([]byte(body), &es); err != nil || len(es) < 2 || es[0].Action != "create" {
					t.Errorf("download: %v %s", err, body)
				}
			}},
		{name: "download as CSV", method: "GET", path: "/api/audit-logs?download=true&type=csv", as: "a", status: 200,
			contains: []string{"_id,org_id,date,timestamp,ip,user,user_id,action,object_type,object_id,detail\n", ",a@a.io,", ",create,api,audited,"}},
		{name: "request filters Tollgate does not record", method: "GET", path: "/api/audit-logs?method=POST", as: "a", status: 400, contains: []string{"method cannot filter"}},
		{name: "bad date", method: "GET", path: "/api/audit-logs?from_date=05/11/2024", as: "a", status: 400, contains: []string{"from_date must be a date"}},
		{name: "dates the wrong way round", method: "GET", path: "/api/audit-logs?from_date=2024-02-01&to_date=2024-01-01", as: "a", status: 400, contains: []string{"is after"}},
		{name: "bad page", method: "GET", path: "/api/audit-logs?p=x", as: "a", status: 400},
		{name: "bad download flag", method: "GET", path: "/api/audit-logs?download=yes", as: "a", status: 400, contains: []string{"download"}},
		{name: "bad file type", method: "GET", path: "/api/audit-logs?download=true&type=xml", as: "a", status: 400, contains: []string{"type must be csv or json"}},
		{name: "needs audit_logs: read", method: "GET", path: "/api/audit-logs", as: "reader", status: 403},
	}}.run(t)
}

func TestSystemStats(t *testing.T) {
	today := time.Now().UTC().Format("2006-01-02")
	scenarios{setup: func(t *testing.T, e *env) {
		e.must(t, e.dash, "POST", "/api/apis", apiBody("one", "/one/", e.upstream.URL), e.as("a"))
		e.must(t, e.dash, "POST", "/api/apis", strings.Replace(apiBody("two", "/two/", e.upstream.URL), `"use_keyless":false`, `"use_keyless":false,"active":false`, 1), e.as("a"))
		e.createKey(t, "a", keyBody("one"))
		e.must(t, e.dash, "POST", "/api/apis", apiBody("bees", "/bees/", e.upstream.URL), e.as("b"))
	}, rows: []scenario{
		{name: "the caller's organisation, counted", method: "GET", path: "/api/system/stats", as: "a", status: 200,
			contains: []string{`"status":"Success"`, `"counts":{"active_apis":1,"apis":2,"keys":1,"users":3}`,
				`"apis":[{"date":"` + today + `","min_usage":2,"max_usage":2,"avg_usage":2,"min_active_usage":1,"max_active_usage":1,"avg_active_usage":1}]`}},
		{name: "another organisation's own", method: "GET", path: "/api/system/stats", as: "b", status: 200,
			contains: []string{`"counts":{"active_apis":1,"apis":1,"keys":0,"users":1}`}},
		{name: "a range that holds today", method: "GET", path: "/api/system/stats?start_day=2000-01-01&end_day=2999-12-31&resolution=day", as: "a", status: 200, contains: []string{`"min_usage":2`}},
		{name: "a range in the past has no days", method: "GET", path: "/api/system/stats?start_day=2000-01-01&end_day=2000-12-31", as: "a", status: 200, contains: []string{`"apis":[]`, `"apis":2`}},
		{name: "data planes: none to count", method: "GET", path: "/api/system/stats?entity=dataplanes", as: "a", status: 200, contains: []string{`"apis":[]`, `"dataplanes":[]`}},
		{name: "bad entity", method: "GET", path: "/api/system/stats?entity=keys", as: "a", status: 400, contains: []string{"entity must be"}},
		{name: "bad resolution", method: "GET", path: "/api/system/stats?resolution=hour", as: "a", status: 400, contains: []string{"resolution must be day"}},
		{name: "bad date", method: "GET", path: "/api/system/stats?start_day=yesterday", as: "a", status: 400, contains: []string{"start_day must be a date"}},
		{name: "needs system: read", method: "GET", path: "/api/system/stats", as: "reader", status: 403},
	}}.run(t)
}
