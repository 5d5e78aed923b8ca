package dashboard

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// policyWording is Tyk's dashboard words for policy faults.
var (
	policyWording = httpx.Wording{
		Malformed: func(reason string) string { return "Request body malformed: " + reason },
		NotFound:  "Could not retrieve portal object.",
	}
	policyDeleteWording = httpx.Wording{NotFound: "Could not retrieve object for deletion"}
)

func (s *Server) policies(r *http.Request) *manage.Policies {
	return s.opts.Policies.InOrg(caller(r).user.OrgID)
}

// policyPage is Tyk's ReturnDataStruct.
type policyPage struct {
	Data  []*policy.Policy `json:"Data"`
	Pages int              `json:"Pages"`
}

// listPolicies serves GET /api/portal/policies and /api/portal/policies/search.
func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.PolicyFilter{Query: strings.TrimSpace(q.Get("q")), APIID: strings.TrimSpace(q.Get("api_id"))}
	if strings.Contains(f.APIID, ",") {
		return httpx.Errorf(http.StatusBadRequest, "api_id takes one API id")
	}
	// Tyk reads any value of active as "only active"; a typo here would silently
	// widen the listing, so the value is read like every other flag.
	active, err := manage.ParseFlag("active", q.Get("active"))
	if err != nil {
		return policyWording.Fault(err)
	}
	switch st := q.Get("state"); {
	case st != "" && st != policy.StateActive && st != policy.StateDraft && st != policy.StateDeny:
		return httpx.Errorf(http.StatusBadRequest, "state must be active, draft or deny, not %q", st)
	case active && st != "" && st != policy.StateActive:
		return httpx.Errorf(http.StatusBadRequest, "active=true lists active policies only; state %q contradicts it", st)
	case active:
		f.State = policy.StateActive
	default:
		f.State = st
	}
	sortBy := q.Get("sort")
	if !slices.Contains([]string{"", "name", "date_created", "state"}, sortBy) {
		return httpx.Errorf(http.StatusBadRequest, "sort must be name, date_created or state, not %q", sortBy)
	}
	if at := q.Get("auth_type"); at != "" && at != "authToken" {
		// Policies here are for auth-token keys, the only kind Tollgate issues.
		return httpx.WriteJSON(w, http.StatusOK, policyPage{Data: []*policy.Policy{}, Pages: 1})
	}
	page := 1
	if v := q.Get("p"); v != "" {
		if page, err = strconv.Atoi(v); err != nil {
			return httpx.Errorf(http.StatusBadRequest, "p must be a page number, not %q", v)
		}
	}
	// The store pages in name order; other orders and the policy_ids search are
	// paged here (an organisation's policies are few).
	ids := q.Get("policy_ids")
	inStore := ids == "" && (sortBy == "" || sortBy == "name") && page > 0
	if inStore {
		f.Limit, f.Offset = pageSize, (page-1)*pageSize
	}
	var pols []*policy.Policy
	var total int
	if ids != "" {
		pols, err = s.policiesByID(r, ids, f)
		total = len(pols)
	} else {
		pols, total, err = s.policies(r).List(r.Context(), f)
	}
	if err != nil {
		return policyWording.Fault(err)
	}
	switch sortBy {
	case "date_created":
		slices.SortStableFunc(pols, func(a, b *policy.Policy) int { return a.DateCreated.Compare(b.DateCreated.Time) })
	case "state":
		slices.SortStableFunc(pols, func(a, b *policy.Policy) int { return strings.Compare(a.State, b.State) })
	}
	if !inStore && page > 0 {
		from, to := min((page-1)*pageSize, len(pols)), min(page*pageSize, len(pols))
		pols = pols[from:to]
	}
	pages := max((total+pageSize-1)/pageSize, 1)
	if page <= 0 {
		pages = 1 // everything on one page
	}
	return httpx.WriteJSON(w, http.StatusOK, policyPage{Data: pols, Pages: pages})
}

// policiesByID serves the policy_ids search: the caller's policies among the ids
// given (24-hex database ids, as Tyk's dashboard requires), that match f.
func (s *Server) policiesByID(r *http.Request, ids string, f store.PolicyFilter) ([]*policy.Policy, error) {
	out := []*policy.Policy{}
	list := strings.Split(ids, ",")
	if len(list) > pageSize*10 {
		return nil, httpx.Errorf(http.StatusBadRequest, "policy_ids takes at most %d ids", pageSize*10)
	}
	for _, id := range list {
		id = strings.TrimSpace(id)
		if !policy.ValidMID(id) {
			return nil, httpx.Errorf(http.StatusBadRequest, "Policy ID is not in hex format.")
		}
		p, err := s.policies(r).Get(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if (f.State == "" || p.State == f.State) && (f.APIID == "" || slices.Contains(p.APIIDs(), f.APIID)) &&
			(f.Query == "" || p.ID == f.Query || p.MID == f.Query || strings.Contains(strings.ToLower(p.Name), strings.ToLower(f.Query))) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.policies(r).Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return policyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, p)
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r, policy.MaxBodyBytes)
	if err != nil {
		return err
	}
	p, err := s.policies(r).Create(r.Context(), body)
	if err != nil {
		return policyWording.Fault(err)
	}
	// Tyk's dashboard answers with the new policy's database id as the message.
	return ok(w, p.MID, nil)
}

func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r, policy.MaxBodyBytes)
	if err != nil {
		return err
	}
	if _, err := s.policies(r).Update(r.Context(), r.PathValue("id"), body); err != nil {
		return policyWording.Fault(err)
	}
	return ok(w, "Data updated", nil)
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	force, err := manage.ParseFlag("force", r.URL.Query().Get("force"))
	if err != nil {
		return policyWording.Fault(err)
	}
	if _, err := s.policies(r).Delete(r.Context(), r.PathValue("id"), force); err != nil {
		return policyDeleteWording.Fault(err)
	}
	return ok(w, "Data deleted", nil)
}
