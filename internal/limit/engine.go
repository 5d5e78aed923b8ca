package limit

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/internal/keys"
)

// Engine bundles a node's rate limiter and quotas: the gateway charges them per
// request, the key service resets them when a key changes.
type Engine struct {
	Rate   RateLimiter
	Quotas *Quotas
}

// ResetHash starts every counter of one key afresh.
func (e *Engine) ResetHash(ctx context.Context, h keys.Hash) error {
	e.Rate.ResetHash(h)
	return e.Quotas.ResetHash(ctx, h)
}

// Sweep drops idle counters from memory.
func (e *Engine) Sweep(now time.Time) {
	e.Rate.Sweep(now)
	e.Quotas.Sweep(now)
}
