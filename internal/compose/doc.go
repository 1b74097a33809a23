// Package compose holds no code, only tests: they check the repository's
// docker-compose.yml and Dockerfile statically, since neither can be run
// where the project is built (no Docker engine). The compose file must name
// exactly the stack's services with pinned images, give the worker every
// environment variable it reads (derived from the config package, not copied)
// and nothing it does not, take secrets only from the user's environment,
// register every search attribute of api.SearchAttributeTypes with its type,
// and the Dockerfile must build ./worker with go.mod's Go version.
package compose
