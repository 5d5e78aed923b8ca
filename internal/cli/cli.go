// Package cli is the command-line door onto the dashboard API: `tollgate keys ...`,
// `tollgate apis ...` and `tollgate policies ...` send the same requests a script
// would, with a user's access key, and print JSON (--json) or a readable table.
package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Env is what a command needs from the process.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// HTTP is the client; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

// client talks to the dashboard API.
type client struct {
	base, key string
	json      bool
	http      *http.Client
	env       Env
}

// commonFlags are the flags every command shares.
type commonFlags struct {
	base, key string
	json      bool
}

// common registers the flags every command shares.
func common(fs *flag.FlagSet, env Env) *commonFlags {
	f := &commonFlags{}
	fs.StringVar(&f.base, "dashboard", cmp.Or(env.Getenv("TOLLGATE_DASHBOARD_URL"), "http://127.0.0.1:3000"), "dashboard URL (env TOLLGATE_DASHBOARD_URL)")
	// The environment's access key is read after parsing, never made the flag's
	// default: -h prints every default, and the access key is a secret.
	fs.StringVar(&f.key, "access-key", "", "your Dashboard API access credentials (default: env TOLLGATE_ACCESS_KEY)")
	fs.BoolVar(&f.json, "json", false, "print JSON")
	return f
}

