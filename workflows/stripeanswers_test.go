package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// TestSavedServerErrorIsResolvedNotRetried: Stripe answers the first
// charge with a 500 it saves under the key, once having charged and once
// not. Retrying under the key would get the same 500 for a day; the
// workflow looks the charge up instead: the one taken is adopted, and when
// there is none the charge is made again under a new key. Either way the
// cycle is charged exactly once, paid, with no decline and no dunning.
func TestSavedServerErrorIsResolvedNotRetried(t *testing.T) {
	for _, fault := range []string{"saved", "saved-empty"} {
		t.Run(fault, func(t *testing.T) {
			fake := newFake()
			fake.saved = []string{fault}
			m := newCounters()
			h := newHarness(t, date("2026-01-31T09:00:00Z"), fake, m)
			st := h.stateAt(time.Hour)
			_, _ = h.run(input(noOffer), day(2))
			taken := fake.succeeded(1)
			if len(taken) != 1 {
				t.Fatalf("cycle 1 charged %d times at Stripe: %v", len(taken), taken)
			}
			if len(st.Payments) != 1 || st.Payments[0].PaymentIntentID != taken[0] || st.Payments[0].Status != api.PaymentSucceeded ||
				st.Status != api.StatusActive || st.OutstandingMinor != 0 || len(st.OutstandingCycles) != 0 {
				t.Fatalf("state %s, payments %+v, outstanding %d %v", st.Status, st.Payments, st.OutstandingMinor, st.OutstandingCycles)
			}
			if fake.lookups != 1 || fake.emailKinds()["payment_failed"] != 0 || fake.emailKinds()["payment_receipt"] != 1 {
				t.Fatalf("%d look-ups, emails %v", fake.lookups, fake.emailKinds())
			}
			if got := m.get("subscriptions_charges_total{currency=EUR,outcome=indeterminate}"); got != 1 {
				t.Errorf("indeterminate charges counted: %d, want 1", got)
			}
			wantCalls := map[string]int{"saved": 1, "saved-empty": 2}[fault]
			if len(fake.calls) != wantCalls {
				t.Fatalf("%d charge calls, want %d", len(fake.calls), wantCalls)
			}
			if fault == "saved-empty" && fake.calls[1].IdempotencyKey == fake.calls[0].IdempotencyKey {
				t.Fatalf("made again under the key whose 500 Stripe saved: %s", fake.calls[1].IdempotencyKey)
			}
		})
	}
}

// TestStripeRefusingOurChargesIsNotADecline: the worker holds a key of
// another Stripe account, so every charge is refused ("No such customer")
// from the first billing date. Nothing is declined, the customer is not
// emailed and keeps access, and the state says charging needs ops. Once the
// key is fixed (day 4), the next hourly recheck charges the cycle, once.
func TestStripeRefusingOurChargesIsNotADecline(t *testing.T) {
	fake := newFake()
	fake.refusing = true
	m := newCounters()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake, m)
	held := h.stateAt(day(3))
	h.at(day(4), func() {
		fake.mu.Lock()
		fake.refusing = false
		fake.mu.Unlock()
	})
	fixed := h.stateAt(day(4) + 2*time.Hour)
	_, _ = h.run(input(noOffer), day(5))
	if held.Status != api.StatusActive || !held.AccessActive || held.OutstandingMinor != 0 || len(held.Payments) != 0 ||
		held.ChargeIssue != billing.IssueStripeRefused {
		t.Fatalf("while refused: status %s access %v outstanding %d payments %+v issue %q",
			held.Status, held.AccessActive, held.OutstandingMinor, held.Payments, held.ChargeIssue)
	}
	if n := fake.emailKinds()["payment_failed"] + fake.emailKinds()["access_suspended"]; n != 0 {
		t.Fatalf("the customer was told of our mistake: %v", fake.emailKinds())
	}
	if len(fake.calls) < 2 || len(fake.calls) > 5 {
		// one refused charge, then one look-up an hour (refused too)
		t.Errorf("%d charge calls while refused", len(fake.calls))
	}
	if got := m.get("subscriptions_charges_total{currency=EUR,outcome=refused}"); got < 2 {
		t.Errorf("refusals counted: %d, want one per refused attempt and look-up", got)
	}
	taken := fake.succeeded(1)
	if len(taken) != 1 || len(fixed.Payments) != 1 || fixed.Payments[0].PaymentIntentID != taken[0] ||
		fixed.ChargeIssue != "" || fixed.Status != api.StatusActive {
		t.Fatalf("after the fix: Stripe holds %v, payments %+v, issue %q, status %s", taken, fixed.Payments, fixed.ChargeIssue, fixed.Status)
	}
}

