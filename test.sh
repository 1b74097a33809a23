#!/usr/bin/env bash
# Runs every test of the project: vet, unit and workflow tests (time-skipping),
# activity tests over HTTP (with stripe-mock), and the integration tests on a
# real Temporal dev server. Tools are built once from the Go module proxy into
# $SUBSCRIPTIONS_BIN_DIR (default: the user cache directory).
set -euo pipefail
cd "$(dirname "$0")"

export HOME="${HOME:-/tmp}" # go and the tool cache need one
export SUBSCRIPTIONS_BIN_DIR="${SUBSCRIPTIONS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/withings-plus-subscriptions/bin}"
export PATH="$SUBSCRIPTIONS_BIN_DIR:$PATH"
mkdir -p "$SUBSCRIPTIONS_BIN_DIR"

install_tool() { # name module
  if [ ! -x "$SUBSCRIPTIONS_BIN_DIR/$1" ]; then
    echo "building $2 (once)…"
    GOBIN="$SUBSCRIPTIONS_BIN_DIR" GOFLAGS=-buildvcs=false go install "$2"
  fi
}
install_tool temporal github.com/temporalio/cli/cmd/temporal@v1.5.1
install_tool stripe-mock github.com/stripe/stripe-mock@v0.203.0

go vet ./...
go tool workflowcheck ./workflows/...
go test -count=1 -race -timeout 30m ./... "$@"
