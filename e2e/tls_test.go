package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/e2e/e2eutil"
)

// TestTLSListeners: the gateway and dashboard serve HTTPS (HTTP/2, TLS 1.2 at least),
// the control API moves to its own listener that requires a client certificate, the
// dashboard's cookies are Secure, and a renewed certificate is picked up without a
// restart.
func TestTLSListeners(t *testing.T) {
	ca := e2eutil.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "gw.pem"), filepath.Join(dir, "gw.key"), filepath.Join(dir, "ca.pem")
	write := func(serial int64) {
		c, k := ca.Issue(t, serial, false)
		// Write the key first and the certificate last, each atomically, so the
		// reloader never sees a certificate without its key.
		for _, f := range []struct {
			path string
			data []byte
		}{{keyFile, k}, {certFile, c}} {
			tmp := f.path + ".tmp"
			if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(100)
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	control := e2eutil.FreeAddrs(t, 1)[0]
	p := startServe(t, e2eutil.Options{Args: []string{
		"--gateway-tls-cert", certFile, "--gateway-tls-key", keyFile,
		"--dashboard-tls-cert", certFile, "--dashboard-tls-key", keyFile,
		"--control-addr", control, "--control-client-ca", caFile,
	}})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, ForceAttemptHTTP2: true, DisableKeepAlives: true}
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, _ := get("https://"+p.Gateway+"/hello", nil)
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" {
		t.Errorf("gateway /hello over TLS: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if resp, _ := get("https://"+p.Gateway+"/tyk/apis", map[string]string{"x-tyk-authorization": testSecret}); resp.StatusCode != 404 {
		t.Errorf("/tyk/ on the proxy listener with --control-addr: %d, want 404", resp.StatusCode)
	}

	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", p.Gateway, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// The control listener wants a client certificate signed by the CA.
	if conn, err := tls.Dial("tcp", control, &tls.Config{RootCAs: ca.Pool}); err == nil {
		// TLS 1.3 reports a missing client certificate on the first read.
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = io.WriteString(conn, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("the control listener answered a client without a certificate")
		}
		conn.Close()
	}
	cc, ck := ca.Issue(t, 200, true)
	clientCert, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{clientCert}}}}
	req, _ := http.NewRequest("GET", "https://"+control+"/tyk/apis", nil)
	req.Header.Set("x-tyk-authorization", testSecret)
	cresp, err := withCert.Do(req)
	if err != nil {
		t.Fatalf("control API with a client certificate: %v", err)
	}
	cresp.Body.Close()
	if cresp.StatusCode != 200 {
		t.Errorf("control API with a client certificate: %d, want 200", cresp.StatusCode)
	}

	// The dashboard's cookies are Secure over HTTPS.
	resp, _ = get("https://"+p.Dashboard+"/login", nil)
	if ck := resp.Header.Get("Set-Cookie"); !strings.Contains(ck, "Secure") {
		t.Errorf("dashboard cookie over HTTPS lacks Secure: %q", ck)
	}

	// A renewed certificate is served without a restart: on a file change, and
	// at once on SIGHUP.
	serial := func() int64 {
		conn, err := tls.Dial("tcp", p.Gateway, &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 100 {
		t.Fatalf("serving serial %d, want 100", s)
	}
	// Each listener's certificate logs when it has been reloaded (the gateway's and
	// the dashboard's, in either order); after each such line written since from,
	// check what the gateway serves.
	reloaded := func(from int, line string, want int64, timeout time.Duration) bool {
		t.Helper()
		return p.Stderr.WaitUntil(timeout, func(log string) bool {
			return strings.Contains(log[from:], line) && serial() == want
		})
	}
	from := len(p.Stderr.String())
	write(101)
	if !reloaded(from, "tls certificate reloaded", 101, 10*time.Second) {
		t.Error("a changed certificate file was not picked up within 10 s")
	}
	from = len(p.Stderr.String())
	write(102)
	p.Signal(t, syscall.SIGHUP)
	if !reloaded(from, "SIGHUP: tls certificate reloaded", 102, 5*time.Second) {
		t.Error("SIGHUP did not reload the certificate")
	}
	if p.Exited() {
		t.Fatal("SIGHUP stopped the process")
	}
}
