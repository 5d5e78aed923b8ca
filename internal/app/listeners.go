package app

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/tlsx"
)

// listeners are the process's HTTP servers, started.
type listeners struct {
	servers []*http.Server
	// errc receives the first server that stops by itself.
	errc chan error
	// certs are the TLS certificates to reload on SIGHUP and file changes.
	certs []*tlsx.Reloader
}

// listen opens every listener (gateway, dashboard, and the control listener when
// configured), loads their certificates and starts serving. Nothing is served when
// any of them fails.
func listen(cfg config.Config, role Role, gw *gateway.Gateway, dash http.Handler, log *slog.Logger, out io.Writer) (*listeners, error) {
	l := &listeners{errc: make(chan error, 3)}
	var gwCert, dashCert *tlsx.Reloader
	var err error
	if cfg.GatewayTLSCert != "" {
		if gwCert, err = tlsx.NewReloader(cfg.GatewayTLSCert, cfg.GatewayTLSKey, log); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		l.certs = append(l.certs, gwCert)
	}
	if cfg.DashboardTLSCert != "" {
		if dashCert, err = tlsx.NewReloader(cfg.DashboardTLSCert, cfg.DashboardTLSKey, log); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		l.certs = append(l.certs, dashCert)
	}
	var controlTLS *tls.Config
	if gwCert != nil && cfg.ControlAddr != "" {
		controlTLS = gwCert.ServerConfig()
		if cfg.ControlClientCA != "" {
			if err := tlsx.RequireClientCerts(controlTLS, cfg.ControlClientCA); err != nil {
				return nil, err
			}
		}
	}

	type plan struct {
		name, addr string
		h          http.Handler
		t          httpx.ServerTimeouts
		tls        *tls.Config
		gateway    bool
	}
	var plans []plan
	if role.Gateway() {
		plans = append(plans, plan{name: "gateway", addr: cfg.GatewayAddr, h: gw, t: httpx.ProxyTimeouts, tls: serverTLS(gwCert), gateway: true})
	}
	if role.Dashboard() {
		plans = append(plans, plan{name: "dashboard", addr: cfg.DashboardAddr, h: dash, t: httpx.DefaultTimeouts, tls: serverTLS(dashCert)})
	}
	if cfg.ControlAddr != "" && role.Gateway() {
		plans = append(plans, plan{name: "control", addr: cfg.ControlAddr, h: gw.ControlHandler(), t: httpx.DefaultTimeouts, tls: controlTLS})
	}
	lns := make([]net.Listener, 0, len(plans))
	for _, p := range plans {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return nil, fmt.Errorf("%s listen: %w", p.name, err)
		}
		lns = append(lns, ln)
	}
	for i, p := range plans {
		ln := lns[i]
		srv := httpx.NewServer(p.addr, p.h, p.t, log)
		if p.gateway {
			maxConns, reserve := connectionCap(cfg.MaxConnections, raiseFileLimit())
			ln = httpx.NewLimitedListener(ln, maxConns, reserve)
			srv.ConnContext = httpx.ConnContext
			log.Info("gateway connection cap", "max_connections", maxConns, "reserve_connections", reserve)
		}
		l.servers = append(l.servers, srv)
		if p.tls != nil {
			// ServeTLS adds HTTP/2 (ALPN h2) to the configuration.
			srv.TLSConfig = p.tls
			go func() { l.errc <- srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { l.errc <- srv.Serve(ln) }()
		}
		scheme := "http"
		if p.tls != nil {
			scheme = "https"
		}
		switch p.name {
		case "gateway":
			where := "control API under /tyk/"
			if cfg.ControlAddr != "" {
				where = "control API on " + cfg.ControlAddr
			}
			fmt.Fprintf(out, "Tollgate gateway listening on %s (%s, %s)\n", ln.Addr(), scheme, where)
		case "dashboard":
			fmt.Fprintf(out, "Tollgate dashboard listening on %s://%s (API under /api/)\n", scheme, ln.Addr())
		case "control":
			fmt.Fprintf(out, "Tollgate control API listening on %s://%s (under /tyk/)\n", scheme, ln.Addr())
		}
	}
	return l, nil
}

func serverTLS(r *tlsx.Reloader) *tls.Config {
	if r == nil {
		return nil
	}
	return r.ServerConfig()
}
