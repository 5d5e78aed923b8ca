package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CPU placement with --pin: the proxies under test get CPU 0 to themselves; the load
// generator and the upstream share CPU 1.
const (
	cpuProxy    = 0
	cpuLoad     = 1
	cpuUpstream = 1
)

// proc is one long-running child (upstream, baseline, a gateway).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	// stopSignal asks the child to stop; SIGTERM unless set (PostgreSQL takes
	// SIGINT: its SIGTERM waits for every client to disconnect first).
	stopSignal syscall.Signal
}

// procs tracks every child so that cleanup can stop them all, whatever happened.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

// sysProcAttr puts a child in its own process group (so a Ctrl-C reaches only the
// runner, which then stops the children in order) and has the kernel kill it if the
// runner dies without cleaning up (Pdeathsig; the runner never locks OS threads, so
// the signal fires only when the runner itself is gone).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// command returns name args, under taskset -c cpu when pinning.
func (h *harness) command(ctx context.Context, cpu int, name string, args ...string) *exec.Cmd {
	if h.o.pin {
		args = append([]string{"-c", strconv.Itoa(cpu), name}, args...)
		name = "taskset"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// spawn starts a long-running child with its output in <dir>/<name>.log. taskset
// execs the program, so the pid is the program's (for /proc/<pid>/status).
func (h *harness) spawn(name string, cpu int, bin string, args ...string) (*proc, error) {
	return h.spawnAs(name, cpu, nil, bin, args...)
}

// spawnAs is spawn as another user when cred is set (PostgreSQL refuses to run as
// root).
func (h *harness) spawnAs(name string, cpu int, cred *syscall.Credential, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(h.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := h.command(context.Background(), cpu, bin, args...)
	cmd.SysProcAttr.Credential = cred
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	h.procs.mu.Lock()
	h.procs.list = append(h.procs.list, p)
	h.procs.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (or stopSignal) to the child's process group, waits up to
// grace, then kills it.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), cmp.Or(p.stopSignal, syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// logTail is the end of a child's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// stopAll stops every child still running, newest first, in parallel.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		wg.Go(func() { p.stop(10 * time.Second) })
	}
	wg.Wait()
}

// freeAddr picks a free port on 127.0.0.1.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200, the process exits or 30 s pass.
func waitReady(ctx context.Context, p *proc, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return p.waitFor(ctx, 30*time.Second, "at "+url, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitLog waits until the child's log holds line, the child exits or timeout
// passes: how servers that speak no HTTP (Redis, PostgreSQL) say they are ready.
func waitLog(ctx context.Context, p *proc, line string, timeout time.Duration) error {
	return p.waitFor(ctx, timeout, fmt.Sprintf("(no %q in its log)", line), func() bool {
		b, err := os.ReadFile(p.log)
		return err == nil && strings.Contains(string(b), line)
	})
}

// waitFor polls ready every 20 ms until it is true, the child exits or timeout
// passes; what says what was waited for in the error.
func (p *proc) waitFor(ctx context.Context, timeout time.Duration, what string, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready %s after %s:\n%s", p.name, what, timeout, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peakRSS reads VmHWM, the process's peak resident set size, in MiB.
func peakRSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmHWM line in /proc/<pid>/status")
}

// gateway is one running Tollgate.
type gateway struct {
	name    string
	p       *proc
	addr    string // gateway listener, host:port
	dataDir string
	// args are the subcommand and the flags beyond the addresses and the data dir,
	// kept for a restart.
	args    []string
	started time.Time
	ready   time.Duration // from start to /ready answering 200
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// serveArgs run a one-process Tollgate on the embedded store.
var serveArgs = []string{"serve"}

// launchGateway starts `tollgate <args...>` (serveArgs, or `gateway` with its
// cluster flags) on fresh loopback ports without waiting.
func (h *harness) launchGateway(name, dataDir string, args []string) (*gateway, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	g := &gateway{name: name, addr: addr, dataDir: dataDir, args: args, started: time.Now()}
	full := append(slices.Clone(args), "--data-dir", dataDir, "--secret", adminSecret, "--gateway-addr", addr, "--log-level", "error")
	if args[0] == "serve" {
		dash, err := freeAddr()
		if err != nil {
			return nil, err
		}
		full = append(full, "--dashboard-addr", dash)
	}
	g.p, err = h.spawn(name, cpuProxy, h.bin("tollgate"), full...)
	return g, err
}

// waitReady waits for the gateway's /ready to answer 200.
func (g *gateway) waitReady(ctx context.Context) error {
	if err := waitReady(ctx, g.p, g.url("/ready")); err != nil {
		return err
	}
	g.ready = time.Since(g.started)
	return nil
}

// startGateways starts gateways named tollgate-<name> (data in <dir>/data-<name>)
// running `tollgate <args...>` side by side and waits until all are ready.
func (h *harness) startGateways(ctx context.Context, args []string, names ...string) ([]*gateway, error) {
	gs := make([]*gateway, len(names))
	for i, n := range names {
		g, err := h.launchGateway("tollgate-"+n, filepath.Join(h.dir, "data-"+n), args)
		if err != nil {
			return nil, err
		}
		gs[i] = g
	}
	for _, g := range gs {
		if err := g.waitReady(ctx); err != nil {
			return nil, err
		}
	}
	return gs, nil
}

// restart stops the gateway and starts it again on the same data directory.
func (h *harness) restart(ctx context.Context, g *gateway) (*gateway, error) {
	g.p.stop(30 * time.Second)
	g2, err := h.launchGateway(g.name+"-restarted", g.dataDir, g.args)
	if err != nil {
		return nil, err
	}
	return g2, g2.waitReady(ctx)
}

// cpuTimes reads the aggregate busy and total jiffies from /proc/stat.
func cpuTimes() (busy, total uint64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("unexpected /proc/stat")
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// otherLoad measures how busy the machine is before the harness starts anything: the
// share of all CPUs in use over d, in percent, and the 1-minute load average.
func otherLoad(ctx context.Context, d time.Duration) (busyPct, load1 float64) {
	b0, t0, err := cpuTimes()
	if err != nil {
		return -1, -1
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	b1, t1, err := cpuTimes()
	if err == nil && t1 > t0 {
		busyPct = 100 * float64(b1-b0) / float64(t1-t0)
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return busyPct, load1
}
