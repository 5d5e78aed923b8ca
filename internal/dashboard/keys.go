package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

func (s *Server) keys(r *http.Request) *manage.Keys { return s.opts.Keys.InOrg(caller(r).user.OrgID) }

// keyData is Tyk's dashboard KeyData object.
type keyData struct {
	APIModel struct{}         `json:"api_model"`
	KeyID    string           `json:"key_id"`
	Data     *session.Session `json:"data"`
	KeyHash  string           `json:"key_hash"`
}

// createReply answers POST /api/keys in both dialects Tyk clients read: the
// tutorials' {"action","key","status"} and the current dashboard's KeyData.
type createReply struct {
	Action   string           `json:"action"`
	Key      string           `json:"key"`
	Status   string           `json:"status"`
	KeyID    string           `json:"key_id"`
	KeyHash  string           `json:"key_hash"`
	Data     *session.Session `json:"data"`
	APIModel struct{}         `json:"api_model"`
}

func keyErr(err error) error {
	var ve *session.ValidationError
	var ce *manage.ConflictError
	switch {
	case errors.As(err, &ve):
		if strings.HasPrefix(ve.Reason, "malformed JSON") || strings.HasPrefix(ve.Reason, "unexpected end") || strings.HasPrefix(ve.Reason, "the session must be") {
			return httpx.Errorf(http.StatusBadRequest, "Request body malformed: %s", ve.Reason)
		}
		return httpx.Errorf(http.StatusBadRequest, "%s", ve.Reason)
	case errors.As(err, &ce):
		return httpx.Errorf(http.StatusConflict, "%s", ce.Message)
	case errors.Is(err, store.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "Could not retrieve key detail.")
	}
	return err
}

func keyRef(r *http.Request) (manage.Ref, error) {
	ref := manage.Ref{ID: r.PathValue("id")}
	switch v := strings.ToLower(r.URL.Query().Get("hashed")); v {
	case "", "0", "false":
	case "1", "true":
		ref.IsHash = true
	default:
		return ref, httpx.Errorf(http.StatusBadRequest, "Query parameter hashed must be true or false, not %q", v)
	}
	return ref, nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r, session.MaxBodyBytes)
	if err != nil {
		return err
	}
	c, err := s.keys(r).Create(r.Context(), body, r.PathValue("id"))
	if err != nil {
		return keyErr(err)
	}
	s.opts.Audit.Record(r.Context(), actor(r), "", "create", "key", c.Hash.String(), c.Session.Alias)
	return httpx.WriteJSON(w, http.StatusOK, createReply{
		Action: "create", Key: c.Key, Status: "ok", KeyID: c.Key, KeyHash: c.Hash.String(), Data: c.Session,
	})
}

func (s *Server) previewKey(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r, session.MaxBodyBytes)
	if err != nil {
		return err
	}
	sess, err := s.keys(r).Preview(r.Context(), body)
	if err != nil {
		return keyErr(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, keyData{Data: sess})
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	sess, h, err := s.keys(r).Get(r.Context(), ref)
	if err != nil {
		return keyErr(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, keyData{KeyID: ref.ID, Data: sess, KeyHash: h.String()})
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	var suppress bool
	switch v := r.URL.Query().Get("suppress_reset"); v {
	case "", "0", "false":
	case "1", "true":
		suppress = true
	default:
		return httpx.Errorf(http.StatusBadRequest, "Query parameter suppress_reset must be 1 or 0, not %q", v)
	}
	body, err := httpx.ReadBody(r, session.MaxBodyBytes)
	if err != nil {
		return err
	}
	h, sess, err := s.keys(r).Update(r.Context(), ref, body, suppress)
	if err != nil {
		return keyErr(err)
	}
	s.opts.Audit.Record(r.Context(), actor(r), "", "update", "key", h.String(), sess.Alias)
	return httpx.WriteJSON(w, http.StatusOK, keyData{KeyID: ref.ID, Data: sess, KeyHash: h.String()})
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	h, err := s.keys(r).Delete(r.Context(), ref)
	if err != nil {
		return keyErr(err)
	}
	s.opts.Audit.Record(r.Context(), actor(r), "", "delete", "key", h.String(), "")
	return ok(w, "Key deleted successfully.", nil)
}

// keyPage reads the paging and API filter shared by the key lists and returns one
// page of keys matching f with the page count.
func (s *Server) keyPage(r *http.Request, f store.KeyFilter) ([]store.Key, int, error) {
	svc := s.keys(r)
	if id := r.PathValue("id"); id != "" {
		if _, err := s.apis(r).Get(r.Context(), id); err != nil {
			return nil, 0, apiErr(err)
		}
		f.APIID = id
	}
	total, err := svc.Count(r.Context(), f)
	if err != nil {
		return nil, 0, err
	}
	from, to, pages, err := paginate(r, total)
	if err != nil {
		return nil, 0, err
	}
	f.Offset, f.Limit = from, to-from
	if to-from == 0 {
		return nil, pages, nil
	}
	ks, err := svc.List(r.Context(), f)
	return ks, pages, err
}

// listKeyIDs serves GET /api/apis/keys, /api/apis/{id}/keys and /api/keys: key
// hashes (keys themselves are never stored).
func (s *Server) listKeyIDs(w http.ResponseWriter, r *http.Request) error {
	ks, pages, err := s.keyPage(r, store.KeyFilter{})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(ks))
	for _, k := range ks {
		ids = append(ids, k.Hash)
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"keys": ids}, "pages": pages})
}

// listKeysDetailed serves GET /api/keys/detailed?q=: q matches the alias or a hash
// prefix, ignoring case.
func (s *Server) listKeysDetailed(w http.ResponseWriter, r *http.Request) error {
	ks, pages, err := s.keyPage(r, store.KeyFilter{Query: strings.TrimSpace(r.URL.Query().Get("q"))})
	if err != nil {
		return err
	}
	out := make([]keyData, 0, len(ks))
	for _, k := range ks {
		sess, err := session.Decode(k.Session)
		if err != nil {
			s.log.Error("stored session unreadable", "key", k.Hash[:12], "error", err.Error())
			continue
		}
		out = append(out, keyData{KeyID: k.Hash, Data: sess, KeyHash: k.Hash})
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": out, "pages": pages})
}
