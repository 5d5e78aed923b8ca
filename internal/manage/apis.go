// Package manage holds the management operations that every door into Tollgate shares:
// the gateway's /tyk/ control API, the dashboard's /api/ REST API, the web UI and the
// CLI all create, change and delete APIs and keys through these services, so the rules
// (validation, uniqueness, change events) live once.
package manage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

// conflict is a fault.Conflict: a change that clashes with what exists. It wraps
// store.ErrConflict.
func conflict(format string, args ...any) error {
	return &fault.Error{Kind: fault.Conflict, Reason: fmt.Sprintf(format, args...), Err: store.ErrConflict}
}

// listenPathConflict is a conflict about the listen path, which it names as its
// field so that a form can show it there.
func listenPathConflict(format string, args ...any) error {
	return &fault.Error{Kind: fault.Conflict, Field: "proxy.listen_path", Reason: fmt.Sprintf(format, args...), Err: store.ErrConflict}
}

// creating serialises the check-and-store of API creation on this node (see
// APIs.insert). Creations are rare and quick, so one lock for all is enough.
var creating sync.Mutex

// APIs manages API definitions.
type APIs struct {
	Store  store.APIStore
	Events events.Publisher
	// Audit records every change, by the actor in the call's context; nil records
	// nothing.
	Audit *audit.Recorder
	// Keys, when set, has deleted APIs taken out of every key's access rights, so
	// that an id created again later is never granted by an old key.
	Keys *Keys
	// Orgs, when set, files new APIs without org_id under the default
	// organisation (see defaultOrg); nil leaves them with none.
	Orgs store.OrgStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// org, when scoped, confines every call to one organisation: its APIs are the
	// only ones visible, and new APIs belong to it.
	org    string
	scoped bool
}

// InOrg returns the service confined to one organisation (the dashboard's view).
func (s *APIs) InOrg(org string) *APIs {
	c := *s
	c.org, c.scoped = org, true
	return &c
}

func (s *APIs) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// List returns every stored API, oldest first, each definition carrying its
// database id.
func (s *APIs) List(ctx context.Context) ([]store.API, error) {
	all, err := s.list(ctx)
	for i := range all {
		all[i] = withID(all[i])
	}
	return all, err
}

// list is List as stored: definitions of APIs stored before database ids existed
// have none.
func (s *APIs) list(ctx context.Context) ([]store.API, error) {
	all, err := s.Store.ListAPIs(ctx)
	if err != nil || !s.scoped {
		return all, err
	}
	var mine []store.API
	for _, a := range all {
		if a.OrgID == s.org {
			mine = append(mine, a)
		}
	}
	return mine, nil
}

// Get returns one API by api_id, its definition carrying its database id;
// store.ErrNotFound if absent.
func (s *APIs) Get(ctx context.Context, id string) (store.API, error) {
	if apidef.ValidateAPIID(id) != nil {
		return store.API{}, store.ErrNotFound
	}
	a, err := s.Store.GetAPI(ctx, id)
	if err == nil && s.scoped && a.OrgID != s.org {
		return store.API{}, store.ErrNotFound
	}
	if err != nil {
		return store.API{}, err
	}
	return withID(a), nil
}

// Find returns the API that ref names by api_id or by database id, as the paths of
// Tyk's Dashboard API take either (its tools index APIs by the database id);
// store.ErrNotFound if ref names none of the service's APIs. Create keeps the two
// namespaces apart, so a ref never names two APIs.
func (s *APIs) Find(ctx context.Context, ref string) (store.API, error) {
	a, err := s.Get(ctx, ref)
	if !errors.Is(err, store.ErrNotFound) || !apidef.IsID(ref) {
		return a, err
	}
	all, err := s.list(ctx)
	if err != nil {
		return store.API{}, err
	}
	want := apidef.NormalID(ref)
	for _, a := range all {
		if storedID(a) == want {
			return withID(a), nil
		}
	}
	return store.API{}, store.ErrNotFound
}

