package session

import "time"

// The states State returns. Every door (web UI, CLI) shows these words, so an
// operator reads the same status for a key wherever they look.
const (
	StateActive   = "active"
	StateInactive = "inactive"
	StateExpired  = "expired"
)

// State is the key's status at now: inactive when switched off, else expired once
// its expiry has passed, else active. Inactive wins over expired because the
// gateway checks is_inactive first (Tyk's order), so that is what a caller of an
// inactive, expired key is told.
func (s *Session) State(now time.Time) string {
	switch {
	case s.IsInactive:
		return StateInactive
	case s.Expires >= 1 && now.Unix() >= int64(s.Expires):
		return StateExpired
	}
	return StateActive
}

// QuotaUsage is how much of the key's quota its current period has used and has
// left, both at least 0 (a quota_remaining above quota_max, which a hand-written
// session may hold, uses nothing). limited is false for an unlimited quota
// (quota_max 0 or below), and used and remaining are then 0.
func (s *Session) QuotaUsage() (used, remaining int64, limited bool) {
	if s.QuotaMax <= 0 {
		return 0, 0, false
	}
	remaining = min(max(int64(s.QuotaRemaining), 0), int64(s.QuotaMax))
	return int64(s.QuotaMax) - remaining, remaining, true
}
