package gateway

import (
	"context"
	"net/http"
	"time"
)

// throttle is Tyk's throttling: a request the key's rate limit refused waits the
// key's throttle_interval and runs the checks again, up to throttle_retry_limit
// times, and is refused only when they still refuse it. Tyk sleeps unbounded; here
// the wait is bounded three ways, so throttling cannot tie the gateway up:
//
//   - all the waits of one request end within session.MaxThrottleWait (30 s): the
//     retries that would end later are not made (session.Throttle is cut so);
//   - at most Options.MaxThrottled requests wait at once; the next one is refused
//     at once, as without throttling;
//   - a wait ends when the client goes away or the gateway starts draining.
//
// Each retry runs every check afresh, so a key revoked meanwhile is refused, and a
// request admitted on a retry is counted once (refused ones never are). A retry
// refused by anything but the key's own rate limit ends the waiting with that
// verdict. v is the verdict of the first refusal and receives the last one.
func (g *Gateway) throttle(r *http.Request, rt *route, v *verdict) {
	if !g.takeThrottleSlot() {
		return
	}
	// The slot is given back before the reply is written, so a client that has
	// its answer knows the wait is over.
	defer g.releaseThrottleSlot()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(g.drainCtx, cancel)()
	t := v.throttle
	for range t.Retries {
		if g.opts.Wait(ctx, t.Interval) != nil {
			return
		}
		g.authorize(r, rt, g.opts.Now(), v)
		if !v.throttle.Enabled() {
			return
		}
	}
}

// takeThrottleSlot admits one more waiting request, if MaxThrottled allows.
func (g *Gateway) takeThrottleSlot() bool {
	max := int64(g.opts.MaxThrottled)
	if max <= 0 {
		return false
	}
	if g.waiting.Add(1) <= max {
		return true
	}
	g.waiting.Add(-1)
	if g.throttleFull.CompareAndSwap(false, true) {
		// Once until the queue has drained by half: a flood of throttled
		// requests is one event, not one log line each.
		g.log.Warn("too many throttled requests waiting; refusing further ones at once", "max_throttled", max)
	}
	return false
}

func (g *Gateway) releaseThrottleSlot() {
	if g.waiting.Add(-1) <= int64(g.opts.MaxThrottled)/2 && g.throttleFull.Load() {
		g.throttleFull.Store(false)
	}
}

// sleep waits d on the real clock, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
