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
	"net/http"
	"net/url"
	"os"
	"slices"
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

// command runs one subcommand (`keys list`, `policies get`...) on its flag set,
// which already holds the shared flags.
type command func(fs *flag.FlagSet, cf *commonFlags, args []string, env Env) error

// group is a command with subcommands: `tollgate keys`, `apis` or `policies`.
type group struct {
	name, usage string
	// order is the subcommands' names as an unknown one's error lists them.
	order    []string
	commands map[string]command
}

// run runs the subcommand args[0] names. Help on the group itself is its usage,
// on stdout with status 0, like any -h.
func (g group) run(args []string, env Env) error {
	if len(args) == 0 {
		return usageError{errors.New(strings.TrimSpace(g.usage))}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, g.usage)
		return nil
	}
	run, ok := g.commands[args[0]]
	if !ok {
		return usageError{fmt.Errorf("unknown %s command %q (%s)", g.name, args[0], strings.Join(g.order, ", "))}
	}
	fs := flag.NewFlagSet(g.name+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return run(fs, common(fs, env), args[1:], env)
}

// synopsis makes -h (and a bad flag) print the command's usage line before its
// flags.
func synopsis(fs *flag.FlagSet, line string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tollgate %s\n\nFlags:\n", line)
		fs.PrintDefaults()
	}
}

// start parses a command's flags, checks it got exactly n arguments, none empty,
// and returns the client the flags describe. line is the command's synopsis, for
// -h and for a wrong number of arguments.
func start(fs *flag.FlagSet, cf *commonFlags, args []string, env Env, line string, n int) (*client, error) {
	synopsis(fs, line)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != n || slices.Contains(fs.Args(), "") {
		return nil, usageError{fmt.Errorf("usage: tollgate %s", line)}
	}
	return cf.client(env)
}

// fetch GETs path. With --json it prints the reply and printed is true: the
// command is done. Otherwise the caller renders raw.
func (c *client) fetch(path string) (raw json.RawMessage, printed bool, err error) {
	if err := c.do(http.MethodGet, path, nil, &raw); err != nil {
		return nil, false, err
	}
	if c.json {
		return raw, true, c.printJSON(raw)
	}
	return raw, false, nil
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
