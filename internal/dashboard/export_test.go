package dashboard

import (
	"net/http"
	"net/netip"
)

// This file lends the external tests (package dashboard_test, which build the
// dashboard through apptest like `tollgate serve` does) the internals they check
// directly.

// SecretFailures is how many wrong access keys an address may send per window.
const SecretFailures = secretFailures

// NoPermissionPage is the web UI's refusal text.
const NoPermissionPage = noPermissionPage

// SafeNext is the login page's guard on its redirect target.
var SafeNext = safeNext

// InFormWords rewords a service's reason about an API field for the API form.
var InFormWords = inFormWords

// HTTPS reports whether the dashboard, trusting these proxies, treats r as HTTPS.
func HTTPS(trusted []netip.Prefix, r *http.Request) bool {
	return (&Server{opts: Options{TrustedProxies: trusted}}).https(r)
}

// Page is one web UI page as its route table declares it.
type Page struct {
	Pattern string
	// Section and Write are the permission the page needs; OwnAccount marks the
	// user pages whose rules the accounts service applies per user.
	Section           string
	Write, OwnAccount bool
	Declared          bool
}

// Pages lists s's web UI page table.
func Pages(s *Server) []Page {
	var out []Page
	for _, p := range s.ui.pageRoutes() {
		out = append(out, Page{Pattern: p.pattern, Section: p.need.section, Write: p.need.write,
			OwnAccount: p.need == ownAccount, Declared: p.need != (need{})})
	}
	return out
}

// Routes lists s's Dashboard and Admin API patterns ("GET /api/keys/{id}").
func Routes(s *Server) []string { return s.routes }