// storedID is a stored API's database id: the one in its definition or, for an API
// stored before ids existed (or with an id that is not one), the one derived from its
// api_id, which every node derives alike and the API's next change writes down.
func storedID(a store.API) string {
	if id := apidef.IDOf(a.Definition); apidef.IsID(id) {
		return apidef.NormalID(id)
	}
	return apidef.DerivedID(a.ID)
}

// withID returns a with its database id written into the definition it carries, so
// that every reader (GET /api/apis, /tyk/apis, exports) sees the id it can be found
// by. Definitions that already carry it are returned as they are.
func withID(a store.API) store.API {
	id := storedID(a)
	if apidef.IDOf(a.Definition) == id {
		return a
	}
	d, err := apidef.Parse(a.Definition)
	if err != nil {
		return a
	}
	d.SetID(id)
	if raw, err := d.MarshalJSON(); err == nil {
		a.Definition = raw
	}
	return a
}

// CreateOptions are what a door chooses for the APIs it creates.
type CreateOptions struct {
	// DeriveListenPath gives a definition without proxy.listen_path the one Tyk's
	// dashboard builds for an API ("/" + api_id + "/", its API defaults; its
	// importers do the same), instead of refusing it. api_id is unique, so the path
	// rarely clashes; it obeys the same route rules as a chosen one.
	DeriveListenPath bool
}

// Create stores a new API from a Tyk classic definition, generating api_id and the
// database id ("id") when they are absent. A body's id is kept when it is a database
// id no API uses, so an export imports again with its ids. Problems with the
// definition are fault.Malformed or fault.Invalid; an id or api_id that is taken is a
// fault.Conflict.
func (s *APIs) Create(ctx context.Context, body []byte) (*apidef.Definition, error) {
	return s.CreateWith(ctx, body, CreateOptions{})
}

// CreateWith is Create with a door's options.
func (s *APIs) CreateWith(ctx context.Context, body []byte, opts CreateOptions) (*apidef.Definition, error) {
	d, err := s.prepareNew(ctx, body, opts)
	if err != nil {
		return nil, err
	}
	if err := s.claimID(ctx, d); err != nil {
		return nil, err
	}
	if err := s.insert(ctx, d); err != nil {
		return nil, err
	}
	s.publish(d.APIID())
	s.Audit.Record(ctx, d.OrgID(), audit.ActionCreate, audit.TypeAPI, d.APIID(), d.Name())
	return d, nil
}

// Check reports what Create (id "") or Update (of the API id) would find wrong
// with body, storing nothing: every invalid field at once (fault.All), then a
// listen path another API serves. A form that found faults of its own asks it,
// so that it can mark those fields too rather than one mistake per submit.
func (s *APIs) Check(ctx context.Context, id string, body []byte) error {
	var d *apidef.Definition
	var err error
	if id == "" {
		d, err = s.prepareNew(ctx, body, CreateOptions{})
	} else {
		d, err = s.prepareUpdate(ctx, id, body)
	}
	if err != nil {
		return err
	}
	all, err := s.Store.ListAPIs(ctx)
	if err != nil {
		return err
	}
	return checkRoute(all, d, id)
}

