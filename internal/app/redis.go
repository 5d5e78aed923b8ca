package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/config"
)

// Timeouts for the Redis a cluster shares. A limit decision is one round trip on the
// request path: a Redis that takes longer than this is treated as down (503) rather
// than holding every request.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 500 * time.Millisecond
)

// openRedis connects to cfg.Redis (validated by config.Validate): one URL is a
// single server, several are Redis Cluster nodes or, with RedisSentinelMaster,
// sentinels. Credentials, database and TLS (rediss://) come from the first URL. It
// fails, without echoing the URL (it may hold a password), when Redis does not
// answer: a node that cannot share limits must not start as if it could.
func openRedis(ctx context.Context, cfg config.Config, log *slog.Logger) (redis.UniversalClient, error) {
	// go-redis logs every failed dial on its own; Tollgate reports an outage
	// once (limit.Fallback, redisbus), so its lines go to debug.
	redis.SetLogger(redisLog{log})
	var addrs []string
	var first *redis.Options
	for i, raw := range strings.Split(cfg.Redis, ",") {
		o, err := redis.ParseURL(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("redis: URL %d of %q is not usable", i+1, redactURLs(cfg.Redis))
		}
		if first == nil {
			first = o
		}
		addrs = append(addrs, o.Addr)
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, MasterName: cfg.RedisSentinelMaster,
		Username: first.Username, Password: first.Password, DB: first.DB, TLSConfig: first.TLSConfig,
		DialTimeout: redisDialTimeout, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout,
		// No retries: a limit script whose reply was lost may have run, and
		// running it again would charge the request twice. A failed call is a
		// failed decision (limit.Fallback takes over); pub/sub reconnects itself.
		MaxRetries: -1,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", strings.Join(addrs, ","), err)
	}
	return c, nil
}

// redisLog routes go-redis' own messages to the process log at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// redactURLs hides passwords in a list of Redis URLs for messages.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
