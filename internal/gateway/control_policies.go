package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// policyWording is Tyk's gateway words for policy faults.
var policyWording = httpx.Wording{
	Malformed: func(reason string) string { return "Request malformed: " + reason },
	NotFound:  "Policy not found",
}

func readPolicyBody(r *http.Request) ([]byte, error) {
	return httpx.ReadBody(r, policy.MaxBodyBytes)
}

// listPolicies serves GET /tyk/policies: every policy, as Tyk's gateway lists the
// ones it has loaded.
func (g *Gateway) listPolicies(w http.ResponseWriter, r *http.Request) error {
	pols, _, err := g.opts.Policies.List(r.Context(), store.PolicyFilter{})
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, pols)
}

func (g *Gateway) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := g.opts.Policies.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return policyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, p)
}

func (g *Gateway) createPolicy(w http.ResponseWriter, r *http.Request) error {
	body, err := readPolicyBody(r)
	if err != nil {
		return err
	}
	p, err := g.opts.Policies.Create(r.Context(), body)
	if err != nil {
		return policyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: p.ID, Status: "ok", Action: "added"})
}

func (g *Gateway) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	body, err := readPolicyBody(r)
	if err != nil {
		return err
	}
	p, err := g.opts.Policies.Update(r.Context(), r.PathValue("id"), body)
	if err != nil {
		return policyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: p.ID, Status: "ok", Action: "modified"})
}

func (g *Gateway) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	force, err := manage.ParseFlag("force", r.URL.Query().Get("force"))
	if err != nil {
		return policyWording.Fault(err)
	}
	p, err := g.opts.Policies.Delete(r.Context(), r.PathValue("id"), force)
	if err != nil {
		return policyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: p.ID, Status: "ok", Action: "deleted"})
}

// policyUpdate is Tyk's PolicyUpdateObj: the policies a key is to apply.
type policyUpdate struct {
	Policy        string   `json:"policy"`
	ApplyPolicies []string `json:"apply_policies"`
}

// setKeyPolicies serves POST /tyk/keys/policy/{id}: the key (by hash, unless
// hashed=false) applies the policies given, keeping its counters.
func (g *Gateway) setKeyPolicies(w http.ResponseWriter, r *http.Request) error {
	hashed := r.URL.Query().Get("hashed")
	if hashed == "" {
		hashed = "true" // Tyk's endpoint takes a hashed key
	}
	ref, err := manage.ParseRef(r.PathValue("id"), hashed)
	if err != nil {
		return keyWording.Fault(err)
	}
	body, err := readSessionBody(r)
	if err != nil {
		return err
	}
	var u policyUpdate
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return keyWording.Fault(fault.Newf(fault.Malformed, "Couldn't decode instruction: %v", strings.TrimPrefix(err.Error(), "json: ")))
	}
	ids := u.ApplyPolicies
	if len(ids) == 0 && u.Policy != "" {
		ids = []string{u.Policy}
	}
	if len(ids) == 0 {
		return keyWording.Fault(fault.InvalidField("apply_policies", "apply_policies must name at least one policy"))
	}
	h, _, err := g.opts.Keys.SetPolicies(r.Context(), ref, ids)
	if err != nil {
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: h.String(), Status: "ok", Action: "updated"})
}
