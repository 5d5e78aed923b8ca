// Package config holds Tollgate's typed configuration: defaults, an optional JSON file,
// TOLLGATE_* environment variables and command-line flags, applied in that order, and
// Validate, which every entry point calls before starting anything.
package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// WellKnownTykSecret is the admin secret shipped in Tyk's sample configuration. It is
// published in countless tutorials, so Tollgate refuses it.
const WellKnownTykSecret = "352d20ee67be67f6340b4c0605b044b7"

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("5s").
type Duration time.Duration

// UnmarshalJSON accepts "1m30s" style strings or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\" or a number of seconds")
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Config is the whole of Tollgate's configuration.
type Config struct {
	// DataDir holds the SQLite database and generated secrets.
	DataDir string `json:"data_dir"`
	// GatewayAddr is where the gateway and its /tyk/ control API listen.
	GatewayAddr string `json:"gateway_addr"`
	// DashboardAddr is where the dashboard UI and /api/ listen.
	DashboardAddr string `json:"dashboard_addr"`
	// Secret guards the /tyk/ control API (x-tyk-authorization header). When empty, a
	// strong one is generated on first start and kept in DataDir.
	Secret string `json:"secret"`
	// AppsDir, when set, is a folder of Tyk classic API definition files loaded at start.
	AppsDir string `json:"apps_dir"`
	// PoliciesDir, when set, is a folder of Tyk policy files (*.json: one policy
	// each, or an object of policies by id) loaded at start, as Tyk's policy_path.
	PoliciesDir string `json:"policies_dir"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `json:"log_level"`
	// LogFormat is text or json.
	LogFormat string `json:"log_format"`
	// RateLimiter picks the key rate-limit algorithm: "sliding" (exact sliding window,
	// memory grows with the rate) or "gcra" (O(1) memory, smooth token bucket).
	RateLimiter string `json:"rate_limiter"`
	// ProxyTimeout bounds how long the gateway waits for an upstream's response headers.
	ProxyTimeout Duration `json:"proxy_timeout"`
	// QuotaFlushInterval is how often quota counters are written to the durable store;
	// a crash loses at most this much counting.
	QuotaFlushInterval Duration `json:"quota_flush_interval"`
	// RateLimitHeaders selects which headers successful responses carry: "quotas"
	// (Tyk's default, X-RateLimit-* describe the quota) or "ietf" (RateLimit-* headers
	// describing the rate limit).
	RateLimitHeaders string `json:"rate_limit_headers"`
	// AllowMasterKeys lets a key with no access rights reach every API, as Tyk's
	// allow_master_keys does. Off by default.
	AllowMasterKeys bool `json:"allow_master_keys"`
	// AdminsSeeAccessKeys lets dashboard administrators read other users' access
	// keys (they can always reset them). Off by default.
	AdminsSeeAccessKeys bool `json:"admins_see_access_keys"`
	// DrainPeriod is how long, after SIGTERM, /ready answers 503 while requests
	// are still served, so load balancers stop sending traffic before the
	// listeners close.
	DrainPeriod Duration `json:"drain_period"`
	// Postgres, when set, is the durable store a cluster shares (a postgres://
	// URL or key=value DSN) instead of the data dir's SQLite file.
	Postgres string `json:"postgres"`
	// EncryptionKey seals dashboard access keys: 64 hex characters. Nodes that
	// share a store must share it; without it (and without EncryptionKeyFile) a
	// single node keeps a generated one in its data dir.
	EncryptionKey string `json:"encryption_key"`
	// EncryptionKeyFile is a file holding EncryptionKey.
	EncryptionKeyFile string `json:"encryption_key_file"`
	// SecretFile is a file holding Secret.
	SecretFile string `json:"secret_file"`
	// ReplaceClusterSecret makes this node's admin secret the one every node
	// sharing the PostgreSQL store must use from now on (see app's
	// checkClusterSecret); without it a node with another secret refuses to start.
	ReplaceClusterSecret bool `json:"replace_cluster_secret"`
	// Redis, when set, holds the rate limits, quotas and change events a cluster
	// shares: one or more comma-separated redis:// or rediss:// URLs (several
	// addresses: Redis Cluster, or sentinels with RedisSentinelMaster).
	Redis string `json:"redis"`
	// RedisSentinelMaster names the master when Redis lists Sentinel addresses.
	RedisSentinelMaster string `json:"redis_sentinel_master"`
	// SessionCacheTTL bounds how long the gateway uses a cached key session
	// before reading it from the store again: if a change event is ever lost, a
	// revoked key lives on this long at most.
	SessionCacheTTL Duration `json:"session_cache_ttl"`
	// StaleIfError is how long past SessionCacheTTL the gateway still uses a
	// cached key session while the store cannot be read, so known keys keep
	// working through a database outage; 0 turns that off (503 instead).
	StaleIfError Duration `json:"stale_if_error"`
	// BodyReadTimeout cuts a gateway connection whose request body sends nothing
	// for this long (a stalled or deliberately slow client).
	BodyReadTimeout Duration `json:"body_read_timeout"`
	// MaxConnections caps the gateway's concurrent client connections; 0 derives
	// it from the open-file limit. Past it, a small reserve of connections is
	// served /hello and /ready only, so health checks get through a flood.
	MaxConnections int `json:"max_connections"`
	// MaxThrottled caps the throttled requests (a key's throttle_interval and
	// throttle_retry_limit) waiting at once on one gateway; past it they are
	// refused at once. 0 turns throttling off.
	MaxThrottled int `json:"max_throttled"`
	// ControlAddr, when set, serves the /tyk/ control API (with /hello and /ready)
	// on its own listener instead of the gateway's, as Tyk's control_api_port does.
	ControlAddr string `json:"control_addr"`
	// GatewayTLSCert and GatewayTLSKey serve the gateway (and the control
	// listener) over HTTPS; the files are reloaded when they change or on SIGHUP.
	GatewayTLSCert string `json:"gateway_tls_cert"`
	GatewayTLSKey  string `json:"gateway_tls_key"`
	// DashboardTLSCert and DashboardTLSKey serve the dashboard over HTTPS.
	DashboardTLSCert string `json:"dashboard_tls_cert"`
	DashboardTLSKey  string `json:"dashboard_tls_key"`
	// ControlClientCA, a PEM file of CA certificates, makes the control listener
	// require client certificates signed by one of them.
	ControlClientCA string `json:"control_client_ca"`
	// TrustedProxies lists the addresses (CIDRs, comma-separated) of
	// TLS-terminating proxies in front of the dashboard whose X-Forwarded-Proto is
	// believed, so its cookies are marked Secure.
	TrustedProxies string `json:"trusted_proxies"`
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		DataDir:            "./tollgate-data",
		GatewayAddr:        ":8080",
		DashboardAddr:      "127.0.0.1:3000",
		LogLevel:           "info",
		LogFormat:          "text",
		RateLimiter:        "sliding",
		ProxyTimeout:       Duration(30 * time.Second),
		QuotaFlushInterval: Duration(time.Second),
		RateLimitHeaders:   "quotas",
		BodyReadTimeout:    Duration(30 * time.Second),
		SessionCacheTTL:    Duration(30 * time.Second),
		// Long enough to ride out a database restart or failover, short
		// enough that a key revoked just before an outage (and whose change
		// event was lost) does not outlive it by much.
		StaleIfError: Duration(time.Hour),
		// Each waiting request holds a connection and a goroutine for up to 30 s;
		// a thousand is a small share of the default connection cap.
		MaxThrottled: 1000,
	}
}

// field ties one setting to its flag, env var and parser.
type field struct {
	flag, env, usage string
	set              func(c *Config, v string) error
}

func str(p func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func dur(p func(c *Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("invalid duration %q", v)
		}
		*p(c) = Duration(d)
		return nil
	}
}

func boolean(p func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		*p(c) = b
		return nil
	}
}

func integer(p func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("invalid integer %q", v)
		}
		*p(c) = n
		return nil
	}
}

var fields = []field{
	{"data-dir", "TOLLGATE_DATA_DIR", "directory for the embedded store and generated secrets", str(func(c *Config) *string { return &c.DataDir })},
	{"gateway-addr", "TOLLGATE_GATEWAY_ADDR", "gateway listen address (host:port)", str(func(c *Config) *string { return &c.GatewayAddr })},
	{"dashboard-addr", "TOLLGATE_DASHBOARD_ADDR", "dashboard listen address (host:port)", str(func(c *Config) *string { return &c.DashboardAddr })},
	{"secret", "TOLLGATE_SECRET", "admin secret for the /tyk/ control API (generated on first start if unset)", str(func(c *Config) *string { return &c.Secret })},
	{"apps-dir", "TOLLGATE_APPS_DIR", "folder of Tyk classic API definition *.json files to load at start", str(func(c *Config) *string { return &c.AppsDir })},
	{"policies-dir", "TOLLGATE_POLICIES_DIR", "folder of Tyk policy *.json files to load at start (after --apps-dir)", str(func(c *Config) *string { return &c.PoliciesDir })},
	{"log-level", "TOLLGATE_LOG_LEVEL", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", "TOLLGATE_LOG_FORMAT", "text or json", str(func(c *Config) *string { return &c.LogFormat })},
	{"rate-limiter", "TOLLGATE_RATE_LIMITER", "key rate-limit algorithm: sliding or gcra", str(func(c *Config) *string { return &c.RateLimiter })},
	{"proxy-timeout", "TOLLGATE_PROXY_TIMEOUT", "how long to wait for upstream response headers", dur(func(c *Config) *Duration { return &c.ProxyTimeout })},
	{"quota-flush-interval", "TOLLGATE_QUOTA_FLUSH_INTERVAL", "how often quota counters are persisted", dur(func(c *Config) *Duration { return &c.QuotaFlushInterval })},
	{"rate-limit-headers", "TOLLGATE_RATE_LIMIT_HEADERS", "quotas (Tyk's X-RateLimit-*) or ietf (RateLimit-*)", str(func(c *Config) *string { return &c.RateLimitHeaders })},
	{"allow-master-keys", "TOLLGATE_ALLOW_MASTER_KEYS", "let keys without access rights reach every API", boolean(func(c *Config) *bool { return &c.AllowMasterKeys })},
	{"admins-see-access-keys", "TOLLGATE_ADMINS_SEE_ACCESS_KEYS", "let dashboard administrators read other users' access keys", boolean(func(c *Config) *bool { return &c.AdminsSeeAccessKeys })},
	{"control-addr", "TOLLGATE_CONTROL_ADDR", "serve the /tyk/ control API on its own address instead of the gateway's", str(func(c *Config) *string { return &c.ControlAddr })},
	{"gateway-tls-cert", "TOLLGATE_GATEWAY_TLS_CERT", "PEM certificate: serve the gateway (and control listener) over HTTPS", str(func(c *Config) *string { return &c.GatewayTLSCert })},
	{"gateway-tls-key", "TOLLGATE_GATEWAY_TLS_KEY", "PEM private key for --gateway-tls-cert", str(func(c *Config) *string { return &c.GatewayTLSKey })},
	{"dashboard-tls-cert", "TOLLGATE_DASHBOARD_TLS_CERT", "PEM certificate: serve the dashboard over HTTPS", str(func(c *Config) *string { return &c.DashboardTLSCert })},
	{"dashboard-tls-key", "TOLLGATE_DASHBOARD_TLS_KEY", "PEM private key for --dashboard-tls-cert", str(func(c *Config) *string { return &c.DashboardTLSKey })},
	{"control-client-ca", "TOLLGATE_CONTROL_CLIENT_CA", "PEM CA certificates: the control listener requires client certificates they signed", str(func(c *Config) *string { return &c.ControlClientCA })},
	{"trusted-proxies", "TOLLGATE_TRUSTED_PROXIES", "comma-separated CIDRs of TLS-terminating proxies whose X-Forwarded-Proto the dashboard believes", str(func(c *Config) *string { return &c.TrustedProxies })},
	{"postgres", "TOLLGATE_POSTGRES", "PostgreSQL for the durable store a cluster shares: postgres://user:password@host:5432/db (default: SQLite in the data dir)", str(func(c *Config) *string { return &c.Postgres })},
	{"encryption-key", "TOLLGATE_ENCRYPTION_KEY", "64 hex characters sealing dashboard access keys; nodes sharing a store must share it", str(func(c *Config) *string { return &c.EncryptionKey })},
	{"encryption-key-file", "TOLLGATE_ENCRYPTION_KEY_FILE", "file holding the encryption key", str(func(c *Config) *string { return &c.EncryptionKeyFile })},
	{"secret-file", "TOLLGATE_SECRET_FILE", "file holding the admin secret", str(func(c *Config) *string { return &c.SecretFile })},
	{"replace-cluster-secret", "TOLLGATE_REPLACE_CLUSTER_SECRET", "with --postgres: record this node's admin secret as the cluster's, replacing the one the other nodes use (to change it)", boolean(func(c *Config) *bool { return &c.ReplaceClusterSecret })},
	{"redis", "TOLLGATE_REDIS", "Redis URL(s) for limits and change events shared by a cluster: redis://[user:password@]host:port[/db], rediss:// for TLS, comma-separated for Redis Cluster or Sentinel", str(func(c *Config) *string { return &c.Redis })},
	{"redis-sentinel-master", "TOLLGATE_REDIS_SENTINEL_MASTER", "with --redis listing sentinels: the master's name", str(func(c *Config) *string { return &c.RedisSentinelMaster })},
	{"session-cache-ttl", "TOLLGATE_SESSION_CACHE_TTL", "longest time a cached key session is used before the store is read again", dur(func(c *Config) *Duration { return &c.SessionCacheTTL })},
	{"stale-if-error", "TOLLGATE_STALE_IF_ERROR", "while the store cannot be read, keep using a cached key session this long past --session-cache-ttl (0: answer 503)", dur(func(c *Config) *Duration { return &c.StaleIfError })},
	{"drain-period", "TOLLGATE_DRAIN_PERIOD", "after SIGTERM, answer /ready with 503 this long while still serving", dur(func(c *Config) *Duration { return &c.DrainPeriod })},
	{"body-read-timeout", "TOLLGATE_BODY_READ_TIMEOUT", "cut a gateway connection whose request body stalls this long", dur(func(c *Config) *Duration { return &c.BodyReadTimeout })},
	{"max-connections", "TOLLGATE_MAX_CONNECTIONS", "cap on concurrent gateway connections (0: from the open-file limit)", integer(func(c *Config) *int { return &c.MaxConnections })},
	{"max-throttled", "TOLLGATE_MAX_THROTTLED", "cap on throttled requests waiting at once (0: throttling off)", integer(func(c *Config) *int { return &c.MaxThrottled })},
}

// ErrFlags marks a command-line mistake (an unknown flag, a flag without its value)
// that the flag package has already printed, with the usage: a caller reports it
// by its exit status alone, so the message is not shown twice.
var ErrFlags = errors.New("bad command line")

// Load builds a Config for a subcommand from its arguments and environment: defaults,
// then the JSON file named by --config (or TOLLGATE_CONFIG), then TOLLGATE_* variables,
// then flags. It returns the remaining positional arguments.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("TOLLGATE_CONFIG"), "JSON configuration file")
	values := make(map[string]*string, len(fields))
	for _, f := range fields {
		values[f.flag] = fs.String(f.flag, "", f.usage+" (env "+f.env+")")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, nil, err
		}
		return Config{}, nil, fmt.Errorf("%w: %w", ErrFlags, err)
	}

	cfg := Defaults()
	if *configPath != "" {
		if err := cfg.loadFile(*configPath); err != nil {
			return Config{}, nil, err
		}
	}
	for _, f := range fields {
		if v := getenv(f.env); v != "" {
			if err := f.set(&cfg, v); err != nil {
				return Config{}, nil, fmt.Errorf("%s: %w", f.env, err)
			}
		}
	}
	var flagErr error
	fs.Visit(func(fl *flag.Flag) {
		for _, f := range fields {
			if f.flag == fl.Name && flagErr == nil {
				if err := f.set(&cfg, *values[f.flag]); err != nil {
					flagErr = fmt.Errorf("--%s: %w", f.flag, err)
				}
			}
		}
	})
	if flagErr != nil {
		return Config{}, nil, flagErr
	}
	return cfg, fs.Args(), cfg.Validate()
}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("config file %s: trailing data after the JSON object", path)
	}
	return nil
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("data_dir must not be empty"))
	}
	for name, addr := range map[string]string{"gateway_addr": c.GatewayAddr, "dashboard_addr": c.DashboardAddr} {
		if err := validateAddr(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if c.GatewayAddr == c.DashboardAddr {
		errs = append(errs, errors.New("gateway_addr and dashboard_addr must differ"))
	}
	if c.ControlAddr != "" {
		if err := validateAddr(c.ControlAddr); err != nil {
			errs = append(errs, fmt.Errorf("control_addr: %w", err))
		}
		if c.ControlAddr == c.GatewayAddr || c.ControlAddr == c.DashboardAddr {
			errs = append(errs, errors.New("control_addr must differ from gateway_addr and dashboard_addr"))
		}
	}
	for _, pair := range [][3]string{{"gateway_tls", c.GatewayTLSCert, c.GatewayTLSKey}, {"dashboard_tls", c.DashboardTLSCert, c.DashboardTLSKey}} {
		if (pair[1] == "") != (pair[2] == "") {
			errs = append(errs, fmt.Errorf("%s_cert and %s_key must be set together", pair[0], pair[0]))
		}
	}
	if c.ControlClientCA != "" && (c.ControlAddr == "" || c.GatewayTLSCert == "") {
		errs = append(errs, errors.New("control_client_ca needs control_addr and gateway_tls_cert: client certificates are checked on the control listener, which serves the gateway's certificate"))
	}
	if _, err := ParseCIDRs(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w", err))
	}
	if err := ValidateSecret(c.Secret, true); err != nil {
		errs = append(errs, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level must be debug, info, warn or error, not %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format must be text or json, not %q", c.LogFormat))
	}
	switch c.RateLimiter {
	case "sliding", "gcra":
	default:
		errs = append(errs, fmt.Errorf("rate_limiter must be sliding or gcra, not %q", c.RateLimiter))
	}
	switch c.RateLimitHeaders {
	case "quotas", "ietf":
	default:
		errs = append(errs, fmt.Errorf("rate_limit_headers must be quotas or ietf, not %q", c.RateLimitHeaders))
	}
	if c.ProxyTimeout <= 0 {
		errs = append(errs, errors.New("proxy_timeout must be positive"))
	}
	if c.QuotaFlushInterval <= 0 || time.Duration(c.QuotaFlushInterval) > time.Minute {
		errs = append(errs, errors.New("quota_flush_interval must be between 1ns and 1m"))
	}
	if c.DrainPeriod < 0 || time.Duration(c.DrainPeriod) > 10*time.Minute {
		errs = append(errs, errors.New("drain_period must be between 0 and 10m"))
	}
	errs = append(errs, checkRedis(c.Redis, c.RedisSentinelMaster)...)
	errs = append(errs, c.checkShared()...)
	if c.SessionCacheTTL < Duration(100*time.Millisecond) || time.Duration(c.SessionCacheTTL) > 10*time.Minute {
		errs = append(errs, errors.New("session_cache_ttl must be between 100ms and 10m"))
	}
	if c.StaleIfError < 0 || time.Duration(c.StaleIfError) > 24*time.Hour {
		errs = append(errs, errors.New("stale_if_error must be between 0 (off) and 24h"))
	}
	if c.BodyReadTimeout <= 0 || time.Duration(c.BodyReadTimeout) > time.Hour {
		errs = append(errs, errors.New("body_read_timeout must be between 1ns and 1h"))
	}
	if c.MaxThrottled < 0 || c.MaxThrottled > 1000000 {
		errs = append(errs, errors.New("max_throttled must be between 0 (throttling off) and 1000000"))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, errors.New("max_connections must not be negative (0 derives it from the open-file limit)"))
	}
	return errors.Join(errs...)
}

// ValidateSecret checks an admin secret. An empty secret is allowed only where the
// caller will generate one (allowEmpty).
func ValidateSecret(s string, allowEmpty bool) error {
	switch {
	case s == "" && allowEmpty:
		return nil
	case strings.TrimSpace(s) == "":
		return errors.New("secret must not be empty")
	case s == WellKnownTykSecret:
		return errors.New("secret is Tyk's published sample secret; choose your own (or leave it unset to generate one)")
	case len(s) < 16:
		return errors.New("secret must be at least 16 characters")
	}
	return nil
}

func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}

// ParseCIDRs reads a comma-separated list of CIDRs (a bare address means just it).
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR", part)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// checkRedis validates the Redis setting's shape; whether the server answers is
// checked at start.
func checkRedis(urls, master string) []error {
	if urls == "" {
		if master != "" {
			return []error{errors.New("redis_sentinel_master needs redis (the sentinels' addresses)")}
		}
		return nil
	}
	var errs []error
	for _, raw := range strings.Split(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case err != nil:
			// url.Parse's message repeats the URL, which may hold a password.
			errs = append(errs, errors.New("redis: not a URL (want redis://host:port or rediss://host:port)"))
		case u.Scheme != "redis" && u.Scheme != "rediss":
			errs = append(errs, fmt.Errorf("redis: scheme %q, want redis:// or rediss://", u.Scheme))
		case u.Hostname() == "":
			errs = append(errs, errors.New("redis: a URL has no host"))
		}
	}
	return errs
}

// checkShared validates the secrets nodes share. With a shared store they must come
// from the configuration (or files it names), never be generated into one node's
// data dir, or every node would hold a different one.
func (c Config) checkShared() []error {
	var errs []error
	if c.Secret != "" && c.SecretFile != "" {
		errs = append(errs, errors.New("set secret or secret_file, not both"))
	}
	if c.EncryptionKey != "" && c.EncryptionKeyFile != "" {
		errs = append(errs, errors.New("set encryption_key or encryption_key_file, not both"))
	}
	if c.EncryptionKey != "" {
		if err := ValidateEncryptionKey(c.EncryptionKey); err != nil {
			errs = append(errs, fmt.Errorf("encryption_key: %w", err))
		}
	}
	if c.ReplaceClusterSecret && c.Postgres == "" {
		errs = append(errs, errors.New("replace_cluster_secret: only a node on a shared store (postgres) has a cluster secret to replace"))
	}
	if c.Postgres != "" {
		if c.Secret == "" && c.SecretFile == "" {
			errs = append(errs, errors.New("postgres: nodes sharing a store need one admin secret: set secret (TOLLGATE_SECRET) or secret_file"))
		}
		if c.EncryptionKey == "" && c.EncryptionKeyFile == "" {
			errs = append(errs, errors.New("postgres: nodes sharing a store need one encryption key: set encryption_key (TOLLGATE_ENCRYPTION_KEY, 64 hex characters) or encryption_key_file"))
		}
		if c.Redis == "" {
			// Without it every node would keep its own limits and quotas (and
			// write its own counts over the others'), and no node would hear of
			// another's changes.
			errs = append(errs, errors.New("postgres: nodes sharing a store share limits and change events through Redis: set redis (TOLLGATE_REDIS) too"))
		}
	}
	return errs
}

// ValidateEncryptionKey checks an encryption key's form: 64 hex characters (32 bytes).
func ValidateEncryptionKey(k string) error {
	k = strings.TrimSpace(k)
	if len(k) != 64 {
		return fmt.Errorf("must be 64 hex characters, not %d characters", len(k))
	}
	if _, err := hex.DecodeString(k); err != nil {
		return errors.New("must be 64 hex characters (0-9, a-f)")
	}
	return nil
}
