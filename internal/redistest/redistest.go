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
func Start(t testing.TB) string { return New(t).Addr }

// Server is a redis-server run for a test.
type Server struct {
	// Addr is where it listens (host:port); a restart keeps it.
	Addr string
	bin  string
	dir  string
	cmd  *exec.Cmd
	// argv gives the command line for a port (plain servers: flags only).
	argv func(port string) []string
	// ready is the log line that says the server serves.
	ready string
	// free picks a listen address.
	free func() (string, error)
}

// lookup finds a Redis program, skipping the test when it is missing (failing it
// under TOLLGATE_REQUIRE_SERVERS).
func lookup(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("TOLLGATE_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s not found and TOLLGATE_REQUIRE_SERVERS is set: %v", name, err)
		}
		t.Skipf("%s not installed (make test installs it)", name)
	}
	return bin
}

// New runs a redis-server for t on a free port; it is killed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	return newServer(t, nil)
}

// newServer runs a redis-server with the plain flags plus extra.
func newServer(t testing.TB, extra []string) *Server {
	t.Helper()
	s := &Server{bin: lookup(t, "redis-server"), dir: t.TempDir(), ready: "Ready to accept connections", free: freeAddr}
	s.argv = func(port string) []string {
		return append([]string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
			"--dir", s.dir, "--loglevel", "notice"}, extra...)
	}
	s.run(t)
	return s
}

// run starts s on a free address, retrying when another process takes it first.
func (s *Server) run(t testing.TB) {
	t.Helper()
	t.Cleanup(s.Kill)
	for attempt := 0; ; attempt++ {
		var err error
		if s.Addr, err = s.free(); err != nil {
			t.Fatal(err)
		}
		failure := s.start(t)
		if failure == "" {
			return
		}
		if !strings.Contains(failure, "Address already in use") || attempt >= 3 {
			t.Fatalf("redis-server did not start:\n%s", failure)
		}
	}
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts a killed server again on the same address, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	if failure := s.start(t); failure != "" {
		t.Fatalf("redis-server did not restart on %s:\n%s", s.Addr, failure)
	}
}

// start runs the server on s.Addr and waits until it accepts connections; it
// returns what the server said when it did not.
func (s *Server) start(t testing.TB) (failure string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, s.argv(port)...)
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
				if strings.Contains(line, s.ready) {
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
	case failure = <-ready:
		if failure == "" {
			s.cmd = cmd
			return ""
		}
		_ = cmd.Wait()
		return failure
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "did not start within 15 s"
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
