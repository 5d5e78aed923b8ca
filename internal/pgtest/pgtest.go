// Package pgtest starts a real PostgreSQL server for tests: one server per test
// binary, on a free 127.0.0.1 port, its data and sockets in a temporary directory,
// with a fresh database for every test that asks for one. Tests never stand a fake
// in for PostgreSQL.
//
// A package that uses it runs its tests through Main, which stops the server and
// removes its files when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.DSN(t) // an empty database of its own
//		...
//	}
//
// The server starts on the first DSN call, so a package whose tests all skip starts
// none. Without PostgreSQL's binaries the test is skipped, unless
// TOLLGATE_REQUIRE_SERVERS is set (as `make test` does), so CI cannot pass by
// skipping. The binaries are looked up on PATH and in Debian's
// /usr/lib/postgresql/<version>/bin, where the postgresql package puts them.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate/tollgate/internal/pgbin"
)

// startTimeout bounds initdb plus the server's start. initdb takes about a second
// here; the margin is for a loaded CI machine running -race builds beside it.
const startTimeout = 60 * time.Second

var (
	mainRunning atomic.Bool
	once        sync.Once
	shared      *server
	startErr    error
	skipReason  string
	dbSeq       atomic.Int64
)

// Main runs the package's tests and then stops the server, if one was started,
// and removes its files. Call it from TestMain; it does not return.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit: it returns the tests' code, for a TestMain that
// has more to set up or tear down.
func Run(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// DSN creates an empty database for t on the shared server, drops it when t ends,
// and returns its connection string. It skips t (or fails it, under
// TOLLGATE_REQUIRE_SERVERS) when PostgreSQL is not installed.
//
// options are added to the CREATE DATABASE statement as they are, such as
// "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'" for a database whose
// default collation is not the server's "C".
func DSN(t testing.TB, options ...string) string {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("pgtest.DSN needs the package's TestMain to call pgtest.Main(m), which stops the server")
	}
	once.Do(func() { shared, skipReason, startErr = start() })
	checkStarted(t, skipReason, startErr)
	name := shared.createDB(t, options)
	t.Cleanup(func() {
		// FORCE ends connections a test left open, so that a leak there does not
		// turn into a confusing failure here.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := shared.exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return shared.dsn(name)
}

// checkStarted skips or fails t when a server could not be started.
func checkStarted(t testing.TB, skipReason string, err error) {
	t.Helper()
	if skipReason != "" {
		if os.Getenv("TOLLGATE_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s and TOLLGATE_REQUIRE_SERVERS is set", skipReason)
		}
		t.Skip(skipReason + " (make test installs it)")
	}
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
}

// createDB creates a fresh database on s and returns its name.
func (s *server) createDB(t testing.TB, options []string) string {
	t.Helper()
	name := fmt.Sprintf("t_%d", dbSeq.Add(1))
	if err := s.exec(t.Context(), strings.Join(append([]string{"CREATE DATABASE", name}, options...), " ")); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return name
}

// Server is a PostgreSQL server of one test's own, for tests of an outage: it can
// be stopped and started again on the same port with the same data, as an
// operator's restart would. Most tests share one server through DSN instead.
type Server struct {
	s *server
}

// New starts a server for t alone, stopped and removed when t ends. It skips t
// (or fails it, under TOLLGATE_REQUIRE_SERVERS) when PostgreSQL is not installed.
// It needs no TestMain.
func New(t testing.TB) *Server {
	t.Helper()
	s, skip, err := start()
	checkStarted(t, skip, err)
	p := &Server{s: s}
	t.Cleanup(func() {
		// p.s, not s: Start replaces it.
		if err := p.s.stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return p
}

// DSN creates an empty database on the server and returns its connection string.
func (p *Server) DSN(t testing.TB, options ...string) string {
	t.Helper()
	return p.s.dsn(p.s.createDB(t, options))
}

// Stop shuts the server down (fast shutdown: sessions are ended, committed data
// is kept), as an operator stopping PostgreSQL would; connections are refused
// until Start.
func (p *Server) Stop(t testing.TB) {
	t.Helper()
	if err := p.s.halt(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a stopped server again on the same port and data directory.
func (p *Server) Start(t testing.TB) {
	t.Helper()
	s, logs, err := run(p.s.dir, p.s.bin, p.s.as, p.s.port, time.Now().Add(startTimeout))
	if err != nil {
		t.Fatalf("restart postgres on port %d: %v\n%s", p.s.port, err, logs)
	}
	p.s = s
}

// server is a running postgres process and what it needs.
type server struct {
	dir  string // temporary directory holding data/ and the socket
	port int
	bin  string // where postgres is
	as   runAs
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	// admin connects to the postgres database, for CREATE and DROP DATABASE.
	admin *pgxpool.Pool
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *server) exec(ctx context.Context, sql string) error {
	_, err := s.admin.Exec(ctx, sql)
	return err
}

// runAs is who the server runs as. PostgreSQL refuses to run as root, and tests
// here run as root, so then initdb and postgres are started as the postgres user
// (which Debian's package creates) and own their directory; otherwise they run as
// the current user.
type runAs struct {
	cred     *syscall.Credential // nil: as ourselves
	uid, gid int
}

func lookupRunAs() (runAs, error) {
	u, err := pgbin.LookupUser()
	return runAs{cred: u.Cred, uid: u.UID, gid: u.GID}, err
}

func (r runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	// Pdeathsig: a test binary that dies (a panic, a timeout, a kill) takes the
	// server with it instead of leaving it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start runs initdb and postgres. It returns a skip reason, not an error, when
// PostgreSQL is not installed.
func start() (*server, string, error) {
	bin, ok := pgbin.Dir()
	if !ok {
		return nil, "postgres and initdb not found on PATH or in /usr/lib/postgresql/*/bin", nil
	}
	as, err := lookupRunAs()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "tollgate-pgtest-")
	if err != nil {
		return nil, "", err
	}
	s, err := startIn(dir, bin, as)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return s, "", nil
}

func startIn(dir, bin string, as runAs) (*server, error) {
	deadline := time.Now().Add(startTimeout)
	// The server's user must own its data directory (mode 0700) and be able to
	// write its socket; MkdirTemp made dir 0700 for us, so it is handed over whole.
	if err := os.Chown(dir, as.uid, as.gid); err != nil {
		return nil, fmt.Errorf("hand %s to the server's user: %w", dir, err)
	}
	data := filepath.Join(dir, "data")
	// Trust authentication: the server listens on loopback and its socket sits in
	// a directory only its user can enter, for the life of one test binary.
	// --no-sync and fsync=off below: a crash loses a test database, nothing more.
	initdb := as.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, logs, err := run(dir, bin, as, port, deadline)
		if err == nil {
			return s, nil
		}
		// Another process can take the port between freePort and the bind.
		if strings.Contains(logs, "could not bind") && attempt < 3 {
			continue
		}
		return nil, fmt.Errorf("%w\n%s", err, logs)
	}
}

// run starts postgres on port and waits until it accepts connections. On failure
// it returns what the server logged.
func run(dir, bin string, as runAs, port int, deadline time.Time) (*server, string, error) {
	cmd := as.command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Parallel tests each open a pool of their own.
		"-c", "max_connections=200",
		"-c", "log_min_messages=warning",
	)
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start postgres: %w", err)
	}
	s := &server{dir: dir, port: port, bin: bin, as: as, cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	var logMu sync.Mutex
	var logs []string
	go func() {
		// The server writes its log to stderr; keep reading it after the start so
		// that it never blocks on a full pipe, and keep the start for errors.
		sc := bufio.NewScanner(out)
		sawReady := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if len(logs) < 200 {
				logs = append(logs, line)
			}
			logMu.Unlock()
			if !sawReady && strings.Contains(line, "database system is ready to accept connections") {
				sawReady = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	logged := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(logs, "\n")
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-ready:
	case <-s.done:
		return nil, logged(), errors.New("postgres exited during start")
	case <-timer.C:
		_ = s.kill()
		return nil, logged(), fmt.Errorf("postgres did not start within %v", startTimeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	s.admin, err = pgxpool.New(ctx, s.dsn("postgres"))
	if err == nil {
		if err = s.admin.Ping(ctx); err != nil {
			s.admin.Close()
		}
	}
	if err != nil {
		_ = s.kill()
		return nil, logged(), fmt.Errorf("connect to the new server: %w", err)
	}
	return s, "", nil
}

// stop shuts the server down and removes its files.
func (s *server) stop() error {
	err := s.halt()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// halt shuts the server down (fast shutdown: connections are ended, committed data
// kept) and keeps its files. A server already stopped stays so.
func (s *server) halt() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.admin.Close()
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-s.done:
		return nil
	case <-timer.C:
		_ = s.kill()
		return errors.New("postgres did not stop within 30s; killed")
	}
}

func (s *server) kill() error {
	err := s.cmd.Process.Kill()
	<-s.done
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
