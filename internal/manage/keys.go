package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// ErrNoAccessRights is returned when a key without access rights is created while
// master keys are disabled. The message is Tyk's.
var ErrNoAccessRights error = fault.InvalidField("access_rights", "Failed to create key, keys must have at least one Access Rights record set.")

// Keys manages key sessions. Keys are stored and found by their SHA-256 only; the
// plaintext exists in the reply to Create and nowhere else.
type Keys struct {
	Store  store.Store
	Events events.Publisher
	Limits *limit.Engine
	// Audit records every change, by the actor in the call's context; nil records
	// nothing.
	Audit *audit.Recorder
	// Policies resolves the policies keys apply; nil refuses every key that
	// names one.
	Policies *Policies
	// AllowMasterKeys permits keys without access rights (they reach every API).
	AllowMasterKeys bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// org, when scoped, confines every call to one organisation: new keys belong
	// to it, may only name its APIs, and other organisations' keys are invisible.
	org    string
	scoped bool
}

// InOrg returns the service confined to one organisation (the dashboard's view).
func (s *Keys) InOrg(org string) *Keys {
	c := *s
	c.org, c.scoped = org, true
	return &c
}

// Ref names a key in a management call: by the key itself or by its hash.
type Ref struct {
	ID     string
	IsHash bool
}

// ParseRef reads a key reference as every door receives it: the key or its hash
// (id, from the path) and the hashed query parameter, read by ParseFlag. Unlike Tyk,
// where any non-empty value (even "false") means "hashed", hashed=false means the key.
func ParseRef(id, hashed string) (Ref, error) {
	isHash, err := ParseFlag("hashed", hashed)
	return Ref{ID: id, IsHash: isHash}, err
}

// ParseFlag reads a boolean query parameter of the management APIs (hashed,
// suppress_reset): "1" and "true" are true; "0", "false" and absent are false, in any
// letter case (Python's requests sends True as "True"). Anything else is a
// fault.Invalid naming the parameter, so a typo never silently means false.
func ParseFlag(name, value string) (bool, error) {
	switch v := strings.ToLower(value); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, fault.InvalidField(name, "Query parameter %s must be true or false, not %q", name, v)
	}
}

// Hash resolves the reference; ok is false for a malformed hash.
func (r Ref) Hash() (keys.Hash, bool) {
	if r.IsHash {
		return keys.ParseHash(r.ID)
	}
	if r.ID == "" {
		return keys.Hash{}, false
	}
	return keys.Sum(r.ID), true
}

// Created is the result of creating a key.
type Created struct {
	// Key is the plaintext key: show it once, never store or log it.
	Key     string
	Hash    keys.Hash
	Session *session.Session
}

