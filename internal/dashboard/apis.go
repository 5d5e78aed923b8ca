package dashboard

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/httpx"
	"github.com/tollgate/tollgate/internal/manage"
	"github.com/tollgate/tollgate/internal/store"
)

// apiWrapper is Tyk's dashboard API object: the classic definition plus dashboard
// fields Tollgate keeps empty.
type apiWrapper struct {
	APIDefinition   json.RawMessage `json:"api_definition"`
	CreatedAt       string          `json:"created_at"`
	UpdatedAt       string          `json:"updated_at"`
	HookReferences  []any           `json:"hook_references"`
	IsSite          bool            `json:"is_site"`
	SortBy          int             `json:"sort_by"`
	UserOwners      []string        `json:"user_owners"`
	UserGroupOwners []string        `json:"user_group_owners"`
	Categories      []string        `json:"categories"`
	APIModel        struct{}        `json:"api_model"`
}

func wrap(a store.API) apiWrapper {
	return apiWrapper{
		APIDefinition: a.Definition, CreatedAt: a.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: a.UpdatedAt.UTC().Format(time.RFC3339),
		HookReferences: []any{}, UserOwners: []string{}, UserGroupOwners: []string{}, Categories: []string{},
	}
}

func (s *Server) apis(r *http.Request) *manage.APIs { return s.opts.APIs.InOrg(caller(r).user.OrgID) }

// listAPIs serves GET /api/apis?p=&q= and GET /api/apis/search?p=&q=: the
// caller's organisation's APIs, newest first, q matching name, api_id, database id
// or listen path.
func (s *Server) listAPIs(w http.ResponseWriter, r *http.Request) error {
	all, err := s.apis(r).List(r.Context())
	if err != nil {
		return err
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	var matched []store.API
	for _, a := range all {
		if q == "" || apiMatches(a, q) {
			matched = append(matched, a)
		}
	}
	slices.Reverse(matched) // store order is oldest first
	from, to, pages, err := paginate(r, len(matched))
	if err != nil {
		return err
	}
	out := make([]apiWrapper, 0, to-from)
	for _, a := range matched[from:to] {
		out = append(out, wrap(a))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"apis": out, "pages": pages})
}

func apiMatches(a store.API, q string) bool {
	if strings.Contains(strings.ToLower(a.ID), q) {
		return true
	}
	d, err := apidef.Parse(a.Definition)
	if err != nil {
		return false
	}
	return strings.Contains(strings.ToLower(d.Name()), q) || strings.Contains(strings.ToLower(d.Proxy().ListenPath), q) ||
		strings.Contains(d.ID(), q)
}

// definitionBody accepts Tyk's wrapper ({"api_definition": {...}}) or a bare
// classic definition.
func definitionBody(r *http.Request) ([]byte, error) {
	body, err := httpx.ReadBody(r, 2<<20)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "Request body malformed: %s", httpx.DescribeJSONError(err))
	}
	if def, ok := probe["api_definition"]; ok {
		return def, nil
	}
	return body, nil
}

// createAPI serves POST /api/apis. Meta is the new API's database id and ID its
// api_id, as Tyk's dashboard answers (tyk-sync reads Meta as the id to PUT to). A
// definition without a listen path gets "/" + api_id + "/" (manage.CreateOptions).
func (s *Server) createAPI(w http.ResponseWriter, r *http.Request) error {
	body, err := definitionBody(r)
	if err != nil {
		return err
	}
	d, err := s.apis(r).CreateWith(r.Context(), body, manage.CreateOptions{DeriveListenPath: true})
	if err != nil {
		return apiWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, envelope{Status: "OK", Message: "API created", Meta: d.ID(), ID: d.APIID()})
}

// The {id} of /api/apis/{id} is the api_id or the database id (manage.APIs.Find).

func (s *Server) getAPI(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apis(r).Find(r.Context(), r.PathValue("id"))
	if err != nil {
		return apiDetailWording.Fault(err)
	}
	return httpx.WriteJSON(w, http.StatusOK, wrap(a))
}

func (s *Server) updateAPI(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apis(r).Find(r.Context(), r.PathValue("id"))
	if err != nil {
		return apiWording.Fault(err)
	}
	body, err := definitionBody(r)
	if err != nil {
		return err
	}
	if _, err := s.apis(r).Update(r.Context(), a.ID, body); err != nil {
		return apiWording.Fault(err)
	}
	return ok(w, "API updated", nil)
}

func (s *Server) deleteAPI(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apis(r).Find(r.Context(), r.PathValue("id"))
	if err != nil {
		return apiWording.Fault(err)
	}
	if err := s.apis(r).Delete(r.Context(), a.ID); err != nil {
		return apiWording.Fault(err)
	}
	return ok(w, "API deleted", nil)
}
