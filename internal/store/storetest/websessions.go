package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/internal/store"
)

// webUsers creates an organisation and the users ids, for the rows that refer to
// them.
func webUsers(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	if err := s.CreateOrg(t.Context(), store.Org{ID: "wo", Name: "Web", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		u := store.User{ID: id, OrgID: "wo", Email: id + "@web.io", PasswordHash: []byte("h"), AccessKeyHash: "ak-" + id,
			AccessKeyEnc: []byte("enc"), Permissions: []byte("{}"), Active: true, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
}

func testWebSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	webUsers(t, s, "u1", "u2")
	at := now.Add(123456789 * time.Nanosecond) // kept to the microsecond
	ws := store.WebSession{TokenHash: "t1", UserID: "u1", Stamp: []byte{0, 1, 2, 255}, CSRF: "c1", CreatedAt: at, SeenAt: at, Flash: []byte{}}
	if err := s.CreateWebSession(ctx, ws); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.CreateWebSession(ctx, ws); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create a taken hash: %v, want ErrConflict", err)
	}
	orphan := ws
	orphan.TokenHash, orphan.UserID = "t-orphan", "nobody"
	if err := s.CreateWebSession(ctx, orphan); !errors.Is(err, store.ErrInvalidReference) {
		t.Errorf("create for a missing user: %v, want ErrInvalidReference", err)
	}
	want := ws
	want.CreatedAt, want.SeenAt = at.Truncate(time.Microsecond), at.Truncate(time.Microsecond)
	got, err := s.GetWebSession(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	if _, err := s.GetWebSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}

	later := now.Add(time.Hour)
	if err := s.TouchWebSession(ctx, "t1", later); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchWebSession(ctx, "nope", later); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touch missing: %v, want ErrNotFound", err)
	}
	if got, _ := s.GetWebSession(ctx, "t1"); !got.SeenAt.Equal(later) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("after touch: seen %v created %v, want seen %v and creation kept", got.SeenAt, got.CreatedAt, later)
	}

	// The flash is held exactly (a NUL and bytes that are not UTF-8 too), and of
	// two clears of the same flash only one succeeds.
	flash := []byte("Key “x” saved.\x00\xff")
	if err := s.SetWebSessionFlash(ctx, "t1", flash); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWebSessionFlash(ctx, "nope", flash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("set flash of missing: %v, want ErrNotFound", err)
	}
	if got, _ := s.GetWebSession(ctx, "t1"); string(got.Flash) != string(flash) {
		t.Errorf("flash = %q, want %q", got.Flash, flash)
	}
	if ok, err := s.ClearWebSessionFlash(ctx, "t1", []byte("another")); ok || err != nil {
		t.Errorf("clear another flash = %v, %v; want false (it holds a newer one)", ok, err)
	}
	var wg sync.WaitGroup
	cleared := make([]bool, 4)
	for i := range cleared {
		wg.Go(func() {
			ok, err := s.ClearWebSessionFlash(ctx, "t1", flash)
			if err != nil {
				t.Error(err)
			}
			cleared[i] = ok
		})
	}
	wg.Wait()
	if n := count(cleared); n != 1 {
		t.Errorf("4 concurrent clears of one flash: %d cleared it, want 1", n)
	}
	if got, _ := s.GetWebSession(ctx, "t1"); len(got.Flash) != 0 {
		t.Errorf("flash after clear = %q", got.Flash)
	}
	if ok, _ := s.ClearWebSessionFlash(ctx, "t1", nil); ok {
		t.Error("clearing an empty flash reported a flash cleared")
	}

	// Ending sessions: one, all of a user's, the user's deletion.
	for _, x := range []store.WebSession{{TokenHash: "t2", UserID: "u1"}, {TokenHash: "t3", UserID: "u2"}, {TokenHash: "t4", UserID: "u2"}} {
		x.Stamp, x.CSRF, x.CreatedAt, x.SeenAt = []byte{1}, "c", now, now
		if err := s.CreateWebSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteWebSession(ctx, "t2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebSession(ctx, "t2"); err != nil {
		t.Errorf("delete twice: %v, want no error", err)
	}
	if err := s.DeleteUserWebSessions(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	for h, live := range map[string]bool{"t1": true, "t2": false, "t3": false, "t4": false} {
		if _, err := s.GetWebSession(ctx, h); (err == nil) != live {
			t.Errorf("session %s: get = %v, want live %v", h, err, live)
		}
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWebSession(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's session: %v, want ErrNotFound", err)
	}
}

func testWebSessionSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	webUsers(t, s, "u1")
	// The sweep ends sessions idle since before seenBefore or made before
	// createdBefore; the bounds themselves stay.
	seenBefore, createdBefore := now, now.Add(-time.Hour)
	for _, x := range []struct {
		hash          string
		created, seen time.Time
	}{
		{"idle", now.Add(-2 * time.Hour), now.Add(-time.Microsecond)},
		{"old", createdBefore.Add(-time.Microsecond), now.Add(time.Minute)},
		{"fresh", now.Add(-time.Minute), now},
		{"on the bounds", createdBefore, seenBefore},
	} {
		if err := s.CreateWebSession(ctx, store.WebSession{TokenHash: x.hash, UserID: "u1", Stamp: []byte{1}, CSRF: "c", CreatedAt: x.created, SeenAt: x.seen}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.SweepWebSessions(ctx, seenBefore, createdBefore)
	if err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want 2", n, err)
	}
	for h, live := range map[string]bool{"idle": false, "old": false, "fresh": true, "on the bounds": true} {
		if _, err := s.GetWebSession(ctx, h); (err == nil) != live {
			t.Errorf("session %q after the sweep: get = %v, want live %v", h, err, live)
		}
	}
}

func testKeyDisplays(t *testing.T, s store.Store) {
	ctx := t.Context()
	webUsers(t, s, "u1", "u2")
	d := store.KeyDisplay{IDHash: "d1", UserID: "u1", Sealed: []byte{9, 0, 8}, ExpiresAt: now.Add(5 * time.Minute)}
	if err := s.CreateKeyDisplay(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKeyDisplay(ctx, d); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create a taken hash: %v, want ErrConflict", err)
	}
	orphan := d
	orphan.IDHash, orphan.UserID = "d-orphan", "nobody"
	if err := s.CreateKeyDisplay(ctx, orphan); !errors.Is(err, store.ErrInvalidReference) {
		t.Errorf("create for a missing user: %v, want ErrInvalidReference", err)
	}
	// Another user, or the creator once it expired, gets nothing and removes
	// nothing.
	if _, err := s.TakeKeyDisplay(ctx, "d1", "u2", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take as another user: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeKeyDisplay(ctx, "d1", "u1", d.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take at expiry: %v, want ErrNotFound", err)
	}
	// Of concurrent takes by the creator, exactly one gets it.
	var wg sync.WaitGroup
	got := make([]bool, 4)
	for i := range got {
		wg.Go(func() {
			k, err := s.TakeKeyDisplay(ctx, "d1", "u1", now)
			switch {
			case err == nil:
				if diff := cmp.Diff(d, k); diff != "" {
					t.Errorf("take (-want +got):\n%s", diff)
				}
				got[i] = true
			case !errors.Is(err, store.ErrNotFound):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := count(got); n != 1 {
		t.Errorf("4 concurrent takes: %d got the display, want 1", n)
	}

	for _, x := range []store.KeyDisplay{
		{IDHash: "expired", UserID: "u1", Sealed: []byte{1}, ExpiresAt: now},
		{IDHash: "live", UserID: "u1", Sealed: []byte{1}, ExpiresAt: now.Add(time.Microsecond)},
		{IDHash: "other", UserID: "u2", Sealed: []byte{1}, ExpiresAt: now.Add(time.Minute)},
	} {
		if err := s.CreateKeyDisplay(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.SweepKeyDisplays(ctx, now); err != nil || n != 1 {
		t.Errorf("sweep = %d, %v; want the 1 expired", n, err)
	}
	if _, err := s.TakeKeyDisplay(ctx, "live", "u1", now); err != nil {
		t.Errorf("take the display the sweep left: %v", err)
	}
	if err := s.DeleteUser(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeKeyDisplay(ctx, "other", "u2", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's display: %v, want ErrNotFound", err)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
