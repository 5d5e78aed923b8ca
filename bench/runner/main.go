// Command runner is Tollgate's benchmark harness; run it with bench/run (or make
// bench) from anywhere in the repository. It builds Tollgate, a tiny upstream
// (bench/upstream) and a baseline Go reverse proxy (bench/baseline), starts them on
// 127.0.0.1, and loads every case with wrk in the same run, interleaved round by
// round, reporting medians, ratios to the baseline proxy and added latency; then the
// latency of first requests per key after a restart and the gateways' peak RSS. It
// prints one table, writes JSON to bench/results/ and ends with the line
// keyed_ratio=<key+rate+quota rps / baseline rps> (NA when that case could not run).
// See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick       bool
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	connections int
	threads     int
	keys        int
	spread      int
	keyWorkers  int
	pin         bool
	peer        string
	peerKey     string
	keep        bool
	rssMillion  bool
	out         string
	cluster     clusterMode
}

// clusterMode says whether the cluster cases run.
type clusterMode int

const (
	// clusterAuto runs them when redis-server and PostgreSQL are installed, and
	// says why not otherwise.
	clusterAuto clusterMode = iota
	clusterOn               // --cluster: missing servers are an error
	clusterOff              // --no-cluster
)

const (
	fullKeys  = 100_000
	quickKeys = 2_000
)

// parseFlags reads the command line; flag.ErrHelp means -h was asked for.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench/run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bench/run [flags]   (make bench runs the full mode)\n\n"+
			"Benchmarks Tollgate against a bare Go reverse proxy on 127.0.0.1; see bench/README.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smoke run in under a minute: 2s per case, 2,000 stored keys, no warm-up loads")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "wrk duration per case and round (whole seconds)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds (at least 3); each runs every case once, in the same order")
	fs.IntVar(&o.connections, "connections", 64, "wrk connections (-c)")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.keys, "keys", fullKeys, "keys in the many-keys gateway's store (created over HTTP)")
	fs.IntVar(&o.spread, "spread", 1000, "keys the many-keys case rotates over (and the cold-cache pass touches)")
	fs.IntVar(&o.keyWorkers, "key-workers", 16, "concurrent POST /tyk/keys requests while creating keys")
	fs.BoolVar(&o.pin, "pin", false, "pin with taskset: gateway and baseline on CPU 0, wrk and the upstream on CPU 1")
	fs.StringVar(&o.peer, "peer", "", "also load this URL on 127.0.0.1 (e.g. a Tyk you started), reported as an extra row")
	fs.StringVar(&o.peerKey, "peer-key", "", "Authorization header value for --peer")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, data dirs, logs, wrk scripts)")
	fs.BoolVar(&o.rssMillion, "rss-million", false, "also create 1,000,000 keys over HTTP (slow) and report that gateway's peak RSS")
	fs.StringVar(&o.out, "out", "bench/results", "directory for the JSON results (relative to the repository root)")
	var withCluster, noCluster bool
	fs.BoolVar(&withCluster, "cluster", false, "require the cluster cases (3 tollgate gateway on PostgreSQL and Redis) and the accuracy table; default: run them when redis-server and PostgreSQL are installed")
	fs.BoolVar(&noCluster, "no-cluster", false, "leave out the cluster cases and the accuracy table")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (see bench/run -h)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["cluster"] && set["no-cluster"]:
		return o, errors.New("--cluster and --no-cluster: give one of them")
	case set["cluster"] && withCluster, set["no-cluster"] && !noCluster:
		o.cluster = clusterOn
	case set["cluster"], set["no-cluster"]:
		o.cluster = clusterOff
	}
	if o.quick {
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["keys"] {
			o.keys = quickKeys
		}
	}
	if !o.quick {
		o.warmup = min(o.duration, 2*time.Second)
	}
	switch {
	case o.rounds < 3:
		return o, errors.New("--rounds must be at least 3 (medians of fewer runs mean little)")
	case o.duration < time.Second || o.duration%time.Second != 0:
		return o, errors.New("--duration must be a whole number of seconds, at least 1s (wrk's resolution)")
	case o.connections < 1 || o.threads < 1 || o.threads > o.connections:
		return o, errors.New("need --connections >= --threads >= 1")
	case o.spread < 1 || o.keys < o.spread:
		return o, errors.New("need --keys >= --spread >= 1")
	case o.keyWorkers < 1:
		return o, errors.New("--key-workers must be at least 1")
	case o.peerKey != "" && o.peer == "":
		return o, errors.New("--peer-key needs --peer")
	case o.cluster != clusterOff && o.connections < clusterGateways:
		return o, fmt.Errorf("the %d-gateway cluster case shares --connections out over %d wrk processes: need --connections >= %d (or --no-cluster)",
			clusterGateways, clusterGateways, clusterGateways)
	}
	if o.peer != "" {
		if err := checkLoopbackURL(o.peer); err != nil {
			return o, fmt.Errorf("--peer: %w", err)
		}
	}
	if o.pin && runtime.NumCPU() < 2 {
		return o, errors.New("--pin needs at least 2 CPUs")
	}
	return o, nil
}

