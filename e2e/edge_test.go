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
	p := startServe(t, serveOpts{args: []string{"--body-read-timeout", "2s"}})
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
		c, err := openSlowBody(p.gw, path)
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
			resp, err := fresh.Get("http://" + p.gw + c.path)
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
	p := startServe(t, serveOpts{args: []string{"--max-connections", "20"}})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 20 {
		c, err := net.Dial("tcp", p.gw)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// The listener counts a connection when it accepts it; give it the idle ones.
	if !waitFor(5*time.Second, func() bool {
		resp, err := fresh.Get("http://" + p.gw + "/no-such-api")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}) {
		t.Fatal("with the cap full, a non-health request was not answered 503")
	}
	resp, err := fresh.Get("http://" + p.gw + "/hello")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/hello with the cap full: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDrainPeriod: after SIGTERM, /ready answers 503 for the drain period while
// requests are still served; then the process stops.
func TestDrainPeriod(t *testing.T) {
	p := startServe(t, serveOpts{args: []string{"--drain-period", "3s"}})
	up := newEcho(t, "up")
	p.createAPI(t, keylessAPI("open", "/open/", up.URL, true))
	stopped := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) int {
		resp, err := fresh.Get("http://" + p.gw + path)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if !waitFor(2*time.Second, func() bool { return get("/ready") == 503 }) {
		t.Fatal("/ready did not answer 503 after SIGTERM")
	}
	if s := get("/open/x"); s != 200 {
		t.Errorf("a request during the drain period: %d, want 200", s)
	}
	select {
	case <-p.done:
		if d := time.Since(stopped); d < 3*time.Second {
			t.Errorf("stopped %v after SIGTERM, before the 3 s drain period ended", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop within 15 s of SIGTERM")
	}
}
