package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one wrk run of one case.
type sample struct {
	RPS      float64 `json:"rps"`
	Requests int64   `json:"requests"`
	P50us    float64 `json:"p50_us"`
	P90us    float64 `json:"p90_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p99_9_us"`
	MaxUS    float64 `json:"max_us"`
	MeanUS   float64 `json:"mean_us"`
	// SocketErrors counts connect, read, write and timeout errors.
	SocketErrors int64 `json:"socket_errors"`
	// Non2xx counts responses with status >= 400 (wrk's "status" errors).
	Non2xx int64 `json:"non_2xx"`
}

// luaDone prints wrk's summary as one machine-readable line: wrk's own --latency
// output stops at p99, and its text format is meant for people.
const luaDone = `
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %.1f %.1f %.1f %.1f %.1f %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
`

// luaSingleKey sends every request with the same Authorization header; wrk builds
// the request once.
func luaSingleKey(key string) string {
	return fmt.Sprintf("wrk.headers[\"Authorization\"] = %q\n", key)
}

// luaKeyFile rotates the Authorization header over the keys in a file, one per line.
// Each thread formats all its requests once in init and starts at its own offset,
// so the per-request cost in wrk is one table lookup.
func luaKeyFile(path string) string {
	return fmt.Sprintf(`local keys = {}
for line in io.lines(%q) do
  if #line > 0 then keys[#keys + 1] = line end
end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local reqs = {}
local i = 0
function init(args)
  for k = 1, #keys do
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Authorization"] = keys[k]
    reqs[k] = wrk.format(nil, nil, headers)
  end
  i = ((tid or 1) - 1) * 997 %% #reqs
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
`, path)
}

// writeScript writes a case's wrk script into the work directory.
func (h *harness) writeScript(name, body string) (string, error) {
	path := filepath.Join(h.dir, name+".lua")
	return path, os.WriteFile(path, []byte(body+luaDone), 0o600)
}

// wrk runs one load of d against url with script.
func (h *harness) wrk(ctx context.Context, url, script string, d time.Duration) (sample, error) {
	return h.wrkWith(ctx, url, script, d, h.o.threads, h.o.connections)
}

// wrkSplit loads every url at once for d, one wrk each, with --connections shared
// out between them (and --threads, at least one each), and adds the results up:
// requests, rates and errors are summed; each latency percentile is the highest of
// the wrk processes' (percentiles cannot be added, and the worst is the honest
// one to quote). One URL is plain wrk.
func (h *harness) wrkSplit(ctx context.Context, urls []string, script string, d time.Duration) (sample, error) {
	if len(urls) == 1 {
		return h.wrk(ctx, urls[0], script, d)
	}
	n := len(urls)
	samples := make([]sample, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, u := range urls {
		conns := h.o.connections / n
		if i < h.o.connections%n {
			conns++
		}
		threads := min(conns, max(1, h.o.threads/n))
		wg.Go(func() { samples[i], errs[i] = h.wrkWith(ctx, u, script, d, threads, conns) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return sample{}, err
	}
	return sumSamples(samples), nil
}

// sumSamples adds up loads run at the same time: see wrkSplit.
func sumSamples(samples []sample) sample {
	var sum sample
	var weighted float64
	for _, s := range samples {
		sum.RPS += s.RPS
		sum.Requests += s.Requests
		sum.SocketErrors += s.SocketErrors
		sum.Non2xx += s.Non2xx
		sum.P50us, sum.P90us = max(sum.P50us, s.P50us), max(sum.P90us, s.P90us)
		sum.P99us, sum.P999us = max(sum.P99us, s.P99us), max(sum.P999us, s.P999us)
		sum.MaxUS = max(sum.MaxUS, s.MaxUS)
		weighted += s.MeanUS * float64(s.Requests)
	}
	if sum.Requests > 0 {
		sum.MeanUS = weighted / float64(sum.Requests)
	}
	return sum
}

// wrkWith runs one wrk with threads and conns.
func (h *harness) wrkWith(ctx context.Context, url, script string, d time.Duration, threads, conns int) (sample, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs) + "s", "--timeout", "5s", "-s", script, url}
	cmd := h.command(ctx, cpuLoad, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return sample{}, ctx.Err()
		}
		return sample{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out.String())
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "RESULT" {
			continue
		}
		v := make([]float64, 10)
		for i := range v {
			x, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				return sample{}, fmt.Errorf("wrk %s: bad result line %q", url, line)
			}
			v[i] = x
		}
		s := sample{Requests: int64(v[0]), P50us: v[2], P90us: v[3], P99us: v[4], P999us: v[5], MaxUS: v[6], MeanUS: v[7],
			SocketErrors: int64(v[8]), Non2xx: int64(v[9])}
		if v[1] > 0 {
			s.RPS = v[0] / (v[1] / 1e6)
		}
		return s, nil
	}
	return sample{}, fmt.Errorf("wrk %s: no RESULT line in its output:\n%s", url, out.String())
}

// ensureTools installs wrk from the distribution when it is missing and checks for
// taskset when pinning.
func ensureTools(ctx context.Context, pin bool) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		logf("wrk not found: installing it with apt-get")
		var prefix []string
		if os.Geteuid() != 0 {
			prefix = []string{"sudo"}
		}
		for _, args := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "wrk"}} {
			full := append(prefix, args...)
			cmd := exec.CommandContext(ctx, full[0], full[1:]...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("installing wrk (%s): %w; install it yourself and run again", strings.Join(full, " "), err)
			}
		}
		if _, err := exec.LookPath("wrk"); err != nil {
			return fmt.Errorf("wrk still not found after apt-get install: %w", err)
		}
	}
	if pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("--pin needs taskset (Debian package util-linux): %w", err)
		}
	}
	return nil
}
