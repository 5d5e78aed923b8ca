// Command upstream is the benchmark's origin server: it answers every request with
// 200 and a small fixed JSON body, as cheaply as net/http allows, so that what the
// harness measures is whatever sits in front of it.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	flag.Parse()
	body := []byte(`{"ok":true,"service":"bench-upstream"}`)
	// Header values are shared, pre-built slices: nothing is formatted per request.
	contentType := []string{"application/json"}
	contentLength := []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Content-Type"] = contentType
		hdr["Content-Length"] = contentLength
		_, _ = w.Write(body)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Connections cut when a wrk run ends would otherwise log a line each.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	log.Fatal(srv.ListenAndServe())
}
