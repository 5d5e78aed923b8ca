#!/bin/sh
# Installs what `make test` needs on a fresh Debian machine, only when it is missing.
# Tests start and stop their own servers; this script only makes the programs available.
set -eu

need=""
command -v gcc >/dev/null 2>&1 || need="$need gcc"           # go test -race needs cgo
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
# The Redis Cluster tests create their cluster with redis-cli (Debian: redis-tools).
command -v redis-cli >/dev/null 2>&1 || need="$need redis-tools"
# Store tests start their own PostgreSQL (internal/pgtest). Debian's package puts the
# server in /usr/lib/postgresql/<version>/bin, off PATH; pgtest looks there too.
if ! command -v postgres >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	need="$need postgresql"
fi
command -v wrk >/dev/null 2>&1 || need="$need wrk"
# Browser tests drive Debian's Chromium (chromedp cannot download a browser here).
command -v chromium >/dev/null 2>&1 || need="$need chromium"

if [ -n "$need" ]; then
	echo "installing:$need"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq $need >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "Go is required (https://go.dev/dl/)" >&2; exit 1; }
echo "deps ok: $(go version)"
