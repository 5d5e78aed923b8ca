package e2e

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// TestKeylessProxying: routing and request rewriting as an upstream sees them.
func TestKeylessProxying(t *testing.T) {
	t.Parallel()
	a, b := newEcho(t, "A"), newEcho(t, "B")
	p := startServe(t, e2eutil.Options{})

	p.createAPI(t, keylessAPI("a", "/a", a.URL, false))
	p.createAPI(t, keylessAPI("a-b", "/a/b", b.URL, false))
	p.createAPI(t, keylessAPI("strip", "/strip/", a.URL+"/base", true))
	p.createAPI(t, keylessAPI("keep", "/keep", a.URL+"/base", false))
	p.createAPI(t, keylessAPI("ab", "/ab", a.URL, false))
	p.createAPI(t, keylessAPI("hop", "/hop", b.URL, true))
	p.createAPI(t, keylessAPI("target query", "/tq", a.URL+"/base?fixed=1", true))
	preserve := keylessAPI("preserve", "/preserve", a.URL, true)
	preserve["proxy"].(map[string]any)["preserve_host_header"] = true
	p.createAPI(t, preserve)

	vars := map[string]string{"{A}": hostOf(a), "{B}": hostOf(b)}
	runScenarios(t, p, vars, []scenario{
		// Longest listen-path prefix wins, on segment boundaries.
		{name: "/a/x goes to /a", path: "/a/x", status: 200, want: []string{`"server":"A"`, `"path":"/a/x"`}},
		{name: "/a itself", path: "/a", status: 200, want: []string{`"server":"A"`, `"path":"/a"`}},
		{name: "/a/ with slash", path: "/a/", status: 200, want: []string{`"server":"A"`, `"path":"/a/"`}},
		{name: "/a/b goes to /a/b", path: "/a/b", status: 200, want: []string{`"server":"B"`, `"path":"/a/b"`}},
		{name: "/a/b/c/d goes to /a/b", path: "/a/b/c/d", status: 200, want: []string{`"server":"B"`, `"path":"/a/b/c/d"`}},
		{name: "/a/bc is not under /a/b", path: "/a/bc", status: 200, want: []string{`"server":"A"`, `"path":"/a/bc"`}},
		{name: "/ab/c under /ab", path: "/ab/c", status: 200, want: []string{`"server":"A"`, `"path":"/ab/c"`}},
		{name: "/abc does not match /ab", path: "/abc", status: 404, hasKeys: []string{"error"}, notWant: []string{`"server"`}},
		{name: "/abc/x does not match /ab", path: "/abc/x", status: 404, hasKeys: []string{"error"}},
		{name: "/stripped does not match /strip", path: "/stripped/x", status: 404, hasKeys: []string{"error"}},
		{name: "unknown path", path: "/nothing/here", status: 404, hasKeys: []string{"error"}, notWant: []string{`"server"`}},
		{name: "root with no root API", path: "/", status: 404, hasKeys: []string{"error"}},

		// strip_listen_path on and off, joined to the target's path.
		{name: "strip on", path: "/strip/x/y", status: 200, want: []string{`"server":"A"`, `"path":"/base/x/y"`}},
		{name: "strip on, listen path only", path: "/strip", status: 200, want: []string{`"path":"/base"`}},
		{name: "strip off", path: "/keep/x/y", status: 200, want: []string{`"path":"/base/keep/x/y"`}},
		{name: "escaped path kept", path: "/strip/a%2Fb/c", status: 200, want: []string{`"raw_path":"/base/a%2Fb/c"`}},

		// Query strings and bodies pass through untouched.
		{name: "query string", path: "/strip/q?a=1&b=two%20words&c=%2F&c=x", status: 200,
			want: []string{`"query":"a=1&b=two%20words&c=%2F&c=x"`, `"path":"/base/q"`}},
		{name: "target query merged", path: "/tq/x?a=1", status: 200, want: []string{`"path":"/base/x"`, `"query":"fixed=1&a=1"`}},
		{name: "target query alone", path: "/tq/x", status: 200, want: []string{`"query":"fixed=1"`}},
		{name: "POST body", method: "POST", path: "/keep/items?draft=1", body: `{"hello":"through the gateway"}`,
			headers: map[string]string{"Content-Type": "application/json"}, status: 200,
			want: []string{`"method":"POST"`, `"body":"{\"hello\":\"through the gateway\"}"`, `"query":"draft=1"`, `"Content-Type":"application/json"`}},
		{name: "PUT body", method: "PUT", path: "/a/thing", body: "plain text body", status: 200,
			want: []string{`"method":"PUT"`, `"body":"plain text body"`}},
		{name: "DELETE", method: "DELETE", path: "/a/b/thing", status: 200, want: []string{`"method":"DELETE"`, `"server":"B"`}},

		// Host header: replaced by the target's unless preserve_host_header.
		{name: "host replaced", path: "/a/h", headers: map[string]string{"Host": "api.example.test"}, status: 200,
			want: []string{`"host":"{A}"`, `"X-Forwarded-Host":"api.example.test"`}},
		{name: "host preserved", path: "/preserve/h", headers: map[string]string{"Host": "api.example.test"}, status: 200,
			want: []string{`"host":"api.example.test"`, `"path":"/h"`}},

		// X-Forwarded-* are set; a client's X-Forwarded-For is extended, not replaced.
		{name: "x-forwarded set", path: "/a/xf", status: 200,
			want: []string{`"X-Forwarded-For":"127.0.0.1"`, `"X-Forwarded-Host":"{gw}"`, `"X-Forwarded-Proto":"http"`}},
		{name: "x-forwarded-for appended", path: "/a/xf", headers: map[string]string{"X-Forwarded-For": "203.0.113.7"}, status: 200,
			want: []string{`"X-Forwarded-For":"203.0.113.7, 127.0.0.1"`}},

		// Hop-by-hop headers stop at the gateway; end-to-end ones go through.
		{name: "hop-by-hop removed", path: "/hop/h",
			headers: map[string]string{"Connection": "X-Hop-Secret", "Keep-Alive": "timeout=5", "X-Hop-Secret": "must-not-leak", "X-End-To-End": "kept"},
			status:  200,
			want:    []string{`"server":"B"`, `"path":"/h"`, `"X-End-To-End":"kept"`},
			notWant: []string{"X-Hop-Secret", "must-not-leak", `"Keep-Alive"`, `"Connection"`, "timeout=5"}},

		// Health checks are served by the gateway itself.
		{name: "hello", path: "/hello", status: 200, fields: map[string]any{"status": "pass"}},
		{name: "ready", path: "/ready", status: 200, fields: map[string]any{"status": "pass"}},
	})

	// The upstream's response headers come back to the client.
	r := p.request(t, "GET", "/a/b/z", nil, "")
	if got := r.header.Get("X-Upstream"); got != "B" {
		t.Errorf("response header X-Upstream = %q, want B", got)
	}
}

