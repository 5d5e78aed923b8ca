package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const policiesUsage = `usage: tollgate policies <command> [flags]

Commands:
  list                  list policies (--search TEXT, --state STATE, --api ID)
  create                create a policy from flags, or from --file (Tyk's policy JSON); prints its id
  get ID                print a policy as JSON
  update ID --file F    replace a policy with a Tyk policy document
  delete ID [--force]   delete a policy; one that keys apply is kept unless --force

Run "tollgate policies <command> -h" for its flags.
`

// policies is `tollgate policies`, a client of the Dashboard API's
// /api/portal/policies.
var policies = group{name: "policies", usage: policiesUsage, order: []string{"list", "create", "get", "update", "delete"},
	commands: map[string]command{
		"list":   policiesList,
		"create": policiesCreate,
		"get":    policiesGet,
		"update": policiesUpdate,
		"delete": policiesDelete,
	}}

// Policies runs `tollgate policies <list|create|get|update|delete>`.
func Policies(args []string, env Env) error { return policies.run(args, env) }

// policyPath is the Dashboard API path of one policy; the id is the one
// positional argument.
func policyPath(fs *flag.FlagSet, line string) (string, error) {
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return "", usageError{fmt.Errorf("usage: tollgate %s", line)}
	}
	return "/api/portal/policies/" + url.PathEscape(fs.Arg(0)), nil
}

// policyRow is what the list table shows of a policy.
type policyRow struct {
	ID               string                     `json:"id"`
	Name             string                     `json:"name"`
	State            string                     `json:"state"`
	Rate             float64                    `json:"rate"`
	Per              float64                    `json:"per"`
	QuotaMax         int64                      `json:"quota_max"`
	QuotaRenewalRate int64                      `json:"quota_renewal_rate"`
	AccessRights     map[string]json.RawMessage `json:"access_rights"`
}

func (p policyRow) cells() []string {
	quota := "unlimited"
	if p.QuotaMax > 0 {
		quota = fmt.Sprintf("%d/%ds", p.QuotaMax, p.QuotaRenewalRate)
	}
	return []string{p.ID, p.Name, p.State, rateText(p.Rate, p.Per), quota, orDash(slices.Sorted(maps.Keys(p.AccessRights)))}
}

