#!/bin/sh
# Creates the Temporal server's databases on PostgreSQL and brings their
# schemas to the version of the server (idempotent: an existing database is
# kept and only updated). The same steps for scripts/temporal-postgres.sh and
# docker-compose.yml.
#
# Environment: SQL_TOOL (temporal-sql-tool), SCHEMA_DIR (the server module's
# schema directory, holding postgresql/v12/temporal and .../visibility),
# TEMPORAL_DB_HOST, TEMPORAL_DB_PORT, TEMPORAL_DB_USER, TEMPORAL_DB_PASSWORD.
set -eu
: "${SQL_TOOL:?set SQL_TOOL}" "${SCHEMA_DIR:?set SCHEMA_DIR}" "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"
export SQL_PLUGIN=postgres12
export SQL_HOST="${TEMPORAL_DB_HOST:-127.0.0.1}"
export SQL_PORT="${TEMPORAL_DB_PORT:-5432}"
export SQL_USER="${TEMPORAL_DB_USER:-temporal}"
export SQL_PASSWORD="$TEMPORAL_DB_PASSWORD"

for db in temporal temporal_visibility; do
  schema="$SCHEMA_DIR/postgresql/v12/temporal"
  [ "$db" = temporal_visibility ] && schema="$SCHEMA_DIR/postgresql/v12/visibility"
  # create-database fails on an existing database: --quiet keeps going.
  "$SQL_TOOL" --db "$db" --quiet create-database
  # setup-schema -v 0.0 creates the schema_version table only if missing;
  # update-schema then applies every versioned step not yet applied.
  "$SQL_TOOL" --db "$db" setup-schema -v 0.0
  "$SQL_TOOL" --db "$db" update-schema -d "$schema/versioned"
done
