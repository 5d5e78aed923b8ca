// Command runner is Tollgate's benchmark harness (run it with bench/run or make
// bench). It builds Tollgate, a tiny upstream and a baseline Go reverse proxy, starts
// them on 127.0.0.1, and measures every case with wrk in the same run, interleaved
// round by round, reporting medians and ratios to the baseline proxy. The last line
// of output is keyed_ratio=<key+rate+quota rps / baseline rps>.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

type options struct {
	quick       bool
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	connections int
	threads     int
	pin         bool
	keys        int
	spread      int
	peer        string
	peerKey     string
	keep        bool
	rssMillion  bool
	out         string
}

const secret = "bench-harness-admin-secret"

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "fast check: short runs, fewer stored keys (under a minute in all)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk duration per case and round")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; every case runs once per round, interleaved")
	flag.IntVar(&o.connections, "connections", 64, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.BoolVar(&o.pin, "pin", false, "pin with taskset: proxies on CPU 0, wrk and the upstream on CPU 1")
	flag.IntVar(&o.keys, "keys", 100_000, "keys stored for the many-keys case")
	flag.IntVar(&o.spread, "spread", 1000, "keys the many-keys case spreads requests over")
	flag.StringVar(&o.peer, "peer", "", "also load this gateway URL (e.g. a Tyk you started), reported as an extra row")
	flag.StringVar(&o.peerKey, "peer-key", "", "Authorization header value for --peer")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, data, wrk scripts)")
	flag.BoolVar(&o.rssMillion, "rss-million", false, "also measure peak RSS with 1,000,000 stored keys (slow to build)")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the JSON results")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["keys"] {
			o.keys = 2000
		}
	}
	// wrk takes whole seconds.
	o.warmup = max(time.Second, min(o.duration/2, 2*time.Second))
	if o.rounds < 1 || o.connections < 1 || o.threads < 1 || o.keys < o.spread || o.spread < 1 || o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "runner: need rounds, connections, threads >= 1, duration >= 1s and keys >= spread >= 1")
		os.Exit(2)
	}
	if o.peer != "" && !strings.HasPrefix(o.peer, "http://127.0.0.1") && !strings.HasPrefix(o.peer, "http://localhost") {
		fmt.Fprintln(os.Stderr, "runner: --peer must be on 127.0.0.1 (load tests only ever target this machine)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{o: o}
	err := h.run(ctx)
	h.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		fmt.Println("keyed_ratio=NA")
		os.Exit(1)
	}
}

type harness struct {
	o     options
	dir   string
	procs []*exec.Cmd
}

func (h *harness) cleanup() {
	for _, p := range h.procs {
		if p.Process != nil && p.ProcessState == nil {
			_ = p.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
			}
		}
	}
	if h.dir != "" && !h.o.keep {
		os.RemoveAll(h.dir)
	} else if h.dir != "" {
		fmt.Println("kept", h.dir)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "# "+format+"\n", args...) }

