// Package e2eutil runs the real tollgate binary the way an operator would, for the
// end-to-end tests under e2e/: Main builds it once per test package, Serve starts
// `tollgate serve` on free ports with a clean environment and returns once the
// process itself has announced both listeners, and Run runs a short-lived command.
//
// Nothing here sleeps to wait: readiness, log lines and exits are waited for on
// signals (every write to a captured stream wakes the waiters; the process's exit
// closes a channel), each wait bounded by a timeout.
package e2eutil

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// binary is the tollgate executable Main built.
var binary string

// Main builds the binary into a temporary directory, runs the package's tests and
// exits with their code; call it from TestMain.
func Main(m *testing.M) {
	os.Exit(runMain(m, (*testing.M).Run))
}

// MainWith is Main for a package whose tests also need a server of their own for
// the whole run: run runs the tests (pgtest.Run, say) and returns their code.
func MainWith(m *testing.M, run func(*testing.M) int) {
	os.Exit(runMain(m, run))
}

func runMain(m *testing.M, run func(*testing.M) int) int {
	root := moduleRoot()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		fmt.Fprintf(os.Stderr, "e2eutil: module root not found at %s: %v\n", root, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "tollgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2eutil:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", binary, "./cmd/tollgate")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2eutil: go build ./cmd/tollgate:", err)
		return 1
	}
	return run(m)
}

// moduleRoot is the repository root: two levels above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func mustBinary(t testing.TB) string {
	t.Helper()
	if binary == "" {
		t.Fatal("e2eutil: no tollgate binary; call e2eutil.Main from the package's TestMain")
	}
	return binary
}

// CleanEnv is the test process's environment without TOLLGATE_* settings and HTTP
// proxy variables, so the binary is not steered by the machine the tests run on.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		uk := strings.ToUpper(k)
		if strings.HasPrefix(uk, "TOLLGATE_") || strings.HasSuffix(uk, "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// handedOut remembers every address FreeAddrs returned, because the kernel may offer
// a just-closed port again: two listeners of one test, or of two parallel tests,
// would then be given the same address.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a moment ago
// and were never returned before in this process. All n listeners are held until the
// last is chosen, so the kernel cannot offer one of them twice within a call.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var addrs []string
	for tries := 0; len(addrs) < n; tries++ {
		if tries > 200 {
			t.Fatal("e2eutil: no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		addr := l.Addr().String()
		if handedOut.addrs[addr] {
			continue
		}
		handedOut.addrs[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs
}

// Output is one captured stream of a process (its stdout or its stderr): safe to read
// while the process writes, and waitable. Every write wakes the goroutines waiting
// for text, so a wait ends as soon as the text is there, without polling.
type Output struct {
	mu  sync.Mutex
	buf []byte
	// changed is closed and replaced on every write: a broadcast to the waiters.
	changed chan struct{}
	// ended is closed when nothing more can be written (the process has exited and
	// its pipes are drained).
	ended <-chan struct{}
}

func newOutput(ended <-chan struct{}, prefix []byte) *Output {
	return &Output{buf: prefix, changed: make(chan struct{}), ended: ended}
}

// Write implements io.Writer for exec.Cmd.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

func (o *Output) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]byte(nil), o.buf...)
}

// WaitUntil waits until cond holds for everything written so far, checking it again
// after every write. It returns false when timeout passes, or when the stream has
// ended (the process exited) without cond holding. cond runs on the caller's
// goroutine without any lock held, so it may make requests or fail the test.
func (o *Output) WaitUntil(timeout time.Duration, cond func(text string) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		text, changed := string(o.buf), o.changed
		o.mu.Unlock()
		if cond(text) {
			return true
		}
		select {
		case <-changed:
		case <-o.ended:
			return cond(o.String())
		case <-timer.C:
			return false
		}
	}
}

// WaitFor waits until substr has been written (see WaitUntil).
func (o *Output) WaitFor(substr string, timeout time.Duration) bool {
	return o.WaitUntil(timeout, func(text string) bool { return strings.Contains(text, substr) })
}

// Options configure Serve. The zero value starts a fresh data dir, no --secret.
type Options struct {
	// Command is the subcommand: "serve" (default), "gateway" or "dashboard".
	// Only the listeners the command serves are waited for.
	Command string
	// DataDir is passed as --data-dir; default a fresh directory under t.TempDir().
	DataDir string
	// Secret is passed as --secret. Empty starts without one, so the first start
	// generates <data-dir>/admin-secret and prints it.
	Secret string
	// Args are more flags after the ones Serve sets.
	Args []string
	// MayExit returns the process when it exits before it is ready, for tests that
	// expect a refusal to start; otherwise that fails the test.
	MayExit bool
	// Env are more NAME=value entries for the process's environment.
	Env []string
}

// Process is a running (or exited) `tollgate serve`.
type Process struct {
	Gateway, Dashboard string // host:port of the two listeners
	DataDir            string
	// Stdout holds the operator's announcements (listeners, first-run credentials,
	// a generated secret) of every launch attempt on this data dir, since a first
	// attempt that lost its port may already have printed the credentials.
	Stdout *Output
	// Stderr is the log of this process.
	Stderr *Output

	cmd  *exec.Cmd
	done chan struct{}
}

// readyTimeout bounds the start: building the node and opening the store take well
// under a second here, so a start that takes this long is hung.
const readyTimeout = 30 * time.Second

// stopTimeout bounds a SIGTERM: the server waits up to 30 s (app.ShutdownTimeout)
// for in-flight requests, plus any --drain-period the test configured.
const stopTimeout = 45 * time.Second

// probe is the client of the readiness check: no proxy, and no kept-alive connection
// left behind to count against the gateway's connection cap.
var probe = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   10 * time.Second,
}

