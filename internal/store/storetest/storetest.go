// Package storetest is the conformance suite every store backend runs, so that the
// embedded SQLite store and a server database behave the same to the code above them.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/internal/store"
)

// Run runs the whole suite. open must return a new, empty store each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("APIs", func(t *testing.T) { testAPIs(t, open(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open(t)) })
	t.Run("KeyFilters", func(t *testing.T) { testKeyFilters(t, open(t)) })
	t.Run("KeyQuery", func(t *testing.T) { testKeyQuery(t, open(t)) })
	t.Run("Ordering", func(t *testing.T) { testOrdering(t, open(t)) })
	t.Run("TimePrecision", func(t *testing.T) { testTimePrecision(t, open(t)) })
	t.Run("Counters", func(t *testing.T) { testCounters(t, open(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, open(t)) })
	t.Run("OrgsAndUsers", func(t *testing.T) { testOrgsAndUsers(t, open(t)) })
	t.Run("DeleteEmptyOrg", func(t *testing.T) { testDeleteEmptyOrg(t, open(t)) })
	t.Run("Settings", func(t *testing.T) { testSettings(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("DocumentsExact", func(t *testing.T) { testDocumentsExact(t, open(t)) })
	t.Run("TextPostgreSQLCannotHold", func(t *testing.T) { testUnholdableText(t, open(t)) })
	t.Run("Policies", func(t *testing.T) { testPolicies(t, open(t)) })
	t.Run("WebSessions", func(t *testing.T) { testWebSessions(t, open(t)) })
	t.Run("WebSessionSweep", func(t *testing.T) { testWebSessionSweep(t, open(t)) })
	t.Run("KeyDisplays", func(t *testing.T) { testKeyDisplays(t, open(t)) })
}

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testAPIs(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.API{ID: "a1", OrgID: "o", RouteKey: "/one", Definition: []byte(`{"api_id":"a1"}`), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateAPI(ctx, a); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.CreateAPI(ctx, a); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create duplicate id: got %v, want ErrConflict", err)
	}
	dupRoute := a
	dupRoute.ID = "a2"
	if err := s.CreateAPI(ctx, dupRoute); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create duplicate route: got %v, want ErrConflict", err)
	}
	b := store.API{ID: "b1", OrgID: "o", RouteKey: "/two", Definition: []byte(`{}`), CreatedAt: now.Add(time.Second), UpdatedAt: now.Add(time.Second)}
	if err := s.CreateAPI(ctx, b); err != nil {
		t.Fatalf("create b: %v", err)
	}
	got, err := s.GetAPI(ctx, "a1")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("get a1 (-want +got):\n%s", diff)
	}
	if _, err := s.GetAPI(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: got %v, want ErrNotFound", err)
	}
	list, err := s.ListAPIs(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a1" || list[1].ID != "b1" {
		t.Fatalf("list: %v %+v", err, list)
	}

	upd := a
	upd.RouteKey = "/two"
	if err := s.UpdateAPI(ctx, upd); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update onto taken route: got %v, want ErrConflict", err)
	}
	upd.RouteKey = "/one-b"
	upd.Definition = []byte(`{"api_id":"a1","x":1}`)
	upd.CreatedAt = now.Add(time.Hour) // must be ignored
	upd.UpdatedAt = now.Add(time.Minute)
	if err := s.UpdateAPI(ctx, upd); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, _ = s.GetAPI(ctx, "a1")
	if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now.Add(time.Minute)) || string(got.Definition) != `{"api_id":"a1","x":1}` {
		t.Errorf("after update: %+v", got)
	}
	missing := upd
	missing.ID = "zz"
	missing.RouteKey = "/zz"
	if err := s.UpdateAPI(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: got %v, want ErrNotFound", err)
	}
	if _, err := s.DeletedAPIOrg(ctx, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted org of a live API: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPI(ctx, "a1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := s.DeleteAPI(ctx, "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: got %v, want ErrNotFound", err)
	}
	if org, err := s.DeletedAPIOrg(ctx, "a1"); err != nil || org != a.OrgID {
		t.Errorf("deleted org of a1: got %q, %v; want %q", org, err, a.OrgID)
	}
	if _, err := s.DeletedAPIOrg(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted org of an id never used: got %v, want ErrNotFound", err)
	}
	// The freed route can be taken again.
	a.ID = "a3"
	if err := s.CreateAPI(ctx, a); err != nil {
		t.Errorf("reuse freed route: %v", err)
	}
}

