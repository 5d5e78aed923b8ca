// Command baseline is the reference the harness compares Tollgate with: a plain
// httputil.ReverseProxy in front of one upstream, with the same two stock tunings
// Tollgate uses (many idle connections per host, pooled copy buffers) and nothing
// else. Without the buffer pool the baseline spends its time in GC and looks ~30%
// slower than it should, which would flatter Tollgate's ratios.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

func main() {
	addr := flag.String("addr", "127.0.0.1:9102", "listen address")
	target := flag.String("target", "http://127.0.0.1:9101", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		// wrk closing its connections at the end of a run would log one line each.
		ErrorLog:   log.New(io.Discard, "", 0),
		BufferPool: &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		},
	}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
