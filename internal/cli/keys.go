package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/internal/session"
)

const keysUsage = `usage: tollgate keys <command> [flags]

Commands:
  create                create a key (--api IDS, --policy ID, limits); prints the key once
  list                  list keys: hash prefix, alias, APIs, policies, rate, quota used and left, status
  get KEY               show a key; --json prints Tyk's key object
  delete KEY            delete a key

KEY is what "keys list" prints in its HASH column (any unique start of the hash,
at least 8 characters), the key itself, or the full hash with --hashed.

Run "tollgate keys <command> -h" for its flags.
`

// keys is `tollgate keys`, a client of the Dashboard API's /api/keys.
var keys = group{name: "keys", usage: keysUsage, order: []string{"create", "list", "get", "delete"},
	commands: map[string]command{
		"create": keysCreate,
		"list":   keysList,
		"get":    keysGet,
		"delete": keysDelete,
	}}

// Keys runs `tollgate keys <create|list|get|delete>`.
func Keys(args []string, env Env) error { return keys.run(args, env) }

func keysCreate(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	apis := fs.String("api", "", "comma-separated API ids the key may call (required unless --policy or --body)")
	pols := listFlag{split: true}
	fs.Var(&pols, "policy", "apply the policy with this `ID`; repeat or comma-separate for several. Its access rights and limits apply as its partitions say")
	rate := fs.Float64("rate", 0, "requests allowed per --per seconds (0: no rate limit)")
	per := fs.Float64("per", 0, "rate-limit window in seconds")
	quota := fs.Int64("quota", -1, "requests per quota period (-1: unlimited)")
	renewal := fs.Int64("quota-renewal", 3600, "quota period in seconds")
	expiresIn := fs.Duration("expires-in", 0, "expire the key after this long (0: never)")
	alias := fs.String("alias", "", "human-readable name")
	bodyFile := fs.String("body", "", "read the whole Tyk session object from this file (- for stdin)")
	c, err := start(fs, cf, args, env, "keys create (--api IDS | --policy ID) [flags] | --body session.json", 0)
	if err != nil {
		return err
	}
	var body []byte
	if *bodyFile != "" {
		if body, err = readFile(*bodyFile, env.Stdin); err != nil {
			return err
		}
	} else {
		if *apis == "" && len(pols.values) == 0 {
			return usageError{errors.New("--api or --policy is required (or give --body)")}
		}
		var expires int64
		if *expiresIn > 0 {
			expires = time.Now().Add(*expiresIn).Unix()
		}
		doc := map[string]any{"alias": *alias, "rate": *rate, "allowance": *rate, "per": *per,
			"quota_max": *quota, "quota_renewal_rate": *renewal, "expires": expires}
		if *apis != "" {
			doc["access_rights"] = accessRights(strings.Split(*apis, ","))
		}
		if len(pols.values) > 0 {
			doc["apply_policies"] = pols.values
		}
		body, _ = json.Marshal(doc)
	}
	var raw json.RawMessage
	if err := c.do("POST", "/api/keys", body, &raw); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	var r struct {
		Key  string `json:"key"`
		Hash string `json:"key_hash"`
	}
	_ = json.Unmarshal(raw, &r)
	fmt.Fprintf(env.Stdout, "key:      %s\nkey hash: %s\n\nThe key is shown only now; keep it safe.\n", r.Key, r.Hash)
	return nil
}

// keyData is the Dashboard API's key object: a key's hash and its session.
type keyData struct {
	Hash string          `json:"key_hash"`
	Data session.Session `json:"data"`
}

