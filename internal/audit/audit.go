// Package audit records who changed what, when and from where. Entries never hold
// secrets: keys appear as hash prefixes, users by id and e-mail.
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

// Recorder appends entries to the store. Recording never fails the change it
// records; a failure is logged.
type Recorder struct {
	Store store.AuditStore
	Log   *slog.Logger
	Now   func() time.Time
}

// Record notes that actor did action to objectType objectID in org.
func (r *Recorder) Record(ctx context.Context, a Actor, org, action, objectType, objectID, detail string) {
	if r == nil || r.Store == nil {
		return
	}
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
