package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// dbID is the shape of a database id: 24 lower-case hex characters.
var dbID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// dumpAPIs is what a migration tool reads: GET /api/apis?p=-2, each API's
// definition as sent, by api_id, and its database id by api_id.
func dumpAPIs(t *testing.T, p *proc, accessKey string) (defs map[string]json.RawMessage, ids map[string]string) {
	t.Helper()
	r := hardAPI(t, p, http.MethodGet, "/api/apis?p=-2", accessKey, "")
	var list struct {
		APIs []struct {
			Def json.RawMessage `json:"api_definition"`
		} `json:"apis"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &list) != nil {
		t.Fatalf("GET /api/apis = %d %s", r.status, r.body)
	}
	defs, ids = map[string]json.RawMessage{}, map[string]string{}
	for _, a := range list.APIs {
		var d struct {
			ID    string `json:"id"`
			APIID string `json:"api_id"`
		}
		if err := json.Unmarshal(a.Def, &d); err != nil || !dbID.MatchString(d.ID) {
			t.Fatalf("listed API without a database id: %s", a.Def)
		}
		defs[d.APIID], ids[d.APIID] = a.Def, d.ID
	}
	return defs, ids
}

// TestAPIsExportAndImportKeepTheirIDs is what tyk-sync's dump and publish do: read
// every API, delete them, create them again from the dump. The database ids and
// api_ids come back as they were, whichever door made the API, and every
// /api/apis/{id} call works by either id, also after a restart.
func TestAPIsExportAndImportKeepTheirIDs(t *testing.T) {
	up := newEcho(t, "up")
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, e2eutil.Options{DataDir: dataDir})
	admin := hardFirstRun(t, p)

	// Four APIs: a chosen api_id, a generated one, a derived listen path, and one
	// made on the gateway's control API.
	chosen := keylessAPI("chosen", "/chosen/", up.URL, true)
	chosen["api_id"] = "chosen-api"
	noPath := keylessAPI("no path", "", up.URL, true)
	noPath["api_id"] = "no-path-api"
	for _, def := range []map[string]any{chosen, keylessAPI("generated", "/generated/", up.URL, true), noPath} {
		r := hardAPI(t, p, http.MethodPost, "/api/apis", admin.accessKey, hardWrap(t, def))
		var reply struct{ Meta, ID string }
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &reply) != nil || !dbID.MatchString(reply.Meta) || reply.ID == "" {
			t.Fatalf("POST /api/apis %v = %d %s; want a database id in Meta and the api_id in ID", def["name"], r.status, r.body)
		}
	}
	gw := keylessAPI("gateway-made", "/gateway-made/", up.URL, true)
	gw["api_id"], gw["org_id"] = "gateway-api", admin.orgID
	p.createAPI(t, gw)

	defs, ids := dumpAPIs(t, p, admin.accessKey)
	if len(ids) != 4 {
		t.Fatalf("dumped %d APIs, want 4: %v", len(ids), ids)
	}
	if r := p.request(t, http.MethodGet, "/no-path-api/x", nil, ""); r.status != http.StatusOK {
		t.Fatalf("the derived listen path /no-path-api/ does not serve: %d %s", r.status, r.body)
	}
	for _, a := range p.listAPIs(t) {
		if a["id"] != ids[a["api_id"].(string)] {
			t.Errorf("/tyk/apis shows %v with id %v, the Dashboard API %q", a["api_id"], a["id"], ids[a["api_id"].(string)])
		}
	}

	// Delete every API by its database id, then import the dump.
	for apiID, id := range ids {
		if r := hardAPI(t, p, http.MethodDelete, "/api/apis/"+id, admin.accessKey, ""); r.status != http.StatusOK {
			t.Fatalf("DELETE /api/apis/%s (%s) = %d %s", id, apiID, r.status, r.body)
		}
	}
	if _, left := dumpAPIs(t, p, admin.accessKey); len(left) != 0 {
		t.Fatalf("APIs left after deleting all: %v", left)
	}
	for apiID, def := range defs {
		r := hardAPI(t, p, http.MethodPost, "/api/apis", admin.accessKey, `{"api_definition":`+string(def)+`}`)
		var reply struct{ Meta, ID string }
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &reply) != nil || reply.Meta != ids[apiID] || reply.ID != apiID {
			t.Fatalf("re-import of %s = %d %s; want Meta %s, ID %s", apiID, r.status, r.body, ids[apiID], apiID)
		}
	}
	if _, again := dumpAPIs(t, p, admin.accessKey); !maps.Equal(again, ids) {
		t.Fatalf("ids after the round trip (-before +after):\n%s", cmp.Diff(ids, again))
	}
	// The dump imported twice is a conflict, not a second copy.
	if r := hardAPI(t, p, http.MethodPost, "/api/apis", admin.accessKey, `{"api_definition":`+string(defs["chosen-api"])+`}`); r.status != http.StatusConflict {
		t.Fatalf("importing an API that exists = %d %s, want 409", r.status, r.body)
	}

	// Either id, on every method.
	id := ids["chosen-api"]
	for _, ref := range []string{id, "chosen-api"} {
		r := hardAPI(t, p, http.MethodGet, "/api/apis/"+ref, admin.accessKey, "")
		if r.status != http.StatusOK || !regexp.MustCompile(`"id":"`+id+`"`).MatchString(r.body) {
			t.Fatalf("GET /api/apis/%s = %d %s", ref, r.status, r.body)
		}
	}
	moved := keylessAPI("chosen", "/chosen-moved/", up.URL, true)
	moved["api_id"] = "chosen-api"
	if r := hardAPI(t, p, http.MethodPut, "/api/apis/"+id, admin.accessKey, hardWrap(t, moved)); r.status != http.StatusOK {
		t.Fatalf("PUT by database id = %d %s", r.status, r.body)
	}
	if r := p.request(t, http.MethodGet, "/chosen-moved/x", nil, ""); r.status != http.StatusOK {
		t.Fatalf("the gateway after PUT by database id: %d %s", r.status, r.body)
	}
	moved["id"] = id
	if r := hardAPI(t, p, http.MethodPut, "/api/apis/chosen-api", admin.accessKey, hardWrap(t, moved)); r.status != http.StatusOK {
		t.Fatalf("PUT by api_id, repeating the id = %d %s", r.status, r.body)
	}
	moved["id"] = ids["gateway-api"]
	if r := hardAPI(t, p, http.MethodPut, "/api/apis/chosen-api", admin.accessKey, hardWrap(t, moved)); r.status != http.StatusBadRequest {
		t.Fatalf("PUT changing the id = %d %s, want 400", r.status, r.body)
	}

	// The ids outlive a restart.
	if code := p.Stop(t); code != 0 {
		t.Fatalf("stop exited %d", code)
	}
	q := startServe(t, e2eutil.Options{DataDir: dataDir})
	if _, after := dumpAPIs(t, q, admin.accessKey); !maps.Equal(after, ids) {
		t.Fatalf("ids after a restart (-before +after):\n%s", cmp.Diff(ids, after))
	}
	if r := hardAPI(t, q, http.MethodDelete, "/api/apis/chosen-api", admin.accessKey, ""); r.status != http.StatusOK {
		t.Fatalf("DELETE by api_id = %d %s", r.status, r.body)
	}
	if r := hardAPI(t, q, http.MethodGet, "/api/apis/"+id, admin.accessKey, ""); r.status != http.StatusBadRequest {
		t.Fatalf("GET by database id after DELETE by api_id = %d %s, want Tyk's 400", r.status, r.body)
	}
}
