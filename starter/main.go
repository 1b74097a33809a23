// Command starter starts subscriptions and sends them the contract's
// requests through the typed client. Every command prints JSON on success;
// on failure it prints on standard error what went wrong and what to do,
// and exits with a code that says which kind of failure it was: 2 usage,
// 3 not found (no subscription for the account), 4 refused by the rules
// (nothing changed), 5 unavailable (Temporal unreachable or no answer in
// time), 1 anything else (`starter --help` lists them). Every command that
// sends a request takes --requested-at, the RFC 3339 time the request was
// made (default now), for the workflow to judge it as of then.
//
//	starter start --account acc-1 --email ada@example.com --customer cus_1 --payment-method pm_card_visa --plan monthly --currency EUR --offer body-scan
//	starter cancel --account acc-1 [--reason …] [--signal]
//	starter withdraw --account acc-1 [--signal] [--requested-at 2026-03-14T18:00:00Z]
//	starter update-payment-method --account acc-1 --payment-method pm_card_visa
//	starter change-plan --account acc-1 --plan annual
//	starter price-change --account acc-1 --price-minor 1095 --effective-at 2027-03-01T00:00:00Z
//	starter terminate --account acc-1 --reason "…"
//	starter state --account acc-1
//	starter list [--status past_due | --query needs_attention] [--limit 50]
//	starter queries
//
// It connects to Temporal with the SDK's standard environment variables
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …). STRIPE_MODE=live, or a live
// STRIPE_SECRET_KEY (sk_live_…, rk_live_…) without STRIPE_MODE, says the
// deployment charges real cards: start then refuses a test clock (exit 4)
// before anything is started. A STRIPE_MODE other than live or test, or one
// that disagrees with STRIPE_SECRET_KEY, is a configuration error (exit 1).
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, dial))
}
