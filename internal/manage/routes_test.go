package manage

import "testing"

func TestCapturesForeign(t *testing.T) {
	b := func(domain, path string) routeEntry { return routeEntry{domain: domain, path: path, org: "B"} }
	a := func(domain, path string) routeEntry { return routeEntry{domain: domain, path: path, org: "A"} }
	tests := []struct {
		name     string
		existing []routeEntry
		add      routeEntry
		want     bool
	}{
		{"empty table", nil, a("", "/a"), false},
		{"disjoint paths", []routeEntry{b("", "/b-api")}, a("", "/a-api"), false},
		{"path below another org's", []routeEntry{b("", "/b-api")}, a("", "/b-api/sub"), true},
		{"below another org's catch-all", []routeEntry{b("", "/")}, a("", "/anything"), true},
		{"below own API", []routeEntry{a("", "/a-api")}, a("", "/a-api/sub"), false},
		{"own API nearer than the other org's", []routeEntry{b("", "/x"), a("", "/x/a")}, a("", "/x/a/sub"), false},
		{"other org nearer than own", []routeEntry{a("", "/x"), b("", "/x/b")}, a("", "/x/b/sub"), true},
		{"above another org's path", []routeEntry{b("", "/b-api/sub")}, a("", "/b-api"), false},
		{"prefix that is not a segment", []routeEntry{b("", "/b")}, a("", "/bb"), false},
		{"exact path bound to a domain", []routeEntry{b("", "/b-api")}, a("127.0.0.1", "/b-api"), true},
		{"domain root above another org's path", []routeEntry{b("", "/b-api")}, a("gw.example", "/"), true},
		{"domain root, other org shadowed by own bound route", []routeEntry{b("", "/b-api"), a("gw.example", "/b-api")}, a("gw.example", "/"), false},
		{"domain path below a bound route of the other org", []routeEntry{b("gw.example", "/")}, a("gw.example", "/x"), true},
		{"domain path below own bound route, other org unbound above", []routeEntry{b("", "/"), a("gw.example", "/")}, a("gw.example", "/x"), false},
		{"other domain", []routeEntry{b("gw.example", "/")}, a("other.example", "/"), false},
		{"unbound path does not take bound traffic", []routeEntry{b("gw.example", "/b")}, a("", "/b"), false},
		{"domain below own unbound ancestor", []routeEntry{a("", "/x")}, a("gw.example", "/x/y"), false},
		{"domain below other's unbound ancestor", []routeEntry{b("", "/x")}, a("gw.example", "/x/y"), true},
		{"domain, own unbound ancestor nearer than other's", []routeEntry{b("", "/x"), a("", "/x/y")}, a("gw.example", "/x/y/z"), false},
		{"domain, unrelated unbound path", []routeEntry{b("", "/other")}, a("gw.example", "/x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capturesForeign(tt.existing, tt.add); got != tt.want {
				t.Errorf("capturesForeign(%v, %v) = %v, want %v", tt.existing, tt.add, got, tt.want)
			}
		})
	}
}

func TestSplitRouteKey(t *testing.T) {
	for rk, want := range map[string][2]string{
		"/":                {"", "/"},
		"/a/b":             {"", "/a/b"},
		"gw.example/a":     {"gw.example", "/a"},
		"gw.example:8080/": {"gw.example:8080", "/"},
	} {
		d, p := splitRouteKey(rk)
		if d != want[0] || p != want[1] {
			t.Errorf("splitRouteKey(%q) = %q, %q; want %q, %q", rk, d, p, want[0], want[1])
		}
	}
}
