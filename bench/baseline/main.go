// Command baseline is the reference the harness compares Tollgate with: a plain
// httputil.ReverseProxy (Rewrite: SetURL and SetXForwarded) in front of one upstream,
// with the stock tunings any Go proxy in production has and Tollgate has too: many
// idle upstream connections per host and pooled 32 KiB copy buffers. Nothing else:
// no routing, no auth, no limits, no logging. Without the buffer pool the baseline
// spends a large share of its time in the garbage collector and looks slower than a
// sensible Go proxy is, which would flatter Tollgate's ratios.
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

const bufferSize = 32 << 10

// bufferPool pools array pointers, so Put converts the slice back without allocating.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte { return b.p.Get().(*[bufferSize]byte)[:] }

func (b *bufferPool) Put(x []byte) {
	if len(x) == bufferSize {
		b.p.Put((*[bufferSize]byte)(x))
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9102", "listen address")
	target := flag.String("target", "http://127.0.0.1:9101", "upstream URL")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil {
		log.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		ErrorLog:   quiet,
		BufferPool: &bufferPool{p: sync.Pool{New: func() any { return new([bufferSize]byte) }}},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0, // no global cap
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          quiet,
	}
	log.Fatal(srv.ListenAndServe())
}
