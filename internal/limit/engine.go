package limit

import (
	"context"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// Engine bundles the limits a node enforces: the gateway charges them per request, the
// key service peeks at and resets them when a key is read or changes. Both fields are
// interfaces, so a separate dashboard process resets the very counters the gateways
// use once they live in a shared backend.
type Engine struct {
	Rate   RateLimiter
	Quotas QuotaEngine
}

// Reset starts every counter of one key afresh.
func (e *Engine) Reset(ctx context.Context, h keys.Hash) error {
	if err := e.Rate.Reset(ctx, h); err != nil {
		return err
	}
	return e.Quotas.Reset(ctx, h)
}

// Local is the limits component of a single node: an in-memory rate limiter and
// quotas persisted to the durable store. Run keeps them tidy: it flushes quota counts
// every FlushEvery (what a crash can lose), sweeps idle counters, and flushes once
// more when it stops.
type Local struct {
	Engine
	quotas *Quotas
	// FlushEvery is the quota flush interval; SweepEvery how often idle counters go.
	FlushEvery, SweepEvery time.Duration
	Log                    *slog.Logger
}

// NewLocal returns the single-node limits: rate (a *Sliding or *GCRA) and quotas.
func NewLocal(rate RateLimiter, quotas *Quotas, flushEvery time.Duration, log *slog.Logger) *Local {
	return &Local{Engine: Engine{Rate: rate, Quotas: quotas}, quotas: quotas, FlushEvery: flushEvery, SweepEvery: 30 * time.Second, Log: log}
}

// Load reads persisted quota counts; call it before serving.
func (l *Local) Load(ctx context.Context) error { return l.quotas.Load(ctx) }

// Run flushes and sweeps until ctx ends, then flushes a last time (after the last
// request, when the caller stops the servers first). It returns nil.
func (l *Local) Run(ctx context.Context) error {
	flush := time.NewTicker(l.FlushEvery)
	defer flush.Stop()
	sweep := time.NewTicker(l.SweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := l.quotas.Flush(context.WithoutCancel(ctx)); err != nil {
				l.Log.Error("final flush of quota counters", "error", err.Error())
			}
			return nil
		case <-flush.C:
			if err := l.quotas.Flush(ctx); err != nil {
				l.Log.Error("flush quota counters", "error", err.Error())
			}
		case now := <-sweep.C:
			if s, ok := l.Rate.(Sweeper); ok {
				s.Sweep(now)
			}
			l.quotas.Sweep(now)
		}
	}
}

// Flush writes changed quota counts to the store now.
func (l *Local) Flush(ctx context.Context) error { return l.quotas.Flush(ctx) }