// TestControlChangesAreLive: create, update and delete through /tyk/apis change routing
// for the very next request, with no reload call; inactive APIs are not routed.
func TestControlChangesAreLive(t *testing.T) {
	t.Parallel()
	a, b := newEcho(t, "A"), newEcho(t, "B")
	p := startServe(t, e2eutil.Options{})

	get := func(path string) response { t.Helper(); return p.request(t, "GET", path, nil, "") }
	if r := get("/live/x"); r.status != http.StatusNotFound {
		t.Fatalf("before create: %d %s, want 404", r.status, r.body)
	}
	def := keylessAPI("live", "/live", a.URL, true)
	id := p.createAPI(t, def)
	if r := get("/live/x"); r.status != 200 || !strings.Contains(r.body, `"server":"A"`) || !strings.Contains(r.body, `"path":"/x"`) {
		t.Fatalf("right after create: %d %s, want 200 from A at /x", r.status, r.body)
	}

	def["proxy"].(map[string]any)["target_url"] = b.URL + "/v2"
	p.mustAdmin(t, "PUT", "/tyk/apis/"+id, mustJSON(t, def), 200)
	if r := get("/live/x"); r.status != 200 || !strings.Contains(r.body, `"server":"B"`) || !strings.Contains(r.body, `"path":"/v2/x"`) {
		t.Fatalf("right after updating the target: %d %s, want 200 from B at /v2/x", r.status, r.body)
	}

	def["proxy"].(map[string]any)["listen_path"] = "/moved"
	p.mustAdmin(t, "PUT", "/tyk/apis/"+id, mustJSON(t, def), 200)
	if r := get("/live/x"); r.status != http.StatusNotFound {
		t.Errorf("old listen path after move: %d %s, want 404", r.status, r.body)
	}
	if r := get("/moved/x"); r.status != 200 || !strings.Contains(r.body, `"server":"B"`) {
		t.Errorf("new listen path after move: %d %s, want 200 from B", r.status, r.body)
	}

	p.mustAdmin(t, "DELETE", "/tyk/apis/"+id, "", 200)
	if r := get("/moved/x"); r.status != http.StatusNotFound || !strings.Contains(r.body, `"error"`) {
		t.Errorf("right after delete: %d %s, want 404 with an error", r.status, r.body)
	}

	// "active": false is stored but not routed, until it is switched on.
	off := keylessAPI("off", "/off", a.URL, false)
	off["active"] = false
	offID := p.createAPI(t, off)
	if got := decodeObject(t, p.mustAdmin(t, "GET", "/tyk/apis/"+offID, "", 200)); got["active"] != false {
		t.Errorf("inactive API stored as active=%v", got["active"])
	}
	if r := get("/off/x"); r.status != http.StatusNotFound {
		t.Errorf("inactive API answered %d %s, want 404", r.status, r.body)
	}
	off["active"] = true
	p.mustAdmin(t, "PUT", "/tyk/apis/"+offID, mustJSON(t, off), 200)
	if r := get("/off/x"); r.status != 200 || !strings.Contains(r.body, `"server":"A"`) {
		t.Errorf("after activation: %d %s, want 200 from A", r.status, r.body)
	}
	off["active"] = false
	p.mustAdmin(t, "PUT", "/tyk/apis/"+offID, mustJSON(t, off), 200)
	if r := get("/off/x"); r.status != http.StatusNotFound {
		t.Errorf("after deactivation: %d %s, want 404", r.status, r.body)
	}
}

