package dashboard_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/accounts"
	"github.com/tollgate/tollgate/internal/dashboard"
)

// TestUIPagesDeclareWhatTheyNeed walks the web UI's page table: every page declares
// a permission section it needs (read or write), or that it is a user's own-account
// page whose rules the accounts service applies. enableUI refuses a page without.
func TestUIPagesDeclareWhatTheyNeed(t *testing.T) {
	e := newEnv(t)
	for _, p := range dashboard.Pages(e.server()) {
		switch {
		case !p.Declared:
			t.Errorf("%s declares no permission", p.Pattern)
		case !p.OwnAccount && !slices.Contains(accounts.Sections, p.Section):
			t.Errorf("%s needs unknown section %q", p.Pattern, p.Section)
		case strings.HasPrefix(p.Pattern, "POST ") && !p.OwnAccount && !p.Write:
			t.Errorf("%s changes something but needs only read on %s", p.Pattern, p.Section)
		}
	}
}

// TestUIPagesRefuseUsersWithoutPermission opens every page that needs a section as a
// user without any rights, and every page that needs write as a user who may read
// everything: each answers the permission page, before looking at what it was asked.
func TestUIPagesRefuseUsersWithoutPermission(t *testing.T) {
	e := newEnv(t)
	all := map[string]string{}
	for _, s := range accounts.Sections {
		all[s] = "read"
	}
	e.addUser(t, "readall", all)
	pages := dashboard.Pages(e.server())
	for _, who := range []string{"nobody", "readall"} {
		b := newBrowser(t, e)
		if status, _ := b.login(who+"@a.io", "password-"+who, ""); status != 303 {
			t.Fatalf("login %s: %d", who, status)
		}
		own := "/users/" + e.ids[who]
		if status, _, _ := b.get(own); status != 200 {
			t.Fatalf("%s cannot open their own page: %d", who, status)
		}
		tok := b.csrf(own)
		for _, p := range pages {
			if p.OwnAccount || (who == "readall" && !p.Write) {
				continue
			}
			status, body := b.open(p, tok)
			if status != 403 || !strings.Contains(body, dashboard.NoPermissionPage) {
				t.Errorf("%s as %s: %d, want 403 and the permission page:\n%s", p.Pattern, who, status, body)
			}
		}
	}
}
