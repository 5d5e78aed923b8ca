package manage

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/apidef"
	"github.com/tollgate/tollgate/internal/fault"
	"github.com/tollgate/tollgate/internal/store"
)

// VersionFilter narrows a version listing as Tyk's gateway does: Search is matched,
// ignoring case, inside version names; Access is "internal", "external" or "" (all).
type VersionFilter struct {
	Search, Access string
}

// ParseVersionFilter reads the searchText and accessType query parameters. Tyk
// ignores an accessType it does not know, which lists everything; here it is a
// fault.Invalid naming the parameter, so a typo never widens a listing silently.
func ParseVersionFilter(searchText, accessType string) (VersionFilter, error) {
	switch accessType {
	case "", "internal", "external":
		return VersionFilter{Search: strings.ToLower(searchText), Access: accessType}, nil
	}
	return VersionFilter{}, fault.InvalidField("accessType", "Query parameter accessType must be internal or external, not %q", accessType)
}

func (f VersionFilter) includes(m apidef.VersionMeta) bool {
	switch {
	case f.Access == "internal" && !m.Internal, f.Access == "external" && m.Internal:
		return false
	}
	return f.Search == "" || strings.Contains(strings.ToLower(m.VersionName), f.Search)
}

// Versions lists the version set whose base is the API apiID, as Tyk's gateway lists
// it: the base first (under its definition.name), then each version API that
// definition.versions names, by version name. A version whose API is missing or
// belongs to another organisation than the base is left out: a base cannot list, and
// so reveal, another tenant's API. An API without versions is a set of one
// (docs/tyk-differences.md: Tyk answers 404 there).
func (s *APIs) Versions(ctx context.Context, apiID string, f VersionFilter) ([]apidef.VersionMeta, error) {
	base, err := s.Get(ctx, apiID)
	if err != nil {
		return nil, err
	}
	d, err := apidef.Parse(base.Definition)
	if err != nil {
		return nil, err
	}
	set := d.VersionSet()
	var out []apidef.VersionMeta
	// "Self" is how Tyk's gateway writes "the base is the default" when it makes a
	// base's first version; its listing forgets it, the routing does not.
	if m := d.Meta(set.Name, set.Default == set.Name || set.Default == "Self"); f.includes(m) {
		out = append(out, m)
	}
	names := make([]string, 0, len(set.Versions))
	for name := range set.Versions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a, err := s.Get(ctx, set.Versions[name])
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.OrgID != base.OrgID) {
			continue
		}
		if err != nil {
			return nil, err
		}
		v, err := apidef.Parse(a.Definition)
		if err != nil {
			continue
		}
		if m := v.Meta(name, set.Default == name); f.includes(m) {
			out = append(out, m)
		}
	}
	return out, nil
}
