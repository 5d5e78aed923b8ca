package e2eutil

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestOutputWaitFor(t *testing.T) {
	cases := []struct {
		name   string
		writes []string // written one after another by the "process"
		end    bool     // the process exits after the writes
		want   bool
	}{
		{"appears in one write", []string{"booting\n", "Tollgate dashboard listening on http://x\n"}, false, true},
		{"split across writes", []string{"Tollgate dash", "board listening"}, false, true},
		{"never appears, times out", []string{"booting\n"}, false, false},
		{"process exits without it", []string{"fatal: no\n"}, true, false},
		{"written just before the exit", []string{"Tollgate dashboard listening"}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ended := make(chan struct{})
				o := newOutput(ended, nil)
				result := make(chan bool, 1)
				go func() { result <- o.WaitFor("Tollgate dashboard listening", time.Minute) }()
				for _, w := range tc.writes {
					synctest.Wait() // the waiter is blocked on the stream
					fmt.Fprint(o, w)
				}
				if tc.end {
					close(ended)
				}
				start := time.Now()
				got := <-result
				if got != tc.want {
					t.Errorf("WaitFor = %v, want %v (output %q)", got, tc.want, o.String())
				}
				// The bubble's clock moves only when every goroutine waits: a wait that
				// succeeds or sees the exit returns at once, one that does not at the
				// timeout.
				took, wantTook := time.Since(start), time.Duration(0)
				if !tc.want && !tc.end {
					wantTook = time.Minute
				}
				if took != wantTook {
					t.Errorf("WaitFor returned after %v, want %v", took, wantTook)
				}
				if !tc.end {
					close(ended)
				}
			})
		})
	}
}

func TestFreeAddrsNeverRepeat(t *testing.T) {
	var seen []string
	for range 20 {
		for _, a := range FreeAddrs(t, 3) {
			if slices.Contains(seen, a) {
				t.Fatalf("FreeAddrs handed out %s twice", a)
			}
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Errorf("address %s is not on 127.0.0.1", a)
			}
			seen = append(seen, a)
		}
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("TOLLGATE_SECRET", "from-the-machine")
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid")
	t.Setenv("no_proxy", "*")
	t.Setenv("E2EUTIL_KEPT", "yes")
	env := CleanEnv()
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TOLLGATE_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			t.Errorf("CleanEnv kept %s", kv)
		}
	}
	if !slices.Contains(env, "E2EUTIL_KEPT=yes") {
		t.Error("CleanEnv dropped an unrelated variable")
	}
}