// TestStreamingIsFlushed: a chunk the upstream flushed reaches the client while the
// upstream is still working on the rest.
func TestStreamingIsFlushed(t *testing.T) {
	t.Parallel()
	firstSeen := newGate()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "chunk-1\n")
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen.c():
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "chunk-2\n")
	}))
	t.Cleanup(up.Close)
	p := startServe(t, e2eutil.Options{})
	t.Cleanup(firstSeen.open) // runs before the gateway and upstream are stopped
	p.createAPI(t, keylessAPI("stream", "/stream", up.URL, true))

	resp, err := client.Get("http://" + p.Gateway + "/stream/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	type result struct {
		line string
		err  error
	}
	first := make(chan result, 1)
	go func() {
		l, err := br.ReadString('\n')
		first <- result{l, err}
	}()
	select {
	case res := <-first:
		if res.err != nil || res.line != "chunk-1\n" {
			t.Fatalf("first chunk = %q, %v; want \"chunk-1\\n\"", res.line, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the flushed first chunk did not reach the client while the upstream held the response open: the gateway buffers streams")
	}
	firstSeen.open()
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "chunk-2\n" {
		t.Errorf("rest of stream = %q, %v; want \"chunk-2\\n\"", rest, err)
	}
}

// TestWebSocketUpgrade: an Upgrade request is tunnelled; bytes flow both ways after
// the 101.
func TestWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	const magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + magic))
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\nX-Upstream-Path: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]), r.URL.Path)
		if rw.Flush() != nil {
			return
		}
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString("echo:" + line)
			if rw.Flush() != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	p := startServe(t, e2eutil.Options{})
	p.createAPI(t, keylessAPI("ws", "/ws", up.URL, true))

	conn, err := net.DialTimeout("tcp", p.Gateway, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "GET /ws/chat?room=1 HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", p.Gateway)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s, want 101", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Upgrade"); !strings.EqualFold(got, "websocket") {
		t.Errorf("Upgrade header %q, want websocket", got)
	}
	// RFC 6455's worked example: this key must give this accept value.
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("Sec-WebSocket-Accept %q, want s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", got)
	}
	if got := resp.Header.Get("X-Upstream-Path"); got != "/chat" {
		t.Errorf("upstream saw path %q, want /chat (listen path stripped)", got)
	}
	for _, msg := range []string{"hello", "second message", "third"} {
		if _, err := io.WriteString(conn, msg+"\n"); err != nil {
			t.Fatalf("write after upgrade: %v", err)
		}
		line, err := br.ReadString('\n')
		if err != nil || line != "echo:"+msg+"\n" {
			t.Fatalf("read after upgrade = %q, %v; want %q", line, err, "echo:"+msg+"\n")
		}
	}
}

// TestUpstreamFailures: a refused connection is 502 and a slow upstream is 504, both in
// Tyk's {"error": ...} shape.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	release := newGate()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release.c():
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	dead := refusedAddr(t)
	p := startServe(t, e2eutil.Options{Args: []string{"--proxy-timeout", "200ms"}})
	t.Cleanup(release.open)
	p.createAPI(t, keylessAPI("dead", "/dead", "http://"+dead, true))
	p.createAPI(t, keylessAPI("slow", "/slow", slow.URL, true))
	good := newEcho(t, "A")
	p.createAPI(t, keylessAPI("good", "/good", good.URL, true))

	runScenarios(t, p, map[string]string{"{dead}": dead}, []scenario{
		{name: "connection refused", path: "/dead/x", status: http.StatusBadGateway,
			fields:  map[string]any{"error": "There was a problem proxying the request"},
			notWant: []string{"refused", "dial", "{dead}"}}, // no internal detail for clients
		{name: "connection refused POST", method: "POST", path: "/dead/x", body: "data", status: http.StatusBadGateway,
			fields: map[string]any{"error": "There was a problem proxying the request"}},
		{name: "other APIs unaffected", path: "/good/x", status: 200, want: []string{`"server":"A"`}},
	})

	start := time.Now()
	r := p.request(t, "GET", "/slow/x", nil, "")
	elapsed := time.Since(start)
	if r.status != http.StatusGatewayTimeout || !strings.Contains(r.body, "Upstream service reached hard timeout.") {
		t.Errorf("slow upstream: %d %s, want 504 with \"Upstream service reached hard timeout.\"", r.status, r.body)
	}
	if got := decodeObject(t, r)["error"]; got != "Upstream service reached hard timeout." {
		t.Errorf("slow upstream error field = %v", got)
	}
	if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("504 after %v, want about the 200ms --proxy-timeout", elapsed)
	}
}