func (s *Keys) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Create stores a new key from a session body. customID, when not empty, is the key
// the client chose; otherwise one is minted. Problems with the body are
// fault.Malformed or fault.Invalid; a custom id that exists is a fault.Conflict.
func (s *Keys) Create(ctx context.Context, body []byte, customID string) (Created, error) {
	now := s.now()
	sess, err := s.decode(ctx, body, now, true, "")
	if err != nil {
		return Created{}, err
	}
	key := customID
	if key == "" {
		key = keys.Generate(sess.OrgID)
	} else if err := keys.ValidateCustom(key); err != nil {
		return Created{}, &fault.Error{Kind: fault.Invalid, Field: "key", Reason: err.Error(), Err: err}
	}
	sess.Prepare(now, nil, false)
	h := keys.Sum(key)
	raw, err := json.Marshal(sess)
	if err != nil {
		return Created{}, err
	}
	if customID != "" {
		// A chosen key may be one deleted earlier whose counters outlived it. They
		// are reset before the key exists, so a failure leaves nothing half done;
		// an existing key is refused first, so trying to create it cannot reset
		// its counters. A minted key is new: it has no counters to reset.
		if _, err := s.Store.GetKey(ctx, h.String()); err == nil {
			return Created{}, conflict("A key with this ID already exists; use PUT to change it")
		} else if !errors.Is(err, store.ErrNotFound) {
			return Created{}, err
		}
		if err := s.Limits.Reset(ctx, h); err != nil {
			return Created{}, unavailable(err)
		}
	}
	err = s.Store.CreateKey(ctx, store.Key{Hash: h.String(), OrgID: sess.OrgID, APIIDs: sess.APIIDs(), PolicyIDs: policy.IDs(sess), Alias: sess.Alias, Session: raw, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return Created{}, conflict("A key with this ID already exists; use PUT to change it")
	}
	if err != nil {
		return Created{}, err
	}
	// Any "unknown key" cached for this hash must go.
	s.publish(h)
	s.Audit.Record(ctx, sess.OrgID, audit.ActionCreate, audit.TypeKey, h.String(), sess.Alias)
	return Created{Key: key, Hash: h, Session: sess}, nil
}

// decode parses and validates a session body, checking that every API it names
// exists.
// On update, org is the key's organisation: a body without org_id keeps it.
func (s *Keys) decode(ctx context.Context, body []byte, now time.Time, creating bool, org string) (*session.Session, error) {
	sess, err := session.Decode(body)
	if err != nil {
		return nil, err
	}
	if err := sess.Validate(now, creating); err != nil {
		return nil, err
	}
	if s.scoped {
		sess.OrgID = s.org
	} else if sess.OrgID == "" {
		sess.OrgID = org
	}
	// A key opens only its own organisation's APIs (the gateway refuses any other),
	// so a key that names another organisation's API could never work: refuse it
	// here. Through /tyk/ a key without org_id takes its APIs' organisation (or
	// its policies'; naming neither, the default one), as Tyk's clients create
	// keys without one.
	if sess.OrgID, err = apisOrg(ctx, s.Store, sess.APIIDs(), sess.OrgID, s.scoped, "a key opens"); err != nil {
		return nil, err
	}
	if creating && !s.scoped && sess.OrgID == "" && len(sess.APIIDs()) == 0 && len(policy.IDs(sess)) == 0 {
		if sess.OrgID, err = defaultOrg(ctx, s.Store); err != nil {
			return nil, err
		}
	}
	effective, err := s.applyPolicies(ctx, sess, now, creating)
	if err != nil {
		return nil, err
	}
	if len(effective.AccessRights) == 0 && (!s.AllowMasterKeys || s.scoped) {
		// A dashboard user never mints master keys: they would reach other
		// organisations' APIs.
		return nil, ErrNoAccessRights
	}
	return sess, nil
}

// applyPolicies checks the policies a key names (each must exist in the key's
// organisation and be in force: a fault.Forbidden otherwise, as Tyk refuses
// them) and returns the session the gateway will enforce. A key without
// org_id takes its policies' organisation. On create, a key without expiry
// expires after the longest key_expires_in of its policies.
func (s *Keys) applyPolicies(ctx context.Context, sess *session.Session, now time.Time, creating bool) (*session.Session, error) {
	ids := policy.IDs(sess)
	if len(ids) == 0 {
		return sess, nil
	}
	if s.Policies == nil {
		return nil, fault.InvalidField("apply_policies", "this node cannot apply policies")
	}
	r := s.Policies.Resolver(ctx)
	if sess.OrgID == "" {
		if p, ok := r.Lookup(ids[0]); ok && (!s.scoped || p.OrgID == s.org) {
			sess.OrgID = p.OrgID
		}
	}
	effective, err := policy.Apply(sess, r.Lookup)
	if r.Err != nil {
		return nil, r.Err
	}
	if err != nil {
		return nil, err
	}
	if creating && sess.Expires == 0 {
		var longest int64
		for _, id := range ids {
			if p, ok := r.Lookup(id); ok {
				longest = max(longest, int64(p.KeyExpiresIn))
			}
		}
		if longest > 0 {
			sess.Expires = session.Int(now.Unix() + longest)
		}
	}
	return effective, nil
}

// SetPolicies replaces the policies a key applies, keeping the rest of its
// session and its counters (Tyk's POST /tyk/keys/policy/{hash}).
func (s *Keys) SetPolicies(ctx context.Context, ref Ref, ids []string) (keys.Hash, *session.Session, error) {
	h, ok := ref.Hash()
	if !ok {
		return h, nil, store.ErrNotFound
	}
	sess, err := s.Lookup(ctx, h)
	if err != nil {
		return h, nil, err
	}
	sess.ApplyPolicies, sess.ApplyPolicyID = ids, ""
	body, err := json.Marshal(sess)
	if err != nil {
		return h, nil, err
	}
	return s.Update(ctx, ref, body, true)
}

// apisOrg checks that the APIs an object's access_rights name exist in its
// organisation org and returns that organisation: org, or when it is empty the
// APIs' own. scoped confines the lookup to org (another organisation's API does
// not exist). grants words the rule in messages ("a key opens").
func apisOrg(ctx context.Context, st store.APIStore, apiIDs []string, org string, scoped bool, grants string) (string, error) {
	inferred := ""
	for _, id := range apiIDs {
		a, err := st.GetAPI(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && scoped && a.OrgID != org) {
			return "", fault.InvalidField("access_rights", "access_rights names API %s, which does not exist", id)
		} else if err != nil {
			return "", err
		}
		switch {
		case org != "" && a.OrgID != org:
			return "", fault.InvalidField("access_rights", "access_rights names API %s, which belongs to another organisation than org_id %q", id, org)
		case inferred != "" && a.OrgID != inferred:
			return "", fault.InvalidField("access_rights", "access_rights names APIs of more than one organisation; %s the APIs of its own organisation only", grants)
		}
		inferred = a.OrgID
	}
	if org == "" {
		org = inferred
	}
	return org, nil
}

// dropAPI takes a deleted API out of every key's access rights. A key left with no
// access rights is switched off rather than left as a master key.
func (s *Keys) dropAPI(ctx context.Context, org, apiID string) error {
	if s.Policies != nil {
		if err := s.Policies.dropAPI(ctx, apiID); err != nil {
			return err
		}
	}
	for {
		// Every pass rewrites the keys it lists so they no longer name apiID: the
		// next first page holds the rest.
		page, err := s.Store.ListKeys(ctx, store.KeyFilter{APIID: apiID, Limit: 500})
		if err != nil || len(page) == 0 {
			return err
		}
		for _, k := range page {
			sess, err := session.Decode(k.Session)
			if err != nil {
				return fmt.Errorf("stored session %s: %w", k.Hash, err)
			}
			delete(sess.AccessRights, apiID)
			if len(sess.AccessRights) == 0 {
				sess.IsInactive = true
			}
			raw, err := json.Marshal(sess)
			if err != nil {
				return err
			}
			k.Session, k.APIIDs, k.PolicyIDs, k.Alias, k.UpdatedAt = raw, sess.APIIDs(), policy.IDs(sess), sess.Alias, s.now()
			if err := s.Store.UpdateKey(ctx, k); err != nil {
				return err
			}
			if h, ok := keys.ParseHash(k.Hash); ok {
				s.publish(h)
			}
		}
	}
}

// Get returns a key's session with quota_remaining and quota_renews read from the
// live counters.
func (s *Keys) Get(ctx context.Context, ref Ref) (*session.Session, keys.Hash, error) {
	h, ok := ref.Hash()
	if !ok {
		return nil, h, store.ErrNotFound
	}
	sess, err := s.Lookup(ctx, h)
	if err != nil {
		return nil, h, err
	}
	if err := s.liveQuotas(ctx, sess, h); err != nil {
		return nil, h, err
	}
	return sess, h, nil
}

// GetFor is Get for a key seen through one API (the Dashboard API's
// /api/apis/{api}/keys/{key}): a key that does not open api is store.ErrNotFound, as
// if absent, so an API's path never shows another API's keys. As the gateway
// decides, a key opens only APIs of its own organisation: those its access rights
// name, or all of them when it has none and master keys are allowed.
func (s *Keys) GetFor(ctx context.Context, ref Ref, api store.API) (*session.Session, keys.Hash, error) {
	sess, h, err := s.Get(ctx, ref)
	if err != nil {
		return nil, h, err
	}
	_, named := sess.AccessRights[api.ID]
	master := len(sess.AccessRights) == 0 && s.AllowMasterKeys
	if sess.OrgID != api.OrgID || !(named || master) {
		return nil, h, store.ErrNotFound
	}
	return sess, h, nil
}

// Live returns the session of a key that List returned, with quota_remaining and
// quota_renews read from the live counters as Get does, without reading the store
// again: showing a page of keys costs no query per key.
func (s *Keys) Live(ctx context.Context, k store.Key) (*session.Session, keys.Hash, error) {
	h, ok := keys.ParseHash(k.Hash)
	if !ok {
		return nil, h, store.ErrNotFound
	}
	sess, err := s.decodeStored(k, h)
	if err != nil {
		return nil, h, err
	}
	if err := s.liveQuotas(ctx, sess, h); err != nil {
		return nil, h, err
	}
	return sess, h, nil
}

// liveQuotas replaces the stored quota_remaining and quota_renews of a session (and
// of its per-API limits) with the live counters', where the engine has them.
func (s *Keys) liveQuotas(ctx context.Context, sess *session.Session, h keys.Hash) error {
	if sess.QuotaMax > 0 {
		st, found, err := s.Limits.Quotas.Peek(ctx, limit.Key{Hash: h}, int64(sess.QuotaMax))
		if err != nil {
			return unavailable(err)
		}
		if found {
			sess.QuotaRemaining = session.Int(st.Remaining)
			if !st.RenewsAt.IsZero() {
				sess.QuotaRenews = session.Int(st.RenewsAt.Unix())
			}
		}
	}
	for id, ad := range sess.AccessRights {
		if ad.Limit.QuotaMax <= 0 {
			continue
		}
		st, found, err := s.Limits.Quotas.Peek(ctx, limit.Key{Hash: h, Scope: ad.AllowanceScope}, int64(ad.Limit.QuotaMax))
		if err != nil {
			return unavailable(err)
		}
		if found {
			ad.Limit.QuotaRemaining = session.Int(st.Remaining)
			if !st.RenewsAt.IsZero() {
				ad.Limit.QuotaRenews = session.Int(st.RenewsAt.Unix())
			}
			sess.AccessRights[id] = ad
		}
	}
	return nil
}

// QuotaUse reads, without charging it, the live counter of one quota the gateway
// enforces for the key h: max requests (the effective quota, policies applied)
// counted under scope ("" for the key-level quota, an access right's scope for its
// own). started is false while no request has started the current period; the
// state then says max remain and RenewsAt is zero, as the next request starts one.
func (s *Keys) QuotaUse(ctx context.Context, h keys.Hash, scope string, max int64) (st limit.QuotaState, started bool, err error) {
	if max <= 0 {
		return limit.QuotaState{Allowed: true}, false, nil
	}
	st, started, err = s.Limits.Quotas.Peek(ctx, limit.Key{Hash: h, Scope: scope}, max)
	if err != nil {
		return st, false, unavailable(err)
	}
	return st, started, nil
}

// Lookup loads a key's stored session by hash (store.ErrNotFound if absent, or if it
// belongs to another organisation than the service's).
func (s *Keys) Lookup(ctx context.Context, h keys.Hash) (*session.Session, error) {
	k, err := s.Store.GetKey(ctx, h.String())
	if err != nil {
		return nil, err
	}
	return s.decodeStored(k, h)
}

// decodeStored decodes a stored key's session, hiding other organisations' keys.
func (s *Keys) decodeStored(k store.Key, h keys.Hash) (*session.Session, error) {
	if s.scoped && k.OrgID != s.org {
		return nil, store.ErrNotFound
	}
	sess, err := session.Decode(k.Session)
	if err != nil {
		return nil, fmt.Errorf("stored session %s: %w", h.Short(), err)
	}
	return sess, nil
}

// Update replaces a key's session. Unless suppressReset, its quota and rate windows
// start afresh, as in Tyk.
func (s *Keys) Update(ctx context.Context, ref Ref, body []byte, suppressReset bool) (keys.Hash, *session.Session, error) {
	h, ok := ref.Hash()
	if !ok {
		return h, nil, store.ErrNotFound
	}
	prev, err := s.Lookup(ctx, h)
	if err != nil {
		return h, nil, err
	}
	now := s.now()
	sess, err := s.decode(ctx, body, now, false, prev.OrgID)
	if err != nil {
		return h, nil, err
	}
	if sess.OrgID != prev.OrgID && prev.OrgID != "" {
		// The body's org_id (or the one its APIs imply) must match the key's:
		// moving a key between organisations is not an update.
		return h, nil, fault.InvalidField("org_id", "org_id cannot be changed; create a new key in the other organisation")
	}
	sess.Prepare(now, prev, suppressReset)
	raw, err := json.Marshal(sess)
	if err != nil {
		return h, nil, err
	}
	if !suppressReset {
		// Before the write, so that limits that cannot answer leave the key as
		// it was (503, retry) rather than updated with its old counters.
		if err := s.Limits.Reset(ctx, h); err != nil {
			return h, nil, unavailable(err)
		}
	}
	if err := s.Store.UpdateKey(ctx, store.Key{Hash: h.String(), OrgID: sess.OrgID, APIIDs: sess.APIIDs(), PolicyIDs: policy.IDs(sess), Alias: sess.Alias, Session: raw, UpdatedAt: now}); err != nil {
		return h, nil, err
	}
	s.publish(h)
	s.Audit.Record(ctx, sess.OrgID, audit.ActionUpdate, audit.TypeKey, h.String(), sess.Alias)
	return h, sess, nil
}

// Delete removes a key and its counters.
func (s *Keys) Delete(ctx context.Context, ref Ref) (keys.Hash, error) {
	h, ok := ref.Hash()
	if !ok {
		return h, store.ErrNotFound
	}
	// The stored key says which organisation's audit log the deletion belongs to.
	k, err := s.Store.GetKey(ctx, h.String())
	if err != nil {
		return h, err
	}
	if s.scoped && k.OrgID != s.org {
		return h, store.ErrNotFound
	}
	if err := s.Store.DeleteKey(ctx, h.String()); err != nil {
		return h, err
	}
	s.publish(h)
	s.Audit.Record(ctx, k.OrgID, audit.ActionDelete, audit.TypeKey, h.String(), "")
	// The key no longer works whatever happens next. Its counters are dropped
	// as a courtesy to the limits' memory: if that fails they expire with their
	// window or period, and a key re-created with this id resets them first.
	_ = s.Limits.Reset(ctx, h)
	return h, nil
}

// List returns stored keys (hashes and sessions) matching f.
func (s *Keys) List(ctx context.Context, f store.KeyFilter) ([]store.Key, error) {
	if s.scoped {
		f.OrgID = s.org
	}
	return s.Store.ListKeys(ctx, f)
}

// Count counts stored keys matching f.
func (s *Keys) Count(ctx context.Context, f store.KeyFilter) (int, error) {
	if s.scoped {
		f.OrgID = s.org
	}
	return s.Store.CountKeys(ctx, f)
}

// unavailable is the fault for limits that cannot answer: the call may be retried.
func unavailable(err error) error {
	return &fault.Error{Kind: fault.Unavailable, Reason: "Rate limits and quotas are temporarily unavailable; please retry", Err: err}
}

func (s *Keys) publish(h keys.Hash) {
	if s.Events != nil {
		s.Events.Publish(events.Event{Kind: events.KeyChanged, KeyHash: h.String()})
	}
}

// Preview validates a session body and returns it as Create would store it, storing
// nothing.
func (s *Keys) Preview(ctx context.Context, body []byte) (*session.Session, error) {
	now := s.now()
	sess, err := s.decode(ctx, body, now, true, "")
	if err != nil {
		return nil, err
	}
	sess.Prepare(now, nil, false)
	return sess, nil
}
