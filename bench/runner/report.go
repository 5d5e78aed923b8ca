package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// results is everything one run measured; it is also the JSON file's shape.
type results struct {
	Date     string   `json:"date"`
	Mode     string   `json:"mode"`
	Host     hostInfo `json:"host"`
	Settings settings `json:"settings"`

	KeyCreation        *keyCreation `json:"key_creation,omitempty"`
	MillionKeyCreation *keyCreation `json:"million_key_creation,omitempty"`

	Cases []*benchCase  `json:"cases"`
	Cold  *coldResult   `json:"cold_cache,omitempty"`
	RSS   []rssRow      `json:"peak_rss"`
	Keyed *keyedOutcome `json:"keyed_ratio"`
	// Cluster1 and Cluster3 are the cluster cases' ratios to the baseline, as
	// their last lines print them.
	Cluster1 *keyedOutcome   `json:"cluster1_ratio"`
	Cluster3 *keyedOutcome   `json:"cluster3_ratio"`
	Accuracy *accuracyResult `json:"accuracy"`

	Elapsed float64 `json:"elapsed_seconds"`
}

type hostInfo struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Wrk       string `json:"wrk"`
	Commit    string `json:"commit,omitempty"`
	// BusyBeforePct is the share of all CPUs other processes used during 0.5 s
	// before the harness started anything; LoadAvg1 the 1-minute load average then.
	BusyBeforePct float64 `json:"cpu_busy_before_start_percent"`
	LoadAvg1      float64 `json:"load_average_1m_at_start"`
}

type settings struct {
	Threads        int     `json:"wrk_threads"`
	Connections    int     `json:"wrk_connections"`
	DurationS      float64 `json:"duration_seconds"`
	WarmupS        float64 `json:"warmup_seconds"`
	Rounds         int     `json:"rounds"`
	Pinned         bool    `json:"pinned"`
	StoredKeys     int     `json:"stored_keys"`
	SpreadKeys     int     `json:"spread_keys"`
	LimitedSession string  `json:"limited_session"`
	Peer           bool    `json:"peer"`
	// Cluster is auto, on (--cluster) or off (--no-cluster).
	Cluster string `json:"cluster"`
}

type keyedOutcome struct {
	Ratio *float64 `json:"ratio"` // null: NA
	Note  string   `json:"note,omitempty"`
}

type rssRow struct {
	Gateway string  `json:"gateway"`
	Keys    int     `json:"keys_stored"`
	When    string  `json:"when"`
	PeakMiB float64 `json:"vmhwm_mib"`
	Error   string  `json:"error,omitempty"`
}

