// Package fault holds the fault suite: many subscriptions on fast test
// clocks run on the real worker command and a real Temporal dev server
// while the worker is killed with SIGKILL every few seconds, the server is
// stopped and started again on its database file, and the Stripe stand-in
// fails at random; then every billing cycle must have been charged exactly
// once, with no gap, and each subscription's state must hold exactly what
// the stand-in charged. It has only tests; SUBSCRIPTIONS_SKIP_INTEGRATION=1
// skips them.
package fault
