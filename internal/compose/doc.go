// Package compose holds no code, only tests: they check the repository's
// docker-compose.yml and Dockerfiles statically, since neither can be run
// where the project is built (no Docker engine). The compose file must name
// exactly the stack's services with pinned images, give the worker every
// environment variable it reads (derived from the config package, not copied)
// and nothing it does not, take secrets only from the user's environment and
// publish ports on loopback only; the worker's Dockerfile must build ./worker
// with go.mod's Go version.
//
// The Temporal services run deploy/temporal/Dockerfile, and the tests hold it
// to scripts/temporal-postgres.sh, which runs the same server without Docker:
// the Dockerfile's versions are deploy/temporal/versions.env's and its go
// install lines and schema the script's; compose runs setup-schema.sh, the
// server (same --config, --env and flags, the image's dynamic config) and
// register.sh with the variables those files read; register.sh registers
// exactly api.SearchAttributeTypes. With the server the script builds
// (test.sh starts the script before go test; skipped when it is absent), the
// dynamic config passes validate-dynamic-config and the config template
// renders, for the script and for compose, to PostgreSQL stores on the
// databases setup-schema.sh creates.
package compose
