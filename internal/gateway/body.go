package gateway

import (
	"io"
	"net/http"
	"time"
)

// stallGuard cuts a client whose request body stops arriving. The gateway's listener
// has no whole-request read deadline (uploads may be long and slow, and arming one
// per request costs throughput), so without this a client could hold a connection
// forever by sending a body a byte at a time, or not at all. Each Read arms a read
// deadline of now+timeout on the connection; a body that makes no progress for that
// long fails, and the server closes the connection. Only requests with a body pay
// for it.
type stallGuard struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	eof     bool
}

func guardBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) *stallGuard {
	g := &stallGuard{body: r.Body, rc: http.NewResponseController(w), timeout: timeout}
	r.Body = g
	return g
}

func (g *stallGuard) Read(p []byte) (int, error) {
	if !g.eof {
		_ = g.rc.SetReadDeadline(time.Now().Add(g.timeout))
	}
	n, err := g.body.Read(p)
	if err == io.EOF && !g.eof {
		// The whole body is in: lift the deadline, or it would fire while the
		// upstream answers and the server would take the connection for dead.
		g.eof = true
		_ = g.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (g *stallGuard) Close() error { return g.body.Close() }

// done runs when the handler returns. A body not read to the end is drained by the
// server before the connection is reused; bound that drain too.
func (g *stallGuard) done() {
	if !g.eof {
		_ = g.rc.SetReadDeadline(time.Now().Add(g.timeout))
	}
}