// checkLoopbackURL refuses any URL that is not plain HTTP on this machine: load tests
// only ever target 127.0.0.1.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: only http:// URLs (wrk here is set up for plain HTTP on loopback)", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		if host != "localhost" {
			return fmt.Errorf("%q: load tests only target this machine (use http://127.0.0.1:PORT/path)", raw)
		}
	}
	return nil
}

// began is when the runner started; progress lines carry the time since.
var began = time.Now()

// logf prints a progress line on stderr (the table and results go to stdout).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# %5.1fs  "+format+"\n", append([]any{time.Since(began).Seconds()}, args...)...)
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(code)
}

// prebuiltDir returns the work directory bench/run built every program into
// (TOLLGATE_BENCH_DIR, holding bin/runner, bin/tollgate, bin/upstream and
// bin/baseline), or "" when the runner was started some other way.
func prebuiltDir() string {
	dir := os.Getenv("TOLLGATE_BENCH_DIR")
	os.Unsetenv("TOLLGATE_BENCH_DIR")
	if dir == "" || !strings.HasPrefix(filepath.Base(dir), "tollgate-bench-") {
		return ""
	}
	for _, b := range []string{"tollgate", "upstream", "baseline"} {
		if _, err := os.Stat(filepath.Join(dir, "bin", b)); err != nil {
			return ""
		}
	}
	return dir
}

// repoRoot finds the module root (the directory with go.mod and cmd/tollgate).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "tollgate")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the Tollgate repository (no go.mod with cmd/tollgate above the current directory)")
		}
		dir = parent
	}
}

