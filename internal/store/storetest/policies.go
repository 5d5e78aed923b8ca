package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/store"
)

func policy(id, mid, org, name, state string) store.Policy {
	return store.Policy{ID: id, MID: mid, OrgID: org, Name: name, State: state,
		Document: []byte(`{"id":"` + id + `"}`), CreatedAt: now, UpdatedAt: now}
}

func policyIDs(t *testing.T, s store.Store, f store.PolicyFilter) []string {
	t.Helper()
	ps, err := s.ListPolicies(t.Context(), f)
	if err != nil {
		t.Fatalf("list policies %+v: %v", f, err)
	}
	n, err := s.CountPolicies(t.Context(), store.PolicyFilter{OrgID: f.OrgID, Query: f.Query, State: f.State, APIID: f.APIID})
	if err != nil {
		t.Fatalf("count policies %+v: %v", f, err)
	}
	ids := []string{}
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	if f.Limit == 0 && n != len(ids) {
		t.Errorf("count %+v = %d, list has %d", f, n, len(ids))
	}
	return ids
}

func testPolicies(t *testing.T, s store.Store) {
	ctx := t.Context()
	free := policy("free", "aaaaaaaaaaaaaaaaaaaaaaa1", "o1", "Free plan", "active")
	if err := s.CreatePolicy(ctx, free, []string{"api1", "api2"}); err != nil {
		t.Fatalf("create: %v", err)
	}
	for name, p := range map[string]store.Policy{
		"same id":                   policy("free", "aaaaaaaaaaaaaaaaaaaaaaa2", "o1", "Other", "active"),
		"same database id":          policy("other", "aaaaaaaaaaaaaaaaaaaaaaa1", "o1", "Other", "active"),
		"id that is a database id":  policy("aaaaaaaaaaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaaaaaaaaaa3", "o1", "Other", "active"),
		"database id that is an id": policy("other", "free", "o1", "Other", "active"),
		"same name in one org":      policy("other", "aaaaaaaaaaaaaaaaaaaaaaa4", "o1", "Free plan", "active"),
	} {
		if err := s.CreatePolicy(ctx, p, nil); !errors.Is(err, store.ErrConflict) {
			t.Errorf("create with %s: got %v, want ErrConflict", name, err)
		}
	}
	pro := policy("pro", "bbbbbbbbbbbbbbbbbbbbbbb1", "o1", "Pro plan", "draft")
	other := policy("o2-free", "ccccccccccccccccccccccc1", "o2", "Free plan", "active") // a name is unique per organisation only
	for _, p := range []store.Policy{pro, other} {
		if err := s.CreatePolicy(ctx, p, []string{"api2"}); err != nil {
			t.Fatalf("create %s: %v", p.ID, err)
		}
	}
	for _, id := range []string{"free", "aaaaaaaaaaaaaaaaaaaaaaa1"} {
		got, err := s.GetPolicy(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if d := cmp.Diff(free, got); d != "" {
			t.Errorf("get %s (-want +got):\n%s", id, d)
		}
	}
	if _, err := s.GetPolicy(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}

	for _, tt := range []struct {
		name string
		f    store.PolicyFilter
		want []string
	}{
		{"all, by name", store.PolicyFilter{}, []string{"free", "o2-free", "pro"}},
		{"org", store.PolicyFilter{OrgID: "o1"}, []string{"free", "pro"}},
		{"state", store.PolicyFilter{State: "draft"}, []string{"pro"}},
		{"api", store.PolicyFilter{APIID: "api1"}, []string{"free"}},
		{"name, any case", store.PolicyFilter{Query: "PLAN", OrgID: "o1"}, []string{"free", "pro"}},
		{"name is literal", store.PolicyFilter{Query: "%"}, []string{}},
		{"by id", store.PolicyFilter{Query: "pro"}, []string{"pro"}},
		{"by database id", store.PolicyFilter{Query: "ccccccccccccccccccccccc1"}, []string{"o2-free"}},
		{"page", store.PolicyFilter{Limit: 1, Offset: 1}, []string{"o2-free"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, policyIDs(t, s, tt.f)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}

	upd := pro
	upd.Name, upd.State, upd.Document, upd.UpdatedAt = "Pro", "active", []byte(`{"v":2}`), now.Add(time.Hour)
	upd.CreatedAt = time.Time{} // ignored: the creation time is kept
	if err := s.UpdatePolicy(ctx, upd, []string{"api3"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, err := s.GetPolicy(ctx, "pro")
	if err != nil {
		t.Fatal(err)
	}
	upd.CreatedAt = now
	if d := cmp.Diff(upd, got); d != "" {
		t.Errorf("after update (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"pro"}, policyIDs(t, s, store.PolicyFilter{APIID: "api3"})); d != "" {
		t.Errorf("api index after update: %s", d)
	}
	clash := upd
	clash.Name = "Free plan"
	if err := s.UpdatePolicy(ctx, clash, nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update to a taken name: %v", err)
	}
	gone := upd
	gone.ID = "gone"
	if err := s.UpdatePolicy(ctx, gone, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}

	// Keys name policies by id or database id; listings find them by either.
	k1 := key("h1", "o1", 0, "api1")
	k1.PolicyIDs = []string{"free", "pro"}
	k2 := key("h2", "o1", time.Second, "api1")
	k2.PolicyIDs = []string{"aaaaaaaaaaaaaaaaaaaaaaa1"}
	k3 := key("h3", "o1", 2*time.Second, "api1")
	k3.PolicyIDs = []string{"missing"}
	for _, k := range []store.Key{k1, k2, k3, key("h4", "o1", 3*time.Second, "api1")} {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("create key %s: %v", k.Hash, err)
		}
	}
	gk, err := s.GetKey(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"free", "pro"}, gk.PolicyIDs); d != "" {
		t.Errorf("key policies: %s", d)
	}
	for _, tt := range []struct {
		name string
		f    store.KeyFilter
		want []string
	}{
		{"by id", store.KeyFilter{PolicyID: "free"}, []string{"h2", "h1"}},
		{"by database id", store.KeyFilter{PolicyID: "aaaaaaaaaaaaaaaaaaaaaaa1"}, []string{"h2", "h1"}},
		{"other policy", store.KeyFilter{PolicyID: "pro"}, []string{"h1"}},
		{"missing policies", store.KeyFilter{PolicyMissing: true}, []string{"h3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, listHashes(t, s, tt.f)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			n, err := s.CountKeys(ctx, tt.f)
			if err != nil || n != len(tt.want) {
				t.Errorf("count = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
	k1.PolicyIDs = []string{"pro"}
	if err := s.UpdateKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"h2"}, listHashes(t, s, store.KeyFilter{PolicyID: "free"})); d != "" {
		t.Errorf("after key update: %s", d)
	}

	if err := s.DeletePolicy(ctx, "free"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := s.DeletePolicy(ctx, "free"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if d := cmp.Diff([]string{"h3", "h2"}, listHashes(t, s, store.KeyFilter{PolicyMissing: true})); d != "" {
		t.Errorf("missing after delete: %s", d)
	}
	if d := cmp.Diff([]string{}, policyIDs(t, s, store.PolicyFilter{APIID: "api1"})); d != "" {
		t.Errorf("api index after delete: %s", d)
	}
}
