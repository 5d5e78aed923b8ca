package manage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// newAPIs is the APIs service on a fresh SQLite store, with a fixed clock.
func newAPIs(t *testing.T) *manage.APIs {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &manage.APIs{Store: db, Now: func() time.Time { return now }}
}

// def is a valid definition; extra members (raw JSON, comma-led) are appended.
func def(apiID, listenPath, extra string) []byte {
	return fmt.Appendf(nil, `{"api_id":%q,"name":"n","proxy":{"listen_path":%q,"target_url":"http://up"}%s}`, apiID, listenPath, extra)
}

// idOf reads the database id a stored API shows.
func idOf(t *testing.T, a store.API) string {
	t.Helper()
	d, err := apidef.Parse(a.Definition)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID()
}

func wantFault(t *testing.T, err error, kind fault.Kind, field string) {
	t.Helper()
	f, ok := fault.As(err)
	if !ok || f.Kind != kind || (field != "" && f.Field != field) {
		t.Fatalf("err = %v, want a %v fault naming %q", err, kind, field)
	}
}

func TestCreateMintsAndKeepsIDs(t *testing.T) {
	const given = "663cd8615715ec1405aafbea"
	tests := []struct {
		name    string
		body    []byte
		wantID  string // "" means minted
		wantErr fault.Kind
		field   string
	}{
		{name: "minted", body: def("a1", "/a1", "")},
		{name: "minted for an empty id", body: def("a1", "/a1", `,"id":""`)},
		{name: "minted for a null id", body: def("a1", "/a1", `,"id":null`)},
		{name: "kept", body: def("a1", "/a1", `,"id":"`+given+`"`), wantID: given},
		{name: "kept in lower case", body: def("a1", "/a1", `,"id":"`+strings.ToUpper(given)+`"`), wantID: given},
		{name: "not an id", body: def("a1", "/a1", `,"id":"a1"`), wantErr: fault.Invalid, field: "id"},
		{name: "not a string", body: def("a1", "/a1", `,"id":12`), wantErr: fault.Invalid, field: "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIs(t)
			d, err := s.Create(t.Context(), tt.body)
			if tt.wantErr != 0 {
				wantFault(t, err, tt.wantErr, tt.field)
				if all, _ := s.List(t.Context()); len(all) != 0 {
					t.Fatalf("a refused API was stored: %v", all)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !apidef.IsID(d.ID()) || (tt.wantID != "" && d.ID() != tt.wantID) {
				t.Fatalf("id = %q, want %q (or a minted one)", d.ID(), tt.wantID)
			}
			a, err := s.Get(t.Context(), "a1")
			if err != nil || idOf(t, a) != d.ID() {
				t.Fatalf("stored id %q, created %q (%v)", idOf(t, a), d.ID(), err)
			}
		})
	}
}

func TestCreateKeepsIDsApart(t *testing.T) {
	const taken = "663cd8615715ec1405aafbea"
	tests := []struct {
		name  string
		org   string // of the second API
		body  []byte
		field string // the fault is a conflict; "" means created
	}{
		{name: "same id", org: "A", body: def("a2", "/a2", `,"id":"`+taken+`"`), field: "id"},
		{name: "same id, another organisation", org: "B", body: def("a2", "/a2", `,"id":"`+taken+`"`), field: "id"},
		{name: "id that is another API's api_id", org: "A", body: def("a2", "/a2", `,"id":"aaaaaaaaaaaaaaaaaaaaaaaa"`), field: "id"},
		{name: "api_id that is another API's id", org: "B", body: def(taken, "/a2", ""), field: "api_id"},
		{name: "api_id that is another API's id, in upper case", org: "B", body: def(strings.ToUpper(taken), "/a2", ""), field: "api_id"},
		{name: "different ids", org: "B", body: def("a2", "/a2", `,"id":"663cd8615715ec1405aafbeb"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIs(t)
			if _, err := s.InOrg("A").Create(t.Context(), def("a1", "/a1", `,"id":"`+taken+`"`)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.InOrg("A").Create(t.Context(), def("aaaaaaaaaaaaaaaaaaaaaaaa", "/a3", "")); err != nil {
				t.Fatal(err)
			}
			_, err := s.InOrg(tt.org).Create(t.Context(), tt.body)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantFault(t, err, fault.Conflict, "")
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("the conflict %q does not name %s", err, tt.field)
			}
		})
	}
}

func TestFindTakesEitherID(t *testing.T) {
	s := newAPIs(t)
	d, err := s.InOrg("A").Create(t.Context(), def("a1", "/a1", ""))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, org, ref string
		found          bool
	}{
		{"api_id", "A", "a1", true},
		{"database id", "A", d.ID(), true},
		{"database id in upper case", "A", strings.ToUpper(d.ID()), true},
		{"another organisation's, by api_id", "B", "a1", false},
		{"another organisation's, by database id", "B", d.ID(), false},
		{"unknown database id", "A", "663cd8615715ec1405aafbea", false},
		{"not an id", "A", "a/1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := s.InOrg(tt.org).Find(t.Context(), tt.ref)
			if !tt.found {
				if err != store.ErrNotFound {
					t.Fatalf("Find(%q) = %v, %v; want not found", tt.ref, a.ID, err)
				}
				return
			}
			if err != nil || a.ID != "a1" || idOf(t, a) != d.ID() {
				t.Fatalf("Find(%q) = %q (id %q), %v", tt.ref, a.ID, idOf(t, a), err)
			}
		})
	}
}

func TestUpdateKeepsID(t *testing.T) {
	const own = "663cd8615715ec1405aafbea"
	tests := []struct {
		name  string
		body  []byte
		field string // "" means updated
	}{
		{name: "without id", body: def("a1", "/b1", "")},
		{name: "same id", body: def("a1", "/b1", `,"id":"`+own+`"`)},
		{name: "same id, upper case", body: def("a1", "/b1", `,"id":"`+strings.ToUpper(own)+`"`)},
		{name: "another id", body: def("a1", "/b1", `,"id":"663cd8615715ec1405aafbeb"`), field: "id"},
		{name: "not an id", body: def("a1", "/b1", `,"id":"x"`), field: "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIs(t)
			if _, err := s.Create(t.Context(), def("a1", "/a1", `,"id":"`+own+`"`)); err != nil {
				t.Fatal(err)
			}
			_, err := s.Update(t.Context(), "a1", tt.body)
			a, _ := s.Get(t.Context(), "a1")
			if idOf(t, a) != own {
				t.Fatalf("id after update %q, want %q", idOf(t, a), own)
			}
			if tt.field != "" {
				wantFault(t, err, fault.Invalid, tt.field)
				if d, _ := apidef.Parse(a.Definition); d.Proxy().ListenPath != "/a1" {
					t.Fatalf("a refused update changed the API: %s", a.Definition)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestIDsOfAPIsStoredBeforeIDs: an API stored without an id shows the derived one
// everywhere, is found by it, and keeps it when it is next changed.
func TestIDsOfAPIsStoredBeforeIDs(t *testing.T) {
	s := newAPIs(t)
	ctx := t.Context()
	now := time.Now()
	legacy := def("old", "/old", "")
	if err := s.Store.CreateAPI(ctx, store.API{ID: "old", OrgID: "A", RouteKey: "/old", Definition: legacy, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	want := apidef.DerivedID("old")
	all, err := s.List(ctx)
	if err != nil || len(all) != 1 || idOf(t, all[0]) != want {
		t.Fatalf("List shows %v (%v), want id %s", all, err, want)
	}
	if a, err := s.InOrg("A").Find(ctx, want); err != nil || a.ID != "old" {
		t.Fatalf("Find by derived id = %q, %v", a.ID, err)
	}
	// An id in use is in use, derived or not.
	_, err = s.InOrg("A").Create(ctx, def("new", "/new", `,"id":"`+want+`"`))
	wantFault(t, err, fault.Conflict, "")
	if _, err := s.Update(ctx, "old", def("old", "/old2", "")); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Store.GetAPI(ctx, "old")
	if err != nil || apidef.IDOf(stored.Definition) != want {
		t.Fatalf("the update did not write the id down: %s (%v)", stored.Definition, err)
	}
}

// TestReimportKeepsIDs: an API deleted and created again from its export has the
// same api_id and id.
func TestReimportKeepsIDs(t *testing.T) {
	s := newAPIs(t).InOrg("A")
	ctx := t.Context()
	if _, err := s.Create(ctx, def("a1", "/a1", "")); err != nil {
		t.Fatal(err)
	}
	exported, err := s.Get(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	d, err := s.Create(ctx, exported.Definition)
	if err != nil {
		t.Fatal(err)
	}
	if d.APIID() != "a1" || d.ID() != idOf(t, exported) {
		t.Fatalf("re-imported as %s/%s, exported %s/%s", d.APIID(), d.ID(), exported.ID, idOf(t, exported))
	}
}

func TestDeriveListenPath(t *testing.T) {
	opts := manage.CreateOptions{DeriveListenPath: true}
	tests := []struct {
		name   string
		opts   manage.CreateOptions
		body   string
		want   string // listen path, or "" for a refusal
		refuse fault.Kind
	}{
		{name: "derived", opts: opts, body: `{"api_id":"a1","name":"n","proxy":{"target_url":"http://up"}}`, want: "/a1/"},
		{name: "derived for an empty one", opts: opts, body: `{"api_id":"a1","name":"n","proxy":{"listen_path":"","target_url":"http://up"}}`, want: "/a1/"},
		{name: "derived from a minted api_id", opts: opts, body: `{"name":"n","proxy":{"target_url":"http://up"}}`, want: "minted"},
		{name: "a chosen one is kept", opts: opts, body: `{"api_id":"a1","name":"n","proxy":{"listen_path":"/mine/","target_url":"http://up"}}`, want: "/mine/"},
		{name: "not derived without the option", body: `{"api_id":"a1","name":"n","proxy":{"target_url":"http://up"}}`, refuse: fault.Invalid},
		{name: "an api_id that cannot be a path is refused for itself", opts: opts, body: `{"api_id":"a b","name":"n","proxy":{"target_url":"http://up"}}`, refuse: fault.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAPIs(t).InOrg("A")
			d, err := s.CreateWith(t.Context(), []byte(tt.body), tt.opts)
			if tt.refuse != 0 {
				wantFault(t, err, tt.refuse, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "minted" {
				want = "/" + d.APIID() + "/"
			}
			if got := d.Proxy().ListenPath; got != want {
				t.Fatalf("listen path %q, want %q", got, want)
			}
		})
	}
}

// TestDerivedListenPathObeysTenantRules: a derived path that would take another
// organisation's requests is refused as a chosen one is.
func TestDerivedListenPathObeysTenantRules(t *testing.T) {
	s := newAPIs(t)
	ctx := t.Context()
	if _, err := s.InOrg("B").Create(ctx, def("b1", "/", "")); err != nil {
		t.Fatal(err)
	}
	_, err := s.InOrg("A").CreateWith(ctx, []byte(`{"api_id":"a1","name":"n","proxy":{"target_url":"http://up"}}`), manage.CreateOptions{DeriveListenPath: true})
	wantFault(t, err, fault.Conflict, "")
}

func TestVersions(t *testing.T) {
	s := newAPIs(t)
	ctx := t.Context()
	mk := func(org string, body []byte) {
		t.Helper()
		if _, err := s.InOrg(org).Create(ctx, body); err != nil {
			t.Fatal(err)
		}
	}
	mk("A", def("base", "/base", `,"definition":{"enabled":true,"name":"v1","default":"v2","versions":{"v3":"v3-api","v2":"v2-api","gone":"nope","theirs":"b-api"}}`))
	mk("A", def("v2-api", "/v2", `,"internal":true,"expiration":"2030-01-01 00:00"`))
	mk("A", def("v3-api", "/v3", ""))
	mk("B", def("b-api", "/b", ""))
	mk("A", def("plain", "/plain", ""))

	meta := func(id, version string, internal, isDefault bool, expires string) apidef.VersionMeta {
		return apidef.VersionMeta{ID: id, Name: "n", VersionName: version, Internal: internal, IsDefaultVersion: isDefault, ExpirationDate: expires}
	}
	base, v2, v3 := meta("base", "v1", false, false, ""), meta("v2-api", "v2", true, true, "2030-01-01 00:00"), meta("v3-api", "v3", false, false, "")
	tests := []struct {
		name, id, search, access string
		want                     []apidef.VersionMeta
	}{
		{name: "all", id: "base", want: []apidef.VersionMeta{base, v2, v3}},
		{name: "search", id: "base", search: "V3", want: []apidef.VersionMeta{v3}},
		{name: "internal", id: "base", access: "internal", want: []apidef.VersionMeta{v2}},
		{name: "external", id: "base", access: "external", want: []apidef.VersionMeta{base, v3}},
		{name: "unversioned API is a set of one", id: "plain", want: []apidef.VersionMeta{meta("plain", "", false, true, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := manage.ParseVersionFilter(tt.search, tt.access)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Versions(ctx, tt.id, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.Versions(ctx, "nope", manage.VersionFilter{}); err != store.ErrNotFound {
		t.Errorf("versions of an unknown API: %v", err)
	}
	_, err := manage.ParseVersionFilter("", "Internal")
	wantFault(t, err, fault.Invalid, "accessType")
}

// TestListShowsIDs: every definition List returns carries its id, as JSON.
func TestListShowsIDs(t *testing.T) {
	s := newAPIs(t)
	if _, err := s.Create(context.Background(), def("a1", "/a1", "")); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(all[0].Definition, &v); err != nil || !apidef.IsID(v.ID) {
		t.Fatalf("listed definition %s has no id", all[0].Definition)
	}
}

// TestCheckStoresNothingAndListsEveryFault: Check finds what Create and Update
// would (every invalid field at once, then a taken listen path) and stores
// nothing.
func TestCheckStoresNothingAndListsEveryFault(t *testing.T) {
	ctx := t.Context()
	s := newAPIs(t)
	if _, err := s.Create(ctx, def("taken", "/taken", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, def("mine", "/mine", "")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		body     string
		want     []string // fields at fault; nil means none
		kind     fault.Kind
	}{
		{"new, valid", "", `{"name":"n","proxy":{"listen_path":"/new","target_url":"http://up"}}`, nil, 0},
		{"new, three faults", "", `{"proxy":{"listen_path":"new","target_url":"up"}}`, []string{"name", "proxy.listen_path", "proxy.target_url"}, fault.Invalid},
		{"new, path taken", "", `{"name":"n","proxy":{"listen_path":"/taken/","target_url":"http://up"}}`, []string{"proxy.listen_path"}, fault.Invalid},
		{"update, two faults", "mine", `{"name":"","proxy":{"listen_path":"/mine","target_url":""}}`, []string{"name", "proxy.target_url"}, fault.Invalid},
		{"update, own path", "mine", `{"name":"n","proxy":{"listen_path":"/mine/","target_url":"http://up"}}`, nil, 0},
		{"update, missing API", "gone", `{"name":"n","proxy":{"listen_path":"/gone","target_url":"http://up"}}`, []string{""}, fault.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Check(ctx, tt.id, []byte(tt.body))
			var fields []string
			for _, f := range fault.All(err) {
				fields = append(fields, f.Field)
			}
			if diff := cmp.Diff(tt.want, fields); diff != "" {
				t.Fatalf("fields at fault (-want +got):\n%s\nerr: %v", diff, err)
			}
			if tt.want != nil && fault.KindOf(err) != tt.kind {
				t.Fatalf("kind %v, want %v", fault.KindOf(err), tt.kind)
			}
		})
	}
	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("Check stored something: %d APIs", len(all))
	}
	if a, _ := s.Get(ctx, "mine"); !strings.Contains(string(a.Definition), `"name":"n"`) {
		t.Fatalf("Check changed the API: %s", a.Definition)
	}
}
