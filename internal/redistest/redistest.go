// Package redistest starts a real redis-server for tests: on a free 127.0.0.1 port,
// without persistence, in the test's temporary directory, stopped when the test ends.
// Tests never stand a fake in for Redis. Without a redis-server binary the test is
// skipped, unless TOLLGATE_REQUIRE_SERVERS is set (as `make test` does), so CI cannot
// pass by skipping.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Start runs a redis-server for t and returns its address (host:port).
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TOLLGATE_REQUIRE_SERVERS") != "" {
			t.Fatalf("redis-server not found and TOLLGATE_REQUIRE_SERVERS is set: %v", err)
		}
		t.Skip("redis-server not installed (make test installs it)")
	}
	for attempt := 0; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--loglevel", "notice")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan string, 1)
		go func() {
			// Redis logs "Ready to accept connections" once it listens; keep
			// draining afterwards so it never blocks on a full pipe.
			sc := bufio.NewScanner(out)
			var seen []string
			sent := false
			for sc.Scan() {
				line := sc.Text()
				if !sent {
					seen = append(seen, line)
					if strings.Contains(line, "Ready to accept connections") {
						ready <- ""
						sent = true
					}
				}
			}
			if !sent {
				ready <- strings.Join(seen, "\n")
			}
		}()
		select {
		case failure := <-ready:
			if failure == "" {
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				})
				return addr
			}
			_ = cmd.Wait()
			if strings.Contains(failure, "Address already in use") && attempt < 3 {
				continue
			}
			t.Fatalf("redis-server did not start:\n%s", failure)
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("redis-server did not start within 15 s")
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
