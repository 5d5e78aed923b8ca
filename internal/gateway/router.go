package gateway

import (
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/limit"
)

// route is one served API inside a routing snapshot. It is immutable once built.
type route struct {
	def        *apidef.Definition
	apiID      string
	orgID      string
	listenPath string // normalised: leading '/', no trailing '/'
	// escapedListenPath is listenPath as it appears in an escaped request path.
	escapedListenPath string
	target            *url.URL
	strip             bool
	preserveHost      bool
	proxy             *httputil.ReverseProxy

	keyless bool
	auth    authSource
	// versioning; versioned is false for not_versioned APIs and APIs without versions.
	versioned      bool
	versionLoc     string
	versionKey     string
	defaultVersion string
	versions       map[string]int64 // name -> expiry (unix seconds, 0: never)

	disableRate, disableQuota bool
	// global is the API-level limit shared by all callers (rate 0: none).
	globalRate, globalPer float64
	globalKey             limit.Key
}

// authSource says where a route reads the key from.
type authSource struct {
	header        string // canonical header name; "" when headers are disabled
	param, cookie string // "" when not used
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

// versionExpiry reads Tyk's version "expires" ("2006-01-02 15:04", also accepted
// with seconds or as RFC 3339); empty or unreadable means never.
func versionExpiry(s string) int64 {
	if s == "" {
		return 0
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix()
		}
	}
	return 0
}