func policiesList(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	search := fs.String("search", "", "only policies whose name contains `TEXT` (any case), or whose id is TEXT")
	state := fs.String("state", "", "only policies in this state: active, draft or deny")
	api := fs.String("api", "", "only policies that grant this API `ID`")
	c, err := start(fs, cf, args, env, "policies list [flags]", 0)
	if err != nil {
		return err
	}
	// p=-1 asks for every policy on one page, as keys list does.
	q := url.Values{"p": {"-1"}}
	path := "/api/portal/policies"
	if *search != "" {
		path += "/search"
		q.Set("q", *search)
	}
	if *state != "" {
		q.Set("state", *state)
	}
	if *api != "" {
		q.Set("api_id", *api)
	}
	raw, printed, err := c.fetch(path + "?" + q.Encode())
	if err != nil || printed {
		return err
	}
	var page struct {
		Data []policyRow `json:"Data"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return fmt.Errorf("policy list reply: %w", err)
	}
	rows := make([][]string, 0, len(page.Data))
	for _, p := range page.Data {
		rows = append(rows, p.cells())
	}
	c.table("ID\tNAME\tSTATE\tRATE\tQUOTA\tAPIS", rows)
	return nil
}

// policyDoc is the policy document `policies create` builds from its flags, in
// Tyk's shape.
type policyDoc struct {
	Name               string         `json:"name"`
	State              string         `json:"state,omitempty"`
	Rate               float64        `json:"rate"`
	Per                float64        `json:"per"`
	QuotaMax           int64          `json:"quota_max"`
	QuotaRenewalRate   int64          `json:"quota_renewal_rate"`
	ThrottleInterval   float64        `json:"throttle_interval"`
	ThrottleRetryLimit int64          `json:"throttle_retry_limit"`
	KeyExpiresIn       int64          `json:"key_expires_in"`
	Tags               []string       `json:"tags"`
	Partitions         partitionsFlag `json:"partitions"`
	AccessRights       map[string]any `json:"access_rights"`
}

// partitionNames are the partitions a policy may set (Tyk's names).
var partitionNames = []string{"quota", "rate_limit", "acl", "complexity", "per_api"}

// partitionsFlag is --partitions: a comma-separated list of partition names,
// each set to true.
type partitionsFlag map[string]bool

func (p partitionsFlag) String() string { return strings.Join(slices.Sorted(maps.Keys(p)), ",") }

// Set implements flag.Value.
func (p partitionsFlag) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(partitionNames, name) {
			return fmt.Errorf("%q is not a partition (%s)", name, strings.Join(partitionNames, ", "))
		}
		p[name] = true
	}
	return nil
}

func policiesCreate(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	const line = "policies create --name NAME [flags] | --file policy.json"
	synopsis(fs, line)
	file := fs.String("file", "", "read the whole Tyk policy document from this file (- for stdin) instead of the flags below")
	doc := policyDoc{Partitions: partitionsFlag{}, AccessRights: map[string]any{}}
	fs.StringVar(&doc.Name, "name", "", "policy name (required without --file; unique in your organisation)")
	fs.StringVar(&doc.State, "state", "", "active, draft (keys that apply it are refused) or deny (default active)")
	fs.Float64Var(&doc.Rate, "rate", 0, "requests allowed per --per seconds (0: no rate limit)")
	fs.Float64Var(&doc.Per, "per", 0, "rate-limit window in seconds")
	fs.Int64Var(&doc.QuotaMax, "quota-max", -1, "requests per quota period (-1: unlimited)")
	fs.Int64Var(&doc.QuotaRenewalRate, "quota-renewal-rate", 3600, "quota period in seconds")
	apis := listFlag{split: true}
	fs.Var(&apis, "api", "grant this API `ID` (its Default version); repeat or comma-separate for several")
	expiresIn := fs.Duration("key-expires-in", 0, "keys created with this policy expire this long after creation, e.g. 720h (0: never)")
	fs.Float64Var(&doc.ThrottleInterval, "throttle-interval", 0, "seconds between retries of a rate-limited request (0: no throttling)")
	fs.Int64Var(&doc.ThrottleRetryLimit, "throttle-retry-limit", 0, "retries of a rate-limited request (0: no throttling)")
	tags := listFlag{}
	fs.Var(&tags, "tag", "add this `TAG` to the policy; repeat for several")
	fs.Var(doc.Partitions, "partitions", "apply only these parts of the policy, a comma-separated `LIST` of "+strings.Join(partitionNames, ", ")+" (default: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Errorf("usage: tollgate %s", line)}
	}
	var body []byte
	if *file != "" {
		// The document is the file's alone: a flag beside it would be ignored,
		// which is a mistake worth a word.
		var others []string
		fs.Visit(func(f *flag.Flag) {
			if !slices.Contains([]string{"file", "dashboard", "access-key", "json"}, f.Name) {
				others = append(others, "--"+f.Name)
			}
		})
		if len(others) > 0 {
			return usageError{fmt.Errorf("--file holds the whole policy; drop %s or put it in the file", strings.Join(others, ", "))}
		}
	} else {
		if doc.Name == "" {
			return usageError{errors.New("--name is required (or give --file)")}
		}
		if *expiresIn < 0 || *expiresIn%time.Second != 0 {
			return usageError{fmt.Errorf("--key-expires-in must be 0 or a whole number of seconds, e.g. 720h, not %v", *expiresIn)}
		}
		doc.KeyExpiresIn = int64(*expiresIn / time.Second)
		doc.Tags = slices.Concat([]string{}, tags.values)
		maps.Copy(doc.AccessRights, accessRights(apis.values))
		var err error
		if body, err = json.Marshal(doc); err != nil {
			return err
		}
	}
	c, err := cf.client(env)
	if err != nil {
		return err
	}
	if *file != "" {
		if body, err = readFile(*file, env.Stdin); err != nil {
			return err
		}
	}
	// Tyk's dashboard answers with the new policy's database id as the message.
	return c.send(http.MethodPost, "/api/portal/policies", body, func(r envelope) string { return "policy created: " + r.Message })
}

func policiesGet(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	const line = "policies get [flags] ID"
	synopsis(fs, line)
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := policyPath(fs, line)
	if err != nil {
		return err
	}
	c, err := cf.client(env)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(http.MethodGet, path, nil, &raw); err != nil {
		return err
	}
	return c.printJSON(raw)
}

func policiesUpdate(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	const line = "policies update --file policy.json [flags] ID"
	synopsis(fs, line)
	file := fs.String("file", "", "the policy's new Tyk policy document (- for stdin); it replaces the whole policy (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := policyPath(fs, line)
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("--file is required: the policy document replaces the whole policy")}
	}
	c, err := cf.client(env)
	if err != nil {
		return err
	}
	body, err := readFile(*file, env.Stdin)
	if err != nil {
		return err
	}
	return c.send(http.MethodPut, path, body, func(envelope) string { return "policy updated" })
}

func policiesDelete(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error {
	const line = "policies delete [--force] [flags] ID"
	synopsis(fs, line)
	force := fs.Bool("force", false, "delete it even if keys apply it (those keys are then refused until they apply another policy)")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := policyPath(fs, line)
	if err != nil {
		return err
	}
	if *force {
		path += "?force=true"
	}
	c, err := cf.client(env)
	if err != nil {
		return err
	}
	err = c.send(http.MethodDelete, path, nil, func(envelope) string { return "policy deleted" })
	if replyStatus(err) == http.StatusConflict {
		// The dashboard's message speaks of ?force=true; say it in this door's words.
		return fmt.Errorf("%w\n(tollgate policies delete --force %s deletes it anyway)", err, fs.Arg(0))
	}
	return err
}