// latStats summarises one-at-a-time request latencies, in milliseconds.
type latStats struct {
	N      int     `json:"requests"`
	P50ms  float64 `json:"p50_ms"`
	P90ms  float64 `json:"p90_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
	MeanMS float64 `json:"mean_ms"`
}

type coldResult struct {
	Keys             int      `json:"keys"`
	RestartToReadyMS float64  `json:"restart_to_ready_ms"`
	FirstRequestMS   float64  `json:"first_request_after_restart_ms"`
	Cold             latStats `json:"first_request_per_key"`
	Warm             latStats `json:"second_request_per_key"`
}

func newResults(o options) *results {
	r := &results{
		Date: time.Now().UTC().Format(time.RFC3339),
		Mode: "full",
		Host: hostInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()},
		Settings: settings{Threads: o.threads, Connections: o.connections, DurationS: o.duration.Seconds(),
			WarmupS: o.warmup.Seconds(), Rounds: o.rounds, Pinned: o.pin, StoredKeys: o.keys, SpreadKeys: o.spread,
			LimitedSession: limitedSession, Peer: o.peer != "", Cluster: [...]string{"auto", "on", "off"}[o.cluster]},
	}
	if o.quick {
		r.Mode = "quick"
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		r.Host.Commit = strings.TrimSpace(string(out))
		if exec.Command("git", "diff", "--quiet", "HEAD").Run() != nil {
			r.Host.Commit += "-dirty"
		}
	}
	return r
}

// wrkVersion is the first line of `wrk -v` (which exits 1).
func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	v, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return v
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summarise computes each case's medians (per metric, over the rounds), its ratio to
// the baseline (and, for the cluster cases, to the single-node key+rate+quota case)
// and the latency it adds over the baseline.
func summarise(cases []*benchCase) {
	var base, keyed *sample
	for _, c := range cases {
		if len(c.Samples) == 0 {
			continue
		}
		pick := func(f func(s sample) float64) float64 {
			xs := make([]float64, len(c.Samples))
			for i, s := range c.Samples {
				xs[i] = f(s)
			}
			return median(xs)
		}
		m := &sample{
			RPS:          pick(func(s sample) float64 { return s.RPS }),
			Requests:     int64(pick(func(s sample) float64 { return float64(s.Requests) })),
			P50us:        pick(func(s sample) float64 { return s.P50us }),
			P90us:        pick(func(s sample) float64 { return s.P90us }),
			P99us:        pick(func(s sample) float64 { return s.P99us }),
			P999us:       pick(func(s sample) float64 { return s.P999us }),
			MaxUS:        pick(func(s sample) float64 { return s.MaxUS }),
			MeanUS:       pick(func(s sample) float64 { return s.MeanUS }),
			Non2xx:       int64(pick(func(s sample) float64 { return float64(s.Non2xx) })),
			SocketErrors: int64(pick(func(s sample) float64 { return float64(s.SocketErrors) })),
		}
		lo, hi := c.Samples[0].RPS, c.Samples[0].RPS
		for _, s := range c.Samples {
			c.TotalRequests += s.Requests
			c.TotalNon2xx += s.Non2xx
			c.TotalSocketErrors += s.SocketErrors
			lo, hi = min(lo, s.RPS), max(hi, s.RPS)
		}
		if m.RPS > 0 {
			c.RPSSpread = (hi - lo) / m.RPS
		}
		c.Median = m
		switch c.ID {
		case "baseline":
			base = m
		case "key_rate_quota":
			keyed = m
		}
	}
	if base == nil || base.RPS == 0 {
		return
	}
	for _, c := range cases {
		if c.Median == nil {
			continue
		}
		c.RatioToBaseline = c.Median.RPS / base.RPS
		c.AddedP50us = c.Median.P50us - base.P50us
		c.AddedP99us = c.Median.P99us - base.P99us
		c.AddedP999us = c.Median.P999us - base.P999us
		if isCluster(c.ID) && keyed != nil && keyed.RPS > 0 {
			c.RatioToKeyed = c.Median.RPS / keyed.RPS
		}
	}
}

func isCluster(id string) bool { return id == "cluster1" || id == "cluster3" }

// keyed decides the keyed_ratio line: NA when the case was skipped or measured
// refusals rather than proxying.
func (r *results) keyed() *keyedOutcome { return r.ratioOf("key_rate_quota") }

// ratioOf is case id's ratio to the baseline for a last line: NA when the case was
// skipped or measured refusals rather than proxying.
func (r *results) ratioOf(id string) *keyedOutcome {
	for _, c := range r.Cases {
		if c.ID != id {
			continue
		}
		switch {
		case c.Skipped != "":
			return &keyedOutcome{Note: "skipped: " + c.Skipped}
		case c.Median == nil || c.RatioToBaseline == 0:
			return &keyedOutcome{Note: "no measurement"}
		case c.TotalNon2xx > 0:
			return &keyedOutcome{Note: fmt.Sprintf("%d responses >= 400 during the %s case: it measured refusals, not proxying", c.TotalNon2xx, c.Name)}
		}
		v := c.RatioToBaseline
		return &keyedOutcome{Ratio: &v}
	}
	return &keyedOutcome{Note: "no " + id + " case"}
}

// clusterRatioLines are the cluster1_ratio= and cluster3_ratio= lines printed just
// before keyed_ratio=.
func (r *results) clusterRatioLines() []string {
	var lines []string
	for _, l := range r.scriptRatios()[:2] {
		lines = append(lines, ratioLine(l.name, l.o))
	}
	return lines
}

type namedRatio struct {
	name string
	o    *keyedOutcome
}

// scriptRatios are the ratios of the last lines, in their order (keyed_ratio last).
func (r *results) scriptRatios() []namedRatio {
	return []namedRatio{{"cluster1_ratio", r.Cluster1}, {"cluster3_ratio", r.Cluster3}, {"keyed_ratio", r.Keyed}}
}

func (r *results) keyedRatioLine() string { return ratioLine("keyed_ratio", r.Keyed) }

func ratioLine(name string, o *keyedOutcome) string {
	if o == nil || o.Ratio == nil {
		return name + "=NA"
	}
	return fmt.Sprintf("%s=%.2f", name, *o.Ratio)
}

func (r *results) print(w io.Writer) {
	r.Keyed = r.keyed()
	r.Cluster1, r.Cluster3 = r.ratioOf("cluster1"), r.ratioOf("cluster3")
	s := r.Settings
	pinned := "not pinned"
	if s.Pinned {
		pinned = "pinned (proxies CPU 0; wrk, upstream CPU 1)"
	}
	fmt.Fprintf(w, "\nTollgate benchmark, %s mode: wrk -t%d -c%d -d%.0fs, %d rounds interleaved, medians; 127.0.0.1; %d CPUs, %s;\n"+
		"CPUs %.0f%% busy with other work before the start (load average %.2f)\n\n",
		r.Mode, s.Threads, s.Connections, s.DurationS, s.Rounds, r.Host.CPUs, pinned, r.Host.BusyBeforePct, r.Host.LoadAvg1)
	if s.Pinned && r.Settings.Peer {
		fmt.Fprintf(w, "note: --pin does not pin --peer; start it under `taskset -c 0` for a like-for-like row\n\n")
	}
	nameW := len("case")
	for _, c := range r.Cases {
		nameW = max(nameW, len(c.Name))
	}
	fmt.Fprintf(w, "%-*s %9s %6s %8s %8s %9s %8s %8s %8s %9s %8s\n", nameW, "case", "req/s", "±rnd", "p50 ms", "p99 ms", "p99.9 ms",
		"x base", "+p50 ms", "+p99 ms", "4xx5xx/err", "x keyed")
	var notes []string
	for _, c := range r.Cases {
		if c.Skipped != "" || c.Median == nil {
			reason := cmp.Or(c.Skipped, "not measured")
			// The table shows the reason's headline; the details follow it once.
			head, _, detailed := strings.Cut(reason, " (")
			if detailed && !slices.Contains(notes, reason) {
				notes = append(notes, reason)
			}
			fmt.Fprintf(w, "%-*s skipped: %s\n", nameW, c.Name, head)
			continue
		}
		m := c.Median
		xKeyed := ""
		if c.RatioToKeyed > 0 {
			xKeyed = fmt.Sprintf("%.2f", c.RatioToKeyed)
		}
		fmt.Fprintf(w, "%-*s %9.0f %5.0f%% %8.2f %8.2f %9.2f %8.2f %+8.2f %+8.2f %9s %8s\n", nameW, c.Name, m.RPS, 100*c.RPSSpread/2,
			m.P50us/1000, m.P99us/1000, m.P999us/1000, c.RatioToBaseline, c.AddedP50us/1000, c.AddedP99us/1000,
			fmt.Sprintf("%d/%d", c.TotalNon2xx, c.TotalSocketErrors), xKeyed)
	}
	for _, n := range notes {
		fmt.Fprintf(w, "skipped: %s\n", n)
	}
	fmt.Fprintf(w, "\n(±rnd: half the min-max range of the rounds' req/s, relative to the median; x base: req/s / baseline's;\n"+
		" +p50/+p99: latency added over the baseline proxy; 4xx5xx/err: responses >= 400 / socket errors, all rounds;\n"+
		" x keyed: req/s / tollgate key+rate+quota's (one embedded node); cluster cases: PostgreSQL + Redis, one wrk per\n"+
		" gateway at once sharing the connections, req/s summed, each latency the worst wrk's)\n")
	r.Accuracy.print(w)
	if kc := r.KeyCreation; kc != nil {
		fmt.Fprintf(w, "\nkey creation over HTTP: %d keys in %.1fs, %.0f keys/s with %d concurrent POST /tyk/keys", kc.Keys, kc.Seconds, kc.KeysPerSec, kc.Workers)
		if kc.Keys < fullKeys {
			fmt.Fprintf(w, " (%d would take about %.0fs)", fullKeys, float64(fullKeys)/kc.KeysPerSec)
		}
		fmt.Fprintln(w)
	}
	if kc := r.MillionKeyCreation; kc != nil {
		fmt.Fprintf(w, "key creation over HTTP: %d keys in %.0fs, %.0f keys/s\n", kc.Keys, kc.Seconds, kc.KeysPerSec)
	}
	if c := r.Cold; c != nil {
		fmt.Fprintf(w, "\ncold cache (tollgate-many restarted: ready in %.0f ms; first request %.2f ms), one request at a time over %d keys:\n",
			c.RestartToReadyMS, c.FirstRequestMS, c.Keys)
		fmt.Fprintf(w, "  first request per key   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", c.Cold.P50ms, c.Cold.P90ms, c.Cold.P99ms, c.Cold.MaxMS)
		fmt.Fprintf(w, "  second request per key  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", c.Warm.P50ms, c.Warm.P90ms, c.Warm.P99ms, c.Warm.MaxMS)
	}
	if len(r.RSS) > 0 {
		fmt.Fprintln(w, "\npeak RSS (VmHWM) of the Tollgate processes:")
		for _, row := range r.RSS {
			if row.Error != "" {
				fmt.Fprintf(w, "  %-17s %9d keys  %-42s error: %s\n", row.Gateway, row.Keys, row.When, row.Error)
				continue
			}
			fmt.Fprintf(w, "  %-17s %9d keys  %-42s %7.1f MiB\n", row.Gateway, row.Keys, row.When, row.PeakMiB)
		}
	}
	r.Elapsed = time.Since(began).Seconds()
	fmt.Fprintf(w, "\nfinished in %.1fs\n", r.Elapsed)
	for _, l := range r.scriptRatios() {
		if l.o.Ratio == nil {
			fmt.Fprintf(w, "%s is NA: %s\n", l.name, l.o.Note)
		}
	}
}

// save writes the JSON file and returns its path.
func (r *results) save(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, time.Now().UTC().Format("2006-01-02T150405Z")+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// seqClient sends requests one at a time over one keep-alive connection.
type seqClient struct{ c *http.Client }

func newSeqClient() *seqClient {
	return &seqClient{c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}}
}

// get sends one request with key and returns its latency; anything but 200 is an error.
func (s *seqClient) get(ctx context.Context, url, key string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	t0 := time.Now()
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s answered %d", url, resp.StatusCode)
	}
	return d, nil
}

// pass sends one request per key and summarises the latencies.
func (s *seqClient) pass(ctx context.Context, url string, keys []string) (latStats, error) {
	ds := make([]float64, 0, len(keys))
	for _, k := range keys {
		d, err := s.get(ctx, url, k)
		if err != nil {
			return latStats{}, err
		}
		ds = append(ds, float64(d.Microseconds())/1000)
	}
	return stats(ds), nil
}

func stats(ds []float64) latStats {
	if len(ds) == 0 {
		return latStats{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	var sum float64
	for _, d := range ds {
		sum += d
	}
	return latStats{N: len(ds), P50ms: at(0.50), P90ms: at(0.90), P99ms: at(0.99), MaxMS: ds[len(ds)-1], MeanMS: sum / float64(len(ds))}
}

// warmKeys sends one request per key, a few at a time, so the gateway has them all
// in its cache.
func warmKeys(ctx context.Context, url string, keys []string) error {
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c := newSeqClient()
			for i := w; i < len(keys) && errs[w] == nil; i += workers {
				_, errs[w] = c.get(ctx, url, keys[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// coldCache measures a freshly started gateway: one first request (connections to
// the gateway and the upstream are opened here, so it is reported on its own), then
// the first request of each key in keys, then a second request of each.
func coldCache(ctx context.Context, url, firstKey string, keys []string) (*coldResult, error) {
	c := newSeqClient()
	first, err := c.get(ctx, url, firstKey)
	if err != nil {
		return nil, err
	}
	cold, err := c.pass(ctx, url, keys)
	if err != nil {
		return nil, err
	}
	warm, err := c.pass(ctx, url, keys)
	if err != nil {
		return nil, err
	}
	return &coldResult{Keys: len(keys), FirstRequestMS: ms(first), Cold: cold, Warm: warm}, nil
}
