package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
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

	"github.com/tollgate/tollgate/internal/pgbin"
)

// clusterGateways is how many `tollgate gateway` processes the cluster runs.
const clusterGateways = 3

// serverStartTimeout bounds initdb plus a server's start on a loaded machine.
const serverStartTimeout = 60 * time.Second

// clusterTools are the servers a cluster needs, found on this machine.
type clusterTools struct {
	redis  string // redis-server
	pgBin  string // directory holding initdb and postgres
	pgUser pgbin.User
}

// findClusterTools looks for redis-server on PATH and PostgreSQL's initdb and
// postgres (on PATH or where Debian puts them), and the user PostgreSQL runs as
// (not root). The error says what is missing.
func findClusterTools() (clusterTools, error) {
	var t clusterTools
	var err error
	if t.redis, err = exec.LookPath("redis-server"); err != nil {
		return t, errors.New("redis-server not found on PATH (Debian: apt-get install redis-server)")
	}
	var ok bool
	if t.pgBin, ok = pgbin.Dir(); !ok {
		return t, errors.New("PostgreSQL's postgres and initdb not found on PATH or in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)")
	}
	t.pgUser, err = pgbin.LookupUser()
	return t, err
}

// cluster is the running cluster: one PostgreSQL, one Redis, gateways sharing them,
// the keyed API on all of them, and a key with the single-node keyed case's limits.
type cluster struct {
	gws        []*gateway
	limitedKey string
}

// startCluster starts PostgreSQL and Redis on free loopback ports with their data
// under the work directory, then clusterGateways `tollgate gateway` processes on
// them, and creates the keyed API and a key through the first gateway's /tyk/ API
// (gateways share the store, and API changes reach the others over Redis).
// Errors wrapping errKeysUnavailable mean "skip the cluster cases".
func (h *harness) startCluster(ctx context.Context, tools clusterTools, upstream string) (*cluster, error) {
	t0 := time.Now()
	dsn, err := h.startPostgres(ctx, tools)
	if err != nil {
		return nil, err
	}
	redisURL, err := h.startRedis(ctx, tools)
	if err != nil {
		return nil, err
	}
	// Nodes sharing a store must share the key that seals dashboard access keys; a
	// fresh one per run, like the fresh database.
	encKey := make([]byte, 32)
	_, _ = rand.Read(encKey)
	args := []string{"gateway", "--postgres", dsn, "--redis", redisURL, "--encryption-key", hex.EncodeToString(encKey)}
	names := make([]string, clusterGateways)
	for i := range names {
		names[i] = fmt.Sprintf("cluster-%d", i+1)
	}
	c := &cluster{}
	// One at a time: concurrent first starts would race on the migrations, which
	// Tollgate serialises anyway; starting in turn keeps the logs readable.
	for _, n := range names {
		gs, err := h.startGateways(ctx, args, n)
		if err != nil {
			return nil, err
		}
		c.gws = append(c.gws, gs...)
	}
	cc := newControlClient(c.gws[0].url(""), 1)
	if err := cc.createAPI(ctx, keyedDefinition(upstream)); err != nil {
		return nil, fmt.Errorf("%w (cluster: creating the keyed API: %v)", errKeysUnavailable, err)
	}
	if c.limitedKey, err = cc.createKey(ctx, limitedSession); err != nil {
		return nil, err
	}
	// The other gateways learn of the API through a change event; the key is read
	// from PostgreSQL by each on its first request, which also warms its cache.
	for _, g := range c.gws {
		if err := eventually(ctx, 5*time.Second, func() error { return checkProxied(ctx, g.url("/keyed/x"), c.limitedKey) }); err != nil {
			return nil, fmt.Errorf("%w (cluster: %s does not serve a key made on %s: %v)", errKeysUnavailable, g.name, c.gws[0].name, err)
		}
	}
	logf("cluster: PostgreSQL, Redis and %d gateways ready in %s", len(c.gws), time.Since(t0).Round(100*time.Millisecond))
	return c, nil
}