// client returns a client for the parsed flags; a missing access key or a bad
// URL is a usage error.
func (f *commonFlags) client(env Env) (*client, error) {
	c, err := newClient(f.base, cmp.Or(f.key, env.Getenv("TOLLGATE_ACCESS_KEY")), f.json, env)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

func newClient(base, key string, asJSON bool, env Env) (*client, error) {
	if key == "" {
		return nil, errors.New("no access key: pass --access-key or set TOLLGATE_ACCESS_KEY (shown on your user page and at first start)")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--dashboard %q is not an http(s) URL", base)
	}
	hc := env.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &client{base: strings.TrimSuffix(base, "/"), key: key, json: asJSON, http: hc, env: env}, nil
}

// do sends a request and decodes a JSON reply into out; a Tyk error envelope becomes
// an error carrying its message.
func (c *client) do(method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("dashboard unreachable: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &replyError{status: resp.StatusCode, body: string(bytes.TrimSpace(data))}
		var env struct{ Message string }
		if json.Unmarshal(data, &env) == nil && env.Message != "" {
			e.message = env.Message
		}
		return e
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// replyError is a dashboard reply with a status of 300 or more: the message of
// Tyk's error envelope when there is one, else the body.
type replyError struct {
	status        int
	message, body string
}

func (e *replyError) Error() string {
	if e.message != "" {
		return fmt.Sprintf("%s (HTTP %d)", e.message, e.status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

// replyStatus is the HTTP status of a dashboard reply err carries, or 0.
func replyStatus(err error) int {
	var e *replyError
	if errors.As(err, &e) {
		return e.status
	}
	return 0
}

// envelope is Tyk's dashboard reply to a change: {"Status","Message","Meta"},
// and the "ID" some replies add.
type envelope struct{ Message, Meta, ID string }

// send sends a change and prints the reply: JSON with --json, else the line done
// makes of it.
func (c *client) send(method, path string, body []byte, done func(envelope) string) error {
	var raw json.RawMessage
	if err := c.do(method, path, body, &raw); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(raw)
	}
	// A Meta that is not a string (an object, null) is left empty.
	var r envelope
	_ = json.Unmarshal(raw, &r)
	_, err := fmt.Fprintln(c.env.Stdout, done(r))
	return err
}

func (c *client) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := c.env.Stdout.Write(buf.Bytes())
	return err
}

func (c *client) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ error }

// shown marks an error the flag package has already printed, with the usage, so
// that Report does not print it a second time.
type shown struct{ error }

func (s shown) Unwrap() error { return s.error }

// Report prints an error from a command (unless it is a request for help, or was
// printed already) and returns the process exit status for it.
func Report(err error, stderr io.Writer) int {
	var s shown
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &s) {
		fmt.Fprintf(stderr, "tollgate: %v\n", err)
	}
	return ExitCode(err)
}

// ExitCode maps an error from a command to a process exit status.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// parse parses flags that may come before or after positional arguments
// ("keys get KEY --hashed" as well as "keys get --hashed KEY"); the positional
// arguments are then in fs.Args().
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			// The flag package has printed the error and the usage.
			return shown{usageError{err}}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parse the collected positionals alone so fs.Args() returns them.
	return fs.Parse(append([]string{"--"}, positional...))
}

// Keys runs `tollgate keys <create|list|get|delete>`.
func Keys(args []string, env Env) error {
	if len(args) == 0 {
		return usageError{errors.New("usage: tollgate keys create|list|get|delete [flags]")}
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := common(fs, env)
	switch args[0] {
	case "create":
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
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client(env)
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
	case "list":
		api := fs.String("api", "", "only keys that may call this API")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := c.do("GET", "/api/keys/detailed?p=-1", nil, &raw); err != nil {
			return err
		}
		var list struct {
			Keys []struct {
				Hash string `json:"key_hash"`
				Data struct {
					Alias        string                     `json:"alias"`
					Rate         float64                    `json:"rate"`
					Per          float64                    `json:"per"`
					QuotaMax     int64                      `json:"quota_max"`
					Expires      int64                      `json:"expires"`
					IsInactive   bool                       `json:"is_inactive"`
					AccessRights map[string]json.RawMessage `json:"access_rights"`
					Policies     []string                   `json:"apply_policies"`
				} `json:"data"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(raw)
		}
		var rows [][]string
		for _, k := range list.Keys {
			ids := slices.Sorted(maps.Keys(k.Data.AccessRights))
			if *api != "" && !slices.Contains(ids, *api) {
				continue
			}
			quota := "unlimited"
			if k.Data.QuotaMax > 0 {
				quota = strconv.FormatInt(k.Data.QuotaMax, 10)
			}
			exp := "never"
			if k.Data.Expires >= 1 {
				exp = time.Unix(k.Data.Expires, 0).UTC().Format(time.RFC3339)
			}
			status := "active"
			if k.Data.IsInactive {
				status = "inactive"
			}
			rows = append(rows, []string{k.Hash[:12], cmp.Or(k.Data.Alias, "-"), orDash(ids), orDash(k.Data.Policies),
				rateText(k.Data.Rate, k.Data.Per), quota, exp, status})
		}
		c.table("HASH\tALIAS\tAPIS\tPOLICIES\tRATE\tQUOTA\tEXPIRES\tSTATUS", rows)
		return nil
	case "get", "delete":
		hashed := fs.Bool("hashed", false, "the argument is the key's hash, not the key")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{fmt.Errorf("usage: tollgate keys %s [flags] KEY", args[0])}
		}
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		path := "/api/keys/" + url.PathEscape(fs.Arg(0))
		if *hashed {
			path += "?hashed=true"
		}
		if args[0] == "delete" {
			return c.send(http.MethodDelete, path, nil, func(envelope) string { return "key deleted" })
		}
		var raw json.RawMessage
		if err := c.do("GET", path, nil, &raw); err != nil {
			return err
		}
		return c.printJSON(raw)
	}
	return usageError{fmt.Errorf("unknown keys command %q (create, list, get, delete)", args[0])}
}

// APIs runs `tollgate apis <list|create>`.
func APIs(args []string, env Env) error {
	if len(args) == 0 {
		return usageError{errors.New("usage: tollgate apis list|create [flags]")}
	}
	fs := flag.NewFlagSet("apis "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := common(fs, env)
	switch args[0] {
	case "list":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := c.do("GET", "/api/apis?p=-1", nil, &raw); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(raw)
		}
		var list struct {
			APIs []struct {
				Def struct {
					APIID      string `json:"api_id"`
					Name       string `json:"name"`
					UseKeyless bool   `json:"use_keyless"`
					Proxy      struct {
						ListenPath string `json:"listen_path"`
						TargetURL  string `json:"target_url"`
					} `json:"proxy"`
				} `json:"api_definition"`
			} `json:"apis"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		var rows [][]string
		for _, a := range list.APIs {
			auth := "key"
			if a.Def.UseKeyless {
				auth = "keyless"
			}
			rows = append(rows, []string{a.Def.APIID, a.Def.Name, a.Def.Proxy.ListenPath, a.Def.Proxy.TargetURL, auth})
		}
		c.table("API ID\tNAME\tLISTEN PATH\tTARGET\tAUTH", rows)
		return nil
	case "create":
		file := fs.String("file", "", "Tyk classic API definition file (- for stdin); or use the flags below")
		name := fs.String("name", "", "API name")
		listen := fs.String("listen-path", "", "listen path, e.g. /orders/")
		target := fs.String("target", "", "upstream URL")
		keyless := fs.Bool("keyless", false, "no key needed")
		strip := fs.Bool("strip", true, "strip the listen path before proxying")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		var body []byte
		if *file != "" {
			if body, err = readFile(*file, env.Stdin); err != nil {
				return err
			}
		} else {
			if *name == "" || *listen == "" || *target == "" {
				return usageError{errors.New("give --file, or --name, --listen-path and --target")}
			}
			body, _ = json.Marshal(map[string]any{"api_definition": map[string]any{
				"name": *name, "use_keyless": *keyless, "active": true,
				"auth":         map[string]any{"auth_header_name": "Authorization"},
				"version_data": map[string]any{"not_versioned": true, "versions": map[string]any{"Default": map[string]any{"name": "Default"}}},
				"proxy":        map[string]any{"listen_path": *listen, "target_url": *target, "strip_listen_path": *strip},
			}})
		}
		// ID is the api_id keys name; Meta the database id Tyk's tools index by.
		return c.send(http.MethodPost, "/api/apis", body, func(r envelope) string { return "API created: " + r.ID + " (id " + r.Meta + ")" })
	}
	return usageError{fmt.Errorf("unknown apis command %q (list, create)", args[0])}
}

// accessRights grants the Default version of each API id.
func accessRights(ids []string) map[string]any {
	rights := map[string]any{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		rights[id] = map[string]any{"api_id": id, "versions": []string{"Default"}}
	}
	return rights
}

// rateText shows a rate limit as "rate/pers", or "-" for none.
func rateText(rate, per float64) string {
	if rate <= 0 {
		return "-"
	}
	return fmt.Sprintf("%g/%gs", rate, per)
}

// orDash joins a list of ids for a table cell, "-" when there are none.
func orDash(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	return strings.Join(ids, ",")
}

// listFlag is a flag that may be repeated; with split, one use may also hold a
// comma-separated list (ids never contain commas; tags may).
type listFlag struct {
	values []string
	split  bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

// Set implements flag.Value.
func (l *listFlag) Set(v string) error {
	parts := []string{v}
	if l.split {
		parts = strings.Split(v, ",")
	}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p == "" {
			return errors.New("must not be empty")
		}
		l.values = append(l.values, p)
	}
	return nil
}

func readFile(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(stdin, 4<<20))
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return b, nil
}
