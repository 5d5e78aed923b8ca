// Package health runs the liveness checks behind /hello on the gateway and the
// dashboard, and shapes their answer as Tyk does: the "Health Check Response Format
// for HTTP APIs" draft Tyk follows, with a status, the version, a description and
// one entry per component in details. Both listeners share it so that a tool waiting
// for the stack reads the same components (the store, Redis) from either.
package health

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Check is one component in /hello's details and /ready's verdict.
type Check struct {
	// Name is its key in /hello's details ("redis"); ComponentType is Tyk's
	// componentType ("datastore").
	Name, ComponentType string
	// Check returns "" when the component works, or what is wrong. degraded
	// means the node serves anyway ("warn"); otherwise it cannot ("fail").
	Check func(ctx context.Context) (problem string, degraded bool)
}

// Pinger is what the store check needs of a store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Store is the check of the durable store, reported as "store", for a node that
// cannot work without it (the dashboard): a store that does not answer is "fail".
// Why the ping failed is logged, never shown: /hello is unauthenticated. It is
// logged when the store stops answering and when it answers again, not on every
// probe: a load balancer probing every second would otherwise flood the log.
func Store(s Pinger, log *slog.Logger) Check {
	return storeCheck(s, log, "store did not answer", false)
}

// CachedStore is Store for a node that keeps serving from what it cached (the
// gateway: known keys and the routes it loaded): a store that does not answer is
// "warn", so a load balancer keeps the node while an operator sees why.
func CachedStore(s Pinger, log *slog.Logger) Check {
	return storeCheck(s, log, "store did not answer; serving cached keys and routes", true)
}

func storeCheck(s Pinger, log *slog.Logger, problem string, degraded bool) Check {
	var failing atomic.Bool
	return Check{Name: "store", ComponentType: "datastore", Check: func(ctx context.Context) (string, bool) {
		if err := s.Ping(ctx); err != nil {
			if failing.CompareAndSwap(false, true) {
				log.Error("health check: store ping failed; reported until it answers", "error", err.Error())
			}
			return problem, degraded
		}
		if failing.CompareAndSwap(true, false) {
			log.Info("health check: store answers again")
		}
		return "", false
	}}
}

// Component is one entry of Report.Details.
type Component struct {
	Status        string `json:"status"`
	ComponentType string `json:"componentType"`
	Output        string `json:"output,omitempty"`
	Time          string `json:"time"`
}

// Report is /hello's body.
type Report struct {
	// Status is "pass", "warn" (a component is degraded, the node still serves)
	// or "fail" (a component it cannot do without is down).
	Status      string               `json:"status"`
	Version     string               `json:"version"`
	Description string               `json:"description"`
	Details     map[string]Component `json:"details"`
}

// Timeout bounds one run of the checks: a store that hangs must not hang the
// health check, whose callers (load balancers, scripts) give up after a few seconds.
const Timeout = 2 * time.Second

// Run runs every check (within Timeout) and reports them at now.
func Run(ctx context.Context, checks []Check, now time.Time) Report {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	at := now.UTC().Format(time.RFC3339)
	r := Report{Status: "pass", Details: make(map[string]Component, len(checks))}
	for _, c := range checks {
		comp := Component{Status: "pass", ComponentType: c.ComponentType, Time: at}
		if problem, degraded := c.Check(ctx); problem != "" {
			comp.Output = problem
			switch {
			case !degraded:
				comp.Status, r.Status = "fail", "fail"
			case r.Status == "pass":
				comp.Status, r.Status = "warn", "warn"
			default:
				comp.Status = "warn"
			}
		}
		r.Details[c.Name] = comp
	}
	return r
}
