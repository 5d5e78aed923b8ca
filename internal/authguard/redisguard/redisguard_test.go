package redisguard_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/authguard"
	"github.com/tollgate/tollgate/internal/authguard/redisguard"
	"github.com/tollgate/tollgate/internal/redistest"
)

// lines is a slog handler that keeps the messages it is given.
type lines struct {
	mu   sync.Mutex
	msgs []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}

func (l *lines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func client(t *testing.T, addr string) redis.UniversalClient {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGuardsShareTheCount: failures spread over three processes' guards trip the
// throttle for all of them as they would on one, and for that key and door only.
func TestGuardsShareTheCount(t *testing.T) {
	addr := redistest.Start(t)
	guard := func(door string) *authguard.Guard {
		return authguard.New(authguard.Options{Door: door, Max: 10, Window: time.Minute, ReportEvery: time.Hour,
			Shared: redisguard.New(client(t, addr))})
	}
	gs := []*authguard.Guard{guard("web login"), guard("web login"), guard("web login")}
	ctx, now := t.Context(), time.Now()
	for i := range 10 {
		if wait := gs[i%2].Fail(ctx, "a@a.io\x001.2.3.4", "1.2.3.4", now); wait != 0 {
			t.Fatalf("failure %d: wait %v, want none yet", i+1, wait)
		}
	}
	for i, g := range gs {
		wait := g.Blocked(ctx, "a@a.io\x001.2.3.4", now)
		if wait <= 59*time.Second || wait > time.Minute {
			t.Errorf("guard %d after 10 failures over two guards: wait %v, want the rest of the minute", i, wait)
		}
		if wait := g.Blocked(ctx, "b@a.io\x001.2.3.4", now); wait != 0 {
			t.Errorf("guard %d: another account blocked for %v", i, wait)
		}
	}
	if wait := gs[2].Fail(ctx, "a@a.io\x001.2.3.4", "1.2.3.4", now); wait <= 0 {
		t.Error("an 11th failure, on a guard that saw none before, was not told to wait")
	}
	if wait := guard("control API").Blocked(ctx, "a@a.io\x001.2.3.4", now); wait != 0 {
		t.Errorf("another door shares the web login's count: blocked %v", wait)
	}
}

// TestRedisDownFallsBackToTheProcess: with Redis gone, each guard still throttles
// on its own count (never open), says so in one log line however many attempts
// come, and one more when Redis answers again; the shared count then holds again.
func TestRedisDownFallsBackToTheProcess(t *testing.T) {
	srv := redistest.New(t)
	log := &lines{}
	g := authguard.New(authguard.Options{Door: "web login", Max: 3, Window: time.Minute, ReportEvery: time.Hour,
		Shared: redisguard.New(client(t, srv.Addr)), Log: slog.New(log)})
	ctx, now := t.Context(), time.Now()
	srv.Kill()
	for range 3 {
		g.Fail(ctx, "k", "1.2.3.4", now)
	}
	if wait := g.Blocked(ctx, "k", now); wait <= 0 {
		t.Error("with Redis down, 3 failures of a limit of 3 did not block: the throttle failed open")
	}
	if n := log.count("does not answer"); n != 1 {
		t.Errorf("%d log lines about the shared count being down, want 1: %q", n, log.msgs)
	}

	srv.Restart(t)
	other := authguard.New(authguard.Options{Door: "web login", Max: 3, Window: time.Minute, Shared: redisguard.New(client(t, srv.Addr))})
	for range 3 {
		other.Fail(ctx, "j", "1.2.3.4", now)
	}
	if wait := g.Blocked(ctx, "j", now); wait <= 0 {
		t.Error("after Redis came back, failures on another guard do not block this one")
	}
	if n := log.count("answers again"); n != 1 {
		t.Errorf("%d log lines about the shared count answering again, want 1: %q", n, log.msgs)
	}
}
