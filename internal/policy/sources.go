package policy

import (
	"cmp"

	"github.com/tollgate/tollgate/internal/session"
)

// Origins says where each limit of a key's effective session comes from, for
// people reading the key (the dashboard's key page): each field is the id of the
// policy that set the part, or "" for the key's own value.
type Origins struct {
	Rate, Quota, Throttle string
	// APIs has an entry for every API of the effective access rights.
	APIs map[string]APIOrigins
}

// APIOrigins says where one API's access right and limits come from.
type APIOrigins struct {
	// Rights are the policies that grant the API, in the key's order; none means
	// the access right is the key's own.
	Rights                []string
	Rate, Quota, Throttle string
}

// Sources explains effective, the session Apply returned for s: which policy
// (or the key) set its rate, quota and throttle, and each API's. It reads the
// result rather than re-running the merge, so Apply stays the one place the
// rules live: a part comes from the first policy that supplies it (by its
// partitions) with the value the result holds; a part that some policy supplies
// with no matching value (a policy that cleared the key's value) is that
// policy's; a part no policy supplies is the key's.
func Sources(s, effective *session.Session, lookup Lookup) Origins {
	var pols []*Policy
	for _, id := range IDs(s) {
		if p, ok := lookup(id); ok {
			pols = append(pols, p)
		}
	}
	o := Origins{APIs: map[string]APIOrigins{}}
	// The key-level parts: a partitioned policy supplies them directly; a per_api
	// policy only through Tyk's one-API rule (its API's limits become the key's).
	rootLimit := func(p *Policy) []session.APILimit {
		if p.Partitions.PerAPI {
			var out []session.APILimit
			for _, api := range p.APIIDs() {
				out = append(out, p.apiLimit(api))
			}
			return out
		}
		return []session.APILimit{p.limit()}
	}
	eff := session.APILimit{Rate: effective.Rate, Per: effective.Per, ThrottleInterval: effective.ThrottleInterval,
		ThrottleRetryLimit: effective.ThrottleRetryLimit, QuotaMax: effective.QuotaMax, QuotaRenewalRate: effective.QuotaRenewalRate}
	rootSupplies := func(part func(Partitions) bool) func(*Policy) bool {
		return func(p *Policy) bool {
			if p.Partitions.PerAPI {
				return len(effective.AccessRights) == 1
			}
			return !p.Partitions.Enabled() || part(p.Partitions)
		}
	}
	o.Rate = origin(pols, rootSupplies(ratePart), rootLimit, eff, sameRate)
	o.Quota = origin(pols, rootSupplies(quotaPart), rootLimit, eff, sameQuota)
	o.Throttle = origin(pols, rootSupplies(ratePart), rootLimit, eff, sameThrottle)

	for api, ad := range effective.AccessRights {
		var ao APIOrigins
		for _, p := range pols {
			if _, ok := p.AccessRights[api]; ok && (p.Partitions.PerAPI || !p.Partitions.Enabled() || p.Partitions.ACL) {
				ao.Rights = append(ao.Rights, p.ID)
			}
		}
		switch {
		case ad.Limit.IsEmpty():
			// Counted with the key-level limits.
			ao.Rate, ao.Quota, ao.Throttle = o.Rate, o.Quota, o.Throttle
		case len(ao.Rights) == 0:
			// No policy granted it: the whole access right is the key's, its
			// own limits included.
		default:
			supplies := func(part func(Partitions) bool) func(*Policy) bool {
				return func(p *Policy) bool {
					if _, ok := p.AccessRights[api]; !ok {
						return false
					}
					return p.Partitions.PerAPI || !p.Partitions.Enabled() || part(p.Partitions)
				}
			}
			apiLimit := func(p *Policy) []session.APILimit {
				if p.Partitions.PerAPI {
					return []session.APILimit{p.apiLimit(api)}
				}
				return []session.APILimit{p.limit()}
			}
			// A part no policy supplies for this API is the key's own value,
			// copied in: it comes from where the key's value does.
			ao.Rate = cmp.Or(origin(pols, supplies(ratePart), apiLimit, ad.Limit, sameRate), o.Rate)
			ao.Quota = cmp.Or(origin(pols, supplies(quotaPart), apiLimit, ad.Limit, sameQuota), o.Quota)
			ao.Throttle = cmp.Or(origin(pols, supplies(ratePart), apiLimit, ad.Limit, sameThrottle), o.Throttle)
		}
		o.APIs[api] = ao
	}
	return o
}

func ratePart(p Partitions) bool  { return p.RateLimit }
func quotaPart(p Partitions) bool { return p.Quota }

func sameRate(a, b session.APILimit) bool  { return a.Rate == b.Rate && a.Per == b.Per }
func sameQuota(a, b session.APILimit) bool { return a.QuotaMax == b.QuotaMax }
func sameThrottle(a, b session.APILimit) bool {
	return a.ThrottleInterval == b.ThrottleInterval && a.ThrottleRetryLimit == b.ThrottleRetryLimit
}

// origin is the first policy that supplies a part with the value want holds, or
// failing that the first that supplies it at all; "" when none does.
func origin(pols []*Policy, supplies func(*Policy) bool, limits func(*Policy) []session.APILimit, want session.APILimit, same func(a, b session.APILimit) bool) string {
	first := ""
	for _, p := range pols {
		if !supplies(p) {
			continue
		}
		for _, l := range limits(p) {
			if same(l, want) {
				return p.ID
			}
		}
		if first == "" {
			first = p.ID
		}
	}
	return first
}

// apiLimit is what a per_api policy gives one of its APIs: the API's own limit,
// or the policy's when the API sets none.
func (p *Policy) apiLimit(api string) session.APILimit {
	if l := p.AccessRights[api].Limit; !l.IsEmpty() {
		return l
	}
	return p.limit()
}
