package dashboard

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/health"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/store"
)

// hello serves GET /hello and /admin/hello: the dashboard's liveness in the shape of
// the gateway's (status, version, description, details per component), unauthenticated
// and cheap. A healthy dashboard says "ok" where the gateway says "pass": that is what
// Tyk's dashboard answers, and what the scripts that wait for a Tyk stack compare (the
// components in details keep the gateway's words). A store that does not answer
// makes it "fail" with 503, as on the gateway.
func (s *Server) hello(w http.ResponseWriter, r *http.Request) error {
	rep := health.Run(r.Context(), s.checks, s.now())
	rep.Version, rep.Description = s.opts.Version, "Tollgate dashboard"
	code := http.StatusOK
	switch rep.Status {
	case "pass":
		rep.Status = "ok"
	case "fail":
		code = http.StatusServiceUnavailable
	}
	return httpx.WriteJSON(w, code, rep)
}

// usage is one day of Tyk's IndividualStats: how many of an entity were in use.
// Tollgate keeps no history, so it reports today, counted now: minimum, maximum and
// average are the same count. Licence entitlements do not exist here and are left out.
type usage struct {
	Date           string `json:"date"`
	MinUsage       int    `json:"min_usage"`
	MaxUsage       int    `json:"max_usage"`
	AvgUsage       int    `json:"avg_usage"`
	MinActiveUsage int    `json:"min_active_usage"`
	MaxActiveUsage int    `json:"max_active_usage"`
	AvgActiveUsage int    `json:"avg_active_usage"`
}

// statsEntities are the values of Tyk's entity parameter. Tollgate has no data
// planes of its own to count (every gateway shares the store), so those lists are
// empty rather than refused: a client asking for them gets Tyk's shape.
var statsEntities = map[string]bool{"apis": true, "dataplanes": true, "dataplanes.gateways": true}

// systemStats serves GET /api/system/stats: the caller's organisation's APIs in
// Tyk's shape, plus counts of its APIs, keys and users (Tollgate's addition: Tyk's
// reply has no place for them).
func (s *Server) systemStats(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	entity := q.Get("entity")
	if entity == "" {
		entity = "apis"
	}
	if !statsEntities[entity] {
		return httpx.Errorf(http.StatusBadRequest, "entity must be apis, dataplanes or dataplanes.gateways, not %q", entity)
	}
	if res := q.Get("resolution"); res != "" && res != "day" {
		return httpx.Errorf(http.StatusBadRequest, "resolution must be day, not %q", res)
	}
	today := s.now().UTC().Format(dateLayout)
	from, to, err := dateRange(q.Get("start_day"), q.Get("end_day"), "start_day", "end_day")
	if err != nil {
		return err
	}
	p := caller(r)
	org := p.user.OrgID
	apis, err := s.opts.APIs.InOrg(org).List(r.Context())
	if err != nil {
		return err
	}
	keyCount, err := s.opts.Keys.InOrg(org).Count(r.Context(), store.KeyFilter{})
	if err != nil {
		return err
	}
	users, err := s.opts.Store.ListUsers(r.Context(), org)
	if err != nil {
		return err
	}
	active := 0
	for _, a := range apis {
		if d, err := apidef.Parse(a.Definition); err == nil && d.Active() {
			active++
		}
	}
	stats := map[string][]usage{"apis": {}, "dataplanes": {}, "dataplanes_gateways": {}}
	if entity == "apis" && (from == "" || from <= today) && (to == "" || today <= to) {
		n := len(apis)
		stats["apis"] = []usage{{Date: today, MinUsage: n, MaxUsage: n, AvgUsage: n,
			MinActiveUsage: active, MaxActiveUsage: active, AvgActiveUsage: active}}
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"status":  "Success",
		"message": "",
		"stats":   stats,
		"counts":  map[string]int{"apis": len(apis), "active_apis": active, "keys": keyCount, "users": len(users)},
	})
}
