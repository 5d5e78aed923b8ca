package session

import (
	"testing"
	"time"
)

func TestState(t *testing.T) {
	t.Parallel()
	now := time.Unix(2000, 0)
	rows := []struct {
		name string
		s    Session
		want string
	}{
		{"never expires", Session{}, StateActive},
		{"expires later", Session{Expires: 2001}, StateActive},
		{"expires now", Session{Expires: 2000}, StateExpired},
		{"expired", Session{Expires: 1999}, StateExpired},
		{"expires 0 means never", Session{Expires: 0}, StateActive},
		{"negative expires means never", Session{Expires: -1}, StateActive},
		{"inactive", Session{IsInactive: true}, StateInactive},
		{"inactive and expired", Session{IsInactive: true, Expires: 1}, StateInactive},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			if got := r.s.State(now); got != r.want {
				t.Errorf("State = %q, want %q", got, r.want)
			}
		})
	}
}

// TestStateAgreesWithGateway: the status shown is the verdict the gateway's
// compiled session gives, at and around the expiry second.
func TestStateAgreesWithGateway(t *testing.T) {
	t.Parallel()
	s := Session{Expires: 2000}
	c := Compile(&s)
	for _, at := range []int64{1999, 2000, 2001} {
		if expired := s.State(time.Unix(at, 0)) == StateExpired; expired != c.Expired(at) {
			t.Errorf("at %d: State says expired=%v, gateway says %v", at, expired, c.Expired(at))
		}
	}
}

func TestQuotaUsage(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name            string
		s               Session
		used, remaining int64
		limited         bool
	}{
		{"unlimited", Session{QuotaMax: -1, QuotaRemaining: 5}, 0, 0, false},
		{"zero max is unlimited", Session{QuotaMax: 0}, 0, 0, false},
		{"fresh", Session{QuotaMax: 3, QuotaRemaining: 3}, 0, 3, true},
		{"partly used", Session{QuotaMax: 3, QuotaRemaining: 1}, 2, 1, true},
		{"used up", Session{QuotaMax: 3, QuotaRemaining: 0}, 3, 0, true},
		{"negative remaining", Session{QuotaMax: 3, QuotaRemaining: -2}, 3, 0, true},
		{"remaining above max", Session{QuotaMax: 3, QuotaRemaining: 9}, 0, 3, true},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			used, remaining, limited := r.s.QuotaUsage()
			if used != r.used || remaining != r.remaining || limited != r.limited {
				t.Errorf("QuotaUsage = %d, %d, %v; want %d, %d, %v", used, remaining, limited, r.used, r.remaining, r.limited)
			}
		})
	}
}
