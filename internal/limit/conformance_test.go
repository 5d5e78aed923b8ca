package limit_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/limit/limittest"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

func TestSlidingConformance(t *testing.T) {
	limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
		return limit.NewSliding().WithClock(now)
	}, limittest.RateOptions{SlidingWindow: true})
}

func TestGCRAConformance(t *testing.T) {
	limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
		return limit.NewGCRA().WithClock(now)
	}, limittest.RateOptions{})
}

func TestQuotasConformance(t *testing.T) {
	t.Run("memory only", func(t *testing.T) {
		limittest.QuotaEngine(t, func(t *testing.T, now func() time.Time) limit.QuotaEngine {
			return limit.NewQuotas(nil).WithClock(now)
		})
	})
	t.Run("persisted to sqlite", func(t *testing.T) {
		limittest.QuotaEngine(t, func(t *testing.T, now func() time.Time) limit.QuotaEngine {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "q.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return limit.NewQuotas(db).WithClock(now)
		})
	})
}

// TestFallbackConformance: limits that fall back to node-local ones decide as the
// engines under them do, whichever serves.
func TestFallbackConformance(t *testing.T) {
	noProbe := func(context.Context) error { return nil }
	log := slog.New(slog.DiscardHandler)
	limittest.RateLimiter(t, func(t *testing.T, now func() time.Time) limit.RateLimiter {
		shared := limit.Engine{Rate: limit.NewSliding().WithClock(now), Quotas: limit.NewQuotas(nil).WithClock(now)}
		local := limit.Engine{Rate: limit.NewSliding().WithClock(now), Quotas: limit.NewQuotas(nil).WithClock(now)}
		return limit.NewFallback(shared, local, noProbe, log).Engine().Rate
	}, limittest.RateOptions{SlidingWindow: true})
	limittest.QuotaEngine(t, func(t *testing.T, now func() time.Time) limit.QuotaEngine {
		shared := limit.Engine{Rate: limit.NewSliding().WithClock(now), Quotas: limit.NewQuotas(nil).WithClock(now)}
		local := limit.Engine{Rate: limit.NewSliding().WithClock(now), Quotas: limit.NewQuotas(nil).WithClock(now)}
		return limit.NewFallback(shared, local, noProbe, log).Engine().Quotas
	})
}
