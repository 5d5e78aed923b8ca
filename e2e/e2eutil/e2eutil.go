// Package e2eutil builds the tollgate binary once per test package and runs it the
// way an operator would, for the end-to-end tests under e2e/.
package e2eutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Main builds the binary into a temporary directory, runs the package's tests and
// exits; call it from TestMain. The path is stored in *binary.
func Main(m *testing.M, binary *string) {
	dir, err := os.MkdirTemp("", "tollgate-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", *binary, "./cmd/tollgate")
	build.Dir = moduleRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tollgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// moduleRoot is the repository root: two levels above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// handedOut remembers every address FreeAddr gave, because the kernel may hand a
// just-closed port out again: two servers of one test (gateway and dashboard) would
// then get the same address.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddr returns a free 127.0.0.1 address not given out before in this process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// Process is a running `tollgate serve`.
type Process struct {
	Cmd                *exec.Cmd
	Gateway, Dashboard string
	// Lines receives stdout lines (announcements such as first-run credentials);
	// lines are dropped when nobody reads and the buffer is full.
	Lines chan string
	// Done is closed when the process has exited; Err then holds Wait's result.
	Done chan struct{}
	Err  error
	// Output holds every stdout line seen before the server was listening.
	Output []string
}

func (p *Process) exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Serve starts `tollgate serve --data-dir dataDir` on free ports (plus extra flags)
// and waits until both listeners are up. The process is killed at cleanup if the
// test did not stop it.
func Serve(t testing.TB, binary, dataDir string, extra ...string) *Process {
	t.Helper()
	p := &Process{Gateway: FreeAddr(t), Dashboard: FreeAddr(t), Lines: make(chan string, 256), Done: make(chan struct{})}
	args := append([]string{"serve", "--data-dir", dataDir, "--gateway-addr", p.Gateway, "--dashboard-addr", p.Dashboard, "--log-level", "warn"}, extra...)
	p.Cmd = exec.Command(binary, args...)
	out, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Stderr = os.Stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var seen []string
		listening := false
		for sc.Scan() {
			line := sc.Text()
			if !listening {
				seen = append(seen, line)
				if strings.HasPrefix(line, "Tollgate dashboard listening") {
					listening = true
					ready <- seen
				}
			}
			select {
			case p.Lines <- line:
			default:
			}
		}
	}()
	go func() { p.Err = p.Cmd.Wait(); close(p.Done) }()
	select {
	case p.Output = <-ready:
	case <-p.Done:
		t.Fatalf("tollgate serve exited before listening: %v", p.Err)
	case <-time.After(30 * time.Second):
		t.Fatal("tollgate serve did not start within 30 s")
	}
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.Cmd.Process.Kill()
			<-p.Done
		}
	})
	return p
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		if p.Err != nil {
			t.Errorf("tollgate exited with %v after SIGTERM", p.Err)
		}
	case <-time.After(40 * time.Second):
		_ = p.Cmd.Process.Kill()
		t.Error("tollgate did not stop within 40 s of SIGTERM")
	}
}

// Field returns the last word of the first output line containing marker (for the
// first-run credentials), or "".
func (p *Process) Field(marker string) string {
	for _, l := range p.Output {
		if strings.Contains(l, marker) {
			f := strings.Fields(l)
			return f[len(f)-1]
		}
	}
	return ""
}
