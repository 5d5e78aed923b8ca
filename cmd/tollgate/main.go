// Command tollgate is an API gateway and management dashboard that speaks Tyk's wire
// formats. Run "tollgate serve" to start it; "tollgate help" lists the commands.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate/tollgate/internal/app"
	"github.com/tollgate/tollgate/internal/cli"
	"github.com/tollgate/tollgate/internal/config"
)

const usage = `Usage: tollgate <command> [flags]

Commands:
  serve       run the gateway (:8080, control API under /tyk/) and the dashboard (:3000)
  gateway     run the gateway alone (a cluster member: --postgres, --redis)
  dashboard   run the dashboard alone (a cluster member: --postgres, --redis)
  bootstrap   create an organisation and an administrator (for scripts)
  users       reset-password: give a dashboard user a new password (lost credentials)
  keys        create, list, get or delete keys through the dashboard API
  apis        list or create APIs through the dashboard API
  policies    list, create, get, update or delete security policies through the dashboard API
  version     print the version
  help        show this help

Run "tollgate <command> -h" (or "tollgate help <command>") for its flags; serve's flags
also have TOLLGATE_* variables.
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve("serve", app.RoleAll, args[1:], getenv, stdout, stderr)
	case "gateway":
		return serve("gateway", app.RoleGateway, args[1:], getenv, stdout, stderr)
	case "dashboard":
		return serve("dashboard", app.RoleDashboard, args[1:], getenv, stdout, stderr)
	case "bootstrap":
		return bootstrap(args[1:], getenv, stdout, stderr)
	case "users":
		return users(args[1:], getenv, stdout, stderr)
	case "keys":
		return runCLI(cli.Keys, args[1:], getenv, stdout, stderr)
	case "apis":
		return runCLI(cli.APIs, args[1:], getenv, stdout, stderr)
	case "policies":
		return runCLI(cli.Policies, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		return version(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) == 3 && (args[2] == "-h" || args[2] == "--help") {
			args = args[:2] // "tollgate help keys -h" is help all the same
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "tollgate help: unexpected arguments %q (usage: tollgate help [command])\n", args[2:])
			return 2
		}
		if len(args) == 2 && args[0] == "help" {
			// "tollgate help keys" is "tollgate keys -h".
			return run([]string{args[1], "-h"}, getenv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// version prints the version; it takes no flags but -h, so that a mistyped one is
// an error rather than silently ignored.
func version(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), "usage: tollgate version") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tollgate version: unexpected arguments %q\n", fs.Args())
		return 2
	}
	fmt.Fprintf(stdout, "tollgate %s\n", app.VersionString())
	return 0
}

func serve(name string, role app.Role, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, rest, err := config.Load(name, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, config.ErrFlags) {
		return 2 // the flag package has printed it, with the flags
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate %s: invalid configuration:\n%v\n", name, err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "tollgate %s: unexpected arguments %q\n", name, rest)
		return 2
	}
	log := app.NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Serve(ctx, cfg, role, log, stdout); err != nil {
		fmt.Fprintf(stderr, "tollgate %s: %v\n", name, err)
		return 1
	}
	return 0
}

func runCLI(cmd func([]string, cli.Env) error, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return cli.Report(cmd(args, cli.Env{Getenv: getenv, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}), stderr)
}

func bootstrap(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", cmp.Or(getenv("TOLLGATE_DATA_DIR"), "./tollgate-data"), "data directory (env TOLLGATE_DATA_DIR)")
	email := fs.String("email", "", "administrator e-mail (required)")
	password := fs.String("password", "", "administrator password (generated when empty)")
	org := fs.String("org", "Default Organisation", "organisation name")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *email == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: tollgate bootstrap --email E [--password P] [--org NAME] [--data-dir D] [--json]")
		return 2
	}
	b, err := app.Bootstrap(context.Background(), *dataDir, *org, *email, *password)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate bootstrap: %v\n", err)
		return 1
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(b)
		return 0
	}
	fmt.Fprintf(stdout, "organisation: %s\nuser:         %s (%s)\naccess key:   %s\n", b.OrgID, b.Email, b.UserID, b.AccessKey)
	if b.Password != "" {
		fmt.Fprintf(stdout, "password:     %s\n", b.Password)
	}
	return 0
}

const usersUsage = `usage: tollgate users <command> [flags]

Commands:
  reset-password --email E [--data-dir D] [--json]
                        give a dashboard user a new password (works on the data directory,
                        no running dashboard needed)

Run "tollgate users reset-password -h" for its flags.`

// users holds the operator's account commands, which work on the data directory
// directly (no running dashboard or access key needed): the way back in when the
// only administrator's password is lost.
func users(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "reset-password" {
		switch {
		case len(args) == 0:
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
			fmt.Fprintln(stdout, usersUsage)
			return 0
		default:
			fmt.Fprintf(stderr, "tollgate users: unknown command %q\n", args[0])
		}
		fmt.Fprintln(stderr, usersUsage)
		return 2
	}
	fs := flag.NewFlagSet("users reset-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", cmp.Or(getenv("TOLLGATE_DATA_DIR"), "./tollgate-data"), "data directory (env TOLLGATE_DATA_DIR)")
	email := fs.String("email", "", "the user's e-mail address (required)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *email == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: tollgate users reset-password --email E [--data-dir D] [--json]")
		return 2
	}
	pw, err := app.ResetPassword(context.Background(), *dataDir, *email)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate users reset-password: %v\n", err)
		return 1
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"email": *email, "password": pw})
		return 0
	}
	fmt.Fprintf(stdout, "New password for %s (shown only this once; their web sessions have ended):\n\n    password: %s\n\n", *email, pw)
	return 0
}