func key(hash, org string, age time.Duration, apis ...string) store.Key {
	return store.Key{Hash: hash, OrgID: org, APIIDs: apis, Session: []byte(`{"org_id":"` + org + `"}`), CreatedAt: now.Add(age), UpdatedAt: now.Add(age)}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key("aa11", "o1", 0, "api1", "api2")
	k.Alias = "First Alias"
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.CreateKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create duplicate: got %v, want ErrConflict", err)
	}
	got, err := s.GetKey(ctx, "aa11")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	k2 := k
	k2.OrgID = "o2"
	k2.APIIDs = []string{"api3"}
	k2.Alias = "Second"
	k2.Session = []byte(`{"rate":5}`)
	k2.UpdatedAt = now.Add(time.Minute)
	k2.CreatedAt = time.Time{} // must be ignored
	if err := s.UpdateKey(ctx, k2); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, _ = s.GetKey(ctx, "aa11")
	want := k2
	want.CreatedAt = now
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}
	// Counts and searches follow the update: the key moved to o2 and changed alias.
	for _, c := range []struct {
		f    store.KeyFilter
		want int
	}{
		{store.KeyFilter{}, 1},
		{store.KeyFilter{OrgID: "o1"}, 0},
		{store.KeyFilter{OrgID: "o2"}, 1},
		{store.KeyFilter{Query: "first"}, 0},
		{store.KeyFilter{Query: "second"}, 1},
		{store.KeyFilter{APIID: "api1"}, 0},
	} {
		if n, err := s.CountKeys(ctx, c.f); err != nil || n != c.want {
			t.Errorf("after update, CountKeys(%+v) = %d, %v; want %d", c.f, n, err, c.want)
		}
	}
	if err := s.UpdateKey(ctx, key("bb", "o1", 0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: got %v", err)
	}
	if _, err := s.GetKey(ctx, "bb"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: got %v", err)
	}
	if err := s.DeleteKey(ctx, "aa11"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := s.DeleteKey(ctx, "aa11"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: got %v", err)
	}
	for _, f := range []store.KeyFilter{{}, {OrgID: "o2"}, {APIID: "api3"}, {Query: "second"}} {
		if n, err := s.CountKeys(ctx, f); err != nil || n != 0 {
			t.Errorf("after delete, CountKeys(%+v) = %d, %v; want 0", f, n, err)
		}
	}
}

func testKeyFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range []store.Key{
		key("a1", "o1", 1*time.Second, "x"),
		key("a2", "o1", 2*time.Second, "x", "y"),
		key("b1", "o2", 3*time.Second, "y"),
		key("b2", "o2", 4*time.Second),
	} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.KeyFilter
		want []string
	}{
		{"all newest first", store.KeyFilter{}, []string{"b2", "b1", "a2", "a1"}},
		{"org", store.KeyFilter{OrgID: "o1"}, []string{"a2", "a1"}},
		{"api", store.KeyFilter{APIID: "y"}, []string{"b1", "a2"}},
		{"org and api", store.KeyFilter{OrgID: "o2", APIID: "y"}, []string{"b1"}},
		{"prefix", store.KeyFilter{HashPrefix: "b"}, []string{"b2", "b1"}},
		{"prefix is case-sensitive", store.KeyFilter{HashPrefix: "B"}, nil},
		{"prefix ff", store.KeyFilter{HashPrefix: "ff"}, nil},
		{"prefix not UTF-8", store.KeyFilter{HashPrefix: "zz\xff"}, nil},
		{"prefix NUL", store.KeyFilter{HashPrefix: "a\x00"}, nil},
		{"prefix highest rune", store.KeyFilter{HashPrefix: "\U0010ffff"}, nil},
		{"page", store.KeyFilter{Limit: 2, Offset: 1}, []string{"b1", "a2"}},
		{"page past end", store.KeyFilter{Limit: 2, Offset: 10}, nil},
		{"no match", store.KeyFilter{APIID: "none"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listHashes(t, s, tt.f)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			n, err := s.CountKeys(ctx, store.KeyFilter{OrgID: tt.f.OrgID, APIID: tt.f.APIID, HashPrefix: tt.f.HashPrefix})
			if err != nil {
				t.Fatal(err)
			}
			if tt.f.Limit == 0 && n != len(tt.want) {
				t.Errorf("count = %d, want %d", n, len(tt.want))
			}
		})
	}
}