// Serve starts `tollgate serve` on free ports and returns once the process has
// announced on stdout that it listens on both its gateway and dashboard addresses
// and, for a plain-HTTP gateway, GET /ready has answered 200. A launch that lost
// its port to another process is retried on new ports. The process is stopped at
// cleanup if the test did not stop it, and its log is shown if the test failed.
func Serve(t testing.TB, o Options) *Process {
	t.Helper()
	bin := mustBinary(t)
	if o.DataDir == "" {
		o.DataDir = filepath.Join(t.TempDir(), "data")
	}
	var stdout []byte
	for attempt := 1; ; attempt++ {
		addrs := FreeAddrs(t, 2)
		p := &Process{Gateway: addrs[0], Dashboard: addrs[1], DataDir: o.DataDir, done: make(chan struct{})}
		p.Stdout, p.Stderr = newOutput(p.done, stdout), newOutput(p.done, nil)
		command := cmp.Or(o.Command, "serve")
		wantGateway, wantDashboard := command != "dashboard", command != "gateway"
		args := []string{command, "--data-dir", o.DataDir, "--gateway-addr", p.Gateway, "--dashboard-addr", p.Dashboard}
		if o.Secret != "" {
			args = append(args, "--secret", o.Secret)
		}
		args = append(args, o.Args...)
		p.cmd = exec.Command(bin, args...)
		p.cmd.Env = append(CleanEnv(), o.Env...)
		p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait returns once the process has exited and both pipes are drained, so
		// after done nothing more is written.
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() { p.cleanup(t) })

		// The announcements name this process's own addresses: whatever answers
		// there afterwards is this process, not an earlier tenant of the port.
		gwLine := "Tollgate gateway listening on " + p.Gateway + " ("
		dashLines := []string{"Tollgate dashboard listening on http://" + p.Dashboard + " ", "Tollgate dashboard listening on https://" + p.Dashboard + " "}
		announced := p.Stdout.WaitUntil(readyTimeout, func(out string) bool {
			return (!wantGateway || strings.Contains(out, gwLine)) &&
				(!wantDashboard || strings.Contains(out, dashLines[0]) || strings.Contains(out, dashLines[1]))
		})
		switch {
		case announced:
		case p.Exited() && strings.Contains(p.Stderr.String(), "address already in use") && attempt < 3:
			t.Logf("port taken, retrying: %s", strings.TrimSpace(p.Stderr.String()))
			stdout = p.Stdout.bytes()
			continue
		case p.Exited() && o.MayExit:
			return p
		case p.Exited():
			t.Fatalf("tollgate serve exited with %d before it was listening\nstdout:\n%s\nstderr:\n%s", p.ExitCode(), p.Stdout, p.Stderr)
		default:
			t.Fatalf("tollgate serve did not announce its listeners within %v\nstdout:\n%s\nstderr:\n%s", readyTimeout, p.Stdout, p.Stderr)
		}
		// Over TLS the announcement alone is the readiness: the probe speaks plain HTTP.
		if wantGateway && strings.Contains(p.Stdout.String(), gwLine+"http,") {
			p.checkReady(t)
		}
		return p
	}
}

// checkReady requires GET /ready on the gateway to answer 200 now.
func (p *Process) checkReady(t testing.TB) {
	t.Helper()
	resp, err := probe.Get("http://" + p.Gateway + "/ready")
	if err != nil {
		t.Fatalf("tollgate serve announced its listeners, but GET /ready failed: %v\nstderr:\n%s", err, p.Stderr)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tollgate serve announced its listeners, but GET /ready = %d\nstderr:\n%s", resp.StatusCode, p.Stderr)
	}
}

// cleanup stops the process if the test left it running and shows its log when the
// test failed.
func (p *Process) cleanup(t testing.TB) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if t.Failed() {
		t.Logf("tollgate serve on %s stderr:\n%s", p.Gateway, p.Stderr)
	}
}

// Done is closed when the process has exited and its output is complete.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the process's exit code, or -1 while it runs or when a signal ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process; it fails the test if that is impossible (the
// process has already exited, say).
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to tollgate serve: %v", sig, err)
	}
}

// Wait waits up to timeout for the process to exit (after a signal the test sent)
// and returns its exit code; past timeout it kills the process and fails the test.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("tollgate serve did not exit within %v\nstderr:\n%s", timeout, p.Stderr)
	}
	return p.ExitCode()
}

// Stop sends SIGTERM and returns the exit code once the process is gone (bounded by
// the server's own shutdown timeout). Stopping an exited process returns its code.
func (p *Process) Stop(t testing.TB) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	return p.Wait(t, stopTimeout)
}

// Field returns the last word of the first stdout line that contains marker (the
// first-run credentials: "password:", "Dashboard API access credentials:"), or "".
func (p *Process) Field(marker string) string {
	for l := range strings.SplitSeq(p.Stdout.String(), "\n") {
		if strings.Contains(l, marker) {
			if f := strings.Fields(l); len(f) > 0 {
				return f[len(f)-1]
			}
		}
	}
	return ""
}

// Result is the outcome of a short-lived tollgate command.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// runTimeout bounds a short-lived command: each takes well under a second.
const runTimeout = 20 * time.Second

// Run runs tollgate with args in the clean environment plus env ("KEY=value"; a
// later entry wins) and waits, bounded, for it to exit.
func Run(t testing.TB, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(mustBinary(t), args...)
	cmd.Env = append(CleanEnv(), env...)
	done := make(chan struct{})
	stdout, stderr := newOutput(done, nil), newOutput(done, nil)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(runTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("tollgate %q still running after %v (it should have exited)\nstdout:\n%s\nstderr:\n%s", args, runTimeout, stdout, stderr)
	}
	return Result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}
