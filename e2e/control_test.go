package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

const msgBadSecret = "Attempted administrative access with invalid or missing key!"

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// decodeObject decodes a JSON object body or fails the test.
func decodeObject(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// wantControlJSON checks a control-API reply: status, Content-Type, a single trailing
// newline and exactly the given JSON object.
func wantControlJSON(t *testing.T, what string, r response, status int, want map[string]any) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if !strings.HasSuffix(r.body, "}\n") {
		t.Errorf("%s: body %q should end with a single newline after the object", what, r.body)
	}
	if diff := cmp.Diff(want, decodeObject(t, r)); diff != "" {
		t.Errorf("%s: reply (-want +got):\n%s", what, diff)
	}
}

func TestControlAPIAuth(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	denied := map[string]any{"status": "error", "message": msgBadSecret}
	def := mustJSON(t, keylessAPI("sneaky", "/sneaky", "http://127.0.0.1:9", false))
	cases := []struct {
		name, method, path, secret, body string
	}{
		{"list without header", "GET", "/tyk/apis", "", ""},
		{"list with wrong secret", "GET", "/tyk/apis", "wrong-secret-wrong-secret", ""},
		{"list with secret prefix", "GET", "/tyk/apis", testSecret[:len(testSecret)-1], ""},
		{"list with secret plus suffix", "GET", "/tyk/apis", testSecret + "x", ""},
		{"create without header", "POST", "/tyk/apis", "", def},
		{"create with Tyk sample secret", "POST", "/tyk/apis", "352d20ee67be67f6340b4c0605b044b7", def},
		{"get by id with wrong secret", "GET", "/tyk/apis/some-id", "nope", ""},
		{"reload without header", "GET", "/tyk/reload", "", ""},
		{"reload group without header", "GET", "/tyk/reload/group", "", ""},
		{"keys without header", "GET", "/tyk/keys", "", ""},
		{"unknown control path without header", "GET", "/tyk/nothing", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.secret != "" {
				h["x-tyk-authorization"] = tc.secret
			}
			r := p.request(t, tc.method, tc.path, h, tc.body)
			wantControlJSON(t, tc.method+" "+tc.path, r, http.StatusForbidden, denied)
		})
	}
	// Nothing above may have created an API.
	if list := p.listAPIs(t); len(list) != 0 {
		t.Errorf("APIs exist after unauthorised creates: %v", list)
	}
	// The header name is case-insensitive, as in any HTTP header.
	r := p.request(t, "GET", "/tyk/apis", map[string]string{"X-Tyk-Authorization": testSecret}, "")
	if r.status != http.StatusOK {
		t.Errorf("canonical header name: status %d, want 200", r.status)
	}
}

