package limit_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/limit/limittest"
)

// failing is a shared rate limiter that answers every call with err.
type failing struct{ err error }

func (f failing) Allow(context.Context, limit.Key, float64, float64) (limit.Decision, error) {
	return limit.Decision{}, f.err
}
func (f failing) Reset(context.Context, keys.Hash) error { return f.err }

// TestFallbackSwitchesOnlyWhenTheBackendIsDown: an unreachable backend switches the
// node to its own limits; a client that went away, or a call refused by a working
// backend, does not degrade the node for everyone.
func TestFallbackSwitchesOnlyWhenTheBackendIsDown(t *testing.T) {
	down := &limit.UnavailableError{Err: errors.New("dial tcp: connection refused")}
	refused := errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		err      error
		ctx      context.Context
		degraded bool
		wantErr  bool
	}{
		{"backend unreachable", down, context.Background(), true, false},
		{"the client went away", down, cancelled, false, true},
		{"the backend refused this call", refused, context.Background(), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := limittest.NewClock(limittest.Start)
			local := limit.Engine{Rate: limit.NewSliding().WithClock(clock.Now), Quotas: limit.NewQuotas(nil).WithClock(clock.Now)}
			shared := limit.Engine{Rate: failing{tc.err}, Quotas: local.Quotas}
			f := limit.NewFallback(shared, local, func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
			d, err := f.Engine().Rate.Allow(tc.ctx, limit.Key{Hash: keys.Sum("k")}, 5, 60)
			if f.Degraded() != tc.degraded || (err != nil) != tc.wantErr {
				t.Fatalf("degraded=%v err=%v, want degraded=%v and an error=%v", f.Degraded(), err, tc.degraded, tc.wantErr)
			}
			if tc.degraded && !d.Allowed {
				t.Fatalf("degraded, the local limiter should have admitted: %+v", d)
			}
		})
	}
}
