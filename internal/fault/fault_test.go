package fault

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/internal/store"
)

func TestKindOf(t *testing.T) {
	invalid := InvalidField("proxy.listen_path", "proxy.listen_path %q must start with '/'", "x")
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Internal},
		{"plain error", errors.New("disk on fire"), Internal},
		{"fault", invalid, Invalid},
		{"wrapped fault", fmt.Errorf("load: %w", invalid), Invalid},
		{"store not found", fmt.Errorf("get key: %w", store.ErrNotFound), NotFound},
		{"store conflict", store.ErrConflict, Conflict},
		// The outermost fault wins: a service that turns a missing API into an
		// invalid field says so, whatever its cause.
		{"fault over a sentinel", &Error{Kind: Invalid, Reason: "names API x, which does not exist", Err: store.ErrNotFound}, Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Fatalf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorShowsTheReasonAndKeepsTheCause(t *testing.T) {
	e := &Error{Kind: Conflict, Reason: "api_id a is taken", Err: store.ErrConflict}
	if e.Error() != "api_id a is taken" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if !errors.Is(e, store.ErrConflict) {
		t.Fatal("the cause is not reachable with errors.Is")
	}
	if f, ok := As(fmt.Errorf("create: %w", e)); !ok || f != e {
		t.Fatalf("As = %v %v", f, ok)
	}
	if got := (&Error{Kind: NotFound, Err: store.ErrNotFound}).Error(); got != "not found" {
		t.Fatalf("a fault without a reason reads as its cause, got %q", got)
	}
	if Kind(200).String() != "kind(200)" || Unavailable.String() != "unavailable" {
		t.Fatal("Kind.String")
	}
}

func TestJoinAndAll(t *testing.T) {
	name := InvalidField("name", "name must not be empty")
	path := InvalidField("proxy.listen_path", "proxy.listen_path must not be empty")
	target := InvalidField("proxy.target_url", "proxy.target_url must not be empty")
	tests := []struct {
		name      string
		faults    []*Error
		wantFirst string   // Error() of the joined error; "" for nil
		wantAll   []string // the fields All lists
	}{
		{"none", nil, "", nil},
		{"one", []*Error{name}, "name must not be empty", []string{"name"}},
		{"three", []*Error{name, path, target}, "name must not be empty", []string{"name", "proxy.listen_path", "proxy.target_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Join(tt.faults)
			if tt.wantFirst == "" {
				if err != nil {
					t.Fatalf("Join(nil) = %v, want nil", err)
				}
				return
			}
			// Wrapped, as a service returns it: the kind and the first reason are
			// what every door that reads one fault sees.
			err = fmt.Errorf("create api: %w", err)
			if KindOf(err) != Invalid {
				t.Fatalf("KindOf = %v", KindOf(err))
			}
			if f, _ := As(err); f.Error() != tt.wantFirst {
				t.Fatalf("first fault says %q, want %q", f.Error(), tt.wantFirst)
			}
			var fields []string
			for _, f := range All(err) {
				fields = append(fields, f.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.wantAll) {
				t.Fatalf("All lists %v, want %v", fields, tt.wantAll)
			}
		})
	}
	if All(errors.New("disk on fire")) != nil {
		t.Fatal("All of an internal error is not empty")
	}
	if len(name.Others) != 0 {
		t.Fatal("Join changed the fault it was given")
	}
}
