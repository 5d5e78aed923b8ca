// Package audit records who changed what, when and from where. Entries never hold
// secrets: keys appear as hashes, users by id and e-mail.
//
// The services (manage, accounts) record their own changes, so every door's changes
// are recorded alike; the doors only say who is calling, once, by putting the Actor in
// the request's context (WithActor) when they authenticate it.
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// Actor is who made a change.
type Actor struct {
	OrgID string
	ID    string // user id, or "admin-secret"
	Email string
	// Remote is the client address.
	Remote string
}

// AdminSecretActor is the actor for changes made with the admin secret.
func AdminSecretActor(remote string) Actor {
	return Actor{ID: "admin-secret", Email: "", Remote: remote}
}

type actorKey struct{}

// WithActor returns ctx carrying a: the doors call it once, in their authentication.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; ok is false when none does (a change
// made outside any door, such as the first-run bootstrap).
func ActorFrom(ctx context.Context) (a Actor, ok bool) {
	a, ok = ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Actions recorded.
const (
	ActionCreate         = "create"
	ActionUpdate         = "update"
	ActionDelete         = "delete"
	ActionResetKey       = "reset_key"       // a user's access key replaced
	ActionResetPassword  = "reset_password"  // a password set by someone allowed to
	ActionChangePassword = "change_password" // a user's own, knowing the current one
)

// Types of the objects changed.
const (
	TypeAPI    = "api"
	TypeKey    = "key"
	TypeUser   = "user"
	TypeOrg    = "org"
	TypePolicy = "policy"
)

// Recorder appends entries to the store. Recording never fails the change it
// records; a failure is logged.
type Recorder struct {
	Store store.AuditStore
	Log   *slog.Logger
	Now   func() time.Time
}

// Record notes that the actor in ctx did action to objectType objectID of
// organisation org (the organisation of the object changed, so that its audit log
// shows the change whoever made it; "" means the actor's). A nil Recorder records
// nothing.
func (r *Recorder) Record(ctx context.Context, org, action, objectType, objectID, detail string) {
	if r == nil || r.Store == nil {
		return
	}
	a, _ := ActorFrom(ctx)
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	if org == "" {
		org = a.OrgID
	}
	e := store.AuditEntry{At: now.UTC(), OrgID: org, ActorID: a.ID, ActorEmail: a.Email, Action: action,
		ObjectType: objectType, ObjectID: objectID, RemoteAddr: a.Remote, Detail: detail}
	if err := r.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil && r.Log != nil {
		r.Log.Error("audit record failed", "action", action, "object_type", objectType, "error", err.Error())
	}
}
