package audit

import (
	"context"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/store"
)

// Filter narrows an audit listing; zero fields do not filter.
type Filter struct {
	// User keeps the entries made by this user: their e-mail (any letter case) or
	// their id ("admin-secret" for the admin secret).
	User string
	// Action keeps one action (ActionCreate, ...), any letter case.
	Action string
	// IP keeps the entries made from this client address.
	IP string
	// From and To keep the entries made at or after From and before To.
	From, To time.Time
}

// IsZero reports whether f keeps everything.
func (f Filter) IsZero() bool { return f == Filter{} }

func (f Filter) keeps(e store.AuditEntry) bool {
	switch {
	case f.User != "" && !strings.EqualFold(e.ActorEmail, f.User) && e.ActorID != f.User:
		return false
	case f.Action != "" && !strings.EqualFold(e.Action, f.Action):
		return false
	case f.IP != "" && e.RemoteAddr != f.IP:
		return false
	case !f.To.IsZero() && !e.At.Before(f.To):
		return false
	}
	return f.From.IsZero() || !e.At.Before(f.From)
}

// scanBatch is how many entries a filtered listing reads from the store at a time.
const scanBatch = 500

// List returns page page (1-based; page <= 0 means every entry) of size entries of
// organisation org's audit log matching f, newest first, and the number of entries
// that match.
//
// The store pages the log but does not filter it, so a filtered listing reads the
// organisation's entries in batches, newest first, and stops at the first one older
// than f.From: its cost grows with the log, not with the page. That is the price of
// leaving the store's audit interface alone; a store-side filter is the way on if
// logs grow large.
func List(ctx context.Context, st store.AuditStore, org string, f Filter, page, size int) ([]store.AuditEntry, int, error) {
	if f.IsZero() {
		if page <= 0 {
			return st.ListAudit(ctx, org, 0, 0)
		}
		return st.ListAudit(ctx, org, size, (page-1)*size)
	}
	var out []store.AuditEntry
	matched := 0
	from, to := 0, -1 // the matches page page holds: [from, to)
	if page > 0 {
		from, to = (page-1)*size, page*size
	}
	// Entries appended during the scan shift the offsets; last keeps an entry
	// read twice from counting twice (ids grow with time).
	var last int64 = -1
	for offset := 0; ; offset += scanBatch {
		batch, _, err := st.ListAudit(ctx, org, scanBatch, offset)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range batch {
			if last >= 0 && e.ID >= last {
				continue
			}
			last = e.ID
			if !f.From.IsZero() && e.At.Before(f.From) {
				return out, matched, nil
			}
			if !f.keeps(e) {
				continue
			}
			if matched >= from && (to < 0 || matched < to) {
				out = append(out, e)
			}
			matched++
		}
		if len(batch) < scanBatch {
			return out, matched, nil
		}
	}
}
