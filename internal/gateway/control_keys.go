package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// keyRef reads the {id} path value and the hashed query parameter. Unlike Tyk (where
// any non-empty value, even "false", means "hashed"), hashed=false means false.
func keyRef(r *http.Request) (manage.Ref, error) {
	ref := manage.Ref{ID: r.PathValue("id")}
	hashed, err := boolParam(r, "hashed")
	if err != nil {
		return ref, err
	}
	ref.IsHash = hashed
	return ref, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	switch v := strings.ToLower(r.URL.Query().Get(name)); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, httpx.Errorf(http.StatusBadRequest, "Query parameter %s must be true or false, not %q", name, v)
	}
}

func readSessionBody(r *http.Request) ([]byte, error) {
	return httpx.ReadBody(r, session.MaxBodyBytes)
}

// keyError maps the key service's errors; notFound is the endpoint's Tyk message.
func keyError(err error, notFound string) error {
	var ve *session.ValidationError
	var ce *manage.ConflictError
	switch {
	case errors.As(err, &ve):
		if strings.HasPrefix(ve.Reason, "malformed JSON") || strings.HasPrefix(ve.Reason, "unexpected end") {
			return httpx.Errorf(http.StatusBadRequest, "Request malformed: %s", ve.Reason)
		}
		return httpx.Errorf(http.StatusBadRequest, "%s", ve.Reason)
	case errors.As(err, &ce):
		return httpx.Errorf(http.StatusConflict, "%s", ce.Message)
	case errors.Is(err, store.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "%s", notFound)
	}
	return err
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
		return keyError(err, "Key not found")
	}
	g.log.Info("key created", "key", created.Hash.Short(), "org_id", created.Session.OrgID, "apis", len(created.Session.AccessRights))
	g.audit.Record(r.Context(), adminActor(r), created.Session.OrgID, "create", "key", created.Hash.String(), created.Session.Alias)
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
		return keyError(err, "Key not found")
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
		return keyError(err, "Key not found")
	}
	return httpx.WriteJSON(w, http.StatusOK, sess)
}

func (g *Gateway) updateKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	suppress, err := boolParam(r, "suppress_reset")
	if err != nil {
		return err
	}
	body, err := readSessionBody(r)
	if err != nil {
		return err
	}
	h, _, err := g.opts.Keys.Update(r.Context(), ref, body, suppress)
	if err != nil {
		return keyError(err, "Key is not found")
	}
	g.log.Info("key updated", "key", h.Short(), "suppress_reset", suppress)
	g.audit.Record(r.Context(), adminActor(r), "", "update", "key", h.String(), "")
	return httpx.WriteJSON(w, http.StatusOK, modifyReply{Key: ref.ID, Status: "ok", Action: "modified"})
}

func (g *Gateway) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	h, err := g.opts.Keys.Delete(r.Context(), ref)
	if err != nil {
		return keyError(err, "There is no such key found")
	}
	g.log.Info("key deleted", "key", h.Short())
	g.audit.Record(r.Context(), adminActor(r), "", "delete", "key", h.String(), "")
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
