package manage

import "strings"

// routeEntry is one stored API's place in the routing table: its domain ("" for an
// API that serves every host), its normalised listen path and its organisation.
type routeEntry struct {
	domain, path, org string
}

// splitRouteKey undoes apidef's RouteKey (domain + normalised listen path, which
// always starts with '/').
func splitRouteKey(rk string) (domain, path string) {
	i := strings.IndexByte(rk, '/')
	if i < 0 {
		return rk, "/"
	}
	return rk[:i], rk[i:]
}

// under reports whether listen path p is the listen path a or lies below it on a
// segment boundary, which is how the gateway matches request paths.
func under(p, a string) bool {
	return p == a || a == "/" || (strings.HasPrefix(p, a) && p[len(a)] == '/')
}

// capturesForeign reports whether adding route n to the table routes to n any request
// that, before, reached an API of another organisation than n.org. It mirrors the
// gateway's lookup (gateway.snapshot.lookup): routes bound to the request's host win
// whenever one of them matches; otherwise the longest unbound listen-path prefix does.
//
// Inactive APIs count as if served: they will be once switched on, and letting
// another organisation take their traffic meanwhile would make switching them back
// on a hijack in the other direction.
func capturesForeign(routes []routeEntry, n routeEntry) bool {
	// The longest route of the same binding at or above n's path owned, before,
	// every request below n's path that no longer route claims.
	var owner *routeEntry
	for i := range routes {
		r := &routes[i]
		if r.domain == n.domain && under(n.path, r.path) && (owner == nil || len(r.path) > len(owner.path)) {
			owner = r
		}
	}
	if owner != nil {
		return owner.org != n.org
	}
	if n.domain == "" {
		return false // nothing unbound matched n's requests: they were 404s.
	}
	// A route bound to a domain with no bound ancestor takes requests for that host
	// that fell through to unbound routes: those at or above n's path, and those
	// below it that no bound route of that host shadows.
	for i := range routes {
		r := &routes[i]
		if r.domain != "" || r.org == n.org {
			continue
		}
		if under(n.path, r.path) {
			// An unbound ancestor: the longest such one owned n's own path. A
			// shorter one is shadowed by a longer one of the same branch only if
			// that one is n's organisation's; check the longest.
			if longestUnboundAbove(routes, n.path).org != n.org {
				return true
			}
			continue
		}
		if under(r.path, n.path) && !shadowed(routes, n.domain, r.path) {
			return true
		}
	}
	return false
}

// longestUnboundAbove returns the longest unbound route at or above path; callers
// know one exists.
func longestUnboundAbove(routes []routeEntry, path string) routeEntry {
	var best routeEntry
	found := false
	for _, r := range routes {
		if r.domain == "" && under(path, r.path) && (!found || len(r.path) > len(best.path)) {
			best, found = r, true
		}
	}
	return best
}

// shadowed reports whether a route bound to domain sits at or above path, so that
// requests for that host below path never reached an unbound route there.
func shadowed(routes []routeEntry, domain, path string) bool {
	for _, r := range routes {
		if r.domain == domain && under(path, r.path) {
			return true
		}
	}
	return false
}
