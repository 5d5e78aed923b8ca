package manage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/store"
)

// Policies manages security policies. A change is published as a PolicyChanged
// event, so that every gateway recompiles the keys that apply the policy on
// their next request; the keys themselves are never rewritten.
type Policies struct {
	Store  store.Store
	Events events.Publisher
	// Audit records every change, by the actor in the call's context; nil records
	// nothing.
	Audit *audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// org, when scoped, confines every call to one organisation.
	org    string
	scoped bool
}

// InOrg returns the service confined to one organisation (the dashboard's view).
func (s *Policies) InOrg(org string) *Policies {
	c := *s
	c.org, c.scoped = org, true
	return &c
}

func (s *Policies) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// newMID mints a database id of Tyk's dashboard shape (24 hex).
func newMID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decodeStored decodes a stored policy, hiding other organisations' policies.
func (s *Policies) decodeStored(p store.Policy) (*policy.Policy, error) {
	if s.scoped && p.OrgID != s.org {
		return nil, store.ErrNotFound
	}
	pol, err := policy.Decode(p.Document)
	if err != nil {
		return nil, fmt.Errorf("stored policy %s: %w", p.ID, err)
	}
	return pol, nil
}

// Get returns a policy by its id or database id (store.ErrNotFound if absent or
// another organisation's).
func (s *Policies) Get(ctx context.Context, id string) (*policy.Policy, error) {
	p, err := s.Store.GetPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.decodeStored(p)
}

// Lookup returns a policy for enforcement: by either id, any organisation (the
// caller compares organisations). It is what gateways and key validation read.
func (s *Policies) Lookup(ctx context.Context, id string) (*policy.Policy, error) {
	p, err := s.Store.GetPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	return policy.Decode(p.Document)
}

