package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/internal/apptest"
)

// secret stands for a user's access key in the environment.
const secret = "0123456789abcdef0123456789abcdef"

// run runs a command as the tollgate binary does (Report prints its error) and
// returns stdout, stderr and the exit status.
func run(t *testing.T, cmd func([]string, Env) error, vars map[string]string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	env := Env{Getenv: func(k string) string { return vars[k] }, Stdin: stdin, Stdout: &out, Stderr: &errOut}
	code := Report(cmd(args, env), &errOut)
	return out.String(), errOut.String(), code
}

// offline is an environment with an access key and a dashboard nothing listens
// on: a command that reaches the network fails with 1, not a usage error's 2.
var offline = map[string]string{"TOLLGATE_ACCESS_KEY": secret, "TOLLGATE_DASHBOARD_URL": "http://127.0.0.1:1"}

func TestHelpShowsNoSecret(t *testing.T) {
	t.Parallel()
	type command = func([]string, Env) error
	var rows []struct {
		name string
		cmd  command
		args []string
	}
	add := func(group string, cmd command, subs ...string) {
		for _, sub := range subs {
			for _, h := range []string{"-h", "--help"} {
				rows = append(rows, struct {
					name string
					cmd  command
					args []string
				}{group + " " + sub + " " + h, cmd, []string{sub, h}})
			}
		}
	}
	add("keys", Keys, "create", "list", "get", "delete")
	add("apis", APIs, "list", "create")
	add("policies", Policies, "list", "create", "get", "update", "delete")
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := run(t, r.cmd, offline, nil, r.args...)
			if code != 0 {
				t.Errorf("exit %d, want 0\n%s", code, errOut)
			}
			if !strings.Contains(out+errOut, "-access-key") {
				t.Errorf("no flags listed:\n%s%s", out, errOut)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("help shows the access key:\n%s%s", out, errOut)
			}
		})
	}
	groups := []struct {
		name string
		cmd  command
		// want is a line of the group's usage.
		want string
	}{
		{"policies", Policies, "update ID --file F"},
		{"keys", Keys, "get KEY"},
		{"apis", APIs, "create"},
	}
	for _, g := range groups {
		for _, h := range []string{"help", "-h", "-help", "--help"} {
			t.Run(g.name+" "+h, func(t *testing.T) {
				t.Parallel()
				out, errOut, code := run(t, g.cmd, offline, nil, h)
				if code != 0 || !strings.Contains(out, g.want) || errOut != "" {
					t.Errorf("exit %d:\n%s%s", code, out, errOut)
				}
			})
		}
	}
}

