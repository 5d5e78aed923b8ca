package dashboard_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/store"
)

// createAPI creates an API through the Dashboard API as user and returns the reply's
// Meta (the database id) and ID (the api_id).
func (e *env) createAPI(t *testing.T, user, body string) (id, apiID string) {
	t.Helper()
	var reply struct{ Meta, ID string }
	if err := json.Unmarshal([]byte(e.must(t, e.dash, "POST", "/api/apis", body, e.as(user))), &reply); err != nil {
		t.Fatal(err)
	}
	return reply.Meta, reply.ID
}

// shownAPI is what GET /api/apis/{ref} shows of an API: its ids and listen path.
func (e *env) shownAPI(t *testing.T, user, ref string) (id, apiID, listenPath string) {
	t.Helper()
	var w struct {
		Def struct {
			ID    string `json:"id"`
			APIID string `json:"api_id"`
			Proxy struct {
				ListenPath string `json:"listen_path"`
			} `json:"proxy"`
		} `json:"api_definition"`
	}
	if err := json.Unmarshal([]byte(e.must(t, e.dash, "GET", "/api/apis/"+ref, "", e.as(user))), &w); err != nil {
		t.Fatal(err)
	}
	return w.Def.ID, w.Def.APIID, w.Def.Proxy.ListenPath
}

const legacyID = "legacy"

