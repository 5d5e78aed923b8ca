package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// slowBodyConns is how many slow clients TestSlowBodies opens: a few hundred in CI;
// TOLLGATE_SLOWBODY_CONNS=12000 reproduces the attack of the hardening issue.
func slowBodyConns(t *testing.T) int {
	n := 300
	if v := os.Getenv("TOLLGATE_SLOWBODY_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TOLLGATE_SLOWBODY_CONNS=%q is not a positive number", v)
		}
	}
	return n
}

// openSlowBody connects and sends a request whose body stops after a few bytes.
func openSlowBody(addr, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"a\":", path, addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// p99 of durations (sorted in place).
func p99(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*99/100)]
}

// TestSlowBodies: many clients that send request bodies slowly (unauthenticated, and
// a few to a keyless API that proxies them) must not stop other clients or /hello
// from being served, and each is cut once its body stalls for the body-read timeout.
func TestSlowBodies(t *testing.T) {
	n := slowBodyConns(t)
	p := startServe(t, e2eutil.Options{Args: []string{"--body-read-timeout", "2s"}})
	up := newEcho(t, "up")
	p.createAPI(t, keylessAPI("open", "/open/", up.URL, true))
	keyed := keylessAPI("keyed", "/keyed/", up.URL, true)
	keyed["use_keyless"] = false
	keyed["auth"] = map[string]any{"auth_header_name": "Authorization"}
	p.createAPI(t, keyed)

	proxied := min(20, n)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	opened := time.Now()
	for i := range n {
		path := "/keyed/upload"
		if i < proxied {
			path = "/open/upload"
		}
		c, err := openSlowBody(p.Gateway, path)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	t.Logf("%d slow-body connections open after %v", n, time.Since(opened).Round(time.Millisecond))

	// Meanwhile, new clients are served: /hello and a proxied request, each on a
	// fresh connection.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var hello, api []time.Duration
	for range 50 {
		for _, c := range []struct {
			path string
			into *[]time.Duration
		}{{"/hello", &hello}, {"/open/x", &api}} {
			start := time.Now()
			resp, err := fresh.Get("http://" + p.Gateway + c.path)
			if err != nil {
				t.Fatalf("GET %s during the attack: %v", c.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s during the attack: %d", c.path, resp.StatusCode)
			}
			*c.into = append(*c.into, time.Since(start))
		}
	}
	t.Logf("during the attack: /hello p99 %v, proxied GET p99 %v (50 each, fresh connections)", p99(hello), p99(api))

	// Every slow client is cut: its connection ends (EOF or reset) well before our
	// own read deadline, which only guards the test.
	var wg sync.WaitGroup
	var mu sync.Mutex
	cut, survived := 0, 0
	var slowest time.Duration
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			mu.Lock()
			defer mu.Unlock()
			if timedOut {
				survived++
			} else {
				cut++
				slowest = max(slowest, time.Since(opened))
			}
		})
	}
	wg.Wait()
	t.Logf("%d slow clients cut, the last %v after the first connected", cut, slowest.Round(time.Millisecond))
	if survived > 0 {
		t.Errorf("%d of %d slow-body connections were still open 10 s later; want every one cut after the 2 s body-read timeout", survived, n)
	}
}

// TestConnectionCapKeepsHealthChecks: past --max-connections, new connections get
// /hello (and a 503 for anything else) from the reserve instead of waiting forever.
func TestConnectionCapKeepsHealthChecks(t *testing.T) {
	p := startServe(t, e2eutil.Options{Args: []string{"--max-connections", "20"}})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 20 {
		c, err := net.Dial("tcp", p.Gateway)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// The listener counts a connection when it accepts it. No wait is needed for the
	// idle ones to be counted: each was established before the next request's
	// connection was even dialled, the kernel's accept queue is first in, first out,
	// and the server accepts one connection at a time, so the request's connection is
	// accepted (and counted) after all twenty.
	resp, err := fresh.Get("http://" + p.Gateway + "/no-such-api")
	if err != nil {
		t.Fatalf("with the cap full, a non-health request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with the cap full, a non-health request was answered %d, not 503", resp.StatusCode)
	}
	resp, err = fresh.Get("http://" + p.Gateway + "/hello")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/hello with the cap full: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDrainPeriod: after SIGTERM, /ready answers 503 for the drain period while
// requests are still served; then the process stops.
func TestDrainPeriod(t *testing.T) {
	p := startServe(t, e2eutil.Options{Args: []string{"--drain-period", "3s"}})
	up := newEcho(t, "up")
	p.createAPI(t, keylessAPI("open", "/open/", up.URL, true))
	stopped := time.Now()
	p.Signal(t, syscall.SIGTERM)
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) int {
		resp, err := fresh.Get("http://" + p.Gateway + path)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// The server switches /ready to 503 before it logs that it drains.
	if !p.Stderr.WaitFor("draining: /ready answers 503", 2*time.Second) {
		t.Fatalf("no drain under way 2 s after SIGTERM; stderr:\n%s", p.Stderr)
	}
	if s := get("/ready"); s != 503 {
		t.Fatalf("/ready answered %d after SIGTERM, want 503", s)
	}
	if s := get("/open/x"); s != 200 {
		t.Errorf("a request during the drain period: %d, want 200", s)
	}
	p.Wait(t, 15*time.Second)
	if d := time.Since(stopped); d < 3*time.Second {
		t.Errorf("stopped %v after SIGTERM, before the 3 s drain period ended", d)
	}
}
