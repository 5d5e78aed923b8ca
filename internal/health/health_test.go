package health_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/health"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func check(name, problem string, degraded bool) health.Check {
	return health.Check{Name: name, ComponentType: "system", Check: func(context.Context) (string, bool) { return problem, degraded }}
}

func TestRun(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		checks []health.Check
		status string
		parts  map[string]string // component -> status
	}{
		{"all pass", []health.Check{health.Store(pinger{}, log), check("redis", "", false)}, "pass",
			map[string]string{"store": "pass", "redis": "pass"}},
		{"degraded warns", []health.Check{health.Store(pinger{}, log), check("redis", "redis is away", true)}, "warn",
			map[string]string{"store": "pass", "redis": "warn"}},
		{"a store that does not answer fails", []health.Check{health.Store(pinger{errors.New("gone")}, log), check("redis", "redis is away", true)}, "fail",
			map[string]string{"store": "fail", "redis": "warn"}},
		{"a failure is not undone by a later warning", []health.Check{check("events", "not subscribed", false), check("redis", "away", true)}, "fail",
			map[string]string{"events": "fail", "redis": "warn"}},
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := health.Run(t.Context(), tt.checks, at)
			if r.Status != tt.status || len(r.Details) != len(tt.parts) {
				t.Fatalf("status %s with %d components, want %s with %d", r.Status, len(r.Details), tt.status, len(tt.parts))
			}
			for name, want := range tt.parts {
				c := r.Details[name]
				if c.Status != want || c.Time != "2025-01-02T03:04:05Z" || (want == "pass") != (c.Output == "") {
					t.Errorf("%s: %+v, want %s", name, c, want)
				}
			}
			if c, ok := r.Details["store"]; ok && c.Status == "fail" && c.Output != "store did not answer" {
				t.Errorf("the store's failure shows its cause: %q", c.Output)
			}
		})
	}
}
