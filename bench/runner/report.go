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
			LimitedSession: limitedSession, Peer: o.peer != ""},
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
// the baseline and the latency it adds over the baseline.
func summarise(cases []*benchCase) {
	var base *sample
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
		if c.ID == "baseline" {
			base = m
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
	}
}

// keyed decides the keyed_ratio line: NA when the case was skipped or measured
// refusals rather than proxying.
func (r *results) keyed() *keyedOutcome {
	for _, c := range r.Cases {
		if c.ID != "key_rate_quota" {
			continue
		}
		switch {
		case c.Skipped != "":
			return &keyedOutcome{Note: "skipped: " + c.Skipped}
		case c.Median == nil || c.RatioToBaseline == 0:
			return &keyedOutcome{Note: "no measurement"}
		case c.TotalNon2xx > 0:
			return &keyedOutcome{Note: fmt.Sprintf("%d responses >= 400 during the key+rate+quota case: it measured refusals, not proxying", c.TotalNon2xx)}
		}
		v := c.RatioToBaseline
		return &keyedOutcome{Ratio: &v}
	}
	return &keyedOutcome{Note: "no key+rate+quota case"}
}

func (r *results) keyedRatioLine() string {
	if r.Keyed == nil || r.Keyed.Ratio == nil {
		return "keyed_ratio=NA"
	}
	return fmt.Sprintf("keyed_ratio=%.2f", *r.Keyed.Ratio)
}

func (r *results) print(w io.Writer) {
	r.Keyed = r.keyed()
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
	fmt.Fprintf(w, "%-*s %9s %6s %8s %8s %9s %8s %8s %8s %9s\n", nameW, "case", "req/s", "±rnd", "p50 ms", "p99 ms", "p99.9 ms",
		"x base", "+p50 ms", "+p99 ms", "4xx5xx/err")
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
		fmt.Fprintf(w, "%-*s %9.0f %5.0f%% %8.2f %8.2f %9.2f %8.2f %+8.2f %+8.2f %9s\n", nameW, c.Name, m.RPS, 100*c.RPSSpread/2,
			m.P50us/1000, m.P99us/1000, m.P999us/1000, c.RatioToBaseline, c.AddedP50us/1000, c.AddedP99us/1000,
			fmt.Sprintf("%d/%d", c.TotalNon2xx, c.TotalSocketErrors))
	}
	for _, n := range notes {
		fmt.Fprintf(w, "skipped: %s\n", n)
	}
	fmt.Fprintf(w, "\n(±rnd: half the min-max range of the rounds' req/s, relative to the median; x base: req/s / baseline's;\n"+
		" +p50/+p99: latency added over the baseline proxy; 4xx5xx/err: responses >= 400 / socket errors, all rounds)\n")
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
	if r.Keyed.Ratio == nil {
		fmt.Fprintf(w, "keyed_ratio is NA: %s\n", r.Keyed.Note)
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
