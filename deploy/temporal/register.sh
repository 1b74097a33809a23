#!/bin/sh
# Registers a namespace and the search attributes the subscription workflow
# keeps current (api.SearchAttributeTypes; internal/compose checks that they
# agree). Idempotent. The same steps for scripts/temporal-postgres.sh and
# docker-compose.yml.
#
# Environment: TEMPORAL_CLI (temporal), TEMPORAL_ADDRESS, NAMESPACE [default],
# RETENTION [1080h: 45 days of closed runs, more than the month trial
# eligibility looks back on].
set -eu
cli="${TEMPORAL_CLI:-temporal}"
ns="${NAMESPACE:-default}"
: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}"

tries=0
until "$cli" operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then echo "register: the server at $TEMPORAL_ADDRESS is not serving" >&2; exit 1; fi
  sleep 1
done
if ! "$cli" operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  "$cli" operator namespace create --namespace "$ns" --retention "${RETENTION:-1080h}"
fi
tries=0
until "$cli" operator namespace describe --namespace "$ns" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then echo "register: namespace $ns not served" >&2; exit 1; fi
  sleep 1
done

create() { # name type
  attempt=0
  while :; do
    if out=$("$cli" operator search-attribute create --namespace "$ns" --name "$1" --type "$2" 2>&1); then return 0; fi
    case "$out" in
      *"already exist"*) return 0 ;;
      *"different type"*) echo "$out" >&2; return 1 ;;
    esac
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 10 ]; then echo "$out" >&2; return 1; fi
    sleep 2
  done
}
create SubscriptionStatus Keyword
create AccountId Keyword
create Plan Keyword
create AccessActive Bool
create NextChargeAt Datetime
create OutstandingMinor Int
create SettlementStatus Keyword
create ChargeIssue Keyword
echo "namespace $ns ready with the subscription search attributes"
