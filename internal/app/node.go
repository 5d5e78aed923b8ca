package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/authguard"
	"github.com/tollgate/tollgate/internal/authguard/redisguard"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/dashboard"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/events/redisbus"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/limit/redislimit"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/postgres"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// sweepInterval is how often expired web sessions and key displays are removed.
const sweepInterval = 5 * time.Minute

// Node is one Tollgate process, built from its components: the store, the limits
// (rate limiter and quota engine), the event bus, the services every door calls, the
// gateway node and the dashboard node. `tollgate serve` and the tests build it with
// New, so they run the same graph; only the listeners differ (Serve binds sockets,
// tests use httptest servers).
type Node struct {
	Config config.Config
	Log    *slog.Logger

	// Components.
	// Store is the durable store: SQLite in the data dir, or PostgreSQL when
	// --postgres is set.
	Store store.Store
	// Limits are the rate limiter and quota engine: in memory (quotas flushed
	// to the store) on one node, in Redis when --redis is set.
	Limits *limit.Engine
	// Events carries change notifications: in process, or through Redis.
	Events events.PubSub
	Audit  *audit.Recorder
	// Redis is the client shared by limits and events (nil without --redis).
	Redis redis.UniversalClient

	// Services.
	Keys     *manage.Keys
	Policies *manage.Policies
	APIs     *manage.APIs
	Accounts *accounts.Service

	// Nodes.
	Gateway   *gateway.Gateway
	Dashboard *dashboard.Server

	// FirstRun holds the administrator created because the store had no users
	// (nil otherwise); New has already shown it on its out writer.
	FirstRun *accounts.Bootstrapped

	// Secret is the control API and Admin API secret in effect.
	Secret string

	loops []func(context.Context) error
	stop  []func()
	// health are the components beside the store that /hello reports, on the
	// gateway and the dashboard.
	health []gateway.HealthCheck
}

// Deps are the parts a test may substitute. The zero value is what production runs.
type Deps struct {
	// Now is the clock of the limits, the key service, the gateway and the
	// dashboard; nil means time.Now.
	Now func() time.Time
	// Wait blocks for a duration on Now's clock (throttled requests wait with
	// it); nil means a real timer.
	Wait func(ctx context.Context, d time.Duration) error
	// BcryptCost overrides the password hashing cost (tests use the minimum).
	BcryptCost int
	// NoFirstRun skips creating the first administrator on an empty store.
	NoFirstRun bool
	// ServesDashboard says the process serves the dashboard beside the gateway
	// (`serve`): the gateway's /hello then reports it, as Tyk's gateway reports
	// the dashboard it works with (details.dashboard).
	ServesDashboard bool
	// WrapLimits, when set, may wrap the rate limiter and quota engine every
	// component uses (tests inject failures this way).
	WrapLimits func(limit.Engine) limit.Engine
}

