package gateway

import (
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/internal/apidef"
)

// route is one served API inside a routing snapshot. It is immutable once built.
type route struct {
	def        *apidef.Definition
	apiID      string
	listenPath string // normalised: leading '/', no trailing '/'
	// escapedListenPath is listenPath as it appears in an escaped request path.
	escapedListenPath string
	target            *url.URL
	strip             bool
	preserveHost      bool
	proxy             *httputil.ReverseProxy
}

// snapshot is the immutable routing table the gateway serves from. A change to any API
// builds a new snapshot and swaps it in atomically, so requests never take a lock.
type snapshot struct {
	// byHost maps a lower-case host ("" for APIs without a domain) to the routes keyed
	// by their normalised listen path.
	byHost map[string]map[string]*route
	// hosts reports whether any route is bound to a domain, so the common case skips
	// the host lookup.
	hosts bool
}

func newSnapshot() *snapshot {
	return &snapshot{byHost: map[string]map[string]*route{}}
}

func (s *snapshot) add(host string, rt *route) {
	m := s.byHost[host]
	if m == nil {
		m = map[string]*route{}
		s.byHost[host] = m
	}
	m[rt.listenPath] = rt
	if host != "" {
		s.hosts = true
	}
}

// lookup finds the route with the longest listen path that is a segment-wise prefix of
// path, preferring routes bound to host over unbound ones. It walks the path's prefixes
// from the longest down, one map lookup each, without allocating.
func (s *snapshot) lookup(host, path string) *route {
	if s.hosts {
		if m := s.byHost[normalHost(host)]; m != nil {
			if rt := longestPrefix(m, path); rt != nil {
				return rt
			}
		}
	}
	if m := s.byHost[""]; m != nil {
		return longestPrefix(m, path)
	}
	return nil
}

func longestPrefix(m map[string]*route, path string) *route {
	if path == "" || path[0] != '/' {
		return nil
	}
	p := path
	for {
		if rt, ok := m[p]; ok {
			return rt
		}
		if p == "/" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i == 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// normalHost lower-cases host and drops a port.
func normalHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(host)
}

// hasDotSegment reports whether path has a "." or ".." segment. Such paths are refused:
// after an upstream normalises them they could reach a path the gateway's access checks
// never saw.
func hasDotSegment(path string) bool {
	for len(path) > 0 {
		i := strings.IndexByte(path, '/')
		seg := path
		if i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
