#!/usr/bin/env bash
# Runs the real Temporal server on PostgreSQL, without Docker, on free
# loopback ports: what production runs, for the tests and for trying the
# worker against it.
#
#   scripts/temporal-postgres.sh up DIR    # prints the environment to use it
#   scripts/temporal-postgres.sh down DIR  # stops everything, removes DIR
#
# `up` builds the server, its SQL tool and the CLI from the Go module proxy
# once (versions in deploy/temporal/versions.env, cached in
# $SUBSCRIPTIONS_BIN_DIR like the test tools), installs Debian's postgresql
# if it is missing (as root), starts a private PostgreSQL cluster in DIR on
# 127.0.0.1 with password authentication, sets up the schemas
# (deploy/temporal/setup-schema.sh), starts the server with
# deploy/temporal/config/subscriptions.yaml and dynamicconfig.yaml, and
# registers the namespace "default" with the search attributes
# (deploy/temporal/register.sh): the same files docker-compose.yml uses. It
# writes DIR/env (TEMPORAL_ADDRESS=…; source it) and prints it. `down` stops
# the server and PostgreSQL by the PIDs recorded in DIR.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
deploy="$here/deploy/temporal"
# shellcheck source=../deploy/temporal/versions.env
. "$deploy/versions.env"

usage() { echo "usage: $0 up|down DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"
state="$2"

export HOME="${HOME:-/tmp}"
bin="${SUBSCRIPTIONS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/withings-plus-subscriptions/bin}"
server="$bin/temporal-server-$TEMPORAL_SERVER_VERSION"
sqltool="$bin/temporal-sql-tool-$TEMPORAL_SERVER_VERSION"
cli="$bin/temporal" # the CLI of test.sh, the same version

log() { echo "temporal-postgres: $*" >&2; }

# as_pg runs a PostgreSQL command: as the postgres user when run as root
# (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# build NAME MODULE: go install MODULE once into the cache as NAME.
build() {
  [ -x "$1" ] && return 0
  log "building $2 (once, a few minutes)…"
  local tmp
  tmp="$(mktemp -d)"
  GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$2"
  mkdir -p "$bin"
  mv "$tmp"/* "$1"
  rm -rf "$tmp"
}

pg_bindir() {
  local d
  if d="$(command -v initdb 2>/dev/null)"; then dirname "$(readlink -f "$d")"; return 0; fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_postgres() {
  if pg_bindir >/dev/null; then return 0; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "PostgreSQL is not installed: install Debian's postgresql package (apt-get install postgresql)"
    exit 1
  fi
  log "installing Debian's postgresql…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
  # The package starts its own cluster on 5432: this script uses a private one.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
}

# free_ports N prints N distinct free loopback ports, below 32768 (the
# server stores membership ports as a smallint).
free_ports() {
  local n="$1" got=() p
  while [ "${#got[@]}" -lt "$n" ]; do
    p=$((20000 + RANDOM % 12000))
    [[ " ${got[*]} " == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then got+=("$p"); fi
  done
  echo "${got[@]}"
}

# wait_serving waits until the server answers its health check, and stops
# waiting when it has exited.
wait_serving() {
  for _ in $(seq 60); do
    if ! kill -0 "$(cat "$state/server.pid")" 2>/dev/null; then
      log "the Temporal server exited:"
      tail -5 "$state/server.log" >&2
      return 1
    fi
    if "$cli" operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "the Temporal server does not serve within 60s:"
  tail -5 "$state/server.log" >&2
  return 1
}

up() {
  if [ -e "$state/env" ]; then log "$state is in use: run down first"; exit 1; fi
  ensure_postgres
  build "$server" "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION"
  build "$sqltool" "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
  build "$cli" "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  local schema
  schema="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/schema"
  [ -d "$schema/postgresql/v12" ] || { log "no PostgreSQL schema in $schema"; exit 1; }

  mkdir -p "$state"
  state="$(cd "$state" && pwd)"
  chmod 755 "$state"
  local pgbin password
  pgbin="$(pg_bindir)"
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  read -r pgport fe fehttp hist match wrk femem histmem matchmem wrkmem <<<"$(free_ports 10)"

  # PostgreSQL: a private cluster owned by the user it runs as.
  mkdir -p "$state/pg" "$state/pg/socket"
  printf '%s\n' "$password" >"$state/pg/pwfile"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$state/pg"
  as_pg "$pgbin/initdb" -D "$state/pg/data" -U temporal --auth=scram-sha-256 --pwfile="$state/pg/pwfile" \
    -E UTF8 --locale=C.UTF-8 >"$state/pg/initdb.log" 2>&1 ||
    { cat "$state/pg/initdb.log" >&2; exit 1; }
  rm -f "$state/pg/pwfile"
  as_pg "$pgbin/pg_ctl" -D "$state/pg/data" -l "$state/pg/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $state/pg/socket -c max_connections=200" start >/dev/null
  head -1 "$state/pg/data/postmaster.pid" >"$state/postgres.pid"

  export TEMPORAL_DB_HOST=127.0.0.1 TEMPORAL_DB_PORT="$pgport" TEMPORAL_DB_USER=temporal TEMPORAL_DB_PASSWORD="$password"
  SQL_TOOL="$sqltool" SCHEMA_DIR="$schema" "$deploy/setup-schema.sh" >"$state/schema.log" 2>&1 ||
    { cat "$state/schema.log" >&2; exit 1; }

  # The server, in its own session so that down can stop it alone.
  export TEMPORAL_BIND_IP=127.0.0.1 TEMPORAL_BROADCAST_ADDRESS=127.0.0.1
  export TEMPORAL_FRONTEND_PORT="$fe" TEMPORAL_FRONTEND_HTTP_PORT="$fehttp" TEMPORAL_HISTORY_PORT="$hist"
  export TEMPORAL_MATCHING_PORT="$match" TEMPORAL_WORKER_PORT="$wrk"
  export TEMPORAL_FRONTEND_MEMBERSHIP_PORT="$femem" TEMPORAL_HISTORY_MEMBERSHIP_PORT="$histmem"
  export TEMPORAL_MATCHING_MEMBERSHIP_PORT="$matchmem" TEMPORAL_WORKER_MEMBERSHIP_PORT="$wrkmem"
  export TEMPORAL_DYNAMIC_CONFIG="$deploy/dynamicconfig.yaml"
  setsid "$server" --root "$deploy" --config config --env subscriptions --allow-no-auth start \
    >"$state/server.log" 2>&1 </dev/null &
  echo $! >"$state/server.pid"

  export TEMPORAL_ADDRESS="127.0.0.1:$fe"
  wait_serving
  TEMPORAL_CLI="$cli" NAMESPACE=default "$deploy/register.sh" >"$state/register.log" 2>&1 ||
    { cat "$state/register.log" >&2; exit 1; }
  {
    echo "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS"
    echo "TEMPORAL_NAMESPACE=default"
    echo "TEMPORAL_POSTGRES_PORT=$pgport"
    echo "TEMPORAL_SERVER_PID=$(cat "$state/server.pid")"
    echo "TEMPORAL_POSTGRES_PID=$(cat "$state/postgres.pid")"
  } >"$state/env"
  cat "$state/env"
  log "Temporal $TEMPORAL_SERVER_VERSION on PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') at $TEMPORAL_ADDRESS (logs in $state)"
}

# stop_pid PID: TERM, then KILL after 10 s.
stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [ -d "$state" ] || return 0
  if [ -f "$state/server.pid" ]; then stop_pid "$(cat "$state/server.pid")"; fi
  if [ -f "$state/postgres.pid" ]; then
    local pgbin
    if pgbin="$(pg_bindir)" && [ -d "$state/pg/data" ]; then
      as_pg "$pgbin/pg_ctl" -D "$state/pg/data" -m fast -w stop >/dev/null 2>&1 || stop_pid "$(cat "$state/postgres.pid")"
    else
      stop_pid "$(cat "$state/postgres.pid")"
    fi
  fi
  rm -rf "$state"
}

case "$cmd" in
up) up ;;
down) down ;;
*) usage ;;
esac
