// Package app wires Tollgate together: it opens the store, resolves the admin secret,
// loads API definition files, starts the servers and stops them gracefully.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// Version is set at build time with -ldflags; "dev" otherwise.
var Version = "dev"

// VersionString is the version with the VCS revision when the build recorded one.
func VersionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}

// ShutdownTimeout bounds how long in-flight requests may take to finish on shutdown.
const ShutdownTimeout = 30 * time.Second

// NewLogger builds the process logger from the configuration.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Serve runs the gateway (and, later, the dashboard) until ctx is cancelled, then
// shuts down gracefully. ready, when not nil, receives the bound gateway address once
// it is listening. Announcements meant for the operator go to out.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	secret, err := resolveSecret(cfg, out)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(cfg.DataDir, "tollgate.db")
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()

	bus := &events.Bus{}
	apis := &manage.APIs{Store: db, Events: bus}
	if cfg.AppsDir != "" {
		if err := loadAppsDir(ctx, apis, cfg.AppsDir, log); err != nil {
			return err
		}
	}
	var rl limit.RateLimiter = limit.NewSliding()
	if cfg.RateLimiter == "gcra" {
		rl = limit.NewGCRA()
	}
	limits := &limit.Engine{Rate: rl, Quotas: limit.NewQuotas(db)}
	if err := limits.Quotas.Load(ctx); err != nil {
		return err
	}
	keySvc := &manage.Keys{Store: db, Events: bus, Limits: limits, AllowMasterKeys: cfg.AllowMasterKeys}
	gw := gateway.New(gateway.Options{
		Store:            db,
		APIs:             apis,
		Keys:             keySvc,
		Limits:           limits,
		AllowMasterKeys:  cfg.AllowMasterKeys,
		RateLimitHeaders: cfg.RateLimitHeaders,
		Secret:           secret,
		ProxyTimeout:     time.Duration(cfg.ProxyTimeout),
		Log:              log,
		Version:          VersionString(),
	})
	defer gw.Close()
	gw.Watch(bus)
	if err := gw.Reload(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway listen: %w", err)
	}
	srv := httpx.NewServer(cfg.GatewayAddr, gw, httpx.DefaultTimeouts, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("gateway listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "version", VersionString())
	fmt.Fprintf(out, "Tollgate gateway listening on %s (control API under /tyk/)\n", ln.Addr())

	// Quota counts reach the store every flush interval (what a crash can lose) and
	// once more after the last request on shutdown.
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		flush := time.NewTicker(time.Duration(cfg.QuotaFlushInterval))
		defer flush.Stop()
		sweep := time.NewTicker(30 * time.Second)
		defer sweep.Stop()
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-flush.C:
				if err := limits.Quotas.Flush(bgCtx); err != nil {
					log.Error("flush quota counters", "error", err.Error())
				}
			case now := <-sweep.C:
				limits.Sweep(now)
			}
		}
	}()
	defer func() {
		stopBg()
		<-bgDone
		if err := limits.Quotas.Flush(context.Background()); err != nil {
			log.Error("final flush of quota counters", "error", err.Error())
		}
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("gateway server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down; waiting for in-flight requests", "timeout", ShutdownTimeout.String())
	gw.SetDraining()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown did not finish cleanly", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}

// loadAppsDir loads every *.json file in dir as a Tyk classic API definition,
// creating or replacing it by api_id. Any bad file stops the start, naming the file:
// serving a partial set of APIs silently would be worse.
func loadAppsDir(ctx context.Context, apis *manage.APIs, dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("apps dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("apps dir: %w", err)
		}
		d, err := apis.Upsert(ctx, data)
		if err != nil {
			return fmt.Errorf("apps dir: %s: %w", path, err)
		}
		log.Info("loaded API definition", "file", path, "api_id", d.APIID(), "listen_path", d.Proxy().ListenPath)
	}
	return nil
}
