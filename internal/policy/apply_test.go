package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/session"
)

const org = "org1"

func right(versions ...string) session.AccessDefinition {
	return session.AccessDefinition{Versions: versions}
}

// store is a set of policies for the table below, modelled on Tyk's own test
// policies (internal/policy/testdata/policies.json in Tyk's repository).
var testPolicies = map[string]*Policy{
	"nonpart1":  {ID: "nonpart1", OrgID: org, State: StateActive, Rate: 5, Per: 1, QuotaMax: 20, QuotaRenewalRate: 3600, AccessRights: map[string]session.AccessDefinition{"a": right("v1")}},
	"nonpart2":  {ID: "nonpart2", OrgID: org, State: StateActive, Rate: 10, Per: 1, QuotaMax: 10, AccessRights: map[string]session.AccessDefinition{"b": right("v1")}},
	"nonpart3":  {ID: "nonpart3", OrgID: org, State: StateActive, Rate: 5, Per: 1, AccessRights: map[string]session.AccessDefinition{"a": right("v1"), "b": right("v1")}},
	"quota1":    {ID: "quota1", OrgID: org, State: StateActive, QuotaMax: 2, Partitions: Partitions{Quota: true}},
	"quota2":    {ID: "quota2", OrgID: org, State: StateActive, QuotaMax: 3, Partitions: Partitions{Quota: true}},
	"quota-a":   {ID: "quota-a", OrgID: org, State: StateActive, QuotaMax: 3, Partitions: Partitions{Quota: true}, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"unlimited": {ID: "unlimited", OrgID: org, State: StateActive, QuotaMax: -1, Partitions: Partitions{Quota: true}, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"rate3":     {ID: "rate3", OrgID: org, State: StateActive, Rate: 3, Per: 1, Partitions: Partitions{RateLimit: true}},
	"rate4per4": {ID: "rate4per4", OrgID: org, State: StateActive, Rate: 4, Per: 4, Partitions: Partitions{RateLimit: true}},
	"rate-a":    {ID: "rate-a", OrgID: org, State: StateActive, Rate: 4, Per: 1, Partitions: Partitions{RateLimit: true}, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"acl-a":     {ID: "acl-a", OrgID: org, State: StateActive, Partitions: Partitions{ACL: true}, AccessRights: map[string]session.AccessDefinition{"a": {Versions: []string{"v1"}, AllowedURLs: []session.AccessSpec{{URL: "/user", Methods: []string{"GET"}}}}}},
	"acl-a2":    {ID: "acl-a2", OrgID: org, State: StateActive, Partitions: Partitions{ACL: true}, AccessRights: map[string]session.AccessDefinition{"a": {Versions: []string{"v2"}, AllowedURLs: []session.AccessSpec{{URL: "/user", Methods: []string{"POST"}}, {URL: "/companies", Methods: []string{"GET"}}}}}},
	"acl-b":     {ID: "acl-b", OrgID: org, State: StateActive, Partitions: Partitions{ACL: true}, AccessRights: map[string]session.AccessDefinition{"b": right("v1")}},
	"throttle":  {ID: "throttle", OrgID: org, State: StateActive, Rate: 1, Per: 1, ThrottleInterval: 9, ThrottleRetryLimit: 99, AccessRights: map[string]session.AccessDefinition{"a": right("v1")}},
	"per-api":   {ID: "per-api", OrgID: org, State: StateActive, Rate: 300, Per: 1, QuotaMax: -1, Partitions: Partitions{PerAPI: true}, AccessRights: map[string]session.AccessDefinition{"d": {Limit: session.APILimit{Rate: 200, Per: 10, QuotaMax: 5000, QuotaRenewalRate: 3600}}, "e": {}}},
	"per-api-d": {ID: "per-api-d", OrgID: org, State: StateActive, Partitions: Partitions{PerAPI: true}, AccessRights: map[string]session.AccessDefinition{"d": {Limit: session.APILimit{Rate: 400, Per: 25, QuotaMax: 6000, QuotaRenewalRate: 60}}}},
	"tags1":     {ID: "tags1", OrgID: org, State: StateActive, Tags: []string{"tagA"}, MetaData: map[string]any{"plan": "free", "x": 1.0}, Partitions: Partitions{Quota: true}},
	"tags2":     {ID: "tags2", OrgID: org, State: StateActive, Tags: []string{"tagX", "tagA"}, MetaData: map[string]any{"plan": "pro"}, Partitions: Partitions{RateLimit: true}},
	"inactive":  {ID: "inactive", OrgID: org, State: StateActive, IsInactive: true, Partitions: Partitions{RateLimit: true}},
	"difforg":   {ID: "difforg", OrgID: "other", State: StateActive, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"draft":     {ID: "draft", OrgID: org, State: StateDraft, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"deny":      {ID: "deny", OrgID: org, State: StateDeny, AccessRights: map[string]session.AccessDefinition{"a": {}}},
	"ep-a1": {ID: "ep-a1", OrgID: org, State: StateActive, Partitions: Partitions{RateLimit: true, ACL: true},
		AccessRights: map[string]session.AccessDefinition{"a": {Endpoints: []session.Endpoint{{Path: "/get", Methods: []session.EndpointMethod{{Name: "GET", Limit: session.RateLimit{Rate: 10, Per: 60}}}}}}}},
	"ep-a2": {ID: "ep-a2", OrgID: org, State: StateActive, Partitions: Partitions{RateLimit: true},
		AccessRights: map[string]session.AccessDefinition{"a": {Endpoints: []session.Endpoint{
			{Path: "/get", Methods: []session.EndpointMethod{{Name: "GET", Limit: session.RateLimit{Rate: 20, Per: 60}}}},
			{Path: "/post", Methods: []session.EndpointMethod{{Name: "POST", Limit: session.RateLimit{Rate: 5, Per: 1}}}}}}}},
	"quota-only": {ID: "quota-only", OrgID: org, State: StateActive, QuotaMax: 7, Partitions: Partitions{Quota: true},
		AccessRights: map[string]session.AccessDefinition{"a": {}}},
}

func lookup(id string) (*Policy, bool) { p, ok := testPolicies[id]; return p, ok }

func TestApply(t *testing.T) {
	keyRights := map[string]session.AccessDefinition{"a": right("v1"), "c": right("v1")}
	tests := []struct {
		name     string
		policies []string
		legacy   string
		key      session.Session
		// want checks the parts of the result the row is about.
		want    func(t *testing.T, s *session.Session)
		refused string
	}{
		{
			// Tyk: a session without policies is enforced as stored.
			name: "no policies", key: session.Session{Rate: 1, Per: 2, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rate", s.Rate, 1.0)
				check(t, "rights", len(s.AccessRights), 2)
			},
		},
		{
			// Tyk "NonpartAndPart"-style: a policy without partitions replaces the
			// key's ACL, rate and quota; one API, so its limits are the key's too.
			name: "one policy overrides everything", policies: []string{"nonpart1"},
			key: session.Session{Rate: 1000, Per: 1, QuotaMax: 99999, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rights", s.APIIDs(), []string{"a"})
				check(t, "rate", s.Rate, 5.0)
				check(t, "quota", int64(s.QuotaMax), int64(20))
				check(t, "renewal", int64(s.QuotaRenewalRate), int64(3600))
				// Shared counter: the limit is the key's own, scope "".
				check(t, "limit a", s.AccessRights["a"].Limit.IsEmpty(), true)
			},
		},
		{
			// Tyk "legacy apply_policy_id": read when apply_policies is empty.
			name: "legacy apply_policy_id", legacy: "nonpart1", key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) { check(t, "rate", s.Rate, 5.0) },
		},
		{
			// Tyk "MultiNonPart": ACLs unioned; each API keeps the limits of the
			// policy that granted it, counted per policy (several ACL setters).
			name: "two whole policies", policies: []string{"nonpart1", "nonpart2"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rights", s.APIIDs(), []string{"a", "b"})
				a, b := s.AccessRights["a"], s.AccessRights["b"]
				check(t, "a scope", a.AllowanceScope, "nonpart1")
				check(t, "b scope", b.AllowanceScope, "nonpart2")
				check(t, "a rate", a.Limit.Rate, 5.0)
				check(t, "a quota", int64(a.Limit.QuotaMax), int64(20))
				check(t, "b rate", b.Limit.Rate, 10.0)
				check(t, "b quota", int64(b.Limit.QuotaMax), int64(10))
				check(t, "key rate", s.Rate, 10.0) // the most generous of both
			},
		},
		{
			// Tyk "MultiACLPolicy": one policy for two APIs shares one counter.
			name: "one policy, two APIs, one counter", policies: []string{"nonpart3"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rights", s.APIIDs(), []string{"a", "b"})
				check(t, "a shared", s.AccessRights["a"].Limit.IsEmpty(), true)
				check(t, "b shared", s.AccessRights["b"].Limit.IsEmpty(), true)
				check(t, "rate", s.Rate, 5.0)
			},
		},
		{
			// Tyk "QuotaPart": a quota partition replaces the key's quota only;
			// its ACL and rate stay.
			name: "quota partition", policies: []string{"quota1"},
			key: session.Session{Rate: 7, Per: 1, QuotaMax: 100, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "quota", int64(s.QuotaMax), int64(2))
				check(t, "rate", s.Rate, 7.0)
				check(t, "rights", len(s.AccessRights), 2)
			},
		},
		{
			// Tyk "QuotaParts": the bigger quota wins.
			name: "two quota partitions", policies: []string{"quota1", "quota2"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) { check(t, "quota", int64(s.QuotaMax), int64(3)) },
		},
		{
			// Tyk "QuotaPart with unlimited": -1 beats any number.
			name: "unlimited quota wins", policies: []string{"quota-a", "unlimited", "acl-a"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) { check(t, "quota", int64(s.QuotaMax), int64(-1)) },
		},
		{
			// Tyk "RateParts" since 5.4: the shortest interval wins (3/1s beats
			// 4/4s), not max rate and max per combined (which would be 4/4s... or
			// 4 per 4 mixed as 4/1s before 5.4).
			name: "rate partitions: shortest interval", policies: []string{"rate4per4", "rate3"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rate", s.Rate, 3.0)
				check(t, "per", s.Per, 1.0)
			},
		},
		{
			// Tyk "AclPart" x2: access rights unioned, versions and allowed_urls
			// merged per expression.
			name: "acl partitions merge", policies: []string{"acl-a", "acl-a2", "acl-b"}, key: session.Session{Rate: 2, Per: 1, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rights", s.APIIDs(), []string{"a", "b"})
				a := s.AccessRights["a"]
				check(t, "versions", a.Versions, []string{"v1", "v2"})
				check(t, "urls", a.AllowedURLs, []session.AccessSpec{{URL: "/user", Methods: []string{"GET", "POST"}}, {URL: "/companies", Methods: []string{"GET"}}})
				// The key's own rate applies: no policy supplied one.
				check(t, "rate", s.Rate, 2.0)
			},
		},
		{
			// Differs from Tyk on purpose: a rate partition for API a never drops
			// the allowed_urls another policy set for it.
			name: "rate partition keeps another policy's ACL", policies: []string{"acl-a", "rate-a"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "urls", s.AccessRights["a"].AllowedURLs, []session.AccessSpec{{URL: "/user", Methods: []string{"GET"}}})
				check(t, "rate", s.Rate, 4.0)
			},
		},
		{
			// Tyk "QuotaPart with access rights in multi-policy": a quota partition
			// does not grant its APIs.
			name: "quota partition grants nothing", policies: []string{"quota-only", "acl-b"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "rights", s.APIIDs(), []string{"b"})
				check(t, "quota", int64(s.QuotaMax), int64(7))
			},
		},
		{
			// Tyk "throttle1": throttle settings come with the rate part.
			name: "throttle", policies: []string{"throttle"}, key: session.Session{ThrottleInterval: 1, ThrottleRetryLimit: 1, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "interval", s.ThrottleInterval, 9.0)
				check(t, "retries", int64(s.ThrottleRetryLimit), int64(99))
			},
		},
		{
			// Tyk "per_api_with_limit_set_from_policy": an API with its own limit
			// keeps it (scope: the API); one without takes the policy's (scope:
			// the policy).
			name: "per_api", policies: []string{"per-api"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				d, e := s.AccessRights["d"], s.AccessRights["e"]
				check(t, "d", d.Limit, session.APILimit{Rate: 200, Per: 10, QuotaMax: 5000, QuotaRenewalRate: 3600})
				check(t, "d scope", d.AllowanceScope, "d")
				check(t, "e", e.Limit, session.APILimit{Rate: 300, Per: 1, QuotaMax: -1})
				check(t, "e scope", e.AllowanceScope, "per-api")
			},
		},
		{
			// Tyk "per_api_with_higher_rate_on_api_d": two per_api policies on one
			// API: the more generous rate and the larger quota.
			name: "per_api merged", policies: []string{"per-api", "per-api-d"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				d := s.AccessRights["d"].Limit
				// 200 per 10 s (20/s) is more generous than 400 per 25 s (16/s).
				check(t, "rate", d.Rate, 200.0)
				check(t, "per", d.Per, 10.0)
				check(t, "quota", int64(d.QuotaMax), int64(6000))
				check(t, "renewal", int64(d.QuotaRenewalRate), int64(3600))
			},
		},
		{
			// Tyk "api_d_get_endpoint_rl_1/2_configure_on_non_partitioned_policy":
			// endpoint limits merge, the more generous per endpoint winning.
			name: "endpoint limits merged", policies: []string{"ep-a1", "ep-a2"}, key: session.Session{AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				eps := s.AccessRights["a"].Endpoints
				if len(eps) != 2 || eps[0].Path != "/get" || eps[0].Methods[0].Limit.Rate != 20 || eps[1].Path != "/post" {
					t.Errorf("endpoints = %+v", eps)
				}
			},
		},
		{
			// Tyk "TagMerge", meta_data merge and "InactiveMergeOne".
			name: "tags, meta_data, inactive", policies: []string{"tags1", "tags2", "inactive"},
			key: session.Session{Tags: []string{"key-tag"}, MetaData: map[string]any{"own": true}, AccessRights: keyRights},
			want: func(t *testing.T, s *session.Session) {
				check(t, "tags", s.Tags, []string{"key-tag", "tagA", "tagX"})
				check(t, "meta", s.MetaData, map[string]any{"own": true, "plan": "pro", "x": 1.0})
				check(t, "inactive", s.IsInactive, true)
			},
		},
		{
			// Tyk "MixedPartitionAndPerAPI": refused.
			name: "per_api mixed with partitions", policies: []string{"per-api", "quota1"}, key: session.Session{AccessRights: keyRights},
			refused: "cannot be applied together",
		},
		{
			// Tyk "difforg": another organisation's policy is refused.
			name: "other organisation", policies: []string{"difforg"}, key: session.Session{AccessRights: keyRights},
			refused: "does not exist",
		},
		{
			// Tyk refuses a lone missing policy; Tollgate refuses any missing one.
			name: "missing among several", policies: []string{"nonpart1", "gone"}, key: session.Session{AccessRights: keyRights},
			refused: "policy gone does not exist",
		},
		{name: "draft", policies: []string{"draft"}, key: session.Session{AccessRights: keyRights}, refused: "is a draft"},
		{name: "deny", policies: []string{"deny"}, key: session.Session{AccessRights: keyRights}, refused: "denies access"},
		{
			// Never a master key by way of policies.
			name: "no access rights at all", policies: []string{"quota1"}, key: session.Session{},
			refused: "no access rights",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			key.OrgID = org
			key.ApplyPolicies = tc.policies
			key.ApplyPolicyID = tc.legacy
			before := cmp.Diff(key, tc.key) // the key must not be modified
			got, err := Apply(&key, lookup)
			if tc.refused != "" {
				f, ok := fault.As(err)
				if !ok || f.Kind != fault.Forbidden || !contains(f.Reason, tc.refused) {
					t.Fatalf("err = %v, want a Forbidden fault with %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if after := cmp.Diff(key, tc.key); after != before {
				t.Errorf("Apply modified its input: %s", after)
			}
			tc.want(t, got)
		})
	}
}

func TestApplyDoesNotWriteIntoPolicies(t *testing.T) {
	key := session.Session{OrgID: org, ApplyPolicies: []string{"acl-a", "acl-a2"}}
	before := cmp.Diff(testPolicies["acl-a"].AccessRights, map[string]session.AccessDefinition{})
	if _, err := Apply(&key, lookup); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(&key, lookup); err != nil {
		t.Fatal(err)
	}
	if after := cmp.Diff(testPolicies["acl-a"].AccessRights, map[string]session.AccessDefinition{}); after != before {
		t.Fatalf("policy changed by Apply: %s", after)
	}
}

func TestValidate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name, body, field string
	}{
		{"ok", `{"name":"free","rate":10,"per":1,"quota_max":1000,"quota_renewal_rate":3600,"access_rights":{"a":{"versions":["Default"]}}}`, ""},
		{"tyk example", `{"name":"Sample policy","active":true,"key_expires_in":2.592e+06,"max_query_depth":-1,"partitions":{"acl":true,"quota":true,"rate_limit":true},"per":60,"rate":1000,"quota_max":10000,"quota_renewal_rate":3600,"tags":["security"],"meta_data":{"user_type":"mobile_user"}}`, ""},
		{"no name", `{"rate":1,"per":1}`, "name"},
		{"bad id", `{"id":"a b","name":"x"}`, "id"},
		{"bad _id", `{"_id":"xyz","name":"x"}`, "_id"},
		{"bad state", `{"name":"x","state":"on"}`, "state"},
		{"negative expiry", `{"name":"x","key_expires_in":-5}`, "key_expires_in"},
		{"per_api with partitions", `{"name":"x","partitions":{"per_api":true,"quota":true}}`, "partitions"},
		{"rate without per", `{"name":"x","rate":5}`, "per"},
		{"bad per-API limit", `{"name":"x","access_rights":{"a":{"limit":{"rate":5,"per":-3}}}}`, "access_rights.a.limit.per"},
		{"wrong type", `{"name":"x","rate":"fast"}`, "rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode([]byte(tc.body))
			if err == nil {
				err = p.Validate(now)
			}
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			f, ok := fault.As(err)
			if !ok || f.Kind != fault.Invalid || f.Field != tc.field {
				t.Fatalf("err = %v (%+v), want Invalid on %s", err, f, tc.field)
			}
		})
	}
}

func TestNormaliseAndRoundTrip(t *testing.T) {
	p, err := Decode([]byte(`{"name":"x","active":false,"custom":{"kept":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	p.Normalise(time.Unix(5, 0))
	check(t, "state", p.State, StateDraft)
	check(t, "active", *p.Active, false)
	b, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "extra", string(q.Extra["custom"]), `{"kept":1}`)
	check(t, "last_updated", string(q.LastUpdated), "5")

	p2, _ := Decode([]byte(`{"name":"y"}`))
	p2.Normalise(time.Unix(5, 0))
	check(t, "default state", p2.State, StateActive)
	p3, _ := Decode([]byte(`{"name":"y","active":false,"state":"active"}`))
	p3.Normalise(time.Unix(5, 0))
	check(t, "state wins", *p3.Active, true)
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
