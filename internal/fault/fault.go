// Package fault is the vocabulary of failures the services (apidef, session, manage,
// accounts) report to the doors (the /tyk/ control API, the Dashboard and Admin APIs,
// the web UI, the CLI). A fault says what kind of failure it is and why, in words fit
// for the client; each door turns kinds into its own dialect's status codes and
// messages in one place, so no door ever decides a status by reading a message.
package fault

import (
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/internal/store"
)

// Kind is what a client can learn from a failure, and so what a door answers.
type Kind uint8

const (
	// Internal is not a fault: a server-side failure whose cause is logged, never
	// shown. It is the zero Kind, so a forgotten kind never leaks a reason.
	Internal Kind = iota
	// Malformed is a body that cannot be read as the document expected: not JSON,
	// cut short, not an object, trailing data.
	Malformed
	// Invalid is a readable document with a wrong value; Field names it when known.
	Invalid
	// NotFound is a missing entity, or one the caller may not see.
	NotFound
	// Conflict is a change that would clash with what exists: a taken id, e-mail or
	// route.
	Conflict
	// Forbidden is an action the caller's rights do not allow.
	Forbidden
	// Unavailable is a dependency (store, limiter) that cannot answer now; retrying
	// later may succeed.
	Unavailable
)

var kindNames = [...]string{"internal", "malformed", "invalid", "not_found", "conflict", "forbidden", "unavailable"}

// String names the kind for logs.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is a fault: a kind, a reason the client may read, the field it is about
// (optional) and the cause (optional, for logs and errors.Is; never shown).
type Error struct {
	Kind Kind
	// Reason is public: it names the problem without echoing secrets.
	Reason string
	// Field is the input field at fault ("proxy.listen_path", "password"), when one is.
	Field string
	// Err is the cause.
	Err error
	// Others are further faults found in the same input, for a door that shows
	// them all at once (the web UI marks every field of a form at fault); Error,
	// and the API doors, read this first one alone. See Join and All.
	Others []*Error
}

// Error returns the reason, which is what callers that only print errors (the CLI,
// the apps-dir loader) show; the cause is reachable through Unwrap.
func (e *Error) Error() string {
	if e.Reason == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns a fault of kind k with reason.
func New(k Kind, reason string) *Error { return &Error{Kind: k, Reason: reason} }

// Newf returns a fault of kind k with a formatted reason.
func Newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid fault about field with a formatted reason.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// StoreUnavailable is the reason given for a store that cannot be reached.
const StoreUnavailable = "The database is unavailable; retry later"

// As returns the fault err is or wraps. The store's sentinels count as faults of
// their kind (store.ErrNotFound is NotFound, store.ErrConflict is Conflict,
// store.ErrUnavailable is Unavailable), so a service may pass them through. ok is
// false for anything else: an internal error.
func As(err error) (f *Error, ok bool) {
	if errors.As(err, &f) {
		return f, true
	}
	switch {
	case errors.Is(err, store.ErrUnavailable):
		// First: a lost connection says nothing about whether the entity exists.
		return &Error{Kind: Unavailable, Reason: StoreUnavailable, Err: err}, true
	case errors.Is(err, store.ErrNotFound):
		return &Error{Kind: NotFound, Err: err}, true
	case errors.Is(err, store.ErrConflict):
		return &Error{Kind: Conflict, Err: err}, true
	}
	return nil, false
}

// KindOf is the kind of err's fault, Internal when it has none.
func KindOf(err error) Kind {
	if f, ok := As(err); ok {
		return f.Kind
	}
	return Internal
}

// Join returns nil for no faults, or the first of faults carrying the rest as its
// Others: one error a door can read as the first fault, or as all of them.
func Join(faults []*Error) error {
	if len(faults) == 0 {
		return nil
	}
	first := *faults[0]
	first.Others = append(first.Others, faults[1:]...)
	return &first
}

// All lists err's fault followed by the others it carries; nil when err is no
// fault.
func All(err error) []*Error {
	f, ok := As(err)
	if !ok {
		return nil
	}
	return append([]*Error{f}, f.Others...)
}