func ensureWrk() error {
	if _, err := exec.LookPath("wrk"); err == nil {
		return nil
	}
	logf("installing wrk from Debian")
	sudo := []string{}
	if os.Geteuid() != 0 {
		sudo = []string{"sudo"}
	}
	for _, args := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "wrk"}} {
		cmd := exec.Command(append(sudo, args...)[0], append(sudo, args...)[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("install wrk: %w", err)
		}
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// command builds an exec.Cmd, pinned to cpu when --pin is set and taskset exists.
func (h *harness) command(cpu int, name string, args ...string) *exec.Cmd {
	if h.o.pin {
		if ts, err := exec.LookPath("taskset"); err == nil {
			return exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
		}
	}
	return exec.Command(name, args...)
}

func (h *harness) start(cpu int, name string, args ...string) (*exec.Cmd, error) {
	cmd := h.command(cpu, name, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h.procs = append(h.procs, cmd)
	return cmd, nil
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", url)
}

// gateway is one running tollgate.
type gateway struct {
	cmd                 *exec.Cmd
	addr, dash, dataDir string
}

func (h *harness) startGateway(dataDir string) (*gateway, error) {
	g := &gateway{dataDir: dataDir}
	var err error
	if g.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if g.dash, err = freeAddr(); err != nil {
		return nil, err
	}
	g.cmd, err = h.start(0, filepath.Join(h.dir, "tollgate"), "serve", "--data-dir", dataDir, "--secret", secret,
		"--gateway-addr", g.addr, "--dashboard-addr", g.dash, "--log-level", "error")
	if err != nil {
		return nil, err
	}
	return g, waitHTTP("http://" + g.addr + "/ready")
}

func (g *gateway) stop() error {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	return g.cmd.Wait()
}

// peakRSS reads VmHWM (peak resident set) of a process, in MiB.
func peakRSS(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// pid of the process doing the work (taskset execs it, so the pid is the same).
func pid(c *exec.Cmd) int { return c.Process.Pid }

func keyedDefinition(target string) string {
	return `{"api_id":"keyed","name":"keyed","use_keyless":false,"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"/keyed/","target_url":"` + target + `","strip_listen_path":true}}`
}

const limitedSession = `{"rate":1000000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,` +
	`"access_rights":{"keyed":{"api_id":"keyed","versions":["Default"]}}}`

func control(addr, method, path, body string) (map[string]any, error) {
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("x-tyk-authorization", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return out, json.Unmarshal(b, &out)
}

// populate writes an API and n keys straight into a data dir's store (much faster
// than n HTTP calls) and returns the first `spread` keys.
func populate(ctx context.Context, dataDir, target string, n, spread int) ([]string, time.Duration, error) {
	t0 := time.Now()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, 0, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "tollgate.db"))
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	if _, err := (&manage.APIs{Store: db}).Create(ctx, []byte(keyedDefinition(target))); err != nil {
		return nil, 0, err
	}
	ks := &manage.Keys{Store: db, Limits: &limit.Engine{Rate: limit.NewGCRA(), Quotas: limit.NewQuotas(nil)}}
	var out []string
	for i := 0; i < n; i++ {
		c, err := ks.Create(ctx, []byte(limitedSession), "")
		if err != nil {
			return nil, 0, err
		}
		if i < spread {
			out = append(out, c.Key)
		}
		if (i+1)%50000 == 0 {
			logf("  %d keys stored", i+1)
		}
	}
	return out, time.Since(t0), nil
}

// result is one wrk run.
type result struct {
	RPS     float64 `json:"rps"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	P999us  float64 `json:"p999_us"`
	Errors  int     `json:"errors"`
	Non2xx  int     `json:"non_2xx"`
	Request int     `json:"requests"`
}

type benchCase struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Key     string   `json:"-"`
	KeyFile string   `json:"-"`
	Runs    []result `json:"runs"`
	Median  result   `json:"median"`
	Ratio   float64  `json:"ratio_to_baseline"`
	AddP50  float64  `json:"added_p50_us"`
	AddP99  float64  `json:"added_p99_us"`
}

const luaDone = `
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.1f %.1f %.1f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
`

func (h *harness) script(c *benchCase) (string, error) {
	var b strings.Builder
	switch {
	case c.KeyFile != "":
		fmt.Fprintf(&b, `local keys = {}
for line in io.lines(%q) do keys[#keys + 1] = line end
local i = math.random(1, #keys)
request = function()
  i = i + 1
  return wrk.format(nil, nil, {["Authorization"] = keys[(i %% #keys) + 1]})
end
`, c.KeyFile)
	case c.Key != "":
		fmt.Fprintf(&b, "wrk.headers[\"Authorization\"] = %q\n", c.Key)
	}
	b.WriteString(luaDone)
	name := filepath.Join(h.dir, fmt.Sprintf("case-%p.lua", c))
	return name, os.WriteFile(name, []byte(b.String()), 0o600)
}

func (h *harness) wrk(ctx context.Context, c *benchCase, script string, d time.Duration) (result, error) {
	args := []string{"-t", strconv.Itoa(h.o.threads), "-c", strconv.Itoa(h.o.connections), "-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second).Seconds()))),
		"--timeout", "5s", "-s", script, c.URL}
	cmd := h.command(1, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk %s: %v\n%s", c.Name, err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 8 && f[0] == "RESULT" {
			reqs, _ := strconv.Atoi(f[1])
			durUS, _ := strconv.ParseFloat(f[2], 64)
			r := result{Request: reqs}
			r.RPS = float64(reqs) / (durUS / 1e6)
			r.P50us, _ = strconv.ParseFloat(f[3], 64)
			r.P99us, _ = strconv.ParseFloat(f[4], 64)
			r.P999us, _ = strconv.ParseFloat(f[5], 64)
			r.Errors, _ = strconv.Atoi(f[6])
			r.Non2xx, _ = strconv.Atoi(f[7])
			return r, nil
		}
	}
	return result{}, fmt.Errorf("wrk %s: no result line in\n%s", c.Name, out.String())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (h *harness) run(ctx context.Context) error {
	o := h.o
	if err := ensureWrk(); err != nil {
		return err
	}
	var err error
	if h.dir, err = os.MkdirTemp("", "tollgate-bench"); err != nil {
		return err
	}
	logf("building tollgate, upstream and baseline into %s", h.dir)
	for _, b := range [][2]string{{"tollgate", "./cmd/tollgate"}, {"upstream", "./bench/upstream"}, {"baseline", "./bench/baseline"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(h.dir, b[0]), b[1])
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b[0], err)
		}
	}
	upAddr, _ := freeAddr()
	baseAddr, _ := freeAddr()
	if _, err := h.start(1, filepath.Join(h.dir, "upstream"), "-addr", upAddr); err != nil {
		return err
	}
	if _, err := h.start(0, filepath.Join(h.dir, "baseline"), "-addr", baseAddr, "-target", "http://"+upAddr); err != nil {
		return err
	}
	if err := waitHTTP("http://" + upAddr + "/"); err != nil {
		return err
	}
	if err := waitHTTP("http://" + baseAddr + "/"); err != nil {
		return err
	}

	// Gateway A: a small store (the keyed API and --spread keys written straight into
	// it), then a keyless API and two more keys made through the control API, as a
	// user would. Gateway B: the same API with --keys keys. Both spread cases rotate
	// over --spread keys, so their ratio isolates the size of the store.
	logf("storing %d keys for gateway A and %d for gateway B", o.spread, o.keys)
	spreadA, _, err := populate(ctx, filepath.Join(h.dir, "data-a"), "http://"+upAddr, o.spread, o.spread)
	if err != nil {
		return err
	}
	spreadKeys, took, err := populate(ctx, filepath.Join(h.dir, "data-b"), "http://"+upAddr, o.keys, o.spread)
	if err != nil {
		return err
	}
	logf("stored %d keys in %s (%.0f keys/s, one transaction per key)", o.keys, took.Round(time.Millisecond), float64(o.keys)/took.Seconds())
	keyFileA, keyFile := filepath.Join(h.dir, "spread-keys-a.txt"), filepath.Join(h.dir, "spread-keys-b.txt")
	if err := os.WriteFile(keyFileA, []byte(strings.Join(spreadA, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, []byte(strings.Join(spreadKeys, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	ga, err := h.startGateway(filepath.Join(h.dir, "data-a"))
	if err != nil {
		return err
	}
	if _, err := control(ga.addr, "POST", "/tyk/apis", `{"api_id":"open","name":"open","use_keyless":true,"proxy":{"listen_path":"/open/","target_url":"http://`+upAddr+`","strip_listen_path":true}}`); err != nil {
		return err
	}
	plain, err := control(ga.addr, "POST", "/tyk/keys", `{"access_rights":{"keyed":{"api_id":"keyed","versions":["Default"]}}}`)
	if err != nil {
		return err
	}
	limited, err := control(ga.addr, "POST", "/tyk/keys", limitedSession)
	if err != nil {
		return err
	}
	gb, err := h.startGateway(filepath.Join(h.dir, "data-b"))
	if err != nil {
		return err
	}

	cases := []*benchCase{
		{Name: "direct to upstream", URL: "http://" + upAddr + "/x"},
		{Name: "baseline Go proxy", URL: "http://" + baseAddr + "/x"},
		{Name: "tollgate keyless", URL: "http://" + ga.addr + "/open/x"},
		{Name: "tollgate key auth", URL: "http://" + ga.addr + "/keyed/x", Key: plain["key"].(string)},
		{Name: "tollgate key+rate+quota", URL: "http://" + ga.addr + "/keyed/x", Key: limited["key"].(string)},
		{Name: fmt.Sprintf("key+rate+quota, %d keys stored, %d in use", o.spread, o.spread), URL: "http://" + ga.addr + "/keyed/x", KeyFile: keyFileA},
		{Name: fmt.Sprintf("key+rate+quota, %d keys stored, %d in use", o.keys, o.spread), URL: "http://" + gb.addr + "/keyed/x", KeyFile: keyFile},
	}
	if o.peer != "" {
		cases = append(cases, &benchCase{Name: "peer " + o.peer, URL: o.peer, Key: o.peerKey})
	}
	scripts := map[*benchCase]string{}
	for _, c := range cases {
		if scripts[c], err = h.script(c); err != nil {
			return err
		}
	}
	logf("warming up for %s", o.warmup)
	for _, c := range cases {
		// Quick mode warms only the cases whose caches start cold (many keys); a
		// single key is warm after its first request.
		if o.quick && c.KeyFile == "" {
			continue
		}
		if _, err := h.wrk(ctx, c, scripts[c], o.warmup); err != nil {
			return err
		}
	}
	for r := 1; r <= o.rounds; r++ {
		logf("round %d of %d (%d cases x %s)", r, o.rounds, len(cases), o.duration)
		for _, c := range cases {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res, err := h.wrk(ctx, c, scripts[c], o.duration)
			if err != nil {
				return err
			}
			if res.Non2xx > 0 || res.Errors > 0 {
				logf("  %s: %d non-2xx, %d socket errors (results for this case are suspect)", c.Name, res.Non2xx, res.Errors)
			}
			c.Runs = append(c.Runs, res)
		}
	}
	for _, c := range cases {
		var rps, p50, p99, p999 []float64
		for _, r := range c.Runs {
			rps, p50, p99, p999 = append(rps, r.RPS), append(p50, r.P50us), append(p99, r.P99us), append(p999, r.P999us)
			c.Median.Errors += r.Errors
			c.Median.Non2xx += r.Non2xx
		}
		c.Median.RPS, c.Median.P50us, c.Median.P99us, c.Median.P999us = median(rps), median(p50), median(p99), median(p999)
	}
	base := cases[1].Median
	for _, c := range cases {
		c.Ratio = c.Median.RPS / base.RPS
		c.AddP50, c.AddP99 = c.Median.P50us-base.P50us, c.Median.P99us-base.P99us
	}
	rssA, rssB := peakRSS(pid(ga.cmd)), peakRSS(pid(gb.cmd))

	// Cold cache: restart B and time the first request of each spread key, then the
	// second (warm) one.
	if err := gb.stop(); err != nil {
		return fmt.Errorf("stop gateway B: %w", err)
	}
	gb2, err := h.startGateway(gb.dataDir)
	if err != nil {
		return err
	}
	cold, warm, err := firstRequests("http://"+gb2.addr+"/keyed/x", spreadKeys)
	if err != nil {
		return err
	}
	var rssMillion float64
	if o.rssMillion {
		logf("storing 1,000,000 keys for the RSS measurement (this takes a while)")
		dir := filepath.Join(h.dir, "data-m")
		mk, _, err := populate(ctx, dir, "http://"+upAddr, 1_000_000, o.spread)
		if err != nil {
			return err
		}
		gm, err := h.startGateway(dir)
		if err != nil {
			return err
		}
		if _, _, err := firstRequests("http://"+gm.addr+"/keyed/x", mk); err != nil {
			return err
		}
		rssMillion = peakRSS(pid(gm.cmd))
	}
	report(o, cases, cold, warm, rssA, rssB, rssMillion)
	return nil
}

type latencies struct{ P50us, P99us, MaxUS float64 }

// firstRequests sends one request per key (cold: the gateway has not seen it since
// it started) and then a second one (warm), on one keep-alive connection.
func firstRequests(url string, keys []string) (cold, warm latencies, err error) {
	client := &http.Client{Timeout: 5 * time.Second}
	pass := func() (latencies, error) {
		var ds []float64
		for _, k := range keys {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", k)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return latencies{}, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return latencies{}, fmt.Errorf("cold-cache request: status %d", resp.StatusCode)
			}
			ds = append(ds, float64(time.Since(t0).Microseconds()))
		}
		slices.Sort(ds)
		return latencies{P50us: ds[len(ds)/2], P99us: ds[min(len(ds)-1, len(ds)*99/100)], MaxUS: ds[len(ds)-1]}, nil
	}
	if cold, err = pass(); err != nil {
		return
	}
	warm, err = pass()
	return
}

func report(o options, cases []*benchCase, cold, warm latencies, rssA, rssB, rssMillion float64) {
	mode := "full"
	if o.quick {
		mode = "quick"
	}
	fmt.Printf("\nTollgate benchmark (%s): wrk -t%d -c%d, %d rounds x %s per case, interleaved; medians; 127.0.0.1; pinned=%v\n\n",
		mode, o.threads, o.connections, o.rounds, o.duration, o.pin)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\trps\tp50 ms\tp99 ms\tp99.9 ms\tvs baseline\t+p50 ms\t+p99 ms\tnon-2xx\t")
	for _, c := range cases {
		m := c.Median
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%+.2f\t%+.2f\t%d\t\n", c.Name, m.RPS, m.P50us/1000, m.P99us/1000, m.P999us/1000, c.Ratio, c.AddP50/1000, c.AddP99/1000, m.Non2xx)
	}
	tw.Flush()
	fmt.Printf("\ncold cache (first request per key after a restart, %d keys): p50 %.2f ms, p99 %.2f ms; warm: p50 %.2f ms, p99 %.2f ms\n",
		o.spread, cold.P50us/1000, cold.P99us/1000, warm.P50us/1000, warm.P99us/1000)
	fmt.Printf("peak RSS after the load: %.1f MiB with %d keys stored; %.1f MiB with %d keys stored", rssA, o.spread+2, rssB, o.keys)
	if rssMillion > 0 {
		fmt.Printf("; %.1f MiB with 1,000,000 keys", rssMillion)
	}
	fmt.Println()

	res := map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "mode": mode, "wrk": map[string]any{"threads": o.threads, "connections": o.connections, "duration": o.duration.String()},
		"rounds": o.rounds, "pinned": o.pin, "cases": cases,
		"cold_cache":   map[string]any{"keys": o.spread, "cold": cold, "warm": warm},
		"peak_rss_mib": map[string]any{fmt.Sprint(o.spread+2) + "_keys": rssA, fmt.Sprint(o.keys) + "_keys": rssB, "1000000_keys": rssMillion},
	}
	if err := os.MkdirAll(o.out, 0o755); err == nil {
		name := filepath.Join(o.out, time.Now().UTC().Format("2006-01-02T150405")+".json")
		if b, err := json.MarshalIndent(res, "", "  "); err == nil && os.WriteFile(name, b, 0o644) == nil {
			fmt.Println("results:", name)
		}
	}
	keyed := cases[4] // tollgate key+rate+quota
	if keyed.Median.Non2xx > 0 {
		fmt.Println("keyed_ratio=NA")
		return
	}
	fmt.Printf("keyed_ratio=%.2f\n", keyed.Ratio)
}
