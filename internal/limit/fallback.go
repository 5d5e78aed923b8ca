package limit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// Fallback is the limits of a cluster member: decisions come from Shared (Redis)
// and, while it fails, from Local (this node's memory), so an outage of the shared
// backend degrades the limits to per-node ones instead of refusing traffic. The
// switch is logged once each way, not per request. While degraded, requests do not
// wait on Shared: Run probes it and switches back when it answers.
//
// What degraded mode admits: each node applies the full limit on its own, so N
// nodes can admit up to N times a key's rate while Shared is away; counts made
// locally are not added to Shared when it returns (the windows they belong to have
// mostly passed, and quotas resume from what Shared holds).
type Fallback struct {
	Shared, Local Engine
	// Probe tells whether Shared answers again.
	Probe func(ctx context.Context) error
	// ProbeEvery is how often Run probes while degraded (default 1 s).
	ProbeEvery time.Duration
	Log        *slog.Logger

	degraded atomic.Bool
}

// NewFallback returns limits served by shared, falling back to local.
func NewFallback(shared, local Engine, probe func(context.Context) error, log *slog.Logger) *Fallback {
	return &Fallback{Shared: shared, Local: local, Probe: probe, ProbeEvery: time.Second, Log: log}
}

// Degraded reports whether decisions are node-local now.
func (f *Fallback) Degraded() bool { return f.degraded.Load() }

// Engine returns the rate limiter and quota engine the node uses.
func (f *Fallback) Engine() Engine { return Engine{Rate: fallbackRate{f}, Quotas: fallbackQuotas{f}} }

// fail decides what a failed shared call means. Only an unavailable backend
// (IsUnavailable) switches the node to local limits: a request whose client went
// away (its context ended) or a call the backend refused for this request alone
// must not degrade the node for everyone. It reports whether the caller should
// answer from the local engines; otherwise err is the answer.
func (f *Fallback) fail(ctx context.Context, err error) (useLocal bool) {
	if ctx.Err() != nil || !IsUnavailable(err) {
		return false
	}
	if f.degraded.CompareAndSwap(false, true) {
		f.Log.Error("shared limits unavailable: serving node-local rate limits and quotas until they answer", "error", err.Error())
	}
	return true
}

// Run probes Shared while degraded, until ctx ends.
func (f *Fallback) Run(ctx context.Context) error {
	t := time.NewTicker(f.ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !f.degraded.Load() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, f.ProbeEvery)
		err := f.Probe(pctx)
		cancel()
		if err == nil && f.degraded.CompareAndSwap(true, false) {
			f.Log.Info("shared limits answer again: rate limits and quotas are shared by the cluster")
		}
	}
}

type fallbackRate struct{ f *Fallback }

func (r fallbackRate) Allow(ctx context.Context, k Key, rate, per float64) (Decision, error) {
	if !r.f.degraded.Load() {
		d, err := r.f.Shared.Rate.Allow(ctx, k, rate, per)
		if err == nil || !r.f.fail(ctx, err) {
			return d, err
		}
	}
	return r.f.Local.Rate.Allow(ctx, k, rate, per)
}

// Reset resets both: a management change made during an outage must not leave
// the shared counters behind, so a Shared failure is returned (and the change
// refused) rather than hidden.
func (r fallbackRate) Reset(ctx context.Context, h keys.Hash) error {
	if err := r.f.Local.Rate.Reset(ctx, h); err != nil {
		return err
	}
	return r.f.Shared.Rate.Reset(ctx, h)
}

type fallbackQuotas struct{ f *Fallback }

func (q fallbackQuotas) Charge(ctx context.Context, k Key, max, renewal int64) (QuotaState, error) {
	if !q.f.degraded.Load() {
		st, err := q.f.Shared.Quotas.Charge(ctx, k, max, renewal)
		if err == nil || !q.f.fail(ctx, err) {
			return st, err
		}
	}
	return q.f.Local.Quotas.Charge(ctx, k, max, renewal)
}

func (q fallbackQuotas) Peek(ctx context.Context, k Key, max int64) (QuotaState, bool, error) {
	if !q.f.degraded.Load() {
		st, found, err := q.f.Shared.Quotas.Peek(ctx, k, max)
		if err == nil || !q.f.fail(ctx, err) {
			return st, found, err
		}
	}
	return q.f.Local.Quotas.Peek(ctx, k, max)
}

func (q fallbackQuotas) Reset(ctx context.Context, h keys.Hash) error {
	if err := q.f.Local.Quotas.Reset(ctx, h); err != nil {
		return err
	}
	return q.f.Shared.Quotas.Reset(ctx, h)
}
