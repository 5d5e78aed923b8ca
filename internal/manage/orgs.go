package manage

import (
	"context"

	"github.com/tollgate/tollgate/internal/store"
)

// defaultOrg is the organisation the /tyk/ control API files a new object under
// when nothing else decides it (no org_id in the body, and no API or policy it
// names to take one from): the first organisation created, so that what Tyk's
// clients create without org_id shows in that organisation's dashboard. It is ""
// while there is no organisation, and with no store to ask.
func defaultOrg(ctx context.Context, orgs store.OrgStore) (string, error) {
	if orgs == nil {
		return "", nil
	}
	all, err := orgs.ListOrgs(ctx) // oldest first
	if err != nil || len(all) == 0 {
		return "", err
	}
	return all[0].ID, nil
}
