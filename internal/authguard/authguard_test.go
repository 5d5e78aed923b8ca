package authguard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.Key + "=" + a.Value.String()); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, b.String())
	r.mu.Unlock()
	return nil
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		failures int
		key      string // key asked about afterwards
		at       time.Duration
		blocked  bool
	}{
		{"under the limit", 9, "a", 0, false},
		{"at the limit", 10, "a", 0, true},
		{"another key is untouched", 50, "b", 0, false},
		{"the window passes", 10, "a", time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := New(Options{Door: "test", Max: 10, Window: time.Minute, ReportEvery: time.Hour})
			defer g.Flush()
			for i := range tt.failures {
				g.Fail(t.Context(), "a", "1.2.3.4", t0.Add(time.Duration(i)*time.Millisecond))
			}
			wait := g.Blocked(t.Context(), tt.key, t0.Add(tt.at+time.Duration(tt.failures)*time.Millisecond))
			if (wait > 0) != tt.blocked {
				t.Errorf("Blocked = %v, want blocked %v", wait, tt.blocked)
			}
		})
	}
}

// TestFailuresAreLoggedAggregated: a flood of failures makes one log line per
// interval, with the count and the busiest addresses, not one line each.
func TestFailuresAreLoggedAggregated(t *testing.T) {
	rec := &records{}
	g := New(Options{Door: "control API", Max: 10, Log: slog.New(rec), ReportEvery: time.Hour})
	now := time.Now()
	for i := range 5000 {
		addr := "10.0.0.1"
		if i%10 == 0 {
			addr = "10.0.0.2"
		}
		g.Fail(t.Context(), addr, addr, now)
	}
	g.Flush()
	g.Flush() // nothing new: no second line
	if len(rec.msgs) != 1 {
		t.Fatalf("got %d log lines, want 1: %q", len(rec.msgs), rec.msgs)
	}
	for _, want := range []string{"door=control API", "failures=5000", "throttled=4980", "addresses=2", "10.0.0.1 (4500), 10.0.0.2 (500)"} {
		if !strings.Contains(rec.msgs[0], want) {
			t.Errorf("log line %q lacks %q", rec.msgs[0], want)
		}
	}
}
