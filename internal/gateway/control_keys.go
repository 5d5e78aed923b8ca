package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// keyRef reads the {id} path value and the hashed query parameter (manage.ParseRef
// holds the rule every door shares).
func keyRef(r *http.Request) (manage.Ref, error) {
	ref, err := manage.ParseRef(r.PathValue("id"), r.URL.Query().Get("hashed"))
	if err != nil {
		return ref, keyWording.Fault(err)
	}
	return ref, nil
}

func readSessionBody(r *http.Request) ([]byte, error) {
	return httpx.ReadBody(r, session.MaxBodyBytes)
}

// createKey serves POST /tyk/keys, /tyk/keys/create and /tyk/keys/{id}.
func (g *Gateway) createKey(w http.ResponseWriter, r *http.Request) error {
	custom := r.PathValue("id")
	body, err := readSessionBody(r)
	if err != nil {
		return err
	}
	created, err := g.opts.Keys.Create(r.Context(), body, custom)
	if err != nil {
		return keyWording.Fault(err)
	}
	g.log.Info("key created", "key", created.Hash.Short(), "org_id", created.Session.OrgID, "apis", len(created.Session.AccessRights))
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: created.Key, Status: "ok", Action: "added", KeyHash: created.Hash.String()})
}

// previewKey serves POST /tyk/keys/preview: the session as it would be stored.
func (g *Gateway) previewKey(w http.ResponseWriter, r *http.Request) error {
	body, err := readSessionBody(r)
	if err != nil {
		return err
	}
	sess, err := g.opts.Keys.Preview(r.Context(), body)
	if err != nil {
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, sess)
}

func (g *Gateway) getKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	sess, _, err := g.opts.Keys.Get(r.Context(), ref)
	if err != nil {
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, sess)
}

func (g *Gateway) updateKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	suppress, err := manage.ParseFlag("suppress_reset", r.URL.Query().Get("suppress_reset"))
	if err != nil {
		return keyWording.Fault(err)
	}
	body, err := readSessionBody(r)
	if err != nil {
		return err
	}
	h, _, err := g.opts.Keys.Update(r.Context(), ref, body, suppress)
	if err != nil {
		return keyUpdateWording.Fault(err)
	}
	g.log.Info("key updated", "key", h.Short(), "suppress_reset", suppress)
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: ref.ID, Status: "ok", Action: "modified"})
}

func (g *Gateway) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	h, err := g.opts.Keys.Delete(r.Context(), ref)
	if err != nil {
		return keyDeleteWording.Fault(err)
	}
	g.log.Info("key deleted", "key", h.Short())
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: ref.ID, Status: "ok", Action: "deleted"})
}

// listKeys serves GET /tyk/keys: {"keys": [...]} of key hashes (keys are never
// stored). filter keeps hashes with that prefix, api_id keys granting that API,
// org_id keys of that organisation.
func (g *Gateway) listKeys(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.KeyFilter{HashPrefix: strings.ToLower(q.Get("filter")), APIID: q.Get("api_id"), OrgID: q.Get("org_id")}
	if f.HashPrefix != "" && strings.Trim(f.HashPrefix, "0123456789abcdef") != "" {
		return httpx.Errorf(http.StatusBadRequest, "filter must be a prefix of a key hash (hex)")
	}
	if f.APIID == "-1" {
		f.APIID = ""
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return httpx.Errorf(http.StatusBadRequest, "limit must be a non-negative integer")
		}
		f.Limit = n
	}
	ks, err := g.opts.Keys.List(r.Context(), f)
	if err != nil {
		return err
	}
	hashes := make([]string, len(ks))
	for i, k := range ks {
		hashes[i] = k.Hash
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string][]string{"keys": hashes})
}
