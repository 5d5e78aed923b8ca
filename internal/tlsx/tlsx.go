// Package tlsx serves Tollgate's listeners over TLS: a certificate that is reloaded
// when its files change or on SIGHUP (so renewing a certificate needs no restart), a
// server configuration with TLS 1.2 as the floor, and client-certificate checks for
// the control listener.
package tlsx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader holds a certificate and its key loaded from files, and loads them again
// when asked or when the files change. A failed reload keeps the certificate that
// works and logs why.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]

	mu    sync.Mutex
	stamp string // modification times and sizes of both files at the last load
}

// NewReloader loads the certificate and key; a problem with them is reported now,
// before anything listens.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

// Reload loads the files again.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	stamp, err := r.fileStamp()
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s / key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	r.stamp = stamp
	return nil
}

// ReloadIfChanged reloads when either file changed since the last load.
func (r *Reloader) ReloadIfChanged() {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return
	}
	if err := r.reloadLocked(); err != nil {
		r.log.Error("tls certificate changed but could not be loaded; still serving the previous one", "cert", r.certFile, "error", err.Error())
		// Do not retry the same broken files every tick: wait for another change.
		r.stamp = stamp
		return
	}
	r.log.Info("tls certificate reloaded", "cert", r.certFile)
}

// Watch checks the files every interval until ctx ends.
func (r *Reloader) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.ReloadIfChanged()
		}
	}
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// ServerConfig is the TLS configuration of a Tollgate listener: TLS 1.2 or newer,
// the reloader's certificate. net/http adds HTTP/2 to it when serving.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// RequireClientCerts makes cfg demand a client certificate signed by one of the CA
// certificates in caFile (PEM).
func RequireClientCerts(cfg *tls.Config, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("client CA: " + caFile + " holds no PEM certificate")
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return nil
}
