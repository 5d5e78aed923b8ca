package policy

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/session"
)

// IDs returns the policies a session applies, in order: apply_policies, or the
// legacy apply_policy_id when that list is empty (as Tyk reads them). Repeats
// are dropped: applying a policy twice changes nothing.
func IDs(s *session.Session) []string {
	ids := s.ApplyPolicies
	if len(ids) == 0 && s.ApplyPolicyID != "" {
		ids = []string{s.ApplyPolicyID}
	}
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Lookup finds a policy by the id a key names; ok is false when there is none.
type Lookup func(id string) (p *Policy, ok bool)

// refused is why a key cannot apply its policies: the key is refused (a limit
// that cannot be applied is never dropped).
func refused(format string, args ...any) error {
	return fault.Newf(fault.Forbidden, format, args...)
}

// Check reports whether a key of organisation org may apply the policy ids:
// each must exist, belong to org and be in force, and they must not mix per_api
// with partitioned policies. The error is a fault.Forbidden naming the policy.
func Check(org string, ids []string, lookup Lookup) ([]*Policy, error) {
	pols := make([]*Policy, 0, len(ids))
	var perAPI, partitioned string
	for _, id := range ids {
		p, ok := lookup(id)
		// Another organisation's policy is reported as missing: its id says
		// nothing to this organisation.
		if !ok || p.OrgID != org {
			return nil, refused("Key has an invalid policy: policy %s does not exist", id)
		}
		switch {
		case p.State == StateDraft:
			return nil, refused("Key has an invalid policy: policy %s is a draft", id)
		case p.State == StateDeny:
			return nil, refused("Key has an invalid policy: policy %s denies access", id)
		}
		switch {
		case p.Partitions.PerAPI && p.Partitions.Enabled():
			return nil, refused("Key has an invalid policy: policy %s sets per_api and other partitions", id)
		case p.Partitions.PerAPI:
			perAPI = id
		case p.Partitions.Enabled():
			partitioned = id
		}
		if perAPI != "" && partitioned != "" {
			return nil, refused("Key has invalid policies: %s sets per_api and %s is partitioned; they cannot be applied together", perAPI, partitioned)
		}
		pols = append(pols, p)
	}
	return pols, nil
}

// applied records, per API, which parts the policies supplied and which policy
// supplied its access rights.
type applied struct {
	acl, quota, rate, complexity bool
	setBy                        string
}

// merger merges policies into one session.
type merger struct {
	out    *session.Session
	rights map[string]session.AccessDefinition
	did    map[string]*applied
}

func (m *merger) mark(api string) *applied {
	a := m.did[api]
	if a == nil {
		a = &applied{}
		m.did[api] = a
	}
	return a
}

// Apply returns the session a key enforces: s merged with the policies it names
// (IDs), by Tyk's rules. s is not modified. A key that names no policy is
// returned as it is. A key whose policies cannot be applied (Check), or that is
// left with no access rights, is refused: the error is a fault.Forbidden.
//
// The rules, as Tyk's gateway applies them (internal/policy/apply.go):
//   - A policy without partitions supplies access rights, rate limit, quota and
//     complexity; partitions limit it to the parts they name. The parts a
//     policy supplies replace the key's own.
//   - Several policies: access rights are unioned (versions and allowed_urls
//     too); per API, the most generous rate (shortest interval between
//     requests), the largest quota and renewal period, and the largest throttle
//     settings win, -1 (unlimited) beating any number.
//   - per_api policies give each of their APIs its own limits (the policy's when
//     the API sets none), counted per API, or per policy for the policy's own
//     limits; they cannot be mixed with partitioned policies.
//   - Tags are unioned, meta_data merged (later policies win), and the key is
//     inactive when any policy is.
//
// Where Tollgate differs on purpose (docs/tyk-differences.md): a policy that
// supplies no access rights never replaces another policy's for an API (Tyk's
// quota or rate partition can drop allowed_urls another policy set), and a
// missing policy refuses the key even among several (Tyk skips it, changing the
// key's limits without a word).
func Apply(s *session.Session, lookup Lookup) (*session.Session, error) {
	ids := IDs(s)
	out := *s
	if len(ids) == 0 {
		return &out, nil
	}
	pols, err := Check(s.OrgID, ids, lookup)
	if err != nil {
		return nil, err
	}
	out.AccessRights = maps.Clone(s.AccessRights)
	out.MetaData = maps.Clone(s.MetaData)
	if out.MetaData == nil {
		out.MetaData = map[string]any{}
	}
	clearSupplied(&out, pols)
	m := &merger{out: &out, rights: map[string]session.AccessDefinition{}, did: map[string]*applied{}}
	tags := slices.Clone(s.Tags)
	for _, p := range pols {
		if p.Partitions.PerAPI {
			m.perAPI(p)
		} else {
			m.partitioned(p)
		}
		out.IsInactive = out.IsInactive || p.IsInactive
		for _, t := range p.Tags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		maps.Copy(out.MetaData, p.MetaData)
	}
	out.Tags = tags
	m.finish()
	if len(out.AccessRights) == 0 {
		return nil, refused("Key has no access rights: its policies grant none")
	}
	return &out, nil
}

// clearSupplied zeroes the key's own values for every part a policy supplies, so
// that the policy's values apply rather than compete with the key's.
func clearSupplied(s *session.Session, pols []*Policy) {
	for _, p := range pols {
		all := !p.Partitions.Enabled()
		if all || p.Partitions.Quota {
			s.QuotaMax, s.QuotaRemaining, s.QuotaRenewalRate = 0, 0, 0
		}
		if all || p.Partitions.RateLimit {
			s.Rate, s.Per, s.ThrottleInterval, s.ThrottleRetryLimit, s.Smoothing = 0, 0, 0, 0, nil
		}
		if all || p.Partitions.Complexity {
			s.MaxQueryDepth = 0
		}
	}
}

// limit is the policy's own limits as a per-API limit.
func (p *Policy) limit() session.APILimit {
	return session.APILimit{
		Rate: p.Rate, Per: p.Per, ThrottleInterval: p.ThrottleInterval, ThrottleRetryLimit: p.ThrottleRetryLimit,
		MaxQueryDepth: p.MaxQueryDepth, QuotaMax: p.QuotaMax, QuotaRenewalRate: p.QuotaRenewalRate,
	}
}

// perAPI applies a per_api policy: each of its APIs gets its own limits.
func (m *merger) perAPI(p *Policy) {
	for _, api := range p.APIIDs() {
		ad := cloneRight(p.AccessRights[api])
		scope := api
		if ad.Limit.IsEmpty() {
			// The policy's own limits, counted once for the policy.
			scope = p.ID
			ad.Limit = p.limit()
		}
		ad.AllowanceScope = scope
		if cur, ok := m.rights[api]; ok {
			ad.Limit = widest(ad.Limit, cur.Limit)
			ad.Endpoints = session.MergeEndpoints(ad.Endpoints, cur.Endpoints)
		}
		m.rights[api] = ad
		a := m.mark(api)
		a.acl, a.quota, a.rate, a.complexity, a.setBy = true, true, true, true, scope
	}
}

// widest merges two per-API limits: the more generous rate, the larger quota and
// renewal period (an unlimited quota renews never).
func widest(a, b session.APILimit) session.APILimit {
	if wider(b.Rate, b.Per, a.Rate, a.Per) {
		a.Rate, a.Per = b.Rate, b.Per
	}
	if greater(int64(b.QuotaMax), int64(a.QuotaMax)) {
		a.QuotaMax = b.QuotaMax
	}
	if b.QuotaRenewalRate > a.QuotaRenewalRate {
		a.QuotaRenewalRate = b.QuotaRenewalRate
	}
	if a.QuotaMax == -1 {
		a.QuotaRenewalRate = 0
	}
	a.ThrottleInterval = max(a.ThrottleInterval, b.ThrottleInterval)
	a.ThrottleRetryLimit = max(a.ThrottleRetryLimit, b.ThrottleRetryLimit)
	return a
}

// partitioned applies a policy with partitions, or without any (all parts).
func (m *merger) partitioned(p *Policy) {
	all := !p.Partitions.Enabled()
	out := m.out
	for _, api := range p.APIIDs() {
		v := p.AccessRights[api]
		ar, seen := m.rights[api]
		if !seen {
			ar = cloneRight(v)
		}
		a := m.mark(api)
		if all || p.Partitions.ACL {
			if seen && a.acl {
				ar.Versions = union(ar.Versions, v.Versions)
				ar.AllowedURLs = unionURLs(ar.AllowedURLs, v.AllowedURLs)
			} else {
				// The first policy to supply this API's access rights sets them;
				// limits other policies set for it stay.
				lim := ar.Limit
				ar = cloneRight(v)
				if seen {
					ar.Limit = lim
				}
			}
			a.acl = true
			a.setBy = p.ID
		}
		if all || p.Partitions.Quota {
			a.quota = true
			if greater(int64(p.QuotaMax), int64(ar.Limit.QuotaMax)) {
				ar.Limit.QuotaMax = p.QuotaMax
			}
			if greater(int64(p.QuotaMax), int64(out.QuotaMax)) {
				out.QuotaMax = p.QuotaMax
			}
			ar.Limit.QuotaRenewalRate = max(ar.Limit.QuotaRenewalRate, p.QuotaRenewalRate)
			out.QuotaRenewalRate = max(out.QuotaRenewalRate, p.QuotaRenewalRate)
		}
		if all || p.Partitions.RateLimit {
			if seen && a.rate {
				// Endpoint limits come with the rate part: where two policies
				// limit one endpoint, the more generous wins.
				ar.Endpoints = session.MergeEndpoints(ar.Endpoints, v.Endpoints)
			} else if seen {
				ar.Endpoints = slices.Clone(v.Endpoints)
			}
			a.rate = true
			if p.Rate != 0 && p.Per != 0 {
				if emptyRate(ar.Limit.Rate, ar.Limit.Per) || wider(p.Rate, p.Per, ar.Limit.Rate, ar.Limit.Per) {
					ar.Limit.Rate, ar.Limit.Per = p.Rate, p.Per
				}
				if emptyRate(out.Rate, out.Per) || wider(p.Rate, p.Per, out.Rate, out.Per) {
					out.Rate, out.Per = p.Rate, p.Per
				}
			}
			ar.Limit.ThrottleRetryLimit = max(ar.Limit.ThrottleRetryLimit, p.ThrottleRetryLimit)
			out.ThrottleRetryLimit = max(out.ThrottleRetryLimit, p.ThrottleRetryLimit)
			ar.Limit.ThrottleInterval = max(ar.Limit.ThrottleInterval, p.ThrottleInterval)
			out.ThrottleInterval = max(out.ThrottleInterval, p.ThrottleInterval)
		}
		if all || p.Partitions.Complexity {
			a.complexity = true
			if greater(int64(p.MaxQueryDepth), int64(ar.Limit.MaxQueryDepth)) {
				ar.Limit.MaxQueryDepth = p.MaxQueryDepth
			}
			if greater(int64(p.MaxQueryDepth), int64(out.MaxQueryDepth)) {
				out.MaxQueryDepth = p.MaxQueryDepth
			}
		}
		m.rights[api] = ar
	}
	if len(p.AccessRights) == 0 {
		// A policy for no API in particular sets the key's own limits.
		if all || p.Partitions.RateLimit {
			out.Rate, out.Per = p.Rate, p.Per
			out.ThrottleInterval, out.ThrottleRetryLimit = p.ThrottleInterval, p.ThrottleRetryLimit
		}
		if all || p.Partitions.Complexity {
			out.MaxQueryDepth = p.MaxQueryDepth
		}
		if all || p.Partitions.Quota {
			out.QuotaMax, out.QuotaRenewalRate = p.QuotaMax, p.QuotaRenewalRate
		}
	}
}

// finish settles the merged access rights: APIs no policy granted are dropped,
// parts no policy supplied for an API come from the key's own values, and the
// counters are scoped so that one policy's limits are shared by its APIs (as a
// key's own limits are) while several policies' are counted apart.
func (m *merger) finish() {
	out := m.out
	setters := map[string]bool{}
	for _, a := range m.did {
		if a.acl && a.setBy != "" {
			setters[a.setBy] = true
		}
	}
	var granted bool
	for api, v := range m.rights {
		a := m.did[api]
		if !a.acl {
			delete(m.rights, api)
			continue
		}
		granted = true
		if !a.rate {
			v.Limit.Rate, v.Limit.Per = out.Rate, out.Per
			v.Limit.ThrottleInterval, v.Limit.ThrottleRetryLimit = out.ThrottleInterval, out.ThrottleRetryLimit
		}
		if !a.complexity {
			v.Limit.MaxQueryDepth = out.MaxQueryDepth
		}
		if !a.quota {
			v.Limit.QuotaMax, v.Limit.QuotaRenewalRate = out.QuotaMax, out.QuotaRenewalRate
		}
		if v.AllowanceScope == "" && len(setters) > 1 {
			v.AllowanceScope = a.setBy
		}
		m.rights[api] = v
	}
	if !granted {
		// No policy supplied access rights: the key keeps its own.
		return
	}
	// Tyk's legacy rule: with one API, its limits are the key's too.
	if len(m.rights) == 1 {
		for _, v := range m.rights {
			out.Rate, out.Per = v.Limit.Rate, v.Limit.Per
			out.QuotaMax, out.QuotaRenewalRate = v.Limit.QuotaMax, v.Limit.QuotaRenewalRate
			out.MaxQueryDepth = v.Limit.MaxQueryDepth
		}
	}
	root := session.APILimit{Rate: out.Rate, Per: out.Per, ThrottleInterval: out.ThrottleInterval,
		ThrottleRetryLimit: out.ThrottleRetryLimit, MaxQueryDepth: out.MaxQueryDepth,
		QuotaMax: out.QuotaMax, QuotaRenewalRate: out.QuotaRenewalRate}
	for api, v := range m.rights {
		if v.AllowanceScope == "" {
			if sameLimit(v.Limit, root) {
				// Counted once for the key, across its APIs (Tyk's shared
				// session-level counter): the key's own limits.
				v.Limit = session.APILimit{}
			} else {
				v.AllowanceScope = api
			}
			m.rights[api] = v
		}
	}
	out.AccessRights = m.rights
}

// sameLimit compares the parts of two limits that are enforced.
func sameLimit(a, b session.APILimit) bool {
	return a.Rate == b.Rate && a.Per == b.Per && a.QuotaMax == b.QuotaMax && a.QuotaRenewalRate == b.QuotaRenewalRate &&
		a.ThrottleInterval == b.ThrottleInterval && a.ThrottleRetryLimit == b.ThrottleRetryLimit && a.MaxQueryDepth == b.MaxQueryDepth
}

func emptyRate(rate, per float64) bool { return rate == 0 || per == 0 }

// wider reports whether rate a per aPer admits more than rate b per bPer: a
// shorter interval between requests. A negative rate is unlimited and admits
// the most; an empty rate (0) admits nothing extra.
func wider(a, aPer, b, bPer float64) bool {
	switch {
	case emptyRate(a, aPer):
		return false
	case emptyRate(b, bPer):
		return true
	case a < 0:
		return b >= 0
	case b < 0:
		return false
	}
	return aPer/a < bPer/b
}

// greater compares quotas and depths where -1 means unlimited.
func greater(a, b int64) bool {
	switch {
	case a == -1:
		return b != -1
	case b == -1:
		return false
	}
	return a > b
}

// cloneRight copies an access right so that merging never writes into a
// policy's slices.
func cloneRight(ad session.AccessDefinition) session.AccessDefinition {
	ad.Versions = slices.Clone(ad.Versions)
	ad.Endpoints = slices.Clone(ad.Endpoints)
	ad.AllowedURLs = slices.Clone(ad.AllowedURLs)
	for i := range ad.AllowedURLs {
		ad.AllowedURLs[i].Methods = slices.Clone(ad.AllowedURLs[i].Methods)
	}
	return ad
}

func union(a, b []string) []string {
	for _, v := range b {
		if !slices.Contains(a, v) {
			a = append(a, v)
		}
	}
	return a
}

// unionURLs merges allowed_urls: the same expression gets both methods lists.
// Either side without allowed_urls allows every path, and so does the union.
func unionURLs(a, b []session.AccessSpec) []session.AccessSpec {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	for _, u := range b {
		i := slices.IndexFunc(a, func(x session.AccessSpec) bool { return x.URL == u.URL })
		if i < 0 {
			a = append(a, session.AccessSpec{URL: u.URL, Methods: slices.Clone(u.Methods)})
			continue
		}
		a[i].Methods = union(a[i].Methods, u.Methods)
	}
	return a
}

// String names the policy in logs.
func (p *Policy) String() string { return fmt.Sprintf("policy %s (%s)", p.ID, p.Name) }
