package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// adminSecret guards the /tyk/ control API of the gateways the harness starts.
const adminSecret = "bench-harness-admin-secret"

const (
	keylessAPIID = "bench-open"
	keyedAPIID   = "bench-keyed"
)

func keylessDefinition(upstream string) string {
	return `{"api_id":"` + keylessAPIID + `","name":"bench open","use_keyless":true,` +
		`"proxy":{"listen_path":"/open/","target_url":"` + upstream + `","strip_listen_path":true}}`
}

func keyedDefinition(upstream string) string {
	return `{"api_id":"` + keyedAPIID + `","name":"bench keyed","use_keyless":false,` +
		`"auth":{"auth_header_name":"Authorization"},` +
		`"version_data":{"not_versioned":true,"versions":{"Default":{"name":"Default"}}},` +
		`"proxy":{"listen_path":"/keyed/","target_url":"` + upstream + `","strip_listen_path":true}}`
}

const accessRights = `"access_rights":{"` + keyedAPIID + `":{"api_id":"` + keyedAPIID + `","versions":["Default"]}}`

// plainSession is a key with no limits at all.
const plainSession = `{"rate":0,"per":0,"quota_max":-1,"quota_renewal_rate":0,"expires":0,` + accessRights + `}`

// limitedSession has a rate limit and a quota, both far above anything a run sends:
// every request pays for the checks and none is refused.
const limitedSession = `{"rate":1000000,"per":1,"quota_max":1000000000000,"quota_renewal_rate":3600,"expires":0,` + accessRights + `}`

// errKeysUnavailable marks the reasons keyed cases are skipped (not failed).
var errKeysUnavailable = errors.New("keys API not available")

// controlClient talks to a gateway's /tyk/ API.
type controlClient struct {
	base   string // http://host:port
	client *http.Client
}

func newControlClient(base string, conns int) *controlClient {
	return &controlClient{base: base, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns},
	}}
}

// call sends one control-API request and returns the status and body.
func (c *controlClient) call(ctx context.Context, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Tyk-Authorization", adminSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func (c *controlClient) createAPI(ctx context.Context, def string) error {
	status, body, err := c.call(ctx, http.MethodPost, "/tyk/apis", def)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /tyk/apis: %d %s", status, snippet(body))
	}
	return nil
}

// keyRefused is a POST /tyk/keys that did not answer 200 with a key.
type keyRefused struct {
	status int
	body   string
}

func (e *keyRefused) Error() string {
	return fmt.Sprintf("%v (POST /tyk/keys answered %d %s)", errKeysUnavailable, e.status, e.body)
}

func (e *keyRefused) Unwrap() error { return errKeysUnavailable }

// createKey posts a session to /tyk/keys. Anything but 200 with a "key" in the reply
// is a *keyRefused, which wraps errKeysUnavailable: no (working) keys API.
func (c *controlClient) createKey(ctx context.Context, session string) (string, error) {
	status, body, err := c.call(ctx, http.MethodPost, "/tyk/keys", session)
	if err != nil {
		return "", err
	}
	var reply struct {
		Key string `json:"key"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &reply) != nil || reply.Key == "" {
		return "", &keyRefused{status: status, body: snippet(body)}
	}
	return reply.Key, nil
}

// checkProxied sends one request through a gateway (with key as Authorization when
// set): a case is only meaningful when its requests are proxied (200).
func checkProxied(ctx context.Context, url, key string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d %s", url, resp.StatusCode, snippet(b))
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// keyCreation records a bulk creation over HTTP.
type keyCreation struct {
	Keys       int     `json:"keys"`
	Workers    int     `json:"concurrent_requests"`
	Seconds    float64 `json:"seconds"`
	KeysPerSec float64 `json:"keys_per_second"`
}

// createKeys creates n keys with session through POST /tyk/keys, `workers` requests
// at a time, printing progress every few seconds. It returns the first `keep` keys
// (by creation index).
func (c *controlClient) createKeys(ctx context.Context, session string, n, keep, workers int, label string) ([]string, keyCreation, error) {
	kept := make([]string, min(keep, n))
	var (
		next, created atomic.Int64
		errOnce       sync.Once
		firstErr      error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	t0 := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				done := created.Load()
				rate := float64(done) / time.Since(t0).Seconds()
				eta := time.Duration(float64(int64(n)-done) / max(rate, 1) * float64(time.Second))
				logf("  %s: %d of %d keys (%.0f keys/s, about %s left)", label, done, n, rate, eta.Round(time.Second))
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				key, err := "", ctx.Err()
				// A few retries for transient failures (a 5xx, a dropped connection); a
				// 4xx is final.
				for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
					key, err = c.createKey(ctx, session)
					var refused *keyRefused
					if err == nil || errors.As(err, &refused) && refused.status < 500 {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					fail(fmt.Errorf("creating key %d of %d: %w", i+1, n, err))
					return
				}
				if i < int64(len(kept)) {
					kept[i] = key
				}
				created.Add(1)
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	took := time.Since(t0)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return kept, keyCreation{Keys: n, Workers: workers, Seconds: took.Seconds(), KeysPerSec: float64(n) / took.Seconds()}, firstErr
}