// List returns the policies matching f (confined to the service's organisation)
// and how many match in all.
func (s *Policies) List(ctx context.Context, f store.PolicyFilter) ([]*policy.Policy, int, error) {
	if s.scoped {
		f.OrgID = s.org
	}
	rows, err := s.Store.ListPolicies(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.Store.CountPolicies(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*policy.Policy, 0, len(rows))
	for _, r := range rows {
		p, err := s.decodeStored(r)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, n, nil
}

// decode parses and validates a policy body and settles its organisation: the
// service's when scoped; otherwise the body's, or that of the APIs it names.
// Every API it names must exist in that organisation. A new policy that names
// none and has no org_id takes the default organisation (see defaultOrg).
func (s *Policies) decode(ctx context.Context, body []byte, org string, creating bool) (*policy.Policy, error) {
	p, err := policy.Decode(body)
	if err != nil {
		return nil, err
	}
	if err := p.Validate(s.now()); err != nil {
		return nil, err
	}
	switch {
	case s.scoped:
		p.OrgID = s.org
	case p.OrgID == "":
		p.OrgID = org
	}
	if p.OrgID, err = apisOrg(ctx, s.Store, p.APIIDs(), p.OrgID, s.scoped, "a policy grants"); err != nil {
		return nil, err
	}
	if creating && !s.scoped && p.OrgID == "" && len(p.APIIDs()) == 0 {
		if p.OrgID, err = defaultOrg(ctx, s.Store); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Policies) write(ctx context.Context, p *policy.Policy, created time.Time, update bool) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	row := store.Policy{ID: p.ID, MID: p.MID, OrgID: p.OrgID, Name: p.Name, State: p.State, Document: raw, CreatedAt: created, UpdatedAt: s.now()}
	if update {
		err = s.Store.UpdatePolicy(ctx, row, p.APIIDs())
	} else {
		err = s.Store.CreatePolicy(ctx, row, p.APIIDs())
	}
	if errors.Is(err, store.ErrConflict) {
		// The ids were checked first; what is left is the name.
		return conflict("A policy named %q already exists; policy names are unique", p.Name)
	}
	return err
}

// Create stores a new policy from a body. Without id it gets its database id as
// id, as Tyk's dashboard does; an id or database id in use is a fault.Conflict.
func (s *Policies) Create(ctx context.Context, body []byte) (*policy.Policy, error) {
	p, err := s.decode(ctx, body, "", true)
	if err != nil {
		return nil, err
	}
	if p.MID == "" {
		p.MID = newMID()
	}
	if p.ID == "" {
		p.ID = p.MID
	}
	for _, id := range []string{p.ID, p.MID} {
		if _, err := s.Store.GetPolicy(ctx, id); err == nil {
			return nil, conflict("A policy with id %s already exists; use PUT to change it", id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	now := s.now()
	p.DateCreated.Time = now.Truncate(time.Second)
	p.Normalise(now)
	if err := s.write(ctx, p, now, false); err != nil {
		return nil, err
	}
	s.publish(p.ID)
	s.Audit.Record(ctx, p.OrgID, audit.ActionCreate, audit.TypePolicy, p.ID, p.Name)
	return p, nil
}

// Upsert creates the policy a body describes, or updates it when its id exists
// (policy files loaded at start, as Tyk's policy_path).
func (s *Policies) Upsert(ctx context.Context, body []byte) (*policy.Policy, error) {
	p, err := policy.Decode(body)
	if err != nil {
		return nil, err
	}
	if p.ID != "" {
		if _, err := s.Get(ctx, p.ID); err == nil {
			return s.Update(ctx, p.ID, body)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return s.Create(ctx, body)
}

// Update replaces the policy id names (by id or database id). The body's id and
// _id, when given, must be the policy's; its organisation cannot change. Every
// key that applies the policy enforces the new one on its next request.
func (s *Policies) Update(ctx context.Context, id string, body []byte) (*policy.Policy, error) {
	row, err := s.Store.GetPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	prev, err := s.decodeStored(row)
	if err != nil {
		return nil, err
	}
	p, err := s.decode(ctx, body, row.OrgID, false)
	if err != nil {
		return nil, err
	}
	switch {
	case p.ID != "" && p.ID != row.ID:
		return nil, fault.InvalidField("id", "id %q does not match the policy being updated (%s); a policy's id cannot change", p.ID, row.ID)
	case p.MID != "" && p.MID != row.MID:
		return nil, fault.InvalidField("_id", "_id %q does not match the policy being updated (%s)", p.MID, row.MID)
	case p.OrgID != row.OrgID:
		return nil, fault.InvalidField("org_id", "org_id cannot be changed; create the policy in the other organisation")
	}
	p.ID, p.MID = row.ID, row.MID
	p.DateCreated = prev.DateCreated
	p.Normalise(s.now())
	if err := s.write(ctx, p, row.CreatedAt, true); err != nil {
		return nil, err
	}
	s.publish(p.ID)
	s.Audit.Record(ctx, p.OrgID, audit.ActionUpdate, audit.TypePolicy, p.ID, p.Name)
	return p, nil
}

// Delete removes a policy. A policy that keys apply is kept with a
// fault.Conflict saying how many, unless force: then those keys are refused
// until they apply another policy.
func (s *Policies) Delete(ctx context.Context, id string, force bool) (*policy.Policy, error) {
	row, err := s.Store.GetPolicy(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := s.decodeStored(row)
	if err != nil {
		return nil, err
	}
	if !force {
		n, err := s.Store.CountKeys(ctx, store.KeyFilter{PolicyID: row.ID})
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, conflict("Policy %s is applied by %d %s; change those keys first, or delete with ?force=true to leave them refused", row.ID, n, plural(n, "key", "keys"))
		}
	}
	if err := s.Store.DeletePolicy(ctx, row.ID); err != nil {
		return nil, err
	}
	s.publish(row.ID)
	s.Audit.Record(ctx, row.OrgID, audit.ActionDelete, audit.TypePolicy, row.ID, row.Name)
	return p, nil
}

// dropAPI takes a deleted API out of every policy's access rights, so that an id
// created again later is never granted by an old policy.
func (s *Policies) dropAPI(ctx context.Context, apiID string) error {
	rows, err := s.Store.ListPolicies(ctx, store.PolicyFilter{APIID: apiID})
	if err != nil {
		return err
	}
	for _, row := range rows {
		p, err := policy.Decode(row.Document)
		if err != nil {
			return fmt.Errorf("stored policy %s: %w", row.ID, err)
		}
		delete(p.AccessRights, apiID)
		if err := s.write(ctx, p, row.CreatedAt, true); err != nil {
			return err
		}
		s.publish(p.ID)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *Policies) publish(id string) {
	if s.Events != nil {
		s.Events.Publish(events.Event{Kind: events.PolicyChanged, PolicyID: id})
	}
}

// Resolver returns a policy.Lookup over the store for one call: each policy is
// read once, and a policy that cannot be read is reported by Err (never taken
// as missing, which would refuse a key for an outage).
type Resolver struct {
	s    *Policies
	ctx  context.Context
	seen map[string]*policy.Policy
	// Err is the first store failure.
	Err error
}

// Resolver starts a Resolver.
func (s *Policies) Resolver(ctx context.Context) *Resolver {
	return &Resolver{s: s, ctx: ctx, seen: map[string]*policy.Policy{}}
}

// Lookup implements policy.Lookup.
func (r *Resolver) Lookup(id string) (*policy.Policy, bool) {
	if p, ok := r.seen[id]; ok {
		return p, p != nil
	}
	p, err := r.s.Lookup(r.ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && r.Err == nil {
			r.Err = err
		}
		r.seen[id] = nil
		return nil, false
	}
	r.seen[id] = p
	return p, true
}