// TestControlAPIDefinitions walks the /tyk/apis CRUD life cycle in order.
func TestControlAPIDefinitions(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	up := newEcho(t, "A")

	// An empty store lists as a bare empty array.
	r := p.mustAdmin(t, "GET", "/tyk/apis", "", http.StatusOK)
	if got := strings.TrimSpace(r.body); got != "[]" {
		t.Errorf("empty list = %q, want []", got)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("list Content-Type %q, want application/json", ct)
	}

	// Create without api_id: a 32-hex id is generated; unknown fields are kept.
	custom := map[string]any{"nested": []any{1.0, "two", true}, "note": "kept as is"}
	def := keylessAPI("First API", "/first", up.URL, true)
	def["x_custom_field"] = custom
	def["custom_middleware"] = map[string]any{"driver": "otto", "pre": []any{}}
	r = p.mustAdmin(t, "POST", "/tyk/apis", mustJSON(t, def), http.StatusOK)
	reply := decodeObject(t, r)
	id, _ := reply["key"].(string)
	if !hex32.MatchString(id) {
		t.Fatalf("generated api_id %q is not 32 lower-case hex characters (reply %s)", id, r.body)
	}
	wantControlJSON(t, "create", r, http.StatusOK, map[string]any{"key": id, "status": "ok", "action": "added"})

	// Create with an explicit api_id.
	def2 := keylessAPI("Second API", "/second", up.URL, false)
	def2["api_id"] = "second-api"
	r = p.mustAdmin(t, "POST", "/tyk/apis/", mustJSON(t, def2), http.StatusOK) // trailing slash
	wantControlJSON(t, "create with api_id", r, http.StatusOK, map[string]any{"key": "second-api", "status": "ok", "action": "added"})

	// The list holds both, as a bare array of definitions.
	r = p.mustAdmin(t, "GET", "/tyk/apis", "", http.StatusOK)
	if !strings.HasPrefix(strings.TrimSpace(r.body), "[") {
		t.Errorf("list is not a bare JSON array: %s", r.body)
	}
	ids := map[string]bool{}
	for _, a := range p.listAPIs(t) {
		ids[a["api_id"].(string)] = true
	}
	if diff := cmp.Diff(map[string]bool{id: true, "second-api": true}, ids); diff != "" {
		t.Errorf("listed api_ids (-want +got):\n%s", diff)
	}
	if n := len(decodeArray(t, p.mustAdmin(t, "GET", "/tyk/apis/", "", http.StatusOK))); n != 2 {
		t.Errorf("GET /tyk/apis/ (trailing slash) listed %d APIs, want 2", n)
	}

	// GET by id returns the stored definition, unknown fields included.
	for _, path := range []string{"/tyk/apis/" + id, "/tyk/apis/" + id + "/"} {
		r = p.mustAdmin(t, "GET", path, "", http.StatusOK)
		got := decodeObject(t, r)
		if got["api_id"] != id || got["name"] != "First API" {
			t.Errorf("GET %s: api_id %v name %v, want %s and First API", path, got["api_id"], got["name"], id)
		}
		if diff := cmp.Diff(custom, got["x_custom_field"]); diff != "" {
			t.Errorf("GET %s: unknown field x_custom_field not kept (-want +got):\n%s", path, diff)
		}
		if diff := cmp.Diff(def["custom_middleware"], got["custom_middleware"]); diff != "" {
			t.Errorf("GET %s: custom_middleware not kept (-want +got):\n%s", path, diff)
		}
		if diff := cmp.Diff(def["proxy"], got["proxy"]); diff != "" {
			t.Errorf("GET %s: proxy section changed (-want +got):\n%s", path, diff)
		}
	}

	// PUT replaces the definition.
	upd := keylessAPI("First API renamed", "/first", up.URL, true)
	upd["api_id"] = id
	upd["x_other"] = "new unknown field"
	r = p.admin(t, "PUT", "/tyk/apis/"+id, mustJSON(t, upd))
	wantControlJSON(t, "update", r, http.StatusOK, map[string]any{"key": id, "status": "ok", "action": "modified"})
	got := decodeObject(t, p.mustAdmin(t, "GET", "/tyk/apis/"+id, "", http.StatusOK))
	if got["name"] != "First API renamed" || got["x_other"] != "new unknown field" {
		t.Errorf("after PUT: name %v x_other %v", got["name"], got["x_other"])
	}
	if _, still := got["x_custom_field"]; still {
		t.Errorf("PUT is a full replacement, but x_custom_field survived: %v", got)
	}

	// Unknown ids are 404 "API not found" for every method.
	notFound := map[string]any{"status": "error", "message": "API not found"}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		body := ""
		if m == "PUT" {
			body = mustJSON(t, keylessAPI("ghost", "/ghost", up.URL, false))
		}
		wantControlJSON(t, m+" unknown id", p.admin(t, m, "/tyk/apis/0123456789abcdef0123456789abcdef", body), http.StatusNotFound, notFound)
	}
	if n := len(p.listAPIs(t)); n != 2 {
		t.Errorf("PUT to an unknown id changed the list: %d APIs, want 2", n)
	}

	// DELETE removes it.
	wantControlJSON(t, "delete", p.admin(t, "DELETE", "/tyk/apis/"+id, ""), http.StatusOK,
		map[string]any{"key": id, "status": "ok", "action": "deleted"})
	wantControlJSON(t, "get deleted", p.admin(t, "GET", "/tyk/apis/"+id, ""), http.StatusNotFound, notFound)
	wantControlJSON(t, "delete twice", p.admin(t, "DELETE", "/tyk/apis/"+id, ""), http.StatusNotFound, notFound)
	list := p.listAPIs(t)
	if len(list) != 1 || list[0]["api_id"] != "second-api" {
		t.Errorf("after delete the list is %v, want only second-api", list)
	}
	// DELETE with a trailing slash works too.
	wantControlJSON(t, "delete with slash", p.admin(t, "DELETE", "/tyk/apis/second-api/", ""), http.StatusOK,
		map[string]any{"key": "second-api", "status": "ok", "action": "deleted"})
	if n := len(p.listAPIs(t)); n != 0 {
		t.Errorf("%d APIs left, want 0", n)
	}
}

func decodeArray(t *testing.T, r response) []any {
	t.Helper()
	var a []any
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("body is not a JSON array: %v\n%s", err, r.body)
	}
	return a
}

