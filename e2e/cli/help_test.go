package cli

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secrets are credentials in the environment: no help text or flag error may
// show them (flag defaults taken from the environment would).
var secrets = map[string]string{
	"TOLLGATE_ACCESS_KEY":     "access0key0from0the0environment",
	"TOLLGATE_SECRET":         "admin0secret0from0the0environment",
	"TOLLGATE_ENCRYPTION_KEY": strings.Repeat("e7", 32),
	"TOLLGATE_POSTGRES":       "postgres://tollgate:pg0password0in0env@127.0.0.1:1/tollgate",
	"TOLLGATE_REDIS":          "redis://:redis0password0in0env@127.0.0.1:1",
}

// commandLine is one line of a "Commands:" block: two spaces, then the name.
var commandLine = regexp.MustCompile(`^  ([a-z][a-z-]*)\b`)

// commandsIn lists the commands a usage text's "Commands:" block names.
func commandsIn(usage string) []string {
	_, block, ok := strings.Cut(usage, "Commands:\n")
	if !ok {
		return nil
	}
	var names []string
	for line := range strings.SplitSeq(block, "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		if m := commandLine.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

// TestEveryCommandsHelp walks every command and subcommand the binary's own
// usage texts name (so a command added later is covered without a new row):
// -h and --help exit 0 and show no secret from the environment; an unknown flag
// exits 2 and is reported once, also without a secret.
func TestEveryCommandsHelp(t *testing.T) {
	var env []string
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	// A dashboard nothing listens on: a command that ignored -h and went on to
	// call it would fail rather than pass unnoticed.
	env = append(env, "TOLLGATE_DASHBOARD_URL=http://127.0.0.1:1")

	top, errOut, code := run(t, env, "help")
	if code != 0 {
		t.Fatalf("tollgate help: exit %d\n%s", code, errOut)
	}
	commands := commandsIn(top)
	// The ones every release has; the list itself comes from the binary.
	for _, want := range []string{"serve", "gateway", "dashboard", "bootstrap", "users", "keys", "apis", "policies", "version", "help"} {
		if !slices.Contains(commands, want) {
			t.Fatalf("tollgate help does not list %q:\n%s", want, top)
		}
	}
	var paths [][]string
	for _, c := range commands {
		paths = append(paths, []string{c})
		out, _, _ := run(t, env, c, "-h")
		for _, sub := range commandsIn(out) {
			paths = append(paths, []string{c, sub})
		}
	}
	for _, group := range []string{"keys", "apis", "policies", "users"} {
		if !slices.ContainsFunc(paths, func(p []string) bool { return len(p) == 2 && p[0] == group }) {
			t.Fatalf("tollgate %s -h lists no subcommands", group)
		}
	}

	leaks := func(t *testing.T, text string) {
		t.Helper()
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("the value of %s is shown:\n%s", name, text)
			}
		}
	}
	for _, path := range paths {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, h := range []string{"-h", "--help"} {
				out, errOut, code := run(t, env, append(slices.Clone(path), h)...)
				if code != 0 {
					t.Errorf("tollgate %s %s: exit %d, want 0\n%s%s", name, h, code, out, errOut)
				}
				if strings.TrimSpace(out+errOut) == "" {
					t.Errorf("tollgate %s %s printed nothing", name, h)
				}
				if strings.Contains(out+errOut, "unknown") {
					t.Errorf("tollgate %s %s did not take %s for help:\n%s%s", name, h, h, out, errOut)
				}
				leaks(t, out+errOut)
			}
			out, errOut, code := run(t, env, append(slices.Clone(path), "--bogus-flag")...)
			if code != 2 {
				t.Errorf("tollgate %s --bogus-flag: exit %d, want 2\n%s%s", name, code, out, errOut)
			}
			if n := strings.Count(errOut, "bogus-flag"); n != 1 {
				t.Errorf("tollgate %s --bogus-flag: the flag is named %d times in stderr, want once:\n%s", name, n, errOut)
			}
			if out != "" {
				t.Errorf("tollgate %s --bogus-flag wrote to stdout:\n%s", name, out)
			}
			leaks(t, out+errOut)
		})
	}
}
