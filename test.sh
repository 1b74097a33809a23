#!/usr/bin/env bash
# Runs every test of the project: vet, the SDK's determinism checker, unit
# and workflow tests (time-skipping), activity tests over HTTP (with
# stripe-mock), and the integration tests twice: on Temporal dev servers,
# then on the real Temporal server on PostgreSQL (scripts/temporal-postgres.sh),
# each suite in a namespace of its own. Tools are built once from the Go
# module proxy into $SUBSCRIPTIONS_BIN_DIR (default: the user cache
# directory). SUBSCRIPTIONS_SKIP_POSTGRES=1 skips the second pass.
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
. deploy/temporal/versions.env
install_tool temporal "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
install_tool stripe-mock github.com/stripe/stripe-mock@v0.203.0

go vet ./...
go tool workflowcheck ./workflows/...
# The real server on PostgreSQL, up first so that its binaries are built for
# the checks of deploy/temporal (internal/compose).
postgres=""
if [ -z "${SUBSCRIPTIONS_SKIP_POSTGRES:-}" ] && [ -z "${SUBSCRIPTIONS_SKIP_INTEGRATION:-}" ]; then
  postgres="$(mktemp -d)"
  trap 'scripts/temporal-postgres.sh down "$postgres"' EXIT
  scripts/temporal-postgres.sh up "$postgres" >/dev/null
fi

go test -count=1 -race -timeout 30m ./... "$@"

if [ -n "$postgres" ]; then
  address="$(sed -n 's/^TEMPORAL_ADDRESS=//p' "$postgres/env")"
  echo "integration suites again, on the Temporal server on PostgreSQL at $address"
  SUBSCRIPTIONS_TEMPORAL_ADDRESS="$address" go test -count=1 -race -timeout 30m \
    ./integration/... ./internal/devstack ./starter "$@"
fi
