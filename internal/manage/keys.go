package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/keys"
	"github.com/tollgate/tollgate/internal/limit"
	"github.com/tollgate/tollgate/internal/session"
	"github.com/tollgate/tollgate/internal/store"
)

// ErrNoAccessRights is returned when a key without access rights is created while
// master keys are disabled. The message is Tyk's.
var ErrNoAccessRights = &session.ValidationError{Reason: "Failed to create key, keys must have at least one Access Rights record set."}

// Keys manages key sessions. Keys are stored and found by their SHA-256 only; the
// plaintext exists in the reply to Create and nowhere else.
type Keys struct {
	Store  store.Store
	Events events.Publisher
	Limits *limit.Engine
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
// the client chose; otherwise one is minted. Validation problems are
// *session.ValidationError; a custom id that exists is a *ConflictError.
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
		return Created{}, &session.ValidationError{Reason: err.Error()}
	}
	sess.Prepare(now, nil, false)
	h := keys.Sum(key)
	raw, err := json.Marshal(sess)
	if err != nil {
		return Created{}, err
	}
	err = s.Store.CreateKey(ctx, store.Key{Hash: h.String(), OrgID: sess.OrgID, APIIDs: sess.APIIDs(), Alias: sess.Alias, Session: raw, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return Created{}, &ConflictError{Message: "A key with this ID already exists; use PUT to change it"}
	}
	if err != nil {
		return Created{}, err
	}
	// A re-created key starts with fresh counters, and any "unknown key" cached
	// for this hash must go.
	if err := s.Limits.ResetHash(ctx, h); err != nil {
		return Created{}, err
	}
	s.publish(h)
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
	if len(sess.AccessRights) == 0 && (!s.AllowMasterKeys || s.scoped) {
		// A dashboard user never mints master keys: they would reach other
		// organisations' APIs.
		return nil, ErrNoAccessRights
	}
	// A key opens only its own organisation's APIs (the gateway refuses any other),
	// so a key that names another organisation's API could never work: refuse it
	// here. Through /tyk/ a key without org_id takes its APIs' organisation, as
	// Tyk's clients create keys without one.
	inferred := ""
	for _, id := range sess.APIIDs() {
		a, err := s.Store.GetAPI(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && s.scoped && a.OrgID != s.org) {
			return nil, &session.ValidationError{Reason: fmt.Sprintf("access_rights names API %s, which does not exist", id)}
		} else if err != nil {
			return nil, err
		}
		switch {
		case sess.OrgID != "" && a.OrgID != sess.OrgID:
			return nil, &session.ValidationError{Reason: fmt.Sprintf("access_rights names API %s, which belongs to another organisation than org_id %q", id, sess.OrgID)}
		case inferred != "" && a.OrgID != inferred:
			return nil, &session.ValidationError{Reason: "access_rights names APIs of more than one organisation; a key opens the APIs of its own organisation only"}
		}
		inferred = a.OrgID
	}
	if sess.OrgID == "" {
		sess.OrgID = inferred
	}
	return sess, nil
}

// dropAPI takes a deleted API out of every key's access rights. A key left with no
// access rights is switched off rather than left as a master key.
func (s *Keys) dropAPI(ctx context.Context, org, apiID string) error {
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
			k.Session, k.APIIDs, k.Alias, k.UpdatedAt = raw, sess.APIIDs(), sess.Alias, s.now()
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
	s.liveQuotas(sess, h)
	return sess, h, nil
}

// Live returns the session of a key that List returned, with quota_remaining and
// quota_renews read from the live counters as Get does, without reading the store
// again: showing a page of keys costs no query per key.
func (s *Keys) Live(k store.Key) (*session.Session, keys.Hash, error) {
	h, ok := keys.ParseHash(k.Hash)
	if !ok {
		return nil, h, store.ErrNotFound
	}
	sess, err := s.decodeStored(k, h)
	if err != nil {
		return nil, h, err
	}
	s.liveQuotas(sess, h)
	return sess, h, nil
}

// liveQuotas replaces the stored quota_remaining and quota_renews of a session (and
// of its per-API limits) with the live counters', where the engine has them.
func (s *Keys) liveQuotas(sess *session.Session, h keys.Hash) {
	now := s.now()
	if sess.QuotaMax > 0 {
		if st, found := s.Limits.Quotas.Peek(limit.Key{Hash: h}, int64(sess.QuotaMax), now); found {
			sess.QuotaRemaining = session.Int(st.Remaining)
			if !st.RenewsAt.IsZero() {
				sess.QuotaRenews = session.Int(st.RenewsAt.Unix())
			}
		}
	}
	for id, ad := range sess.AccessRights {
		if ad.Limit.QuotaMax > 0 {
			if st, found := s.Limits.Quotas.Peek(limit.Key{Hash: h, Scope: ad.AllowanceScope}, int64(ad.Limit.QuotaMax), now); found {
				ad.Limit.QuotaRemaining = session.Int(st.Remaining)
				if !st.RenewsAt.IsZero() {
					ad.Limit.QuotaRenews = session.Int(st.RenewsAt.Unix())
				}
				sess.AccessRights[id] = ad
			}
		}
	}
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
		return h, nil, &session.ValidationError{Reason: "org_id cannot be changed; create a new key in the other organisation"}
	}
	sess.Prepare(now, prev, suppressReset)
	raw, err := json.Marshal(sess)
	if err != nil {
		return h, nil, err
	}
	if err := s.Store.UpdateKey(ctx, store.Key{Hash: h.String(), OrgID: sess.OrgID, APIIDs: sess.APIIDs(), Alias: sess.Alias, Session: raw, UpdatedAt: now}); err != nil {
		return h, nil, err
	}
	if !suppressReset {
		if err := s.Limits.ResetHash(ctx, h); err != nil {
			return h, nil, err
		}
	}
	s.publish(h)
	return h, sess, nil
}

// Delete removes a key and its counters.
func (s *Keys) Delete(ctx context.Context, ref Ref) (keys.Hash, error) {
	h, ok := ref.Hash()
	if !ok {
		return h, store.ErrNotFound
	}
	if s.scoped {
		if _, err := s.Lookup(ctx, h); err != nil {
			return h, err
		}
	}
	if err := s.Store.DeleteKey(ctx, h.String()); err != nil {
		return h, err
	}
	// Publish first: the key must stop working even if resetting counters fails.
	s.publish(h)
	return h, s.Limits.ResetHash(ctx, h)
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