// TestUnknownOutcomeIsShownToOpsAfterADay: Stripe cannot be reached for
// two days: the charge is made again hourly under its key, the customer
// keeps access, and after 24 hours the state tells ops.
func TestUnknownOutcomeIsShownToOpsAfterADay(t *testing.T) {
	fake := newFake()
	fake.unanswered = 1 << 30
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	early := h.stateAt(20 * time.Hour)
	late := h.stateAt(day(1) + 2*time.Hour)
	h.at(day(2), func() {
		fake.mu.Lock()
		fake.unanswered = 0
		fake.mu.Unlock()
	})
	after := h.stateAt(day(2) + 2*time.Hour)
	_, _ = h.run(input(noOffer), day(3))
	if early.ChargeIssue != "" || late.ChargeIssue != billing.IssueUnknownOutcome || !late.AccessActive || late.Status != api.StatusActive {
		t.Fatalf("issue %q at 20 h, %q (access %v, %s) at 26 h", early.ChargeIssue, late.ChargeIssue, late.AccessActive, late.Status)
	}
	if taken := fake.succeeded(1); len(taken) != 1 || after.ChargeIssue != "" || len(after.Payments) != 1 {
		t.Fatalf("after Stripe answers: Stripe holds %v, issue %q, payments %+v", taken, after.ChargeIssue, after.Payments)
	}
}

// TestLiveWorkerRefusesATestClock: a worker charging with a live Stripe key
// refuses to start a subscription on a test clock, before any charge.
func TestLiveWorkerRefusesATestClock(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	fake := newFake()
	env.RegisterWorkflowWithOptions(Options{LiveStripe: true}.Workflow(), workflow.RegisterOptions{Name: api.WorkflowType})
	env.RegisterActivity(fake)
	in := input(noOffer)
	in.TestClock = &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: 86400}
	env.ExecuteWorkflow(api.WorkflowType, in)
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "invalid testClock") || !strings.Contains(err.Error(), "live Stripe key") || len(fake.calls) != 0 {
		t.Fatalf("err %v after %d charges", err, len(fake.calls))
	}
	// The same input without the test clock starts.
	env = suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Options{LiveStripe: true}.Workflow(), workflow.RegisterOptions{Name: api.WorkflowType})
	env.RegisterActivity(fake)
	env.RegisterDelayedCallback(env.CancelWorkflow, day(2))
	in.TestClock = nil
	env.ExecuteWorkflow(api.WorkflowType, in)
	if len(fake.succeeded(1)) != 1 {
		t.Fatalf("a live worker did not charge a subscription without a test clock: %v", env.GetWorkflowError())
	}
}

// TestWithdrawalWhileChargingIsHeldChargesNothing: Stripe refuses our key
// from the first charge; the customer withdraws on day 2, and the key is
// fixed on day 3. Stripe took nothing and the contract is undone: the held
// cycle is dropped, never charged under a new key and then refunded.
func TestWithdrawalWhileChargingIsHeldChargesNothing(t *testing.T) {
	fake := newFake()
	fake.refusing = true
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	res := h.update(day(2), api.UpdateWithdraw, api.WithdrawRequest{})
	h.at(day(3), func() {
		fake.mu.Lock()
		fake.refusing = false
		fake.mu.Unlock()
	})
	final, err := h.run(input(noOffer), day(12))
	if err != nil || !res.done || res.err != nil {
		t.Fatalf("run %v, withdraw %+v", err, res)
	}
	if len(fake.intents) != 0 || len(fake.refunds) != 0 {
		t.Fatalf("Stripe took %d charges and %d refunds after a withdrawal that owed nothing", len(fake.intents), len(fake.refunds))
	}
	kinds := fake.emailKinds()
	if kinds["payment_receipt"]+kinds["refund_issued"]+kinds["payment_failed"] != 0 || final.Status != api.StatusEnded ||
		final.EndReason != api.EndWithdrawn || final.Settlement != "" || final.OutstandingMinor != 0 || len(final.OutstandingCycles) != 0 {
		t.Fatalf("final %s/%s settlement %q outstanding %d %v, emails %v",
			final.Status, final.EndReason, final.Settlement, final.OutstandingMinor, final.OutstandingCycles, kinds)
	}
}
