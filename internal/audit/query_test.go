package audit_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// TestList: filters keep what they name, pages count matches (not entries), and
// other organisations' entries never appear.
func TestList(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	day := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	// Entries 1..7 of org o, oldest first, one a day; one of another organisation.
	add := func(org, actorID, email, action, ip string, at time.Time) {
		e := store.AuditEntry{At: at, OrgID: org, ActorID: actorID, ActorEmail: email, Action: action, ObjectType: "key", ObjectID: action, RemoteAddr: ip}
		if err := db.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range []struct{ id, email, action, ip string }{
		{"u1", "ann@o.io", "create", "10.0.0.1"},
		{"u2", "bob@o.io", "create", "10.0.0.2"},
		{"u1", "ann@o.io", "update", "10.0.0.1"},
		{"admin-secret", "", "delete", "10.0.0.3"},
		{"u2", "bob@o.io", "update", "10.0.0.2"},
		{"u1", "ann@o.io", "delete", "10.0.0.1"},
		{"u1", "ann@o.io", "create", "10.0.0.1"},
	} {
		add("o", e.id, e.email, e.action, e.ip, day.AddDate(0, 0, i))
	}
	add("other", "u9", "ann@o.io", "create", "10.0.0.1", day)

	tests := []struct {
		name       string
		f          audit.Filter
		page, size int
		want       []int // the entries' days, newest first
		matched    int
	}{
		{"no filter, a page", audit.Filter{}, 1, 3, []int{6, 5, 4}, 7},
		{"no filter, everything", audit.Filter{}, 0, 3, []int{6, 5, 4, 3, 2, 1, 0}, 7},
		{"by e-mail, any case", audit.Filter{User: "ANN@o.io"}, 0, 10, []int{6, 5, 2, 0}, 4},
		{"by user id", audit.Filter{User: "admin-secret"}, 0, 10, []int{3}, 1},
		{"by action", audit.Filter{Action: "Update"}, 0, 10, []int{4, 2}, 2},
		{"by address", audit.Filter{IP: "10.0.0.2"}, 0, 10, []int{4, 1}, 2},
		{"from a day", audit.Filter{From: day.AddDate(0, 0, 5)}, 0, 10, []int{6, 5}, 2},
		{"before a day", audit.Filter{To: day.AddDate(0, 0, 2)}, 0, 10, []int{1, 0}, 2},
		{"filtered, second page", audit.Filter{User: "ann@o.io"}, 2, 3, []int{0}, 4},
		{"filtered, past the end", audit.Filter{User: "ann@o.io"}, 3, 3, nil, 4},
		{"nothing matches", audit.Filter{User: "nobody@o.io"}, 1, 3, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, matched, err := audit.List(t.Context(), db, "o", tt.f, tt.page, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			var days []int
			for _, e := range es {
				if e.OrgID != "o" {
					t.Fatalf("another organisation's entry: %+v", e)
				}
				days = append(days, int(e.At.Sub(day).Hours()/24))
			}
			if !slices.Equal(days, tt.want) || matched != tt.matched {
				t.Fatalf("got days %v of %d matches, want %v of %d", days, matched, tt.want, tt.matched)
			}
		})
	}
}
