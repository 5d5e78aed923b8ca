package dashboard

import (
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/fault"
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

// keyRef reads the {id} path value and the hashed query parameter (manage.ParseRef
// holds the rule every door shares).
func keyRef(r *http.Request) (manage.Ref, error) {
	ref, err := manage.ParseRef(r.PathValue("id"), r.URL.Query().Get("hashed"))
	if err != nil {
		return ref, keyWording.Fault(err)
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
		return keyWording.Fault(err)
	}
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
		return keyWording.Fault(err)
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
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, keyData{KeyID: ref.ID, Data: sess, KeyHash: h.String()})
}

// getAPIKey serves GET /api/apis/{id}/keys/{keyId}: the key's detail, as GET
// /api/keys/{keyId} answers it, when the key opens that API; 404 otherwise.
func (s *Server) getAPIKey(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apis(r).Find(r.Context(), r.PathValue("id"))
	if err != nil {
		return apiWording.Fault(err)
	}
	ref, err := manage.ParseRef(r.PathValue("keyId"), r.URL.Query().Get("hashed"))
	if err != nil {
		return keyWording.Fault(err)
	}
	sess, h, err := s.keys(r).GetFor(r.Context(), ref, a)
	if err != nil {
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, keyData{KeyID: ref.ID, Data: sess, KeyHash: h.String()})
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	suppress, err := manage.ParseFlag("suppress_reset", r.URL.Query().Get("suppress_reset"))
	if err != nil {
		return keyWording.Fault(err)
	}
	body, err := httpx.ReadBody(r, session.MaxBodyBytes)
	if err != nil {
		return err
	}
	h, sess, err := s.keys(r).Update(r.Context(), ref, body, suppress)
	if err != nil {
		return keyWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, keyData{KeyID: ref.ID, Data: sess, KeyHash: h.String()})
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ref, err := keyRef(r)
	if err != nil {
		return err
	}
	if _, err := s.keys(r).Delete(r.Context(), ref); err != nil {
		return keyWording.Fault(err)
	}
	return ok(w, "Key deleted successfully.", nil)
}

// keyPage reads the paging and API filter shared by the key lists and returns one
// page of keys matching f with the page count.
func (s *Server) keyPage(r *http.Request, f store.KeyFilter) ([]store.Key, int, error) {
	svc := s.keys(r)
	if id := r.PathValue("id"); id != "" {
		a, err := s.apis(r).Find(r.Context(), id)
		if err != nil {
			return nil, 0, apiWording.Fault(err)
		}
		f.APIID = a.ID
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
	return s.writeKeyIDs(w, r, store.KeyFilter{})
}

// searchKeyIDs serves GET /api/apis/{id}/keys/search?q=: listKeyIDs, q matching the
// alias or a hash prefix, ignoring case, as on /api/keys/detailed.
func (s *Server) searchKeyIDs(w http.ResponseWriter, r *http.Request) error {
	return s.writeKeyIDs(w, r, store.KeyFilter{Query: strings.TrimSpace(r.URL.Query().Get("q"))})
}

func (s *Server) writeKeyIDs(w http.ResponseWriter, r *http.Request, f store.KeyFilter) error {
	ks, pages, err := s.keyPage(r, f)
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
// prefix, ignoring case. Each session carries the live quota_remaining and
// quota_renews, as GET /api/keys/{id} and the web UI show them: the stored ones
// lag behind every request the gateway counts.
func (s *Server) listKeysDetailed(w http.ResponseWriter, r *http.Request) error {
	ks, pages, err := s.keyPage(r, store.KeyFilter{Query: strings.TrimSpace(r.URL.Query().Get("q"))})
	if err != nil {
		return err
	}
	svc := s.keys(r)
	out := make([]keyData, 0, len(ks))
	for _, k := range ks {
		sess, _, err := svc.Live(r.Context(), k)
		if fault.KindOf(err) == fault.Unavailable {
			// A list without the keys whose counters could not be read would look
			// complete.
			return err
		}
		if err != nil {
			s.log.Error("stored session unreadable", "key", k.Hash[:12], "error", err.Error())
			continue
		}
		out = append(out, keyData{KeyID: k.Hash, Data: sess, KeyHash: k.Hash})
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": out, "pages": pages})
}
