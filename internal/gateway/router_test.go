package gateway

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	s := newSnapshot()
	for _, r := range []struct{ host, lp string }{
		{"", "/"}, {"", "/a"}, {"", "/a/b"}, {"", "/ab"}, {"api.example.com", "/a"},
	} {
		s.add(r.host, &route{listenPath: r.lp, apiID: r.host + r.lp})
	}
	tests := []struct{ host, path, want string }{
		{"x", "/a", "/a"},
		{"x", "/a/", "/a"},
		{"x", "/a/c", "/a"},
		{"x", "/a/b", "/a/b"},
		{"x", "/a/b/c/d", "/a/b"},
		{"x", "/abc", "/"},
		{"x", "/ab/c", "/ab"},
		{"x", "/", "/"},
		{"x", "/zzz", "/"},
		{"API.example.com:8080", "/a/b", "api.example.com/a"},
		{"api.example.com", "/q", "/"},
	}
	for _, tt := range tests {
		rt := s.lookup(tt.host, tt.path)
		if rt == nil || rt.apiID != tt.want {
			t.Errorf("lookup(%q, %q) = %v, want %q", tt.host, tt.path, rt, tt.want)
		}
	}
	empty := newSnapshot()
	empty.add("", &route{listenPath: "/only", apiID: "/only"})
	for _, p := range []string{"/", "/onl", "/onlyx", "", "only"} {
		if rt := empty.lookup("h", p); rt != nil {
			t.Errorf("lookup(%q) = %q, want none", p, rt.apiID)
		}
	}
}

func TestHasDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/a/b": false, "/a/../b": true, "/./a": true, "/a/..": true, "/a.b/c": false, "/...": false, "/..a": false,
	} {
		if got := hasDotSegment(p); got != want {
			t.Errorf("hasDotSegment(%q) = %v", p, got)
		}
	}
}

func TestNormalHost(t *testing.T) {
	for in, want := range map[string]string{"Example.COM": "example.com", "a:80": "a", "[::1]:80": "::1", "[::1]": "::1"} {
		if got := normalHost(in); got != want {
			t.Errorf("normalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJoinPath(t *testing.T) {
	for _, tt := range []struct{ base, p, want string }{
		{"", "", "/"}, {"", "/x", "/x"}, {"/b", "", "/b"}, {"/b/", "/x", "/b/x"}, {"/b", "/x/", "/b/x/"},
	} {
		if got := joinPath(tt.base, tt.p); got != tt.want {
			t.Errorf("joinPath(%q, %q) = %q, want %q", tt.base, tt.p, got, tt.want)
		}
	}
}

// FuzzLookup checks the matcher's contract: whatever it returns is a segment-wise
// prefix of the request path, and no longer registered prefix was skipped.
func FuzzLookup(f *testing.F) {
	f.Add("/a/b/c", "/a", "/a/b")
	f.Add("/ab", "/a", "/")
	f.Add("/", "/x", "/y/z")
	f.Fuzz(func(t *testing.T, path, lp1, lp2 string) {
		s := newSnapshot()
		var lps []string
		for _, lp := range []string{lp1, lp2} {
			if !strings.HasPrefix(lp, "/") || strings.Contains(lp, "//") || (lp != "/" && strings.HasSuffix(lp, "/")) {
				continue
			}
			s.add("", &route{listenPath: lp})
			lps = append(lps, lp)
		}
		rt := s.lookup("", path)
		matches := func(lp string) bool {
			return lp == "/" && strings.HasPrefix(path, "/") || path == lp || strings.HasPrefix(path, lp+"/")
		}
		best := ""
		for _, lp := range lps {
			if matches(lp) && len(lp) > len(best) {
				best = lp
			}
		}
		switch {
		case rt == nil && best != "":
			t.Fatalf("lookup(%q) found nothing, want %q", path, best)
		case rt != nil && rt.listenPath != best:
			t.Fatalf("lookup(%q) = %q, want %q", path, rt.listenPath, best)
		}
	})
}

// BenchmarkLookup measures route matching alone.
func BenchmarkLookup(b *testing.B) {
	s := newSnapshot()
	for _, lp := range []string{"/", "/a", "/a/b", "/users", "/users/v2", "/orders", "/payments/api"} {
		s.add("", &route{listenPath: lp})
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.lookup("example.com", "/users/v2/123/profile") == nil {
			b.Fatal("no route")
		}
	}
}