func TestUsageErrorsPrintedOnce(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name string
		cmd  func([]string, Env) error
		args []string
		// want appears exactly once in stderr.
		want string
	}{
		{"unknown flag on policies list", Policies, []string{"list", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown flag on keys list", Keys, []string{"list", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown flag after the id", Policies, []string{"delete", "abc", "--frce"}, "flag provided but not defined: -frce"},
		{"flag value of the wrong type", Policies, []string{"create", "--name", "n", "--rate", "fast"}, `invalid value "fast" for flag -rate`},
		{"unknown partition", Policies, []string{"create", "--name", "n", "--partitions", "quota,speed"}, `"speed" is not a partition`},
		{"empty --api", Policies, []string{"create", "--name", "n", "--api", "a,,b"}, "must not be empty"},
		{"empty --policy", Keys, []string{"create", "--policy", ""}, "must not be empty"},
		{"sub-second key expiry", Policies, []string{"create", "--name", "n", "--key-expires-in", "1500ms"}, "--key-expires-in must be 0 or a whole number of seconds"},
		{"negative key expiry", Policies, []string{"create", "--name", "n", "--key-expires-in", "-1h"}, "--key-expires-in must be 0 or a whole number of seconds"},
		{"no name", Policies, []string{"create", "--rate", "1", "--per", "1"}, "--name is required"},
		{"file and flags", Policies, []string{"create", "--file", "p.json", "--rate", "1", "--tag", "x"}, "drop --rate, --tag"},
		{"create takes no arguments", Policies, []string{"create", "--name", "n", "extra"}, "usage: tollgate policies create"},
		{"get without id", Policies, []string{"get"}, "usage: tollgate policies get"},
		{"get with an empty id", Policies, []string{"get", ""}, "usage: tollgate policies get"},
		{"get with two ids", Policies, []string{"get", "a", "b"}, "usage: tollgate policies get"},
		{"update without --file", Policies, []string{"update", "abc"}, "--file is required"},
		{"delete without id", Policies, []string{"delete", "--force"}, "usage: tollgate policies delete"},
		{"unknown command", Policies, []string{"frobnicate"}, `unknown policies command "frobnicate"`},
		{"no command", Policies, nil, "usage: tollgate policies <command>"},
		{"key with neither --api nor --policy", Keys, []string{"create", "--rate", "1", "--per", "1"}, "--api or --policy is required"},
		{"no access key", Policies, []string{"list"}, "no access key"},
		{"keys get without a key", Keys, []string{"get", "--hashed"}, "usage: tollgate keys get"},
		{"keys delete with an empty key", Keys, []string{"delete", ""}, "usage: tollgate keys delete"},
		{"keys list takes no arguments", Keys, []string{"list", "extra"}, "usage: tollgate keys list"},
		{"apis create takes no arguments", APIs, []string{"create", "--name", "n", "extra"}, "usage: tollgate apis create"},
		{"unknown keys command", Keys, []string{"frobnicate"}, `unknown keys command "frobnicate" (create, list, get, delete)`},
		{"no keys command", Keys, nil, "usage: tollgate keys <command>"},
		{"no apis command", APIs, nil, "usage: tollgate apis <command>"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			vars := offline
			if r.want == "no access key" {
				vars = map[string]string{}
			}
			_, errOut, code := run(t, r.cmd, vars, nil, r.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, errOut)
			}
			if n := strings.Count(errOut, r.want); n != 1 {
				t.Errorf("%q appears %d times in stderr, want once:\n%s", r.want, n, errOut)
			}
		})
	}
}

// storedPolicy is what TestPolicyCreate reads back of a policy.
type storedPolicy struct {
	ID                 string           `json:"id"`
	Name               string           `json:"name"`
	State              string           `json:"state"`
	Rate               float64          `json:"rate"`
	Per                float64          `json:"per"`
	QuotaMax           int64            `json:"quota_max"`
	QuotaRenewalRate   int64            `json:"quota_renewal_rate"`
	ThrottleInterval   float64          `json:"throttle_interval"`
	ThrottleRetryLimit int64            `json:"throttle_retry_limit"`
	KeyExpiresIn       int64            `json:"key_expires_in"`
	Tags               []string         `json:"tags"`
	Partitions         map[string]bool  `json:"partitions"`
	AccessRights       map[string]grant `json:"access_rights"`
}

type grant struct {
	Versions []string `json:"versions"`
}

// grants is the access rights the --api flag gives: each API's Default version.
func grants(apis ...string) map[string]grant {
	m := map[string]grant{}
	for _, a := range apis {
		m[a] = grant{Versions: []string{"Default"}}
	}
	return m
}

// parts is a stored policy's partitions with the named ones on.
func parts(on ...string) map[string]bool {
	m := map[string]bool{}
	for _, name := range partitionNames {
		m[name] = false
	}
	for _, name := range on {
		m[name] = true
	}
	return m
}

