package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	if err := os.WriteFile(file, []byte(`{"data_dir":"/from/file","log_level":"debug","proxy_timeout":"5s","gateway_addr":":9000"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOLLGATE_LOG_LEVEL": "warn", "TOLLGATE_GATEWAY_ADDR": ":9100"}
	cfg, rest, err := Load("serve", []string{"--config", file, "--gateway-addr", "127.0.0.1:9200", "extra"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.LogLevel != "warn" || cfg.GatewayAddr != "127.0.0.1:9200" || time.Duration(cfg.ProxyTimeout) != 5*time.Second {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Fatalf("rest = %v", rest)
	}
}

func TestDefaults(t *testing.T) {
	cfg, _, err := Load("serve", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayAddr != ":8080" || cfg.DashboardAddr != "127.0.0.1:3000" || cfg.DataDir != "./tollgate-data" || time.Duration(cfg.StaleIfError) != time.Hour {
		t.Fatalf("defaults: %+v", cfg)
	}
	off, _, err := Load("gateway", []string{"--stale-if-error", "0s"}, func(string) string { return "" }, io.Discard)
	if err != nil || off.StaleIfError != 0 {
		t.Fatalf("--stale-if-error 0s: %v, %v; want it off", off.StaleIfError, err)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown config field", []string{"--config", write("u.json", `{"nope":1}`)}, nil, `unknown field "nope"`},
		{"trailing data", []string{"--config", write("t.json", `{} {}`)}, nil, "trailing data"},
		{"missing file", []string{"--config", filepath.Join(dir, "missing.json")}, nil, "read config file"},
		{"bad addr", []string{"--gateway-addr", "nonsense"}, nil, "gateway_addr"},
		{"bad port", []string{"--gateway-addr", ":99999"}, nil, "invalid port"},
		{"same addrs", []string{"--gateway-addr", "127.0.0.1:1", "--dashboard-addr", "127.0.0.1:1"}, nil, "must differ"},
		{"tyk sample secret", []string{"--secret", WellKnownTykSecret}, nil, "sample secret"},
		{"short secret", []string{"--secret", "short"}, nil, "at least 16"},
		{"blank secret", []string{"--secret", "    "}, nil, "must not be empty"},
		{"bad level", nil, map[string]string{"TOLLGATE_LOG_LEVEL": "loud"}, "log_level"},
		{"bad duration env", nil, map[string]string{"TOLLGATE_PROXY_TIMEOUT": "soon"}, "TOLLGATE_PROXY_TIMEOUT"},
		{"zero timeout", []string{"--proxy-timeout", "0s"}, nil, "proxy_timeout must be positive"},
		{"bad limiter", []string{"--rate-limiter", "bucket"}, nil, "rate_limiter"},
		{"bad bool", []string{"--allow-master-keys", "perhaps"}, nil, "invalid boolean"},
		{"cert without key", []string{"--gateway-tls-cert", "c.pem"}, nil, "gateway_tls_cert and gateway_tls_key must be set together"},
		{"client CA without control listener", []string{"--control-client-ca", "ca.pem"}, nil, "control_client_ca needs control_addr"},
		{"control addr taken", []string{"--gateway-addr", "127.0.0.1:1", "--control-addr", "127.0.0.1:1"}, nil, "control_addr must differ"},
		{"bad trusted proxy", []string{"--trusted-proxies", "10.0.0.0/8, nonsense"}, nil, `"nonsense" is not an address or CIDR`},
		{"negative connections", []string{"--max-connections", "-1"}, nil, "max_connections must not be negative"},
		{"bad connections", []string{"--max-connections", "many"}, nil, "invalid integer"},
		{"zero body timeout", []string{"--body-read-timeout", "0s"}, nil, "body_read_timeout"},
		{"long drain", []string{"--drain-period", "1h"}, nil, "drain_period"},
		{"tiny session cache ttl", []string{"--session-cache-ttl", "1ms"}, nil, "session_cache_ttl must be between 100ms and 10m"},
		{"negative stale-if-error", []string{"--stale-if-error", "-1s"}, nil, "stale_if_error must be between 0 (off) and 24h"},
		{"stale-if-error of days", nil, map[string]string{"TOLLGATE_STALE_IF_ERROR": "72h"}, "stale_if_error"},
		{"session cache ttl from env", nil, map[string]string{"TOLLGATE_SESSION_CACHE_TTL": "1h"}, "session_cache_ttl"},
		{"redis not a redis url", []string{"--redis", "http://127.0.0.1:6379"}, nil, `redis: scheme "http"`},
		{"redis without host", nil, map[string]string{"TOLLGATE_REDIS": "redis://"}, "redis: a URL has no host"},
		{"postgres without a shared secret", []string{"--postgres", "postgres://db/t", "--encryption-key", strings.Repeat("a1", 32)}, nil, "nodes sharing a store need one admin secret"},
		{"postgres without redis", []string{"--postgres", "postgres://db/t", "--secret", "a-long-enough-secret", "--encryption-key", strings.Repeat("a1", 32)}, nil, "set redis (TOLLGATE_REDIS) too"},
		{"postgres without an encryption key", []string{"--postgres", "postgres://db/t", "--secret", "a-long-enough-secret"}, nil, "nodes sharing a store need one encryption key"},
		{"short encryption key", nil, map[string]string{"TOLLGATE_ENCRYPTION_KEY": "abcd"}, "encryption_key: must be 64 hex characters, not 4"},
		{"encryption key not hex", []string{"--encryption-key", strings.Repeat("zz", 32)}, nil, "encryption_key: must be 64 hex characters (0-9, a-f)"},
		{"secret and secret file", []string{"--secret", "a-long-enough-secret", "--secret-file", "/run/s"}, nil, "set secret or secret_file, not both"},
		{"sentinel master without redis", []string{"--redis-sentinel-master", "mymaster"}, nil, "redis_sentinel_master needs redis"},
		{"bad redis url keeps the password out", []string{"--redis", "redis://u:s3cret@[::1"}, nil, "redis: not a URL"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Defaults()
	c.LogLevel, c.LogFormat = "x", "y"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "log_level") || !strings.Contains(err.Error(), "log_format") {
		t.Fatalf("want both problems, got %v", err)
	}
}