// eventually retries f every 20 ms until it succeeds or d passes.
func eventually(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPostgres runs initdb and postgres in <dir>/postgres and returns the DSN of
// its postgres database. Settings as internal/pgtest's: trust authentication (it
// listens on loopback only, its socket in a directory only its user can enter) and
// no fsync (a crash loses a benchmark database, nothing more).
func (h *harness) startPostgres(ctx context.Context, tools clusterTools) (string, error) {
	dir := filepath.Join(h.dir, "postgres")
	if tools.pgUser.Cred != nil {
		// The server's user must reach its directory through the work directory,
		// which stays unlistable to others.
		if err := os.Chmod(h.dir, 0o711); err != nil {
			return "", err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chown(dir, tools.pgUser.UID, tools.pgUser.GID); err != nil {
		return "", fmt.Errorf("hand %s to PostgreSQL's user: %w", dir, err)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(tools.pgBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: tools.pgUser.Cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := strings.Cut(addr, ":")
	p, err := h.spawnAs("postgres", cpuProxy, tools.pgUser.Cred, filepath.Join(tools.pgBin, "postgres"), "-D", data, "-p", port,
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "log_min_messages=warning")
	if err != nil {
		return "", err
	}
	p.stopSignal = syscall.SIGINT // fast shutdown
	if err := waitLog(ctx, p, "database system is ready to accept connections", serverStartTimeout); err != nil {
		return "", err
	}
	return "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", nil
}

// startRedis runs redis-server without persistence in <dir>/redis and returns its
// URL.
func (h *harness) startRedis(ctx context.Context, tools clusterTools) (string, error) {
	dir := filepath.Join(h.dir, "redis")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := strings.Cut(addr, ":")
	p, err := h.spawn("redis", cpuProxy, tools.redis, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "notice")
	if err != nil {
		return "", err
	}
	if err := waitLog(ctx, p, "Ready to accept connections", serverStartTimeout); err != nil {
		return "", err
	}
	return "redis://" + addr, nil
}

// Accuracy: a key with a real rate limit flooded from a fresh counter.
const (
	accuracyRate    = 120
	accuracyPer     = 1 // seconds
	accuracyWorkers = 12
)

// accuracyLoads are the table's rows: how many gateways run, and the share of the
// flood's concurrent clients each receives.
var accuracyLoads = []struct {
	gateways int
	load     string
	weights  []int
}{
	{3, "even 1:1:1", []int{1, 1, 1}},
	{3, "skewed 4:1:1", []int{4, 1, 1}},
	{3, "all on one", []int{1, 0, 0}},
	{2, "even 1:1", []int{1, 1}},
	{2, "skewed 4:1", []int{4, 1}},
	{1, "all on one", []int{1}},
}

// accuracyRow is one cell of the accuracy table.
type accuracyRow struct {
	Gateways int    `json:"gateways"`
	Load     string `json:"load"`
	// Clients are the concurrent request loops on each gateway.
	Clients  []int `json:"clients_per_gateway"`
	Sent     int   `json:"sent"`
	Admitted int   `json:"admitted"`
	// Refused are the 429s; Other any other answer (or transport error), which
	// makes the row meaningless.
	Refused int `json:"refused_429"`
	Other   int `json:"other_answers"`
	Ideal   int `json:"ideal"`
	// Ratio is admitted / ideal.
	Ratio float64 `json:"ratio"`
	// MostInWindow is the most admissions the client saw within any window of
	// `per` (shortened by 50 ms for the time an answer takes to arrive): never
	// more than the rate.
	MostInWindow int   `json:"most_admitted_in_one_window"`
	PerGateway   []int `json:"admitted_per_gateway"`
}

// accuracyResult is the accuracy table.
type accuracyResult struct {
	Skipped  string        `json:"skipped,omitempty"`
	Rate     int           `json:"rate"`
	PerS     int           `json:"per_seconds"`
	FloodS   float64       `json:"flood_seconds"`
	Ideal    int           `json:"ideal"`
	Rows     []accuracyRow `json:"rows,omitempty"`
	Accurate *bool         `json:"every_row_within_1_percent,omitempty"`
}

// accuracyFlood is how long each row's flood lasts. A sliding window flooded from a
// fresh counter admits `rate` at once and `rate` more as each of those leaves the
// window, so it admits rate * ceil(flood / per); half a window past a boundary, the
// count does not hang on when a request lands near one.
func accuracyFlood(quick bool) time.Duration {
	if quick {
		return 2500 * time.Millisecond
	}
	return 4500 * time.Millisecond
}

// accuracy floods a fresh key per row and compares what was admitted with the
// ideal. It runs the rows with 3 gateways first, then stops gateways to run those
// with 2 and 1: the cluster is not usable afterwards.
func (h *harness) accuracy(ctx context.Context, c *cluster) (*accuracyResult, error) {
	flood := accuracyFlood(h.o.quick)
	ideal := accuracyRate * int(math.Ceil(flood.Seconds()/accuracyPer))
	res := &accuracyResult{Rate: accuracyRate, PerS: accuracyPer, FloodS: flood.Seconds(), Ideal: ideal}
	session := fmt.Sprintf(`{"rate":%d,"per":%d,"quota_max":-1,"quota_renewal_rate":0,"expires":0,%s}`, accuracyRate, accuracyPer, accessRights)
	cc := newControlClient(c.gws[0].url(""), 1)
	logf("accuracy: a key of %d per %d s flooded for %s from a fresh counter, %d rows", accuracyRate, accuracyPer, flood, len(accuracyLoads))
	accurate := true
	running := len(c.gws)
	for _, l := range accuracyLoads {
		for running > l.gateways {
			running--
			c.gws[running].p.stop(30 * time.Second)
		}
		key, err := cc.createKey(ctx, session)
		if err != nil {
			return nil, err
		}
		urls := make([]string, l.gateways)
		for i := range urls {
			urls[i] = c.gws[i].url("/keyed/x")
		}
		row := floodKey(ctx, urls, key, clientsFor(l.weights), flood)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		row.Gateways, row.Load, row.Ideal = l.gateways, l.load, ideal
		row.Ratio = float64(row.Admitted) / float64(ideal)
		if bound := max(1, ideal/100); row.Other > 0 || row.Admitted < ideal-bound || row.Admitted > ideal+bound || row.MostInWindow > accuracyRate {
			accurate = false
		}
		res.Rows = append(res.Rows, row)
	}
	res.Accurate = &accurate
	return res, nil
}

// clientsFor shares up to accuracyWorkers out in exactly the weights' proportions
// (4:1 is 8:2, not 9:2), at least one client per unit of weight.
func clientsFor(weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	unit := max(1, accuracyWorkers/max(total, 1))
	out := make([]int, len(weights))
	for i, w := range weights {
		out[i] = w * unit
	}
	return out
}

// floodKey runs clients[i] request loops against urls[i] for d, all with key, and
// counts the answers.
func floodKey(ctx context.Context, urls []string, key string, clients []int, d time.Duration) accuracyRow {
	type answer struct {
		gw     int
		status int
		at     time.Time
	}
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: accuracyWorkers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		all []answer
		wg  sync.WaitGroup
	)
	end := time.Now().Add(d)
	for gw, n := range clients {
		for range n {
			wg.Go(func() {
				var mine []answer
				for time.Now().Before(end) && ctx.Err() == nil {
					status := 0
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[gw], nil)
					req.Header.Set("Authorization", key)
					if resp, err := client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						status = resp.StatusCode
					}
					mine = append(mine, answer{gw, status, time.Now()})
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	row := accuracyRow{Clients: clients, Sent: len(all), PerGateway: make([]int, len(urls))}
	var admitted []time.Time
	for _, a := range all {
		switch a.status {
		case http.StatusOK:
			row.Admitted++
			row.PerGateway[a.gw]++
			admitted = append(admitted, a.at)
		case http.StatusTooManyRequests:
			row.Refused++
		default:
			row.Other++
		}
	}
	slices.SortFunc(admitted, func(a, b time.Time) int { return a.Compare(b) })
	window := accuracyPer*time.Second - 50*time.Millisecond
	for i, j := 0, 0; i < len(admitted); i++ {
		for admitted[i].Sub(admitted[j]) >= window {
			j++
		}
		row.MostInWindow = max(row.MostInWindow, i-j+1)
	}
	return row
}

// print writes the accuracy table.
func (a *accuracyResult) print(w io.Writer) {
	if a == nil {
		return
	}
	if a.Skipped != "" {
		fmt.Fprintf(w, "\naccuracy table skipped: %s\n", a.Skipped)
		return
	}
	fmt.Fprintf(w, "\naccuracy: a key of %d per %d s, flooded for %.1f s from a fresh counter by %d concurrent clients;\n"+
		"ideal %d admitted (rate x ceil(flood / per) for a sliding window); target 0.99-1.01 in every row\n",
		a.Rate, a.PerS, a.FloodS, accuracyWorkers, a.Ideal)
	fmt.Fprintf(w, "%-8s %-13s %-9s %6s %8s %6s %8s %6s %9s %s\n", "gateways", "load", "clients", "sent", "admitted", "ideal",
		"adm/ideal", "other", "most/1win", "admitted per gateway")
	for _, r := range a.Rows {
		fmt.Fprintf(w, "%-8d %-13s %-9s %6d %8d %6d %9.3f %6d %9d %s\n", r.Gateways, r.Load, joinInts(r.Clients), r.Sent, r.Admitted,
			r.Ideal, r.Ratio, r.Other, r.MostInWindow, joinInts(r.PerGateway))
	}
	if a.Accurate != nil && !*a.Accurate {
		fmt.Fprintf(w, "NOT within target: a row is outside ideal ± max(1, 1%%), saw other answers than 200/429, or admitted more than %d in one window\n", a.Rate)
	}
	fmt.Fprintf(w, "(other: answers neither 200 nor 429, or transport errors; most/1win: most admitted within any %d s window as the client saw them)\n", a.PerS)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ":")
}