func TestAPIDatabaseIDs(t *testing.T) {
	scenarios{setup: func(t *testing.T, e *env) {
		e.vars["idA"], _ = e.createAPI(t, "a", apiBody("apia", "/apia/", e.upstream.URL))
		e.vars["idB"], _ = e.createAPI(t, "b", apiBody("apib", "/apib/", e.upstream.URL))
		// An API stored before APIs had database ids.
		now := time.Now()
		def := `{"api_id":"legacy","name":"legacy","org_id":"` + e.orgA + `","proxy":{"listen_path":"/legacy/","target_url":"` + e.upstream.URL + `"}}`
		if err := e.db.CreateAPI(t.Context(), store.API{ID: legacyID, OrgID: e.orgA, RouteKey: "/legacy", Definition: []byte(def), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		e.vars["idLegacy"] = apidef.DerivedID(legacyID)
	}, rows: []scenario{
		{name: "create answers the id in Meta and the api_id in ID", method: "POST", path: "/api/apis", body: apiBody("newapi", "/new/", "{upstream}"), as: "a", status: 200,
			check: func(t *testing.T, e *env, body string) {
				var reply struct{ Meta, ID string }
				_ = json.Unmarshal([]byte(body), &reply)
				if !apidef.IsID(reply.Meta) || reply.ID != "newapi" {
					t.Fatalf("reply %s: want a 24-hex Meta and ID newapi", body)
				}
				if id, apiID, _ := e.shownAPI(t, "a", reply.Meta); id != reply.Meta || apiID != "newapi" {
					t.Fatalf("GET by Meta shows id %q, api_id %q", id, apiID)
				}
			}},
		{name: "get by database id", method: "GET", path: "/api/apis/{idA}", as: "a", status: 200, contains: []string{`"api_id":"apia"`, `"id":"{idA}"`}},
		{name: "get by api_id shows the id", method: "GET", path: "/api/apis/apia", as: "a", status: 200, contains: []string{`"id":"{idA}"`}},
		{name: "list shows ids", method: "GET", path: "/api/apis", as: "a", status: 200, contains: []string{`"id":"{idA}"`, `"id":"{idLegacy}"`}, absent: []string{"{idB}"}},
		{name: "the gateway shows the id too", method: "GET", path: "/api/apis", as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				_, body := e.call(t, e.gw, "GET", "/tyk/apis/apia", "", map[string]string{"x-tyk-authorization": adminSecret})
				if !strings.Contains(body, `"id":"`+e.vars["idA"]+`"`) {
					t.Fatalf("/tyk/apis/apia lacks the id: %s", body)
				}
			}},
		{name: "update by database id keeps it", method: "PUT", path: "/api/apis/{idA}", body: apiBody("apia", "/apia-2/", "{upstream}"), as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				if id, _, lp := e.shownAPI(t, "a", "apia"); id != e.vars["idA"] || lp != "/apia-2/" {
					t.Fatalf("after PUT: id %q, listen path %q", id, lp)
				}
			}},
		{name: "update repeating the id", method: "PUT", path: "/api/apis/apia", as: "a", status: 200,
			body: `{"api_definition":{"id":"{idA}","api_id":"apia","name":"apia","proxy":{"listen_path":"/apia/","target_url":"{upstream}"}}}`},
		{name: "update with another id is refused", method: "PUT", path: "/api/apis/{idA}", as: "a", status: 400, contains: []string{"id {idB} in the body is not this API's id"},
			body: `{"api_definition":{"id":"{idB}","api_id":"apia","name":"apia","proxy":{"listen_path":"/apia/","target_url":"{upstream}"}}}`},
		{name: "update without a listen path is still refused", method: "PUT", path: "/api/apis/apia", as: "a", status: 400, contains: []string{"proxy.listen_path must not be empty"},
			body: `{"api_definition":{"api_id":"apia","name":"apia","proxy":{"target_url":"{upstream}"}}}`},
		{name: "delete by database id", method: "DELETE", path: "/api/apis/{idA}", as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				if s, _ := e.call(t, e.dash, "GET", "/api/apis/apia", "", e.as("a")); s != 400 {
					t.Fatalf("deleted API still shown: %d", s)
				}
			}},
		{name: "B cannot read A's API by database id", method: "GET", path: "/api/apis/{idA}", as: "b", status: 400, contains: []string{"Could not retrieve API detail"}},
		{name: "B cannot change A's API by database id", method: "PUT", path: "/api/apis/{idA}", body: apiBody("apia", "/x/", "{upstream}"), as: "b", status: 404},
		{name: "B cannot delete A's API by database id", method: "DELETE", path: "/api/apis/{idA}", as: "b", status: 404},
		{name: "create with a taken id", method: "POST", path: "/api/apis", as: "a", status: 409, contains: []string{"already in use"},
			body: `{"api_definition":{"id":"{idA}","api_id":"other","name":"o","proxy":{"listen_path":"/o/","target_url":"{upstream}"}}}`},
		{name: "create with another organisation's id", method: "POST", path: "/api/apis", as: "a", status: 409, absent: []string{"apib"},
			body: `{"api_definition":{"id":"{idB}","api_id":"other","name":"o","proxy":{"listen_path":"/o/","target_url":"{upstream}"}}}`},
		{name: "create with a malformed id", method: "POST", path: "/api/apis", as: "a", status: 400, contains: []string{"id must be a database id"},
			body: `{"api_definition":{"id":"not-an-id","api_id":"other","name":"o","proxy":{"listen_path":"/o/","target_url":"{upstream}"}}}`},
		{name: "export deleted and imported again keeps both ids", method: "GET", path: "/api/apis/apia", as: "a", status: 200,
			check: func(t *testing.T, e *env, body string) {
				var w struct {
					Def json.RawMessage `json:"api_definition"`
				}
				if err := json.Unmarshal([]byte(body), &w); err != nil {
					t.Fatal(err)
				}
				e.must(t, e.dash, "DELETE", "/api/apis/apia", "", e.as("a"))
				id, apiID := e.createAPI(t, "a", `{"api_definition":`+string(w.Def)+`}`)
				if id != e.vars["idA"] || apiID != "apia" {
					t.Fatalf("re-imported as %s/%s, want %s/apia", id, apiID, e.vars["idA"])
				}
			}},
		{name: "an API stored without an id shows a derived one", method: "GET", path: "/api/apis/legacy", as: "a", status: 200, contains: []string{`"id":"{idLegacy}"`}},
		{name: "and is found by it", method: "GET", path: "/api/apis/{idLegacy}", as: "a", status: 200, contains: []string{`"api_id":"legacy"`}},
		{name: "and keeps it when changed", method: "PUT", path: "/api/apis/{idLegacy}", body: apiBody("legacy", "/legacy-2/", "{upstream}"), as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				a, err := e.db.GetAPI(t.Context(), legacyID)
				if err != nil || apidef.IDOf(a.Definition) != e.vars["idLegacy"] {
					t.Fatalf("stored after PUT: %s (%v)", a.Definition, err)
				}
			}},
	}}.run(t)
}

