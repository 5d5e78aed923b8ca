// Package app wires Tollgate together: it opens the store, resolves the admin secret,
// loads API definition files, starts the servers and stops them gracefully.
package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
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

// Role chooses which nodes a process serves: `tollgate serve` both, `tollgate
// gateway` the proxy and the control API, `tollgate dashboard` the Dashboard API,
// the Admin API and the web UI. The components under them are the same.
type Role int

const (
	// RoleAll is `tollgate serve`.
	RoleAll Role = iota
	// RoleGateway is `tollgate gateway`.
	RoleGateway
	// RoleDashboard is `tollgate dashboard`.
	RoleDashboard
)

// Gateway reports whether the role serves the gateway.
func (r Role) Gateway() bool { return r != RoleDashboard }

// Dashboard reports whether the role serves the dashboard.
func (r Role) Dashboard() bool { return r != RoleGateway }

// Serve runs a node in a role: its components, its listeners and its background
// loops, until ctx is cancelled; then it drains, shuts the servers down gracefully
// and flushes the quota counts. Announcements meant for the operator go to out. The
// first administrator of an empty store is created by a role that serves the
// dashboard, where it can log in.
func Serve(ctx context.Context, cfg config.Config, role Role, log *slog.Logger, out io.Writer) error {
	if err := secureDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	n, err := New(ctx, cfg, log, out, Deps{NoFirstRun: !role.Dashboard(), ServesDashboard: role.Dashboard() && role.Gateway()})
	if err != nil {
		return err
	}
	defer n.Close()
	gw := n.Gateway

	// The loops start before the listeners, so a cluster member listens to
	// change events before it serves, and stop after the servers (deferred calls
	// run last in, first out), so the last quota flush counts the last request.
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		_ = n.Run(bgCtx)
	}()
	defer func() {
		stopBg()
		<-bgDone
	}()

	n.WaitSubscribed(ctx, 10*time.Second)
	ls, err := listen(cfg, role, gw, n.Dashboard, log, out)
	if err != nil {
		return err
	}
	errc := ls.errc
	// This start serves: the first-run credentials, if it printed them, were
	// seen by whoever watches its output (see unservedFile).
	if dir := n.storeDir(); dir != "" {
		if err := os.Remove(filepath.Join(dir, unservedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("could not remove the first-run marker", "error", err.Error())
		}
	}
	log.Info("listening", "gateway", cfg.GatewayAddr, "dashboard", cfg.DashboardAddr, "control", cfg.ControlAddr,
		"data_dir", cfg.DataDir, "version", VersionString())

	// Certificates are reloaded when their files change, and at once on SIGHUP.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	certCtx, stopCerts := context.WithCancel(context.Background())
	defer stopCerts()
	for _, c := range ls.certs {
		go c.Watch(certCtx, 2*time.Second)
	}
	go func() {
		for {
			select {
			case <-certCtx.Done():
				return
			case <-hup:
				for _, c := range ls.certs {
					if err := c.Reload(); err != nil {
						log.Error("SIGHUP: could not reload a certificate; still serving the previous one", "error", err.Error())
					} else {
						log.Info("SIGHUP: tls certificate reloaded")
					}
				}
			}
		}
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	gw.SetDraining()
	if d := time.Duration(cfg.DrainPeriod); d > 0 {
		// /ready now answers 503 while everything is still served, so a load
		// balancer takes this node out before its listeners close.
		log.Info("draining: /ready answers 503 while requests are still served", "drain_period", d.String())
		drain := time.NewTimer(d)
		select {
		case <-drain.C:
		case err := <-errc:
			drain.Stop()
			return fmt.Errorf("server: %w", err)
		}
	}
	log.Info("shutting down; waiting for in-flight requests", "timeout", ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, sv := range ls.servers {
		wg.Go(func() {
			if err := sv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("shutdown did not finish cleanly", "addr", sv.Addr, "error", err.Error())
			}
		})
	}
	wg.Wait()
	log.Info("stopped")
	return nil
}

// connectionCap returns the gateway's connection cap and the reserve above it kept
// for health checks. Unless configured, three quarters of the open-file limit (less
// a margin for the store, logs and listeners) go to client connections; the rest is
// left for upstream connections, which only requests that passed their checks hold.
func connectionCap(configured int, fileLimit uint64) (limit, reserve int) {
	limit = configured
	if limit == 0 {
		limit = 4096
		if fileLimit > 2048 {
			limit = int((fileLimit - 1024) * 3 / 4)
		}
	}
	return limit, min(max(64, limit/100), 1024)
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

// loadPoliciesDir creates or updates the policies in dir's *.json files, in name
// order. A file holds one policy, or an object of policies by id (Tyk's
// policies.json); a policy without id takes the file's key or, alone in its
// file, the file's name without .json, so that loading twice updates rather
// than duplicates.
func loadPoliciesDir(ctx context.Context, pols *manage.Policies, dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("policies dir: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("policies dir: %w", err)
		}
		docs, err := policyDocs(data, strings.TrimSuffix(e.Name(), ".json"))
		if err != nil {
			return fmt.Errorf("policies dir: %s: %w", path, err)
		}
		for _, d := range docs {
			p, err := pols.Upsert(ctx, d)
			if err != nil {
				return fmt.Errorf("policies dir: %s: %w", path, err)
			}
			log.Info("loaded policy", "file", path, "policy_id", p.ID, "name", p.Name)
		}
	}
	return nil
}

// policyDocs splits a policy file into policy documents, each with an id.
func policyDocs(data []byte, name string) ([][]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	withID := func(doc json.RawMessage, id string) ([]byte, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("policy %s is not a JSON object", id)
		}
		if raw, ok := m["id"]; !ok || string(raw) == `""` {
			m["id"], _ = json.Marshal(id)
		}
		return json.Marshal(m)
	}
	_, hasName := top["name"]
	_, hasID := top["id"]
	if hasName || hasID {
		d, err := withID(data, name)
		return [][]byte{d}, err
	}
	ids := make([]string, 0, len(top))
	for id := range top {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out [][]byte
	for _, id := range ids {
		d, err := withID(top[id], id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// openAccounts builds the accounts service with the encryption key: the configured
// one (which nodes sharing a store must share), or the data dir's own; bcryptCost 0
// is the default cost.
func openAccounts(cfg config.Config, db store.Store, bcryptCost int) (*accounts.Service, error) {
	key, err := encryptionKey(cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := accounts.NewSealer(key)
	if err != nil {
		return nil, err
	}
	acct := &accounts.Service{Store: db, Sealer: sealer, BcryptCost: bcryptCost}
	go acct.WarmUp()
	return acct, nil
}

// encryptionKey is the key that seals access keys: from the configuration, a file
// it names, or the data dir (generated there on first use).
func encryptionKey(cfg config.Config) ([]byte, error) {
	hexKey, where := cfg.EncryptionKey, "encryption_key"
	if cfg.EncryptionKeyFile != "" {
		data, err := os.ReadFile(cfg.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("encryption_key_file: %w", err)
		}
		hexKey, where = strings.TrimSpace(string(data)), cfg.EncryptionKeyFile
	}
	if hexKey == "" {
		return accounts.LoadOrCreateKey(cfg.DataDir)
	}
	if err := config.ValidateEncryptionKey(hexKey); err != nil {
		return nil, fmt.Errorf("encryption key in %s: %w", where, err)
	}
	return hex.DecodeString(strings.TrimSpace(hexKey))
}

// DefaultAdminEmail is the administrator created on first run.
const DefaultAdminEmail = "admin@tollgate.local"

// unservedFile, in the data dir, names the administrator whose credentials the
// first start printed until a start has served: a first start that fails after
// printing them (a port already in use) must not leave the next one silent
// about an administrator the operator may never have seen.
const unservedFile = "first-run-unserved"

// firstRun creates an organisation and an administrator when the store has no users,
// and shows their credentials once. It returns nil when the store had users;
// then, if the start that made them never served (see unservedFile), it says how
// to recover them. dataDir is "" when the store is not in a data dir.
func firstRun(ctx context.Context, acct *accounts.Service, dataDir string, out io.Writer) (*accounts.Bootstrapped, error) {
	n, err := acct.Store.CountUsers(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		if dataDir == "" {
			return nil, nil
		}
		if email, err := os.ReadFile(filepath.Join(dataDir, unservedFile)); err == nil {
			fmt.Fprintf(out, "\nThe first start created the administrator %s and printed their credentials, but stopped\n"+
				"before serving. If you do not have them, give the administrator a new password with\n"+
				"    tollgate users reset-password --email %s --data-dir %s\n"+
				"and read the access key on the user's page after logging in.\n\n", email, email, dataDir)
		}
		return nil, nil
	}
	b, err := acct.Bootstrap(ctx, "Default Organisation", DefaultAdminEmail, "")
	if fault.KindOf(err) == fault.Conflict {
		// Another dashboard on the same store made the administrator between
		// our count and our insert: it announced the credentials; this node
		// simply starts. (The organisation this attempt made stays, empty.)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("first run: %w", err)
	}
	if dataDir != "" {
		if err := os.WriteFile(filepath.Join(dataDir, unservedFile), []byte(b.Email), 0o600); err != nil {
			return nil, fmt.Errorf("first run: %w", err)
		}
	}
	fmt.Fprintf(out, "\nFirst run: created an administrator for the dashboard.\n\n"+
		"    e-mail:                              %s\n"+
		"    password:                            %s\n"+
		"    Dashboard API access credentials:    %s\n"+
		"    organisation id:                     %s\n\n"+
		"These are shown only this once. The access key stays readable on the user's page and at\n"+
		"GET /api/users/me; change the password on the user's page. Lost it? Run\n"+
		"tollgate users reset-password --email %s\n\n",
		b.Email, b.Password, b.AccessKey, b.OrgID, b.Email)
	return &b, nil
}

// ResetPassword gives the user with this e-mail, in the store under dataDir, a new
// generated password and returns it. It does not create the data directory: a
// wrong --data-dir must fail, not make an empty store.
func ResetPassword(ctx context.Context, dataDir, email string) (string, error) {
	path := filepath.Join(dataDir, "tollgate.db")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no Tollgate store at %s: %w", path, err)
	}
	if err := secureDataDir(dataDir, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		return "", err
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	acct, err := openAccounts(config.Config{DataDir: dataDir}, db, 0)
	if err != nil {
		return "", err
	}
	return acct.ResetPasswordByEmail(ctx, email)
}

// Bootstrap creates an organisation and an administrator in the store under dataDir
// (for scripts; `serve` does the same on first run with a generated password).
func Bootstrap(ctx context.Context, dataDir, orgName, email, password string) (accounts.Bootstrapped, error) {
	if err := secureDataDir(dataDir, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		return accounts.Bootstrapped{}, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "tollgate.db"))
	if err != nil {
		return accounts.Bootstrapped{}, err
	}
	defer db.Close()
	acct, err := openAccounts(config.Config{DataDir: dataDir}, db, 0)
	if err != nil {
		return accounts.Bootstrapped{}, err
	}
	return acct.Bootstrap(ctx, orgName, email, password)
}
