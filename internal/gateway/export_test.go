package gateway

import (
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// This file lends the external tests (package gateway_test, which build the gateway
// through apptest like `tollgate serve` does) the few internals they measure.

// NewBufferPool is the proxy's buffer pool, for the bare-proxy baseline.
func NewBufferPool() httputil.BufferPool { return newBufferPool() }

// CheckChain returns the request checks for the route matching host and path, as
// the proxy runs them: the returned function gives the verdict's status (0:
// admitted) and message. The route is looked up once, so a benchmark measures the
// checks alone.
func (g *Gateway) CheckChain(host, path string) func(r *http.Request, now time.Time) (int, string) {
	rt := g.snap.Load().lookup(host, path)
	var v verdict
	return func(r *http.Request, now time.Time) (int, string) {
		g.authorize(r, rt, now, &v)
		return v.status, v.msg
	}
}

// SessionCached reports whether the session cache holds a usable entry for key at
// now (a known key's session, or the memory that it is unknown).
func (g *Gateway) SessionCached(key string, now time.Time) bool {
	_, ok, _ := g.sessions.get(keys.Sum(key), now.UnixNano())
	return ok
}

// FlushAuthFailures writes the control API's pending failure report now.
func (g *Gateway) FlushAuthFailures() { g.authFailures.Flush() }
