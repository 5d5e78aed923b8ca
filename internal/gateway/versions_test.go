package gateway_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/apidef"
)

// versioned is a definition in organisation org; extra is raw JSON members.
func versioned(id, org, extra string) string {
	return `{"api_id":"` + id + `","name":"` + id + ` API","org_id":"` + org + `","use_keyless":true,` +
		`"proxy":{"listen_path":"/` + id + `/","target_url":"http://127.0.0.1:9"}` + extra + `}`
}

func TestAPIVersions(t *testing.T) {
	s := newSeed(t, func(t *testing.T, e *testEnv) {
		for _, def := range []string{
			versioned("base", "A", `,"definition":{"enabled":true,"name":"v1","default":"v2","location":"header","key":"x-version",`+
				`"versions":{"v3":"base-v3","v2":"base-v2","gone":"no-such-api","theirs":"other-org"}}`),
			versioned("base-v2", "A", `,"internal":true,"expiration":"2030-01-01 00:00"`),
			versioned("base-v3", "A", ""),
			versioned("other-org", "B", ""),
			versioned("plain", "A", ""),
		} {
			e.mustDo(t, "POST", "/tyk/apis", def, admin, 200)
		}
	})
	base := apidef.VersionMeta{ID: "base", Name: "base API", VersionName: "v1"}
	v2 := apidef.VersionMeta{ID: "base-v2", Name: "base-v2 API", VersionName: "v2", Internal: true, ExpirationDate: "2030-01-01 00:00", IsDefaultVersion: true}
	v3 := apidef.VersionMeta{ID: "base-v3", Name: "base-v3 API", VersionName: "v3"}
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		want               []apidef.VersionMeta // on 200
		contains           []string             // otherwise
	}{
		{name: "the base, then its versions by name", method: "GET", path: "/tyk/apis/base/versions", hdr: admin, status: 200, want: []apidef.VersionMeta{base, v2, v3}},
		{name: "trailing slash", method: "GET", path: "/tyk/apis/base/versions/", hdr: admin, status: 200, want: []apidef.VersionMeta{base, v2, v3}},
		{name: "searchText matches version names, any case", method: "GET", path: "/tyk/apis/base/versions?searchText=V3", hdr: admin, status: 200, want: []apidef.VersionMeta{v3}},
		{name: "internal only", method: "GET", path: "/tyk/apis/base/versions?accessType=internal", hdr: admin, status: 200, want: []apidef.VersionMeta{v2}},
		{name: "external only", method: "GET", path: "/tyk/apis/base/versions?accessType=external", hdr: admin, status: 200, want: []apidef.VersionMeta{base, v3}},
		{name: "nothing matches", method: "GET", path: "/tyk/apis/base/versions?searchText=zzz", hdr: admin, status: 200, want: []apidef.VersionMeta{}},
		{name: "an unversioned API is a set of one", method: "GET", path: "/tyk/apis/plain/versions", hdr: admin, status: 200,
			want: []apidef.VersionMeta{{ID: "plain", Name: "plain API", IsDefaultVersion: true}}},
		{name: "bad accessType", method: "GET", path: "/tyk/apis/base/versions?accessType=private", hdr: admin, status: 400, contains: []string{`"message":"Query parameter accessType must be internal or external, not \"private\""`}},
		{name: "unknown API", method: "GET", path: "/tyk/apis/nope/versions", hdr: admin, status: 404, contains: []string{`"API not found"`}},
		{name: "wrong method", method: "POST", path: "/tyk/apis/base/versions", hdr: admin, status: 405},
		{name: "needs the secret", method: "GET", path: "/tyk/apis/base/versions", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := s.node(t)
			status, body, _ := e.do(t, tt.method, tt.path, "", tt.hdr)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if tt.status != 200 {
				checkBody(t, body, tt.contains, nil)
				return
			}
			var got struct {
				Status string               `json:"status"`
				APIs   []apidef.VersionMeta `json:"apis"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Status != "success" || got.APIs == nil {
				t.Fatalf("reply %s (%v)", body, err)
			}
			if diff := cmp.Diff(tt.want, got.APIs); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestControlAPIShowsDatabaseIDs: the control API mints the database id on create,
// keeps a given one, and shows it, as Tyk's gateway shows the id of definitions its
// dashboard made.
func TestControlAPIShowsDatabaseIDs(t *testing.T) {
	const given = "663cd8615715ec1405aafbea"
	tests := []struct {
		name, body string
		want       string // "" means minted
		status     int
	}{
		{name: "minted", body: versioned("one", "A", ""), status: 200},
		{name: "kept", body: versioned("one", "A", `,"id":"`+given+`"`), want: given, status: 200},
		{name: "malformed", body: versioned("one", "A", `,"id":"zzz"`), status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if status, body, _ := e.do(t, "POST", "/tyk/apis", tt.body, admin); status != tt.status {
				t.Fatalf("create: %d %s", status, body)
			}
			if tt.status != 200 {
				return
			}
			var one struct{ ID string }
			var all []struct{ ID string }
			_ = json.Unmarshal([]byte(e.mustDo(t, "GET", "/tyk/apis/one", "", admin, 200)), &one)
			_ = json.Unmarshal([]byte(e.mustDo(t, "GET", "/tyk/apis", "", admin, 200)), &all)
			if !apidef.IsID(one.ID) || (tt.want != "" && one.ID != tt.want) || len(all) != 1 || all[0].ID != one.ID {
				t.Fatalf("GET shows id %q, the list %v; want %q (or a minted one) in both", one.ID, all, tt.want)
			}
		})
	}
}