// listHashes lists the keys matching f, by hash.
func listHashes(t *testing.T, s store.Store, f store.KeyFilter) []string {
	t.Helper()
	ks, err := s.ListKeys(t.Context(), f)
	if err != nil {
		t.Fatalf("ListKeys(%+v): %v", f, err)
	}
	var out []string
	for _, k := range ks {
		out = append(out, k.Hash)
	}
	return out
}

// testKeyQuery pins KeyFilter.Query: alias substring ignoring case (Unicode),
// LIKE wildcards taken literally, or hash prefix; combined with the other filters;
// pages that add up to the listing, and a count that agrees.
func testKeyQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, k := range []struct {
		hash, org string
		age       time.Duration
		alias     string
		apis      []string
	}{
		{"0a01", "o1", 1, "Alice", []string{"x"}},
		{"0a02", "o1", 2, "50% off", []string{"x", "y"}},
		{"0b01", "o1", 3, "5000 off", []string{"y"}},
		{"0b02", "o2", 4, "under_score", nil},
		{"0c01", "o2", 5, "underXscore", []string{"y"}},
		{"0c02", "o1", 6, "ÉCOLE", nil},
		{"0d01", "o1", 7, `back\slash "quoted" * OR x:y`, nil},
		{"fa01", "o1", 8, "Chef", []string{"x"}},
		{"ffff", "o2", 9, "", nil},
	} {
		kk := key(k.hash, k.org, k.age*time.Second, k.apis...)
		kk.Alias = k.alias
		if err := s.CreateKey(ctx, kk); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.KeyFilter
		want []string
	}{
		{"alias ignoring case", store.KeyFilter{Query: "LIC"}, []string{"0a01"}},
		{"alias unicode case", store.KeyFilter{Query: "école"}, []string{"0c02"}},
		{"alias unicode upper", store.KeyFilter{Query: "ÉCO"}, []string{"0c02"}},
		{"percent is literal", store.KeyFilter{Query: "50%"}, []string{"0a02"}},
		{"percent alone", store.KeyFilter{Query: "%"}, []string{"0a02"}},
		{"underscore is literal", store.KeyFilter{Query: "under_"}, []string{"0b02"}},
		{"backslash is literal", store.KeyFilter{Query: `k\s`}, []string{"0d01"}},
		{"full-text syntax is literal", store.KeyFilter{Query: `"quoted" * or x:`}, []string{"0d01"}},
		{"quote", store.KeyFilter{Query: `"`}, []string{"0d01"}},
		{"NUL", store.KeyFilter{Query: "sla\x00sh"}, nil},
		{"NUL first", store.KeyFilter{Query: "\x00slash"}, nil},
		{"hash prefix ignoring case", store.KeyFilter{Query: "0A"}, []string{"0a02", "0a01"}},
		{"hash prefix is a prefix", store.KeyFilter{Query: "a01"}, nil},
		{"alias or hash", store.KeyFilter{Query: "f"}, []string{"ffff", "fa01", "0b01", "0a02"}},
		{"ff", store.KeyFilter{Query: "ff"}, []string{"ffff", "0b01", "0a02"}},
		{"not UTF-8", store.KeyFilter{Query: "zz\xff"}, nil},
		{"highest rune", store.KeyFilter{Query: "\U0010ffff"}, nil},
		{"with org", store.KeyFilter{Query: "f", OrgID: "o1"}, []string{"fa01", "0b01", "0a02"}},
		{"with api", store.KeyFilter{Query: "off", APIID: "x"}, []string{"0a02"}},
		{"with org and api", store.KeyFilter{Query: "score", OrgID: "o2", APIID: "y"}, []string{"0c01"}},
		{"with hash prefix", store.KeyFilter{Query: "off", HashPrefix: "0b"}, []string{"0b01"}},
		{"no match", store.KeyFilter{Query: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, listHashes(t, s, tt.f), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			n, err := s.CountKeys(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.want) {
				t.Errorf("count = %d, want %d", n, len(tt.want))
			}
			// Pages of two, walked to the end, are the listing: no key twice, none
			// skipped, and the count ignores the page.
			var paged []string
			for off := 0; off < len(tt.want)+2; off += 2 {
				f := tt.f
				f.Limit, f.Offset = 2, off
				paged = append(paged, listHashes(t, s, f)...)
				if n, err := s.CountKeys(ctx, f); err != nil || n != len(tt.want) {
					t.Errorf("count of page at %d = %d, %v; want %d", off, n, err, len(tt.want))
				}
			}
			if diff := cmp.Diff(tt.want, paged, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
}

// testOrdering pins the total order of listings: rows with the same time come by
// hash or id, ascending, whatever order they were written in.
func testOrdering(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, h := range []string{"c3", "a1", "d4", "b2"} {
		if err := s.CreateKey(ctx, key(h, "o", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, key("ff", "o", time.Second)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ff", "a1", "b2", "c3", "d4"}, listHashes(t, s, store.KeyFilter{})); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b2", "c3"}, listHashes(t, s, store.KeyFilter{OrgID: "o", Limit: 2, Offset: 2})); diff != "" {
		t.Errorf("page of tied keys (-want +got):\n%s", diff)
	}
	for _, id := range []string{"api-c", "api-a", "api-b"} {
		if err := s.CreateAPI(ctx, store.API{ID: id, RouteKey: "/" + id, Definition: []byte("{}"), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	apis, err := s.ListAPIs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range apis {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{"api-a", "api-b", "api-c"}, ids); diff != "" {
		t.Errorf("APIs (-want +got):\n%s", diff)
	}
	for _, id := range []string{"org-b", "org-a"} {
		if err := s.CreateOrg(ctx, store.Org{ID: id, Name: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	orgs, err := s.ListOrgs(ctx)
	if err != nil || len(orgs) != 2 || orgs[0].ID != "org-a" || orgs[1].ID != "org-b" {
		t.Errorf("ListOrgs = %+v, %v; want org-a, org-b", orgs, err)
	}
}

// testTimePrecision pins the time rule: microseconds round-trip exactly; anything
// finer is truncated, never rounded, so that every backend stores the same instant
// (PostgreSQL keeps microseconds).
func testTimePrecision(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name     string
		at, want time.Time
	}{
		{"microseconds", now.Add(123456 * time.Microsecond), now.Add(123456 * time.Microsecond)},
		{"nanoseconds truncated", now.Add(123456789), now.Add(123456 * time.Microsecond)},
		{"not rounded up", now.Add(999999999), now.Add(999999 * time.Microsecond)},
		{"other zone read as UTC", now.Add(7 * time.Microsecond).In(time.FixedZone("east", 5*3600)), now.Add(7 * time.Microsecond)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprint("t", i)
			if err := s.CreateKey(ctx, store.Key{Hash: id, OrgID: "o", Session: []byte("{}"), CreatedAt: tt.at, UpdatedAt: tt.at}); err != nil {
				t.Fatal(err)
			}
			k, err := s.GetKey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateAPI(ctx, store.API{ID: id, RouteKey: "/" + id, Definition: []byte("{}"), CreatedAt: tt.at, UpdatedAt: tt.at}); err != nil {
				t.Fatal(err)
			}
			a, err := s.GetAPI(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]time.Time{"key created": k.CreatedAt, "key updated": k.UpdatedAt, "api created": a.CreatedAt, "api updated": a.UpdatedAt} {
				if !got.Equal(tt.want) || got.Location() != time.UTC {
					t.Errorf("%s = %v, want %v", what, got, tt.want)
				}
			}
		})
	}
}

func testCounters(t *testing.T, s store.Store) {
	ctx := t.Context()
	cs := []store.Counter{
		{Name: "k1/", Used: 3, RenewsAt: now},
		{Name: "k1/api", Used: 1},
		{Name: "k2/", Used: 9, RenewsAt: now.Add(time.Hour)},
	}
	if err := s.SaveCounters(ctx, cs); err != nil {
		t.Fatal(err)
	}
	cs[0].Used = 4
	if err := s.SaveCounters(ctx, cs[:1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadCounters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sortOpt := cmpopts.SortSlices(func(a, b store.Counter) bool { return a.Name < b.Name })
	if diff := cmp.Diff(cs, got, sortOpt); diff != "" {
		t.Errorf("load (-want +got):\n%s", diff)
	}
	if err := s.DeleteCounters(ctx, "k1/"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadCounters(ctx)
	if diff := cmp.Diff(cs[2:], got, sortOpt); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	if err := s.DeleteCounters(ctx, ""); err == nil {
		t.Error("delete with empty prefix must fail, not wipe everything")
	}

	// Prefixes at the edges of the character range: a range bound made by
	// stepping the last byte is not UTF-8 for "a\x7f", and there is no bound above
	// U+10FFFF; neither may delete too much, too little, or fail.
	edge := []store.Counter{{Name: "a\x7f/1"}, {Name: "a\x7f/2"}, {Name: "a\u0080"}, {Name: "\U0010ffff/1"}, {Name: "\U0010ffff\U0010ffff"}}
	if err := s.SaveCounters(ctx, edge); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, prefix string
		left         []string
	}{
		{"not UTF-8 matches nothing", "a\xff", []string{"a\x7f/1", "a\x7f/2", "a\u0080", "k2/", "\U0010ffff/1", "\U0010ffff\U0010ffff"}},
		{"last byte 0x7f", "a\x7f", []string{"a\u0080", "k2/", "\U0010ffff/1", "\U0010ffff\U0010ffff"}},
		{"highest rune", "\U0010ffff", []string{"a\u0080", "k2/"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.DeleteCounters(ctx, tt.prefix); err != nil {
				t.Fatal(err)
			}
			got, err := s.LoadCounters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			if diff := cmp.Diff(tt.left, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("left after DeleteCounters(%q) (-want +got):\n%s", tt.prefix, diff)
			}
		})
	}
}

// testConcurrentCreate checks that racing creates of one key yield exactly one winner.
func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.CreateKey(ctx, key("same", "o", time.Duration(i), "a")) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates succeeded, want exactly 1", ok)
	}
	for i := range n {
		if err := s.CreateAPI(ctx, store.API{ID: fmt.Sprintf("api%d", i), RouteKey: fmt.Sprintf("/r%d", i), Definition: []byte("{}"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// testSettings: the first value stored under a name stays until replaced, and
// callers racing to store one all get the same.
func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := s.InitSetting(ctx, "verifier", fmt.Sprint("v", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] || v == "" {
			t.Fatalf("racing InitSetting returned %q, want one value for all", got)
		}
	}
	if v, err := s.InitSetting(ctx, "verifier", "later"); err != nil || v != got[0] {
		t.Fatalf("InitSetting after = %q, %v; want %q", v, err, got[0])
	}
	if err := s.PutSetting(ctx, "verifier", "replaced"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.InitSetting(ctx, "verifier", "again"); err != nil || v != "replaced" {
		t.Fatalf("InitSetting after PutSetting = %q, %v; want replaced", v, err)
	}
	if v, err := s.InitSetting(ctx, "other", "x"); err != nil || v != "x" {
		t.Fatalf("another name = %q, %v", v, err)
	}
}

// testDeleteEmptyOrg: only an organisation that holds nothing can be deleted
// (what a first run that lost a race leaves behind).
func testDeleteEmptyOrg(t *testing.T, s store.Store) {
	ctx := t.Context()
	for id, fill := range map[string]func(org string) error{
		"o-empty": nil,
		"o-user": func(org string) error {
			return s.CreateUser(ctx, store.User{ID: "u-" + org, OrgID: org, Email: org + "@x.io", AccessKeyHash: "k-" + org, Permissions: []byte("{}"), CreatedAt: now})
		},
		"o-api": func(org string) error {
			return s.CreateAPI(ctx, store.API{ID: "api-" + org, OrgID: org, RouteKey: "/" + org + "/", Definition: []byte(`{}`), CreatedAt: now})
		},
	} {
		if err := s.CreateOrg(ctx, store.Org{ID: id, Name: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		want := error(nil)
		if fill != nil {
			if err := fill(id); err != nil {
				t.Fatal(err)
			}
			want = store.ErrNotFound
		}
		if err := s.DeleteEmptyOrg(ctx, id); !errors.Is(err, want) {
			t.Errorf("DeleteEmptyOrg(%s) = %v, want %v", id, err, want)
		}
		if _, err := s.GetOrg(ctx, id); (err == nil) != (fill != nil) {
			t.Errorf("after DeleteEmptyOrg(%s): GetOrg = %v", id, err)
		}
	}
	if err := s.DeleteEmptyOrg(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteEmptyOrg(nope) = %v", err)
	}
	orgs, err := s.ListOrgs(ctx)
	if err != nil || len(orgs) != 2 {
		t.Fatalf("ListOrgs after deleting the empty one = %v, %v", orgs, err)
	}
}

func testOrgsAndUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, o := range []store.Org{{ID: "o1", Name: "One", CreatedAt: now}, {ID: "o2", Name: "Two", CreatedAt: now.Add(time.Second)}} {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateOrg(ctx, store.Org{ID: "o1", Name: "dup", CreatedAt: now}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate org: %v", err)
	}
	orgs, err := s.ListOrgs(ctx)
	if err != nil || len(orgs) != 2 || orgs[0].ID != "o1" {
		t.Fatalf("ListOrgs = %v, %v", orgs, err)
	}
	if _, err := s.GetOrg(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOrg(nope) = %v", err)
	}
	u := store.User{ID: "u1", OrgID: "o1", Email: "a@x.io", FirstName: "A", LastName: "B", PasswordHash: []byte("h"),
		AccessKeyHash: "k1", AccessKeyEnc: []byte("enc"), Permissions: []byte("{}"), Active: true, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Fatalf("GetUser (-want +got):\n%s", diff)
	}
	for name, dup := range map[string]store.User{
		"same email":      {ID: "u2", OrgID: "o1", Email: "a@x.io", AccessKeyHash: "k2", Permissions: []byte("{}"), CreatedAt: now},
		"same access key": {ID: "u3", OrgID: "o1", Email: "b@x.io", AccessKeyHash: "k1", Permissions: []byte("{}"), CreatedAt: now},
	} {
		if err := s.CreateUser(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: got %v, want ErrConflict", name, err)
		}
	}
	// users.org_id refers to orgs: a missing organisation is not a conflict, so
	// that a caller can say "no such organisation" rather than "already exists".
	orphan := store.User{ID: "u4", OrgID: "zz", Email: "c@x.io", AccessKeyHash: "k4", Permissions: []byte("{}"), CreatedAt: now}
	if err := s.CreateUser(ctx, orphan); !errors.Is(err, store.ErrInvalidReference) || errors.Is(err, store.ErrConflict) {
		t.Errorf("user of a missing organisation: got %v, want ErrInvalidReference", err)
	}
	if _, err := s.GetUser(ctx, "u4"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user of a missing organisation was stored: %v", err)
	}
	if g, err := s.GetUserByEmail(ctx, "a@x.io"); err != nil || g.ID != "u1" {
		t.Fatalf("by email: %v %v", g.ID, err)
	}
	if g, err := s.GetUserByAccessKeyHash(ctx, "k1"); err != nil || g.ID != "u1" {
		t.Fatalf("by access key: %v %v", g.ID, err)
	}
	u2 := store.User{ID: "u2", OrgID: "o2", Email: "z@x.io", AccessKeyHash: "k2", Permissions: []byte(`{"keys":"read"}`), CreatedAt: now.Add(time.Second), UpdatedAt: now}
	if err := s.CreateUser(ctx, u2); err != nil {
		t.Fatal(err)
	}
	if us, err := s.ListUsers(ctx, "o2"); err != nil || len(us) != 1 || us[0].ID != "u2" {
		t.Fatalf("ListUsers(o2) = %v %v", us, err)
	}
	if us, _ := s.ListUsers(ctx, ""); len(us) != 2 {
		t.Fatalf("ListUsers(all) = %d", len(us))
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 2 {
		t.Fatalf("CountUsers = %d %v", n, err)
	}
	u.AccessKeyHash, u.LastLogin, u.UpdatedAt = "k9", now.Add(time.Hour), now.Add(time.Hour)
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.GetUserByAccessKeyHash(ctx, "k9"); g.ID != "u1" || !g.LastLogin.Equal(now.Add(time.Hour)) {
		t.Fatalf("after update: %+v", g)
	}
	if _, err := s.GetUserByAccessKeyHash(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("old access key still finds the user")
	}
	u.Email = "z@x.io"
	if err := s.UpdateUser(ctx, u); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update to a taken email: %v", err)
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.UpdateUser(ctx, u); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update deleted: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := 0; i < 5; i++ {
		org := "o1"
		if i%2 == 1 {
			org = "o2"
		}
		e := store.AuditEntry{At: now.Add(time.Duration(i) * time.Second), OrgID: org, ActorID: "u", Action: "create", ObjectType: "key", ObjectID: fmt.Sprint(i)}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	es, total, err := s.ListAudit(ctx, "o1", 2, 0)
	if err != nil || total != 3 || len(es) != 2 || es[0].ObjectID != "4" || es[1].ObjectID != "2" {
		t.Fatalf("ListAudit(o1) = %+v total %d %v", es, total, err)
	}
	if es, total, _ := s.ListAudit(ctx, "", 0, 0); total != 5 || len(es) != 5 {
		t.Fatalf("ListAudit(all) = %d/%d", len(es), total)
	}
}

// testDocumentsExact pins that documents come back byte for byte: a backend may
// not store them as parsed JSON (PostgreSQL's jsonb would reorder keys, drop
// duplicates, and reformat spaces and numbers), and the store does not check that
// they are JSON at all.
func testDocumentsExact(t *testing.T, s store.Store) {
	ctx := t.Context()
	docs := map[string][]byte{
		"spacing and order": []byte("{ \"b\" : 1,\n\t\"a\":2 }"),
		"duplicate keys":    []byte(`{"a":1,"a":2}`),
		"numbers":           []byte(`{"n":1.0e2,"big":12345678901234567890}`),
		"escapes":           []byte(`{"s":"\u00e9\u0000"}`),
		"not JSON":          {0xff, 0x00, 'x'},
		"empty":             {},
	}
	if err := s.CreateOrg(ctx, store.Org{ID: "o", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	i := 0
	for name, doc := range docs {
		i++
		t.Run(name, func(t *testing.T) {
			id := fmt.Sprint("d", i)
			if err := s.CreateAPI(ctx, store.API{ID: id, RouteKey: "/" + id, Definition: doc, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateKey(ctx, store.Key{Hash: id, OrgID: "o", Session: doc, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			u := store.User{ID: id, OrgID: "o", Email: id + "@x.io", AccessKeyHash: id, Permissions: doc, CreatedAt: now, UpdatedAt: now}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			a, err := s.GetAPI(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			k, err := s.GetKey(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			gu, err := s.GetUser(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string][]byte{"definition": a.Definition, "session": k.Session, "permissions": gu.Permissions} {
				if string(got) != string(doc) {
					t.Errorf("%s = %q, want %q", what, got, doc)
				}
			}
		})
	}
}

// testUnholdableText pins what happens to text PostgreSQL cannot hold as text (a
// NUL, which JSON's \u0000 lets into a key's alias; bytes that are not UTF-8): an
// alias comes back exactly and is searched with U+FFFD for the NUL, and an audit
// entry quoting such text is recorded, never refused, because a change that is
// made must leave its line (a backend may store U+FFFD in place of what it cannot
// hold).
func testUnholdableText(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := key("0e01", "o", 0)
	write := s.CreateKey
	for _, tt := range []struct{ what, alias, query string }{
		{"a NUL", "nul\x00here", "L\ufffdH"},
		{"a byte that is not UTF-8", "bad\xffbyte", "d\ufffdb"},
	} {
		k.Alias = tt.alias
		if err := write(ctx, k); err != nil {
			t.Fatalf("write a key whose alias holds %s: %v", tt.what, err)
		}
		write = s.UpdateKey
		if got, err := s.GetKey(ctx, k.Hash); err != nil || got.Alias != k.Alias {
			t.Errorf("alias = %q, %v; want %q", got.Alias, err, k.Alias)
		}
		if diff := cmp.Diff([]string{k.Hash}, listHashes(t, s, store.KeyFilter{Query: tt.query})); diff != "" {
			t.Errorf("search for %s as U+FFFD (-want +got):\n%s", tt.what, diff)
		}
	}

	e := store.AuditEntry{At: now, OrgID: "o", ActorID: "u", ActorEmail: "a\x00@x.io", Action: "create", ObjectType: "key",
		ObjectID: "0e01", RemoteAddr: "\xff", Detail: "nul\x00here"}
	if err := s.AppendAudit(ctx, e); err != nil {
		t.Fatalf("audit entry quoting a NUL: %v", err)
	}
	es, _, err := s.ListAudit(ctx, "o", 0, 0)
	if err != nil || len(es) != 1 {
		t.Fatalf("ListAudit = %+v, %v; want the one entry", es, err)
	}
	held := strings.NewReplacer("\x00", "\ufffd", "\xff", "\ufffd")
	for what, got := range map[string][2]string{
		"detail":      {es[0].Detail, e.Detail},
		"actor email": {es[0].ActorEmail, e.ActorEmail},
		"remote addr": {es[0].RemoteAddr, e.RemoteAddr},
	} {
		if held.Replace(got[0]) != held.Replace(got[1]) {
			t.Errorf("%s = %q, want %q (or U+FFFD for what text cannot hold)", what, got[0], got[1])
		}
	}
}
