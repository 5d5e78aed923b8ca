// Command tollgate is an API gateway and management dashboard that speaks Tyk's wire
// formats. Run "tollgate serve" to start it; "tollgate help" lists the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate/tollgate/internal/app"
	"github.com/tollgate/tollgate/internal/config"
)

const usage = `Usage: tollgate <command> [flags]

Commands:
  serve     run the gateway (port 8080, control API under /tyk/) on an embedded store
  version   print the version
  help      show this help

Run "tollgate serve -h" for the flags; every flag also has a TOLLGATE_* variable.
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
		return serve(args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "tollgate %s\n", app.VersionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, rest, err := config.Load("serve", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate serve: invalid configuration:\n%v\n", err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "tollgate serve: unexpected arguments %q\n", rest)
		return 2
	}
	log := app.NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Serve(ctx, cfg, log, stdout); err != nil {
		fmt.Fprintf(stderr, "tollgate serve: %v\n", err)
		return 1
	}
	return 0
}