// New builds and loads a node: it opens the store under cfg.DataDir, resolves the
// admin secret, loads quota counts and --apps-dir, builds the services and both HTTP
// nodes, and on an empty store creates the first administrator, announced on out.
// It starts no goroutine that outlives it: Run runs the background loops, Close
// releases everything.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer, deps Deps) (_ *Node, err error) {
	n := &Node{Config: cfg, Log: log}
	defer func() {
		if err != nil {
			n.Close() // what was opened before the failure
		}
	}()
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	if n.Secret, err = resolveSecret(cfg, out); err != nil {
		return nil, err
	}
	if err := n.openStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	if err := n.openLimitsAndEvents(ctx, cfg, log, now, deps); err != nil {
		return nil, err
	}
	n.Audit = &audit.Recorder{Store: n.Store, Log: log, Now: deps.Now}
	n.Policies = &manage.Policies{Store: n.Store, Events: n.Events, Now: deps.Now}
	n.Keys = &manage.Keys{Store: n.Store, Events: n.Events, Limits: n.Limits, Policies: n.Policies, AllowMasterKeys: cfg.AllowMasterKeys, Now: deps.Now}
	n.APIs = &manage.APIs{Store: n.Store, Events: n.Events, Keys: n.Keys, Orgs: n.Store}
	if n.Accounts, err = openAccounts(cfg, n.Store, deps.BcryptCost); err != nil {
		return nil, err
	}
	if err := n.Accounts.CheckKey(ctx); err != nil {
		return nil, err
	}
	// A cluster's nodes share one store: they must share the admin secret too
	// (a single node may change its own between starts).
	if cfg.Postgres != "" {
		key, err := encryptionKey(cfg)
		if err != nil {
			return nil, err
		}
		if err := checkClusterSecret(ctx, n.Store, key, n.Secret, cfg.ReplaceClusterSecret, log); err != nil {
			return nil, err
		}
	}
	if cfg.AppsDir != "" {
		if err := loadAppsDir(ctx, n.APIs, cfg.AppsDir, log); err != nil {
			return nil, err
		}
	}
	if cfg.PoliciesDir != "" {
		if err := loadPoliciesDir(ctx, n.Policies, cfg.PoliciesDir, log); err != nil {
			return nil, err
		}
	}
	// Keys that name policies no store holds (written before policies were
	// enforced, or left by a forced delete) are refused on the gateway: say so
	// once, at start, rather than per request.
	missing, err := n.Store.CountKeys(ctx, store.KeyFilter{PolicyMissing: true})
	if err != nil {
		return nil, fmt.Errorf("count keys with missing policies: %w", err)
	}
	if missing > 0 {
		log.Warn("keys name policies that do not exist; the gateway refuses them until they apply existing policies", "keys", missing)
	}

	n.Gateway = gateway.New(gateway.Options{
		Store:            n.Store,
		APIs:             n.APIs,
		Keys:             n.Keys,
		Policies:         n.Policies,
		Limits:           n.Limits,
		RateLimitHeaders: cfg.RateLimitHeaders,
		Secret:           n.Secret,
		ProxyTimeout:     time.Duration(cfg.ProxyTimeout),
		BodyReadTimeout:  time.Duration(cfg.BodyReadTimeout),
		SessionCacheTTL:  time.Duration(cfg.SessionCacheTTL),
		StaleIfError:     time.Duration(cfg.StaleIfError),
		ControlElsewhere: cfg.ControlAddr != "",
		Log:              log,
		Version:          VersionString(),
		Now:              deps.Now,
		Wait:             deps.Wait,
		MaxThrottled:     cfg.MaxThrottled,
		Health:           gatewayHealth(n.health, deps.ServesDashboard),
	})
	n.stop = append(n.stop, n.Gateway.Close)
	n.stop = append(n.stop, n.Gateway.Watch(n.Events))
	if err := n.Gateway.Reload(ctx); err != nil {
		return nil, err
	}
	// Routes are rebuilt on every API change event, and at this interval anyway:
	// a lost event or a reload that failed on a store blip is mended within the
	// same bound as a cached session.
	// While the store is down the routes in use stay, and the failure is
	// logged when it starts and ends, not at every interval.
	reloadFailing := false
	n.loops = append(n.loops, every(time.Duration(cfg.SessionCacheTTL), func(ctx context.Context) {
		err := n.Gateway.Reload(ctx)
		switch {
		case err != nil && !reloadFailing:
			reloadFailing = true
			log.Warn("periodic route reload failed; serving the routes loaded before and retrying every interval", "error", err.Error())
		case err == nil && reloadFailing:
			reloadFailing = false
			log.Info("periodic route reload works again")
		}
	}))

	if !deps.NoFirstRun {
		if n.FirstRun, err = firstRun(ctx, n.Accounts, n.storeDir(), out); err != nil {
			return nil, err
		}
	}
	// The services audit their changes from here on: the definitions loaded from
	// --apps-dir and the first-run administrator are the operator's setup, made
	// through no door.
	n.Keys.Audit, n.APIs.Audit, n.Accounts.Audit, n.Policies.Audit = n.Audit, n.Audit, n.Audit, n.Audit
	trusted, err := config.ParseCIDRs(cfg.TrustedProxies) // validated by config.Validate
	if err != nil {
		return nil, err
	}
	var loginFailures authguard.Shared
	if n.Redis != nil {
		loginFailures = redisguard.New(n.Redis)
	}
	n.Dashboard = dashboard.New(dashboard.Options{
		Accounts: n.Accounts, APIs: n.APIs, Keys: n.Keys, Policies: n.Policies, Store: n.Store, AdminSecret: n.Secret, Log: log,
		AdminsSeeAccessKeys: cfg.AdminsSeeAccessKeys, TrustedProxies: trusted, Now: deps.Now,
		Version: VersionString(), Health: n.health, LoginFailures: loginFailures,
	})
	// Expired web sessions and key displays are refused when read; the sweep
	// only keeps their tables small. Every node on a store may run it.
	n.loops = append(n.loops, every(sweepInterval, func(ctx context.Context) {
		if err := n.Dashboard.Sweep(ctx); err != nil {
			log.Warn("sweep expired web sessions", "error", err.Error())
		}
	}))
	return n, nil
}

// openStore opens the durable store: PostgreSQL (migrated at open, safely when
// several nodes start at once) when cfg.Postgres is set, else SQLite in the data
// dir with its checkpoint loop.
func (n *Node) openStore(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if cfg.Postgres != "" {
		db, err := postgres.Open(ctx, cfg.Postgres)
		if err != nil {
			return err
		}
		n.Store = db
		n.stop = append(n.stop, func() { _ = db.Close() })
		return nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "tollgate.db"))
	if err != nil {
		return err
	}
	n.Store = db
	n.stop = append(n.stop, func() { db.Close() })
	n.loops = append(n.loops, every(30*time.Second, func(ctx context.Context) {
		if err := db.Checkpoint(ctx); err != nil {
			log.Warn("sqlite checkpoint", "error", err.Error())
		}
	}))
	return nil
}

