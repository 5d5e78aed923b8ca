package httpx

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LimitedListener caps a listener's open connections so that a flood of them (idle,
// or sending bodies slowly) cannot exhaust file descriptors and take health checks
// down with the rest. Up to Max connections are served normally. The next Reserve
// are accepted as overflow: the server answers them only for health checks (see
// IsOverflow) and cuts them after OverflowDeadline whatever they do, so the reserve
// keeps turning over for a load balancer's probes. Past Max+Reserve a connection is
// closed as soon as it is accepted.
type LimitedListener struct {
	net.Listener
	Max, Reserve     int64
	OverflowDeadline time.Duration

	open atomic.Int64
}

// NewLimitedListener wraps l.
func NewLimitedListener(l net.Listener, max, reserve int) *LimitedListener {
	return &LimitedListener{Listener: l, Max: int64(max), Reserve: int64(reserve), OverflowDeadline: 5 * time.Second}
}

// Accept implements net.Listener.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.open.Add(1)
		if n > l.Max+l.Reserve {
			l.open.Add(-1)
			c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l}
		if n > l.Max {
			lc.overflow = true
			_ = c.SetDeadline(time.Now().Add(l.OverflowDeadline))
		}
		return lc, nil
	}
}

type limitedConn struct {
	net.Conn
	l        *LimitedListener
	overflow bool
	once     sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// SetDeadline and friends keep an overflow connection's deadline: the server
// resets deadlines per request, which would let it stay.
func (c *limitedConn) SetDeadline(t time.Time) error {
	if c.overflow {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	if c.overflow {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	if c.overflow {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

type overflowKey struct{}

// ConnContext marks the request context of overflow connections; set it as the
// http.Server's ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok && lc.overflow {
		return context.WithValue(ctx, overflowKey{}, true)
	}
	return ctx
}

// IsOverflow reports whether the request came on an overflow connection.
func IsOverflow(ctx context.Context) bool {
	v, _ := ctx.Value(overflowKey{}).(bool)
	return v
}