func TestPolicyCreate(t *testing.T) {
	e := apptest.New(t, apptest.Options{FirstRun: true})
	vars := map[string]string{"TOLLGATE_ACCESS_KEY": e.Node.FirstRun.AccessKey, "TOLLGATE_DASHBOARD_URL": e.Dashboard.URL}
	for _, name := range []string{"one", "two"} {
		if _, errOut, code := run(t, APIs, vars, nil, "create", "--name", name, "--listen-path", "/"+name+"/", "--target", "http://127.0.0.1:1"); code != 0 {
			t.Fatalf("apis create %s: %d %s", name, code, errOut)
		}
	}
	out, _, _ := run(t, APIs, vars, nil, "list", "--json")
	var apis struct {
		APIs []struct {
			Def struct {
				APIID string `json:"api_id"`
				Name  string `json:"name"`
			} `json:"api_definition"`
		} `json:"apis"`
	}
	if err := json.Unmarshal([]byte(out), &apis); err != nil || len(apis.APIs) != 2 {
		t.Fatalf("apis list: %v\n%s", err, out)
	}
	ids := map[string]string{}
	for _, a := range apis.APIs {
		ids[a.Def.Name] = a.Def.APIID
	}
	one, two := ids["one"], ids["two"]
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(file, []byte(`{"id":"gold-plan","name":"from a file","rate":3,"per":1,"access_rights":{"`+one+`":{"api_id":"`+one+`","versions":["Default"]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		name  string
		args  []string
		stdin string
		want  storedPolicy
	}{
		{name: "defaults", args: []string{"--name", "plain"},
			want: storedPolicy{Name: "plain", State: "active", QuotaMax: -1, QuotaRenewalRate: 3600, Tags: []string{}, Partitions: parts(), AccessRights: grants()}},
		{name: "every flag", args: []string{"--name", "full", "--rate", "2", "--per", "60", "--quota-max", "100", "--quota-renewal-rate", "60",
			"--api", one, "--key-expires-in", "24h", "--state", "draft", "--throttle-interval", "1.5", "--throttle-retry-limit", "3",
			"--tag", "a", "--tag", "b,c", "--partitions", "quota,acl"},
			want: storedPolicy{Name: "full", State: "draft", Rate: 2, Per: 60, QuotaMax: 100, QuotaRenewalRate: 60, ThrottleInterval: 1.5,
				ThrottleRetryLimit: 3, KeyExpiresIn: 86400, Tags: []string{"a", "b,c"}, AccessRights: grants(one),
				Partitions: parts("quota", "acl")}},
		{name: "--api repeated and comma-separated", args: []string{"--name", "both", "--api", one + "," + two, "--partitions", "per_api"},
			want: storedPolicy{Name: "both", State: "active", QuotaMax: -1, QuotaRenewalRate: 3600, Tags: []string{}, AccessRights: grants(one, two),
				Partitions: parts("per_api")}},
		{name: "--file", args: []string{"--file", file},
			want: storedPolicy{ID: "gold-plan", Name: "from a file", State: "active", Rate: 3, Per: 1, Tags: []string{}, AccessRights: grants(one),
				Partitions: parts()}},
		{name: "--file from stdin", args: []string{"--file", "-"}, stdin: `{"name":"from stdin","state":"deny"}`,
			want: storedPolicy{Name: "from stdin", State: "deny", Tags: []string{}, AccessRights: grants(),
				Partitions: parts()}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			out, errOut, code := run(t, Policies, vars, strings.NewReader(r.stdin), append([]string{"create"}, r.args...)...)
			id, ok := strings.CutPrefix(strings.TrimSpace(out), "policy created: ")
			if code != 0 || !ok || len(id) != 24 {
				t.Fatalf("create: %d %q %s", code, out, errOut)
			}
			out, errOut, code = run(t, Policies, vars, nil, "get", id)
			var got storedPolicy
			if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
				t.Fatalf("get: %d %v %s", code, err, errOut)
			}
			if r.want.ID == "" {
				r.want.ID = id // the database id, as Tyk's dashboard gives one
			}
			if d := cmp.Diff(r.want, got); d != "" {
				t.Errorf("stored policy (-want +got):\n%s", d)
			}
		})
	}
}
