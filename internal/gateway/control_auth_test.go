package gateway_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/apptest"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestControlSecretGuessing: a flood of wrong secrets is throttled per address and
// logged in aggregate, while the right secret from the same address keeps working.
func TestControlSecretGuessing(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, func(o *apptest.Options) { o.Log = &logs })
	wrong := map[string]string{"X-Tyk-Authorization": "not-the-secret-at-all"}
	statuses := map[int]int{}
	for range 500 {
		status, _, _ := e.do(t, "GET", "/tyk/keys", "", wrong)
		statuses[status]++
	}
	if statuses[403] != 20 || statuses[429] != 480 {
		t.Errorf("500 wrong secrets answered %v; want 20 x 403 then 429s", statuses)
	}
	if status, body, _ := e.do(t, "GET", "/tyk/keys", "", admin); status != 200 {
		t.Errorf("the right secret during the throttle: %d %s", status, body)
	}
	e.gw.FlushAuthFailures()
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, "failures=500") {
		t.Errorf("500 failures logged as %d lines, want one aggregated line:\n%s", n, out)
	}
}