// prepareNew parses a new API's definition, gives it the ids and fields Create
// sets, and validates it.
func (s *APIs) prepareNew(ctx context.Context, body []byte, opts CreateOptions) (*apidef.Definition, error) {
	d, err := apidef.Parse(body)
	if err != nil {
		return nil, err
	}
	if err := d.CheckID(); err != nil {
		return nil, err
	}
	if d.ID() == "" {
		d.SetID(apidef.NewID(s.now()))
	} else {
		d.SetID(apidef.NormalID(d.ID()))
	}
	if d.APIID() == "" {
		d.SetAPIID(apidef.NewAPIID())
	}
	if opts.DeriveListenPath && d.Proxy().ListenPath == "" {
		d.SetListenPath("/" + d.APIID() + "/")
	}
	d.MarkActive()
	if s.scoped {
		d.SetOrgID(s.org)
	} else if d.OrgID() == "" {
		org, err := defaultOrg(ctx, s.Orgs)
		if err != nil {
			return nil, err
		}
		if org != "" {
			d.SetOrgID(org)
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// insert stores a new, valid definition after the checks that need every stored API.
// The store keeps api_ids and route keys unique, not database ids, which live in the
// definition: checking and storing under one lock keeps two imports of the same id
// on this node from both passing the check.
func (s *APIs) insert(ctx context.Context, d *apidef.Definition) error {
	creating.Lock()
	defer creating.Unlock()
	all, err := s.Store.ListAPIs(ctx)
	if err != nil {
		return err
	}
	if err := claimDBID(all, d); err != nil {
		return err
	}
	if err := checkRoute(all, d, ""); err != nil {
		return err
	}
	raw, err := d.MarshalJSON()
	if err != nil {
		return err
	}
	now := s.now()
	a := store.API{ID: d.APIID(), OrgID: d.OrgID(), RouteKey: d.RouteKey(), Definition: raw, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateAPI(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("API %s conflicts with an API created at the same time", d.APIID())
		}
		return err
	}
	return nil
}

// Update replaces the API id with a definition. The body's api_id may be absent (it is
// taken from id) but must not name another API.
func (s *APIs) Update(ctx context.Context, id string, body []byte) (*apidef.Definition, error) {
	d, err := s.prepareUpdate(ctx, id, body)
	if err != nil {
		return nil, err
	}
	all, err := s.Store.ListAPIs(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkRoute(all, d, id); err != nil {
		return nil, err
	}
	raw, err := d.MarshalJSON()
	if err != nil {
		return nil, err
	}
	a := store.API{ID: id, OrgID: d.OrgID(), RouteKey: d.RouteKey(), Definition: raw, UpdatedAt: s.now()}
	if err := s.Store.UpdateAPI(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fault.InvalidField("proxy.listen_path", "proxy.listen_path %q is already used by another API", d.Proxy().ListenPath)
		}
		return nil, err
	}
	s.publish(id)
	s.Audit.Record(ctx, d.OrgID(), audit.ActionUpdate, audit.TypeAPI, id, d.Name())
	return d, nil
}

// prepareUpdate parses the definition that is to replace the API id, keeps the
// ids and organisation the API has, and validates it.
func (s *APIs) prepareUpdate(ctx context.Context, id string, body []byte) (*apidef.Definition, error) {
	prev, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := apidef.Parse(body)
	if err != nil {
		return nil, err
	}
	d.MarkActive()
	switch d.APIID() {
	case "":
		d.SetAPIID(id)
	case id:
	default:
		return nil, fault.InvalidField("api_id", "api_id %q in the body does not match %q in the path", d.APIID(), id)
	}
	if err := d.CheckID(); err != nil {
		return nil, err
	}
	// The database id is what tools index APIs by: a body may leave it out (it
	// stays) or repeat it, never change it.
	switch own := storedID(prev); {
	case d.ID() == "" || apidef.NormalID(d.ID()) == own:
		d.SetID(own)
	default:
		return nil, fault.InvalidField("id", "id %s in the body is not this API's id %s; an API's id cannot be changed", d.ID(), own)
	}
	switch {
	case s.scoped:
		d.SetOrgID(s.org)
	case d.OrgID() == "":
		// Tyk's clients often PUT a definition without org_id: it stays where it is.
		d.SetOrgID(prev.OrgID)
	case d.OrgID() != prev.OrgID:
		// Moving an API between organisations would hand its traffic and its id to
		// another tenant while the old one's keys still name it.
		return nil, fault.InvalidField("org_id", "org_id cannot be changed; delete the API and create it in the other organisation")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Upsert creates the API or replaces it when its api_id exists. Loading a folder of
// definition files at start uses it, so restarting with the same folder is harmless.
func (s *APIs) Upsert(ctx context.Context, body []byte) (*apidef.Definition, error) {
	d, err := apidef.Parse(body)
	if err != nil {
		return nil, err
	}
	if d.APIID() != "" {
		if _, err := s.Get(ctx, d.APIID()); err == nil {
			return s.Update(ctx, d.APIID(), body)
		}
	}
	return s.Create(ctx, body)
}

// Delete removes an API; store.ErrNotFound if absent. The store remembers which
// organisation owned the id (no other may claim it), and every key of that
// organisation loses its access right to it, so that creating the id again never
// re-opens it to old keys by accident.
func (s *APIs) Delete(ctx context.Context, id string) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteAPI(ctx, id); err != nil {
		return err
	}
	s.publish(id)
	if s.Keys != nil {
		if err := s.Keys.dropAPI(ctx, a.OrgID, id); err != nil {
			return fmt.Errorf("remove deleted API %s from keys: %w", id, err)
		}
	}
	s.Audit.Record(ctx, a.OrgID, audit.ActionDelete, audit.TypeAPI, id, "")
	return nil
}

// claimID refuses an api_id that is taken, or that another organisation used before
// (its keys may still name it). Neither message says whose it is.
func (s *APIs) claimID(ctx context.Context, d *apidef.Definition) error {
	a, err := s.Store.GetAPI(ctx, d.APIID())
	switch {
	case err == nil && a.OrgID == d.OrgID():
		return conflict("API %s already exists; use PUT to replace it", d.APIID())
	case err == nil:
		return conflict("api_id %s is not available; choose another or leave it empty to generate one", d.APIID())
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	org, err := s.Store.DeletedAPIOrg(ctx, d.APIID())
	switch {
	case err == nil && org != d.OrgID():
		return conflict("api_id %s is not available; choose another or leave it empty to generate one", d.APIID())
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	return nil
}

// claimDBID refuses a new API's database id when it names another API, as its id or
// as its api_id, and its api_id when that is another API's database id: the
// Dashboard API's paths take either, so each must name one API. All organisations'
// APIs count, and the messages say nothing of whose the id is.
func claimDBID(all []store.API, d *apidef.Definition) error {
	id, apiID := d.ID(), apidef.NormalID(d.APIID())
	for _, a := range all {
		other := storedID(a)
		if other == id || a.ID == id {
			return conflict("id %s is already in use; leave it out to have one generated", id)
		}
		if other == apiID {
			return conflict("api_id %s is not available; choose another or leave it empty to generate one", d.APIID())
		}
	}
	return nil
}

// checkRoute refuses a definition whose domain and listen path another API (not self)
// already serves (two APIs on one route would make routing depend on load order), and
// one that would take over requests that today reach another organisation's API:
// routing belongs to the organisation that owns it. Messages about another
// organisation's APIs name none of their ids, names or paths.
func checkRoute(all []store.API, d *apidef.Definition, self string) error {
	rk := d.RouteKey()
	routes := make([]routeEntry, 0, len(all))
	for _, a := range all {
		if a.ID == self {
			continue
		}
		if a.RouteKey == rk {
			if a.OrgID != d.OrgID() {
				return listenPathConflict("proxy.listen_path %q is not available: another organisation serves it", d.Proxy().ListenPath)
			}
			return fault.InvalidField("proxy.listen_path", "proxy.listen_path %q is already used by API %s", d.Proxy().ListenPath, a.ID)
		}
		dom, path := splitRouteKey(a.RouteKey)
		routes = append(routes, routeEntry{domain: dom, path: path, org: a.OrgID})
	}
	dom, path := splitRouteKey(rk)
	if capturesForeign(routes, routeEntry{domain: dom, path: path, org: d.OrgID()}) {
		return listenPathConflict("proxy.listen_path %q is not available: it would take requests that another organisation's API serves", d.Proxy().ListenPath)
	}
	return nil
}

func (s *APIs) publish(id string) {
	if s.Events != nil {
		s.Events.Publish(events.Event{Kind: events.APIsChanged, APIID: id})
	}
}
