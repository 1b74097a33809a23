package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/config"
)

// TestStripeCallsArePaced: a worker paced at 2 Stripe calls a second sends
// the first two charges at once; the next ones are not sent but come back
// retryable (ErrTypePaced) with the delay after which their turn comes,
// so that a backlog queues in Temporal, not in the worker's slots and not
// as Stripe's 429s.
func TestStripeCallsArePaced(t *testing.T) {
	h := newHarness(t, nil)
	cfg := h.cfg
	cfg.StripeRequestsPerSecond = 0.5 // a burst of 1, then one every 2 s
	acts := New(cfg, nil, nil)
	env := newEnv(acts)
	if err := run(t, env, acts.Charge, chargeReq("pm_card_visa", "k1"), nil); err != nil {
		t.Fatal(err)
	}
	err := run(t, env, acts.Charge, chargeReq("pm_card_visa", "k2"), nil)
	ae := appError(t, err, ErrTypePaced, false)
	if d := ae.NextRetryDelay(); d < time.Second || d > 2*time.Second {
		t.Errorf("next retry in %s, want the turn of the next call, about 2 s", d)
	}
	if n := len(h.stripe.Requests()); n != 1 {
		t.Fatalf("%d requests reached Stripe, want the first only", n)
	}
}

// TestVisibilityLookupsArePaced: the eligibility look-up waits its turn in
// place when it comes within a second, else hands it back.
func TestVisibilityLookupsArePaced(t *testing.T) {
	p := newPacer("visibility", 1)
	ctx := context.Background()
	if err := p.wait(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.wait(ctx); err != nil { // the next turn, within maxPaceWait: waited for
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("waited %s, want about a second", waited)
	}
	p = newPacer("visibility", 0.2) // one every 5 s
	_ = p.wait(ctx)
	err := p.wait(ctx)
	var pe *pacedError
	if !errors.As(err, &pe) || pe.delay < 4*time.Second {
		t.Fatalf("err %v, want a pacedError of about 5 s", err)
	}
	a := New(h0(t), nil, nil)
	perr, ok := a.paced("look-up", err)
	var app *temporal.ApplicationError
	if !ok || !errors.As(perr, &app) || app.Type() != ErrTypePaced || app.NonRetryable() || app.NextRetryDelay() != pe.delay {
		t.Fatalf("paced error %v", perr)
	}
	if newPacer("x", 0) != nil {
		t.Error("0 must be unlimited")
	}
}

func h0(t *testing.T) config.Worker { return newHarness(t, nil).cfg }