func TestSearchAPIs(t *testing.T) {
	scenarios{setup: func(t *testing.T, e *env) {
		for _, id := range []string{"orders", "payments", "orders-v2"} {
			e.createAPI(t, "a", apiBody(id, "/"+id+"/", e.upstream.URL))
		}
		e.createAPI(t, "b", apiBody("b-orders", "/b-orders/", e.upstream.URL))
	}, rows: []scenario{
		{name: "by name", method: "GET", path: "/api/apis/search?q=orders", as: "a", status: 200, contains: []string{`"api_id":"orders"`, `"api_id":"orders-v2"`, `"pages":1`},
			absent: []string{`"api_id":"payments"`, "b-orders"}},
		{name: "everything without q", method: "GET", path: "/api/apis/search", as: "a", status: 200, contains: []string{`"api_id":"payments"`, `"api_id":"orders"`}, absent: []string{"b-orders"}},
		{name: "other organisation", method: "GET", path: "/api/apis/search?q=orders", as: "b", status: 200, contains: []string{"b-orders"}, absent: []string{`"api_id":"orders"`}},
		{name: "no match", method: "GET", path: "/api/apis/search?q=zzz", as: "a", status: 200, contains: []string{`"apis":[]`, `"pages":1`}},
		{name: "bad page", method: "GET", path: "/api/apis/search?p=x", as: "a", status: 400},
		{name: "needs apis read", method: "GET", path: "/api/apis/search", as: "nobody", status: 403},
	}}.run(t)
}

