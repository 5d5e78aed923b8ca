package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/internal/session"
)

func TestSources(t *testing.T) {
	own := map[string]session.AccessDefinition{"a": right("v1"), "c": right("v1")}
	ownLimited := map[string]session.AccessDefinition{"c": {Versions: []string{"v1"}, Limit: session.APILimit{Rate: 7, Per: 1}}}
	tests := []struct {
		name     string
		policies []string
		key      session.Session
		want     Origins
	}{
		{
			name: "no policies: everything is the key's",
			key:  session.Session{Rate: 1, Per: 2, QuotaMax: 5, AccessRights: own},
			want: Origins{APIs: map[string]APIOrigins{"a": {}, "c": {}}},
		},
		{
			name: "a policy without partitions supplies everything", policies: []string{"nonpart1"},
			key: session.Session{Rate: 1000, Per: 1, QuotaMax: 99999, AccessRights: own},
			want: Origins{Rate: "nonpart1", Quota: "nonpart1", Throttle: "nonpart1", APIs: map[string]APIOrigins{
				"a": {Rights: []string{"nonpart1"}, Rate: "nonpart1", Quota: "nonpart1", Throttle: "nonpart1"},
			}},
		},
		{
			name: "a rate partition: the rate is the policy's, the rest the key's", policies: []string{"rate3"},
			key: session.Session{Rate: 1000, Per: 1, QuotaMax: 50, AccessRights: own},
			want: Origins{Rate: "rate3", Throttle: "rate3", APIs: map[string]APIOrigins{
				"a": {Rate: "rate3", Throttle: "rate3"}, "c": {Rate: "rate3", Throttle: "rate3"},
			}},
		},
		{
			name: "the key's own per-API limit stays the key's", policies: []string{"rate3"},
			key:  session.Session{Rate: 1000, Per: 1, AccessRights: ownLimited},
			want: Origins{Rate: "rate3", Throttle: "rate3", APIs: map[string]APIOrigins{"c": {}}},
		},
		{
			name: "ACL, rate and quota from three partitioned policies", policies: []string{"acl-a", "rate3", "quota1"},
			key: session.Session{Rate: 1000, Per: 1, QuotaMax: 50, AccessRights: own},
			want: Origins{Rate: "rate3", Quota: "quota1", Throttle: "rate3", APIs: map[string]APIOrigins{
				"a": {Rights: []string{"acl-a"}, Rate: "rate3", Quota: "quota1", Throttle: "rate3"},
			}},
		},
		{
			name: "two policies: each API's limits from its policy, the key's from the most generous", policies: []string{"nonpart1", "nonpart2"},
			key: session.Session{AccessRights: own},
			want: Origins{Rate: "nonpart2", Quota: "nonpart1", Throttle: "nonpart1", APIs: map[string]APIOrigins{
				"a": {Rights: []string{"nonpart1"}, Rate: "nonpart1", Quota: "nonpart1", Throttle: "nonpart1"},
				"b": {Rights: []string{"nonpart2"}, Rate: "nonpart2", Quota: "nonpart2", Throttle: "nonpart2"},
			}},
		},
		{
			name: "two policies granting one API both name it", policies: []string{"acl-a", "acl-a2"},
			key:  session.Session{Rate: 9, Per: 1, AccessRights: own},
			want: Origins{APIs: map[string]APIOrigins{"a": {Rights: []string{"acl-a", "acl-a2"}}}},
		},
		{
			name: "throttle", policies: []string{"throttle"},
			key: session.Session{AccessRights: own},
			want: Origins{Rate: "throttle", Quota: "throttle", Throttle: "throttle", APIs: map[string]APIOrigins{
				"a": {Rights: []string{"throttle"}, Rate: "throttle", Quota: "throttle", Throttle: "throttle"},
			}},
		},
		{
			name: "per_api: each API's limits from the per_api policies", policies: []string{"per-api", "per-api-d"},
			key: session.Session{AccessRights: own},
			want: Origins{APIs: map[string]APIOrigins{
				"d": {Rights: []string{"per-api", "per-api-d"}, Rate: "per-api", Quota: "per-api-d", Throttle: "per-api"},
				"e": {Rights: []string{"per-api"}, Rate: "per-api", Quota: "per-api", Throttle: "per-api"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			key.OrgID, key.ApplyPolicies = org, tt.policies
			eff, err := Apply(&key, lookup)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, Sources(&key, eff, lookup)); diff != "" {
				t.Errorf("origins (-want +got):\n%s\neffective: %+v", diff, eff)
			}
		})
	}
}