// gatewayHealth is what the gateway's /hello reports beside its store: the
// node's components and, when this process serves it, the dashboard, which is
// up whenever the gateway answers (one process, one start).
func gatewayHealth(checks []gateway.HealthCheck, withDashboard bool) []gateway.HealthCheck {
	if !withDashboard {
		return checks
	}
	return append(slices.Clip(checks), gateway.HealthCheck{Name: "dashboard", ComponentType: "system",
		Check: func(context.Context) (string, bool) { return "", false }})
}

// storeDir is the data dir holding the store (SQLite), or "" when the store is
// PostgreSQL: files about the store's state belong beside the store.
func (n *Node) storeDir() string {
	if n.Config.Postgres != "" {
		return ""
	}
	return n.Config.DataDir
}

// openLimitsAndEvents builds the limits and the event bus: shared through Redis when
// cfg.Redis is set (a cluster member), in this process otherwise.
func (n *Node) openLimitsAndEvents(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time, deps Deps) error {
	var engine limit.Engine
	if cfg.Redis != "" {
		c, err := openRedis(ctx, cfg, log)
		if err != nil {
			return err
		}
		n.Redis = c
		n.stop = append(n.stop, func() { c.Close() })
		ro := redislimit.Options{Now: deps.Now}
		shared := limit.Engine{Rate: redislimit.NewRateLimiter(c, cfg.RateLimiter, ro), Quotas: redislimit.NewQuotas(c, ro)}
		// While Redis is away the node limits on its own (see limit.Fallback);
		// those counts need no persistence.
		local := limit.NewLocal(newRateLimiter(cfg, now), limit.NewQuotas(nil).WithClock(now), time.Second, log)
		fb := limit.NewFallback(shared, local.Engine, func(ctx context.Context) error { return c.Ping(ctx).Err() }, log)
		n.loops = append(n.loops, fb.Run, local.Run)
		engine = fb.Engine()
		n.health = append(n.health, gateway.HealthCheck{Name: "redis", ComponentType: "datastore",
			Check: func(context.Context) (string, bool) {
				if fb.Degraded() {
					return "redis does not answer: rate limits and quotas are node-local until it does", true
				}
				return "", false
			}})
		bus := redisbus.New(c, "", log)
		n.Events = bus
		n.loops = append(n.loops, bus.Run)
		// Not ready until it listens to the cluster's changes: a node serving
		// before that could miss one for good (routes have no TTL of their own
		// shorter than the periodic reload).
		n.health = append(n.health, gateway.HealthCheck{Name: "events", ComponentType: "system",
			Check: func(context.Context) (string, bool) {
				select {
				case <-bus.Subscribed():
					return "", false
				default:
					return "not yet subscribed to change events", false
				}
			}})
	} else {
		local := limit.NewLocal(newRateLimiter(cfg, now), limit.NewQuotas(n.Store).WithClock(now), time.Duration(cfg.QuotaFlushInterval), log)
		if err := local.Load(ctx); err != nil {
			return err
		}
		n.loops = append(n.loops, local.Run)
		engine = local.Engine
		n.Events = &events.Bus{}
	}
	if deps.WrapLimits != nil {
		engine = deps.WrapLimits(engine)
	}
	n.Limits = &engine
	return nil
}

// newRateLimiter is the in-memory limiter cfg.RateLimiter names.
func newRateLimiter(cfg config.Config, now func() time.Time) limit.RateLimiter {
	if cfg.RateLimiter == "gcra" {
		return limit.NewGCRA().WithClock(now)
	}
	return limit.NewSliding().WithClock(now)
}

// Run runs the node's background loops (quota flush, counter sweeps, store
// checkpoints) until ctx ends, and returns when all of them have stopped; the limits
// flush their counts one last time on the way out, so stop the servers first.
func (n *Node) Run(ctx context.Context) error {
	errs := make([]error, len(n.loops))
	var wg sync.WaitGroup
	for i, loop := range n.loops {
		wg.Go(func() { errs[i] = loop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WaitSubscribed waits, at most d, until the node listens to change events from
// other processes (at once on one node). Run must be running. A node that gives up
// still starts: /ready answers 503 until it is subscribed.
func (n *Node) WaitSubscribed(ctx context.Context, d time.Duration) {
	sub, ok := n.Events.(interface{ Subscribed() <-chan struct{} })
	if !ok {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sub.Subscribed():
	case <-ctx.Done():
	case <-t.C:
		n.Log.Warn("not yet subscribed to change events; /ready answers 503 until it is", "waited", d.String())
	}
}

// Close releases the node's components in the reverse order of their creation.
func (n *Node) Close() {
	for i := len(n.stop) - 1; i >= 0; i-- {
		n.stop[i]()
	}
	n.stop = nil
}

// every returns a loop that calls fn every d until its context ends.
func every(d time.Duration, fn func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				fn(ctx)
			}
		}
	}
}
