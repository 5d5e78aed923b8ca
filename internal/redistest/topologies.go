package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartCluster runs a Redis Cluster of three masters without replicas on
// loopback, every slot served, and returns the masters' addresses. A client
// that reaches any of them finds the rest; keys of one hash tag live on one
// master, and a script whose keys span slots fails, so limiter tests run on it
// prove each key's counters share a slot.
func StartCluster(t testing.TB) []string {
	t.Helper()
	cli := lookup(t, "redis-cli")
	var addrs []string
	for range 3 {
		s := &Server{bin: lookup(t, "redis-server"), dir: t.TempDir(), ready: "Ready to accept connections", free: freeClusterAddr}
		s.argv = func(port string) []string {
			return []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", s.dir,
				"--loglevel", "notice", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"}
		}
		s.run(t)
		addrs = append(addrs, s.Addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every master must agree the cluster is up before a test uses it: a client
	// that asks too early is told CLUSTERDOWN.
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		waitFor(t, 15*time.Second, "Redis Cluster node "+a+" reports cluster_state:ok", func() bool {
			out, err := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			return err == nil && strings.Contains(string(out), "cluster_state:ok")
		})
	}
	return addrs
}

// StartSentinel runs a Redis master and one Sentinel watching it under the name
// it returns, and returns the Sentinel's address and the master (a test may
// kill and restart it).
func StartSentinel(t testing.TB) (sentinel, masterName string, master *Server) {
	t.Helper()
	cli := lookup(t, "redis-cli")
	master = New(t)
	masterName = "tollgate"
	_, mport, _ := net.SplitHostPort(master.Addr)
	s := &Server{bin: lookup(t, "redis-server"), dir: t.TempDir(), ready: "+monitor master " + masterName, free: freeAddr}
	conf := filepath.Join(s.dir, "sentinel.conf")
	s.argv = func(port string) []string {
		// Sentinel rewrites its configuration file, so each start writes a
		// fresh one.
		text := fmt.Sprintf("bind 127.0.0.1\nport %s\ndir %s\nsentinel monitor %s 127.0.0.1 %s 1\nsentinel down-after-milliseconds %s 5000\n",
			port, s.dir, masterName, mport, masterName)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{conf, "--sentinel"}
	}
	s.run(t)
	host, port, _ := net.SplitHostPort(s.Addr)
	waitFor(t, 15*time.Second, "Sentinel "+s.Addr+" names master "+masterName, func() bool {
		out, err := exec.Command(cli, "-h", host, "-p", port, "sentinel", "get-master-addr-by-name", masterName).Output()
		return err == nil && strings.Contains(string(out), mport)
	})
	return s.Addr, masterName, master
}

// freeClusterAddr is a free port whose cluster bus port (port + 10000) exists
// and is free too.
func freeClusterAddr() (string, error) {
	for range 50 {
		a, err := freeAddr()
		if err != nil {
			return "", err
		}
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return a, nil
	}
	return "", fmt.Errorf("no free port pair for a Redis Cluster node")
}

// waitFor polls cond every 50 ms for up to d and fails the test with what when
// it never holds.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewTLS runs a redis-server that speaks only TLS (rediss://) on a free port,
// with the PEM certificate and key given; clients need not present one. Its
// Addr is the TLS port.
func NewTLS(t testing.TB, certFile, keyFile string) *Server {
	t.Helper()
	s := &Server{bin: lookup(t, "redis-server"), dir: t.TempDir(), ready: "Ready to accept connections", free: freeAddr}
	s.argv = func(port string) []string {
		return []string{"--bind", "127.0.0.1", "--port", "0", "--tls-port", port, "--tls-cert-file", certFile,
			"--tls-key-file", keyFile, "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "notice"}
	}
	s.run(t)
	return s
}