// TestControlAPIErrors: wrong methods, malformed and invalid definitions. A refused
// definition must leave the stored list exactly as it was.
func TestControlAPIErrors(t *testing.T) {
	t.Parallel()
	p := startServe(t, e2eutil.Options{})
	up := newEcho(t, "A")
	existing := keylessAPI("Existing", "/taken", up.URL, false)
	existing["api_id"] = "existing"
	p.createAPI(t, existing)
	p.createAPI(t, keylessAPI("Other", "/other-taken", up.URL, false))

	notSupported := map[string]any{"status": "error", "message": "Method not supported"}
	for _, tc := range []struct{ method, path string }{
		{"PATCH", "/tyk/apis"},
		{"DELETE", "/tyk/apis"},
		{"PUT", "/tyk/apis"},
		{"POST", "/tyk/apis/existing"},
		{"PATCH", "/tyk/apis/existing"},
		{"POST", "/tyk/reload"},
		{"DELETE", "/tyk/reload/group"},
	} {
		t.Run("405 "+tc.method+" "+tc.path, func(t *testing.T) {
			wantControlJSON(t, tc.method+" "+tc.path, p.admin(t, tc.method, tc.path, ""), http.StatusMethodNotAllowed, notSupported)
		})
	}

	def := func(mut func(d map[string]any)) string {
		d := keylessAPI("Candidate", "/candidate", up.URL, false)
		mut(d)
		return mustJSON(t, d)
	}
	proxy := func(d map[string]any) map[string]any { return d["proxy"].(map[string]any) }
	const validationPrefix = "Validation of API Definition failed. Reason: "
	cases := []struct {
		name, method, path, body string
		wantPrefix, wantAlso     string // message must start with wantPrefix and contain wantAlso
	}{
		{"malformed JSON on create", "POST", "/tyk/apis", `{"name": "x", "proxy": `, "Request malformed", ""},
		{"not JSON at all on create", "POST", "/tyk/apis", `listen_path=/x`, "Request malformed", ""},
		{"empty body on create", "POST", "/tyk/apis", ``, "Request malformed", ""},
		{"malformed JSON on update", "PUT", "/tyk/apis/existing", `{"name": `, "Request malformed", ""},
		{"missing listen path", "POST", "/tyk/apis", def(func(d map[string]any) { delete(proxy(d), "listen_path") }), validationPrefix, "listen_path"},
		{"duplicate listen path", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["listen_path"] = "/taken" }), validationPrefix, "/taken"},
		{"duplicate listen path with trailing slash", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["listen_path"] = "/taken/" }), validationPrefix, "already used"},
		{"target not a URL", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["target_url"] = "not a url" }), validationPrefix, "target_url"},
		{"target with ftp scheme", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["target_url"] = "ftp://example.com/" }), validationPrefix, "target_url"},
		{"target without host", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["target_url"] = "http://" }), validationPrefix, "target_url"},
		{"missing target", "POST", "/tyk/apis", def(func(d map[string]any) { delete(proxy(d), "target_url") }), validationPrefix, "target_url"},
		{"listen path with a space", "POST", "/tyk/apis", def(func(d map[string]any) { proxy(d)["listen_path"] = "/has space" }), validationPrefix, "listen_path"},
		{"wrongly typed field", "POST", "/tyk/apis", def(func(d map[string]any) { d["use_keyless"] = "yes" }), validationPrefix, "use_keyless"},
		{"update with a bad target", "PUT", "/tyk/apis/existing", def(func(d map[string]any) { proxy(d)["target_url"] = "gopher://x" }), validationPrefix, "target_url"},
		{"update to a taken listen path", "PUT", "/tyk/apis/existing", def(func(d map[string]any) { proxy(d)["listen_path"] = "/other-taken" }), validationPrefix, "already used"},
		{"update with space in listen path", "PUT", "/tyk/apis/existing", def(func(d map[string]any) { proxy(d)["listen_path"] = "/a b" }), validationPrefix, "listen_path"},
	}
	for _, tc := range cases {
		t.Run("400 "+tc.name, func(t *testing.T) {
			before := p.mustAdmin(t, "GET", "/tyk/apis", "", http.StatusOK).body
			r := p.admin(t, tc.method, tc.path, tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%s %s: status %d, want 400; body %s", tc.method, tc.path, r.status, r.body)
			}
			m := decodeObject(t, r)
			msg, _ := m["message"].(string)
			if m["status"] != "error" || !strings.HasPrefix(msg, tc.wantPrefix) || !strings.Contains(msg, tc.wantAlso) {
				t.Errorf("reply %s: want status error and a message starting %q containing %q", r.body, tc.wantPrefix, tc.wantAlso)
			}
			if strings.HasPrefix(tc.wantPrefix, "Validation") && (!strings.HasSuffix(msg, ".") || len(msg) <= len(validationPrefix)+1) {
				t.Errorf("message %q should give a reason and end with a full stop", msg)
			}
			if after := p.mustAdmin(t, "GET", "/tyk/apis", "", http.StatusOK).body; after != before {
				t.Errorf("a refused definition changed the stored APIs:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	// The refused update did not change the stored API's routing: it still proxies.
	if r := p.request(t, "GET", "/taken/x", nil, ""); r.status != http.StatusOK || !strings.Contains(r.body, `"path":"/taken/x"`) {
		t.Errorf("GET /taken/x after refused updates = %d %s", r.status, r.body)
	}

	okReply := map[string]any{"status": "ok", "message": ""}
	for _, path := range []string{"/tyk/reload", "/tyk/reload/", "/tyk/reload?block=true", "/tyk/reload/group", "/tyk/reload/group/"} {
		wantControlJSON(t, "GET "+path, p.admin(t, "GET", path, ""), http.StatusOK, okReply)
	}
}