func main() {
	// Taken first: the harness owns (and removes) this directory even when the flags
	// are wrong.
	h := &harness{dir: prebuiltDir(), prebuilt: true}
	if h.dir == "" {
		h.prebuilt = false
	}
	var err error
	if h.o, err = parseFlags(os.Args[1:]); err != nil {
		h.cleanup()
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fail(2, "%v", err)
	}
	o := h.o
	root, err := repoRoot()
	if err == nil {
		err = os.Chdir(root)
	}
	if err != nil {
		h.cleanup()
		fail(2, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	res, err := h.run(ctx)
	h.cleanup()
	if err != nil {
		code := 1
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; every process it started has been stopped")
			code = 130
		} else {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		if o.keep && h.dir != "" {
			fmt.Fprintln(os.Stderr, "bench: kept", h.dir)
		}
		fmt.Println("cluster1_ratio=NA")
		fmt.Println("cluster3_ratio=NA")
		fmt.Println("keyed_ratio=NA")
		os.Exit(code)
	}
	res.print(os.Stdout)
	if path, err := res.save(o.out); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing results:", err)
	} else {
		fmt.Println("results:", path)
	}
	if o.keep {
		fmt.Println("kept:", h.dir)
	}
	for _, l := range res.clusterRatioLines() {
		fmt.Println(l)
	}
	fmt.Println(res.keyedRatioLine())
}

// harness holds one run's state.
type harness struct {
	o   options
	dir string // work directory: bin/, data dirs, logs, wrk scripts
	// prebuilt: bench/run built the programs into dir/bin.
	prebuilt bool
	procs    procs
}

func (h *harness) bin(name string) string { return filepath.Join(h.dir, "bin", name) }

func (h *harness) cleanup() {
	h.procs.stopAll()
	if h.dir != "" && !h.o.keep {
		_ = os.RemoveAll(h.dir)
	}
}

// build compiles Tollgate, the upstream and the baseline in one go build.
func (h *harness) build(ctx context.Context) error {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(h.dir, "bin")+string(filepath.Separator),
		"./cmd/tollgate", "./bench/upstream", "./bench/baseline")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	logf("built tollgate, upstream and baseline in %s", time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// benchCase is one row of the table.
type benchCase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// URLs, when set, are loaded at once by one wrk each (see wrkSplit); URL is
	// then the first.
	URLs    []string `json:"urls,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
	Samples []sample `json:"samples,omitempty"`
	Median  *sample  `json:"median,omitempty"`
	// RatioToBaseline is median rps / the baseline's median rps.
	RatioToBaseline float64 `json:"ratio_to_baseline"`
	// RatioToKeyed (cluster cases) is median rps / the single-node embedded
	// key+rate+quota case's.
	RatioToKeyed float64 `json:"ratio_to_single_node_keyed,omitempty"`
	// Added latency: median percentile minus the baseline's, microseconds.
	AddedP50us  float64 `json:"added_p50_us"`
	AddedP99us  float64 `json:"added_p99_us"`
	AddedP999us float64 `json:"added_p99_9_us"`
	// RPSSpread is (max - min) / median of the rounds' rps: the run's own noise.
	RPSSpread float64 `json:"rps_spread"`
	// Totals over all rounds.
	TotalRequests     int64 `json:"total_requests"`
	TotalNon2xx       int64 `json:"total_non_2xx"`
	TotalSocketErrors int64 `json:"total_socket_errors"`

	script string
}

// targets are the URLs one load of the case hits.
func (c *benchCase) targets() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

func (h *harness) run(ctx context.Context) (*results, error) {
	o := h.o
	res := newResults(o)
	if o.peer != "" {
		if err := checkPeer(ctx, o.peer, o.peerKey); err != nil {
			return nil, err
		}
	}
	if err := ensureTools(ctx, o.pin); err != nil {
		return nil, err
	}
	var tools clusterTools
	skipCluster := ""
	if o.cluster == clusterOff {
		skipCluster = "--no-cluster"
	} else if t, err := findClusterTools(); err != nil {
		if o.cluster == clusterOn {
			return nil, fmt.Errorf("--cluster: %w", err)
		}
		skipCluster = err.Error()
	} else {
		tools = t
	}
	res.Host.Wrk = wrkVersion()
	// Other work on the machine makes every number noisy; say so up front.
	res.Host.BusyBeforePct, res.Host.LoadAvg1 = otherLoad(ctx, 500*time.Millisecond)
	if res.Host.BusyBeforePct > 20 {
		logf("warning: the machine is busy before the harness starts anything (%.0f%% of the CPUs in use, load average %.2f): expect noisy numbers",
			res.Host.BusyBeforePct, res.Host.LoadAvg1)
	}
	if !h.prebuilt {
		var err error
		if h.dir, err = os.MkdirTemp("", "tollgate-bench-"); err != nil {
			return nil, err
		}
		if err := h.build(ctx); err != nil {
			return nil, err
		}
	}

	// The upstream and the baseline.
	upAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	baseAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	upstream := "http://" + upAddr
	up, err := h.spawn("upstream", cpuUpstream, h.bin("upstream"), "-addr", upAddr)
	if err != nil {
		return nil, err
	}
	base, err := h.spawn("baseline", cpuProxy, h.bin("baseline"), "-addr", baseAddr, "-target", upstream)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, up, upstream+"/"); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, base, "http://"+baseAddr+"/"); err != nil {
		return nil, err
	}

	// Three gateways, started side by side:
	//   open:  one keyless API and no keys at all (its RSS is the 0-key figure);
	//   keyed: the keyed API and two keys, one without limits, one with a rate limit
	//          and a quota;
	//   many:  the keyed API and --keys keys created over HTTP.
	gws, err := h.startGateways(ctx, serveArgs, "open", "keyed", "many")
	if err != nil {
		return nil, err
	}
	open, keyed, many := gws[0], gws[1], gws[2]
	if err := newControlClient(open.url(""), 1).createAPI(ctx, keylessDefinition(upstream)); err != nil {
		return nil, fmt.Errorf("tollgate-open: %w", err)
	}
	if err := checkProxied(ctx, open.url("/open/x"), ""); err != nil {
		return nil, fmt.Errorf("tollgate-open: the keyless API does not proxy: %w", err)
	}

	// Any failure setting up keys means they are not there (yet): the keyed cases
	// are skipped, not failed.
	var plainKey, limitedKey, skipKeys string
	if plainKey, limitedKey, err = setupKeyed(ctx, keyed, upstream); err != nil {
		if !errors.Is(err, errKeysUnavailable) || ctx.Err() != nil {
			return nil, err
		}
		skipKeys = err.Error()
		logf("keyed cases skipped: %s", skipKeys)
	}

	var spreadKeys, coldKeys []string
	if skipKeys == "" {
		cc := newControlClient(many.url(""), o.keyWorkers)
		if err := cc.createAPI(ctx, keyedDefinition(upstream)); err != nil {
			return nil, fmt.Errorf("tollgate-many: %w", err)
		}
		if o.quick && o.keys < fullKeys {
			logf("quick mode: %d keys in the store instead of %d (creating them over HTTP takes too long for a one-minute run)", o.keys, fullKeys)
		}
		logf("creating %d keys over HTTP (POST /tyk/keys, %d at a time)", o.keys, o.keyWorkers)
		kept, kc, err := cc.createKeys(ctx, limitedSession, o.keys, 2*o.spread, o.keyWorkers, "tollgate-many")
		if err != nil {
			return nil, err
		}
		res.KeyCreation = &kc
		logf("created %d keys in %.1fs: %.0f keys/s", kc.Keys, kc.Seconds, kc.KeysPerSec)
		if kc.Keys < fullKeys {
			logf("  at that rate the full run's %d keys take about %s", fullKeys,
				(time.Duration(float64(fullKeys)/kc.KeysPerSec) * time.Second).Round(time.Second))
		}
		spreadKeys = kept[:o.spread]
		// The cold-cache pass uses keys the load never sent, when there are enough.
		coldKeys = kept[o.spread:]
		if len(coldKeys) < o.spread {
			// Any key is cold after the restart; the first (sent alone) is left out.
			coldKeys = spreadKeys[1:]
		}
	}

	// The cluster: 3 gateways on PostgreSQL and Redis, the keyed API and a key
	// like the single-node keyed case's.
	var cl *cluster
	if skipCluster == "" && skipKeys != "" {
		skipCluster = skipKeys
	}
	if skipCluster == "" {
		if cl, err = h.startCluster(ctx, tools, upstream); err != nil {
			if !errors.Is(err, errKeysUnavailable) || ctx.Err() != nil {
				return nil, err
			}
			skipCluster = err.Error()
		}
	}
	if skipCluster != "" {
		logf("cluster cases and accuracy table skipped: %s", skipCluster)
	}

	// The cases, in round order.
	cases := []*benchCase{
		{ID: "direct", Name: "direct to upstream", URL: upstream + "/x"},
		{ID: "baseline", Name: "baseline Go proxy", URL: "http://" + baseAddr + "/x"},
		{ID: "keyless", Name: "tollgate keyless", URL: open.url("/open/x")},
		{ID: "key", Name: "tollgate key auth", URL: keyed.url("/keyed/x")},
		{ID: "key_rate_quota", Name: "tollgate key+rate+quota", URL: keyed.url("/keyed/x")},
		{ID: "key_rate_quota_many", Name: fmt.Sprintf("key+rate+quota, %s keys, %s used", count(o.keys), count(o.spread))},
	}
	c1 := &benchCase{ID: "cluster1", Name: "cluster key+rate+quota, 1 gateway", Skipped: skipCluster}
	c3 := &benchCase{ID: "cluster3", Name: fmt.Sprintf("cluster key+rate+quota, %d gateways", clusterGateways), Skipped: skipCluster}
	if cl != nil {
		c1.URL = cl.gws[0].url("/keyed/x")
		for _, g := range cl.gws {
			c3.URLs = append(c3.URLs, g.url("/keyed/x"))
		}
		c3.URL = c3.URLs[0]
	}
	cases = append(cases, c1, c3)
	if o.peer != "" {
		cases = append(cases, &benchCase{ID: "peer", Name: "peer " + o.peer, URL: o.peer})
	}
	for _, c := range cases {
		if c.Skipped != "" {
			continue
		}
		var body string
		switch c.ID {
		case "cluster1", "cluster3":
			body = luaSingleKey(cl.limitedKey)
		case "key", "key_rate_quota", "key_rate_quota_many":
			if skipKeys != "" {
				c.Skipped = skipKeys
				continue
			}
			switch c.ID {
			case "key":
				body = luaSingleKey(plainKey)
			case "key_rate_quota":
				body = luaSingleKey(limitedKey)
			default:
				c.URL = many.url("/keyed/x")
				keyFile := filepath.Join(h.dir, "spread-keys.txt")
				if err := os.WriteFile(keyFile, []byte(strings.Join(spreadKeys, "\n")+"\n"), 0o600); err != nil {
					return nil, err
				}
				body = luaKeyFile(keyFile)
			}
		case "peer":
			if o.peerKey != "" {
				body = luaSingleKey(o.peerKey)
			}
		}
		if c.script, err = h.writeScript("case-"+c.ID, body); err != nil {
			return nil, err
		}
	}
	res.Cases = cases
	active := make([]*benchCase, 0, len(cases))
	for _, c := range cases {
		if c.Skipped == "" {
			active = append(active, c)
		}
	}

	// Warm-up: the spread keys into the many-keys gateway's cache (one request each),
	// then, in full mode, a short load of every case (connection pools, heap sizes).
	if skipKeys == "" {
		if err := warmKeys(ctx, many.url("/keyed/x"), spreadKeys); err != nil {
			return nil, fmt.Errorf("warming the many-keys gateway: %w", err)
		}
	}
	if o.warmup > 0 {
		logf("warm-up: %s per case", o.warmup)
		for _, c := range active {
			if _, err := h.wrkSplit(ctx, c.targets(), c.script, o.warmup); err != nil {
				return nil, err
			}
		}
	}

	for r := 1; r <= o.rounds; r++ {
		logf("round %d of %d: %d cases x %s", r, o.rounds, len(active), o.duration)
		for _, c := range active {
			s, err := h.wrkSplit(ctx, c.targets(), c.script, o.duration)
			if err != nil {
				return nil, err
			}
			if s.Non2xx > 0 || s.SocketErrors > 0 {
				logf("  %s: %d responses >= 400, %d socket errors", c.Name, s.Non2xx, s.SocketErrors)
			}
			c.Samples = append(c.Samples, s)
		}
	}
	summarise(cases)

	// Peak RSS after the load.
	res.RSS = append(res.RSS, rssOf("tollgate-open", 0, "after the keyless load", open))
	if skipKeys == "" {
		res.RSS = append(res.RSS, rssOf("tollgate-keyed", 2, "after the key loads", keyed))
		res.RSS = append(res.RSS, rssOf("tollgate-many", o.keys, "after creating the keys and the load", many))

		// Cold cache: restart the many-keys gateway and time the first request of
		// each of --spread keys it has not seen since it started, then a second one.
		logf("cold cache: restarting tollgate-many and sending the first request of %d keys", len(coldKeys))
		many2, err := h.restart(ctx, many)
		if err != nil {
			return nil, err
		}
		res.RSS = append(res.RSS, rssOf("tollgate-many", o.keys, "restarted, idle", many2))
		cold, err := coldCache(ctx, many2.url("/keyed/x"), spreadKeys[0], coldKeys)
		if err != nil {
			return nil, err
		}
		cold.RestartToReadyMS = ms(many2.ready)
		res.Cold = cold
		res.RSS = append(res.RSS, rssOf("tollgate-many", o.keys, fmt.Sprintf("restarted, after the cold pass (%d keys)", len(coldKeys)), many2))

		if o.rssMillion {
			rows, err := h.rssMillion(ctx, upstream, res)
			if err != nil {
				return nil, err
			}
			res.RSS = append(res.RSS, rows...)
		}
	}
	// Last: it stops cluster gateways as it goes.
	res.Accuracy = &accuracyResult{Skipped: skipCluster}
	if cl != nil {
		if res.Accuracy, err = h.accuracy(ctx, cl); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(began).Seconds()
	return res, nil
}

// setupKeyed creates the keyed API and the two single keys, and checks a key gets
// through. Errors wrapping errKeysUnavailable mean "skip the keyed cases".
func setupKeyed(ctx context.Context, g *gateway, upstream string) (plain, limited string, err error) {
	cc := newControlClient(g.url(""), 1)
	if err := cc.createAPI(ctx, keyedDefinition(upstream)); err != nil {
		return "", "", fmt.Errorf("%w (creating an API with use_keyless false: %v)", errKeysUnavailable, err)
	}
	if plain, err = cc.createKey(ctx, plainSession); err != nil {
		return "", "", err
	}
	if limited, err = cc.createKey(ctx, limitedSession); err != nil {
		return "", "", err
	}
	for _, k := range []string{plain, limited} {
		if err := checkProxied(ctx, g.url("/keyed/x"), k); err != nil {
			return "", "", fmt.Errorf("%w (a request with a key just created: %v)", errKeysUnavailable, err)
		}
	}
	return plain, limited, nil
}

// checkPeer makes sure --peer answers 2xx before anything is built.
func checkPeer(ctx context.Context, peer, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer, nil)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("--peer %s: %w (start it first)", peer, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("--peer %s answered %d; it must answer 2xx (check the URL and --peer-key)", peer, resp.StatusCode)
	}
	return nil
}

// rssMillion creates a gateway with 1,000,000 keys, loads it over --spread keys,
// then restarts it and touches --spread keys once, reading VmHWM after each step.
func (h *harness) rssMillion(ctx context.Context, upstream string, res *results) ([]rssRow, error) {
	const n = 1_000_000
	o := h.o
	gs, err := h.startGateways(ctx, serveArgs, "million")
	if err != nil {
		return nil, err
	}
	g := gs[0]
	cc := newControlClient(g.url(""), o.keyWorkers)
	if err := cc.createAPI(ctx, keyedDefinition(upstream)); err != nil {
		return nil, fmt.Errorf("tollgate-million: %w", err)
	}
	logf("--rss-million: creating %d keys over HTTP; this takes a while", n)
	kept, kc, err := cc.createKeys(ctx, limitedSession, n, 2*o.spread, o.keyWorkers, "tollgate-million")
	if err != nil {
		return nil, err
	}
	res.MillionKeyCreation = &kc
	logf("created %d keys in %.0fs (%.0f keys/s)", n, kc.Seconds, kc.KeysPerSec)
	keyFile := filepath.Join(h.dir, "million-keys.txt")
	if err := os.WriteFile(keyFile, []byte(strings.Join(kept[:o.spread], "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	script, err := h.writeScript("million", luaKeyFile(keyFile))
	if err != nil {
		return nil, err
	}
	if _, err := h.wrk(ctx, g.url("/keyed/x"), script, o.duration); err != nil {
		return nil, err
	}
	rows := []rssRow{rssOf("tollgate-million", n, "after creating the keys and a load", g)}
	g2, err := h.restart(ctx, g)
	if err != nil {
		return nil, err
	}
	rows = append(rows, rssOf("tollgate-million", n, "restarted, idle", g2))
	if err := warmKeys(ctx, g2.url("/keyed/x"), kept[o.spread:]); err != nil {
		return nil, err
	}
	rows = append(rows, rssOf("tollgate-million", n, fmt.Sprintf("restarted, after %d first requests", len(kept)-o.spread), g2))
	g2.p.stop(30 * time.Second)
	return rows, nil
}

func rssOf(name string, keys int, when string, g *gateway) rssRow {
	mib, err := peakRSS(g.p.pid())
	row := rssRow{Gateway: name, Keys: keys, When: when, PeakMiB: mib}
	if err != nil {
		row.Error = err.Error()
	}
	return row
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