func TestKeysThroughAnAPI(t *testing.T) {
	scenarios{setup: func(t *testing.T, e *env) {
		e.vars["idA"], _ = e.createAPI(t, "a", apiBody("apia", "/apia/", e.upstream.URL))
		e.createAPI(t, "a", apiBody("apic", "/apic/", e.upstream.URL))
		e.createAPI(t, "b", apiBody("apib", "/apib/", e.upstream.URL))
		e.vars["keyA"], e.vars["hashA"] = e.createKey(t, "a", `{"alias":"findme","access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}}`)
		_, e.vars["hashA2"] = e.createKey(t, "a", `{"alias":"other","access_rights":{"apia":{"api_id":"apia","versions":["Default"]}}}`)
		_, e.vars["hashC"] = e.createKey(t, "a", `{"alias":"findme too","access_rights":{"apic":{"api_id":"apic","versions":["Default"]}}}`)
	}, rows: []scenario{
		{name: "a key through its API", method: "GET", path: "/api/apis/apia/keys/{keyA}", as: "a", status: 200,
			contains: []string{`"key_id":"{keyA}"`, `"key_hash":"{hashA}"`, `"alias":"findme"`, `"api_model":{}`}},
		{name: "through its API's database id", method: "GET", path: "/api/apis/{idA}/keys/{keyA}", as: "a", status: 200, contains: []string{`"key_hash":"{hashA}"`}},
		{name: "by hash", method: "GET", path: "/api/apis/apia/keys/{hashA}?hashed=true", as: "reader", status: 200, contains: []string{`"alias":"findme"`}},
		{name: "through an API it does not open", method: "GET", path: "/api/apis/apic/keys/{keyA}", as: "a", status: 404, contains: []string{"Could not retrieve key detail."}},
		{name: "unknown key", method: "GET", path: "/api/apis/apia/keys/no-such-key", as: "a", status: 404},
		{name: "unknown API", method: "GET", path: "/api/apis/nope/keys/{keyA}", as: "a", status: 404},
		{name: "B through A's API", method: "GET", path: "/api/apis/apia/keys/{keyA}", as: "b", status: 404},
		{name: "B through its own API", method: "GET", path: "/api/apis/apib/keys/{keyA}", as: "b", status: 404},
		{name: "bad hashed", method: "GET", path: "/api/apis/apia/keys/{keyA}?hashed=maybe", as: "a", status: 400},
		{name: "needs keys read", method: "GET", path: "/api/apis/apia/keys/{keyA}", as: "nobody", status: 403},
		{name: "search an API's keys", method: "GET", path: "/api/apis/apia/keys/search?q=findme", as: "a", status: 200,
			contains: []string{`"keys":["{hashA}"]`, `"pages":1`}, absent: []string{"{hashA2}", "{hashC}"}},
		{name: "search without q lists the API's keys", method: "GET", path: "/api/apis/{idA}/keys/search", as: "reader", status: 200,
			contains: []string{"{hashA}", "{hashA2}"}, absent: []string{"{hashC}"}},
		{name: "search an unknown API's keys", method: "GET", path: "/api/apis/nope/keys/search?q=findme", as: "a", status: 404},
		{name: "B cannot search A's API's keys", method: "GET", path: "/api/apis/{idA}/keys/search", as: "b", status: 404},
		{name: "keys of an API by database id", method: "GET", path: "/api/apis/{idA}/keys", as: "a", status: 200, contains: []string{"{hashA}", "{hashA2}"}, absent: []string{"{hashC}"}},
	}}.run(t)
}

func TestEmptyListenPathIsDerived(t *testing.T) {
	noPath := `{"api_definition":{"api_id":"derived","name":"d","use_keyless":true,"proxy":{"target_url":"{upstream}","strip_listen_path":true}}}`
	scenarios{rows: []scenario{
		{name: "derived from api_id", method: "POST", path: "/api/apis", body: noPath, as: "a", status: 200,
			check: func(t *testing.T, e *env, _ string) {
				if _, _, lp := e.shownAPI(t, "a", "derived"); lp != "/derived/" {
					t.Fatalf("listen path %q, want /derived/", lp)
				}
				if s, body := e.call(t, e.gw, "GET", "/derived/x", "", nil); s != 200 || !strings.Contains(body, `"path":"/x"`) {
					t.Fatalf("gateway on the derived path: %d %s", s, body)
				}
			}},
		{name: "derived from a minted api_id", method: "POST", path: "/api/apis", as: "a", status: 200,
			body: `{"api_definition":{"name":"d","proxy":{"listen_path":"","target_url":"{upstream}"}}}`,
			check: func(t *testing.T, e *env, body string) {
				var reply struct{ ID string }
				_ = json.Unmarshal([]byte(body), &reply)
				if _, _, lp := e.shownAPI(t, "a", reply.ID); lp != "/"+reply.ID+"/" {
					t.Fatalf("listen path %q for api_id %q", lp, reply.ID)
				}
			}},
		{name: "under another organisation's route it is refused", method: "POST", path: "/api/apis", body: noPath, as: "a", status: 409,
			setup: func(t *testing.T, e *env) { e.createAPI(t, "b", apiBody("catchall", "/", e.upstream.URL)) }},
		{name: "a taken derived path is refused", method: "POST", path: "/api/apis", body: noPath, as: "a", status: 400, contains: []string{"already used by API"},
			setup: func(t *testing.T, e *env) { e.createAPI(t, "a", apiBody("squatter", "/derived/", e.upstream.URL)) }},
	}}.run(t)
}