func keysList(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	api := fs.String("api", "", "only keys that may call this API")
	c, err := start(fs, cf, args, env, "keys list [--api ID] [flags]", 0)
	if err != nil {
		return err
	}
	raw, printed, err := c.fetch("/api/keys/detailed?p=-1")
	if err != nil || printed {
		return err
	}
	var list struct {
		Keys []keyData `json:"keys"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("key list reply: %w", err)
	}
	now := time.Now()
	var rows [][]string
	for _, k := range list.Keys {
		s := &k.Data
		ids := s.APIIDs()
		if *api != "" && !slices.Contains(ids, *api) {
			continue
		}
		rows = append(rows, []string{shortHash(k.Hash), cmp.Or(s.Alias, "-"), orDash(ids), orDash(s.ApplyPolicies),
			rateText(s.Rate, s.Per), quotaText(s), renewsText(s), unixText(int64(s.Expires), "never"), s.State(now)})
	}
	c.table("HASH\tALIAS\tAPIS\tPOLICIES\tRATE\tQUOTA\tRENEWS\tEXPIRES\tSTATUS", rows)
	return nil
}

// shownHash is how many characters of a hash `keys list` shows: enough to be
// unique among any realistic number of keys (48 bits), short enough for a table.
const shownHash = 12

func shortHash(h string) string { return h[:min(len(h), shownHash)] }

// quotaText shows a key's quota as the web UI does: used and remaining of the
// period, from session.QuotaUsage.
func quotaText(s *session.Session) string {
	used, remaining, limited := s.QuotaUsage()
	if !limited {
		return "unlimited"
	}
	return fmt.Sprintf("%d used / %d remaining of %d", used, remaining, s.QuotaMax)
}

// renewsText is when the quota period ends, "-" for an unlimited quota.
func renewsText(s *session.Session) string {
	if _, _, limited := s.QuotaUsage(); !limited {
		return "-"
	}
	return unixText(int64(s.QuotaRenews), "-")
}

// unixText shows a Unix time in UTC, or none for a time of 0 or less (Tyk's
// "never" and "not set").
func unixText(t int64, none string) string {
	if t < 1 {
		return none
	}
	return time.Unix(t, 0).UTC().Format(time.RFC3339)
}

func keysGet(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	c, ref, err := keyCommand(fs, cf, args, env, "get")
	if err != nil {
		return err
	}
	k, raw, err := c.resolveKey(ref)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	return describe(env, k, time.Now())
}

func keysDelete(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	c, ref, err := keyCommand(fs, cf, args, env, "delete")
	if err != nil {
		return err
	}
	// Resolve first, then delete by the full hash: a prefix or a key is never
	// sent to DELETE, so what is deleted is the one key resolveKey found.
	k, _, err := c.resolveKey(ref)
	if err != nil {
		return err
	}
	return c.send(http.MethodDelete, "/api/keys/"+url.PathEscape(k.Hash)+"?hashed=true", nil, func(envelope) string {
		return "key deleted: " + k.Hash
	})
}

// keyRef is the KEY argument of `keys get` and `keys delete`.
type keyRef struct {
	arg    string
	hashed bool
}

// keyCommand parses the flags and the KEY argument `keys get` and `keys delete`
// share.
func keyCommand(fs *flag.FlagSet, cf *commonFlags, args []string, env Env, name string) (*client, keyRef, error) {
	hashed := fs.Bool("hashed", false, "KEY is the key's full hash, not the key or a hash prefix")
	c, err := start(fs, cf, args, env, "keys "+name+" [--hashed] [flags] KEY", 1)
	if err != nil {
		return nil, keyRef{}, err
	}
	return c, keyRef{arg: fs.Arg(0), hashed: *hashed}, nil
}

// minPrefix is the shortest hash prefix resolveKey looks up. Eight hex digits
// are 32 bits: among a million keys a given prefix is shared by chance with
// another key's about once in four thousand lookups, and then the command says
// so rather than pick one. A shorter argument is only tried as a key.
const minPrefix = 8

// maxListed bounds the matches an ambiguous prefix's error lists.
const maxListed = 10

// resolveKey finds the one key ref names and returns it with the Dashboard API's
// reply for it (Tyk's key object, for --json). With --hashed the argument is the
// full hash. Otherwise it is looked up both as a key and, when it is 8 to 64 hex
// digits, as the start of a hash (through the Dashboard API's search, not by
// listing every key), and it must name exactly one key across both: a key that
// happens to start another key's hash is ambiguous, never a guess.
func (c *client) resolveKey(ref keyRef) (keyData, json.RawMessage, error) {
	if ref.hashed {
		k, raw, found, err := c.keyByPath("/api/keys/" + url.PathEscape(ref.arg) + "?hashed=true")
		if err != nil || found {
			return k, raw, err
		}
		hint := ""
		if len(ref.arg) != 64 {
			hint = " (--hashed takes the full 64-character hash; without --hashed a unique start of it is enough)"
		}
		return keyData{}, nil, fmt.Errorf("no such key: no key has the hash %q%s", ref.arg, hint)
	}
	type match struct {
		k   keyData
		raw json.RawMessage
	}
	var matches []match
	k, raw, found, err := c.keyByPath("/api/keys/" + url.PathEscape(ref.arg))
	if err != nil {
		return keyData{}, nil, err
	}
	if found {
		matches = append(matches, match{k, raw})
	}
	prefix := strings.ToLower(ref.arg)
	asPrefix := isHex(prefix) && len(prefix) >= minPrefix && len(prefix) <= 64
	if asPrefix {
		var list struct {
			Keys []json.RawMessage `json:"keys"`
		}
		// q matches a hash prefix or an alias containing it: only the former count.
		if err := c.do(http.MethodGet, "/api/keys/detailed?"+url.Values{"p": {"-1"}, "q": {prefix}}.Encode(), nil, &list); err != nil {
			return keyData{}, nil, err
		}
		for _, raw := range list.Keys {
			var k keyData
			if err := json.Unmarshal(raw, &k); err != nil {
				return keyData{}, nil, fmt.Errorf("key list reply: %w", err)
			}
			if strings.HasPrefix(k.Hash, prefix) && !slices.ContainsFunc(matches, func(m match) bool { return m.k.Hash == k.Hash }) {
				matches = append(matches, match{k, raw})
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].k, matches[0].raw, nil
	case 0:
		if asPrefix {
			return keyData{}, nil, fmt.Errorf("no such key: %q is neither a key nor the start of a key's hash", ref.arg)
		}
		return keyData{}, nil, fmt.Errorf("no such key: %q is not a key (a start of a key's hash, as keys list prints it, needs at least %d hex characters)", ref.arg, minPrefix)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d keys; nothing was done. Give more of the hash, or --hashed with the full one:", ref.arg, len(matches))
	for i, m := range matches {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(matches)-maxListed)
			break
		}
		fmt.Fprintf(&b, "\n  %s  %s", m.k.Hash, cmp.Or(m.k.Data.Alias, "-"))
	}
	return keyData{}, nil, errors.New(b.String())
}

// keyByPath reads one key; found is false when the dashboard has no such key
// (404), which resolveKey then reports in its own words.
func (c *client) keyByPath(path string) (k keyData, raw json.RawMessage, found bool, err error) {
	err = c.do(http.MethodGet, path, nil, &raw)
	if replyStatus(err) == http.StatusNotFound {
		return k, nil, false, nil
	}
	if err != nil {
		return k, nil, false, err
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, nil, false, fmt.Errorf("key reply: %w", err)
	}
	return k, raw, true, nil
}

func isHex(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

// describe prints the readable summary of one key that `keys get` shows.
func describe(env Env, k keyData, now time.Time) error {
	s := &k.Data
	quota := quotaText(s)
	if _, _, limited := s.QuotaUsage(); limited {
		quota += ", renews " + renewsText(s)
	}
	created := "-"
	if !s.DateCreated.IsZero() {
		created = s.DateCreated.UTC().Format(time.RFC3339)
	}
	// last_updated is a Unix time in a string, as Tyk writes it.
	updated, _ := strconv.ParseInt(string(s.LastUpdated), 10, 64)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	for _, f := range [][2]string{
		{"hash", k.Hash},
		{"alias", cmp.Or(s.Alias, "-")},
		{"status", s.State(now)},
		{"apis", orDash(s.APIIDs())},
		{"policies", orDash(s.ApplyPolicies)},
		{"rate", rateText(s.Rate, s.Per)},
		{"quota", quota},
		{"expires", unixText(int64(s.Expires), "never")},
		{"created", created},
		{"updated", unixText(updated, "-")},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}
