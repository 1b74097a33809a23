package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// Staying right when time slips: late starts, late requests, answers that
// come after the end or after Stripe forgot the key, cancellation through
// Temporal. Each test fails on the workflow as it was before rules 1.

func TestRetriesAfterALateStartKeepTheirSpacing(t *testing.T) {
	// Installed 8 days before the subscription starts: the first charge is
	// due at once; its retries are spaced from that real attempt.
	fake := newFake()
	t0 := date("2026-03-18T12:00:00Z")
	h := newHarness(t, t0, fake)
	first := h.stateAt(12 * time.Hour)
	sixth := h.stateAt(day(6) + time.Hour)
	eighth := h.stateAt(day(8))
	_, _ = h.run(input(noOffer, declined, func(in *api.Input) {
		in.InstalledAt = t0.AddDate(0, 0, -8).Format(time.RFC3339)
	}), day(9))
	if first.Status != api.StatusPastDue || !first.AccessActive || first.OutstandingMinor != 995 {
		t.Fatalf("after the first decline: %s access %v outstanding %d; want past_due with access", first.Status, first.AccessActive, first.OutstandingMinor)
	}
	if sixth.Status != api.StatusPastDue || !sixth.AccessActive {
		t.Fatalf("on day 6: %s access %v; want still past_due", sixth.Status, sixth.AccessActive)
	}
	want := []string{"2026-03-18", "2026-03-19", "2026-03-21", "2026-03-23", "2026-03-25"}
	if got := paymentDates(*eighth, api.PaymentFailed); !slices.Equal(got, want) || eighth.Status != api.StatusSuspended {
		t.Fatalf("attempts on %v then %s; want %v then suspended", got, eighth.Status, want)
	}
}

func TestRequestCountsWhenItWasMade(t *testing.T) {
	t0 := date("2026-01-01T00:30:00Z")
	day14 := date("2026-01-15T20:00:00Z") // the window closes at the end of Jan 15
	handledDay15 := date("2026-01-16T02:30:00Z").Sub(t0)

	t.Run("a withdrawal sent on day 14 and handled on day 15 is in time", func(t *testing.T) {
		fake := newFake()
		h := newHarness(t, t0, fake)
		h.at(handledDay15, func() {
			h.env.SignalWorkflow(api.SignalWithdraw, api.WithdrawRequest{RequestedAt: day14})
		})
		final, err := h.run(input(noOffer), day(40))
		if err != nil || final.EndReason != api.EndWithdrawn || !final.EndedAt.Equal(day14) || len(fake.refunds) != 1 {
			t.Fatalf("final %+v err %v refunds %d; want withdrawn on %s, refunded", final, err, len(fake.refunds), day14)
		}
	})
	t.Run("without requestedAt it counts when handled: refused", func(t *testing.T) {
		fake := newFake()
		h := newHarness(t, t0, fake)
		h.at(handledDay15, func() { h.env.SignalWorkflow(api.SignalWithdraw, api.WithdrawRequest{}) })
		st := h.stateAt(handledDay15 + time.Hour)
		_, _ = h.run(input(noOffer), day(20))
		if st.Status != api.StatusActive || len(st.Rejected) != 1 || !strings.Contains(st.Rejected[0].Error, "ended on 2026-01-15") {
			t.Fatalf("state %s rejected %+v", st.Status, st.Rejected)
		}
	})
	t.Run("a price change is judged on its notice from when it was made", func(t *testing.T) {
		fake := newFake()
		h := newHarness(t, t0, fake)
		made := t0.Add(day(5))
		req := api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: made.Add(billing.PriceNotice), RequestedAt: made}
		late := h.update(day(10), api.UpdateSchedulePriceChange, req)
		req.RequestedAt = time.Time{}
		now := h.update(day(10)+time.Minute, api.UpdateSchedulePriceChange, req)
		_, _ = h.run(input(), day(20))
		var r api.PriceChangeResult
		late.decode(t, &r)
		if now.rejected == nil || !strings.Contains(now.rejected.Error(), "less than 30 days' notice") {
			t.Fatalf("the same change made now: %+v", now)
		}
	})
	t.Run("no request reaches before what was handled", func(t *testing.T) {
		// A cancel claiming to come from the trial, arriving after the
		// first charge: it counts from that charge, which stands.
		fake := newFake()
		start := date("2026-03-10T08:00:00Z")
		h := newHarness(t, start, fake)
		trialEnd := date("2026-06-10T08:00:00Z")
		res := h.update(trialEnd.Sub(start)+day(2), api.UpdateCancel, api.CancelRequest{RequestedAt: start.Add(day(30))})
		final, err := h.run(input(), day(200))
		var r api.CancelResult
		res.decode(t, &r)
		if err != nil || r.Status != api.StatusCanceling || !r.AccessUntil.Equal(date("2026-07-10T08:00:00Z")) ||
			len(paymentDates(*final, api.PaymentSucceeded)) != 1 || !final.EndedAt.Equal(date("2026-07-10T08:00:00Z")) {
			t.Fatalf("answer %+v final %+v err %v", r, final, err)
		}
	})
	t.Run("no request reaches into the future", func(t *testing.T) {
		fake := newFake()
		h := newHarness(t, t0, fake)
		future := t0.Add(day(2) + time.Hour)
		// An update is refused (its caller hears why); a signal, which has
		// no caller to answer, counts as now rather than being lost.
		upd := h.update(day(2), api.UpdateCancel, api.CancelRequest{RequestedAt: future})
		h.at(day(2)+time.Minute, func() { h.env.SignalWorkflow(api.SignalWithdraw, api.WithdrawRequest{RequestedAt: future}) })
		final, err := h.run(input(noOffer), day(4))
		if upd.rejected == nil || !strings.Contains(upd.rejected.Error(), "requestedAt") || !strings.Contains(upd.rejected.Error(), "future") {
			t.Fatalf("cancel from the future: %+v", upd)
		}
		if err != nil || final.EndReason != api.EndWithdrawn || !final.EndedAt.Equal(t0.Add(day(2)+time.Minute)) {
			t.Fatalf("withdraw signal from the future: %+v, %v; want withdrawn when it arrived", final, err)
		}
	})
}

func TestAnswersAfterTheEndNeverRewriteIt(t *testing.T) {
	// The first charge gets no answer; the subscription ends meanwhile; the
	// charge, asked again under its key, is then answered.
	for _, tc := range []struct {
		name        string
		pm          func(*api.Input)
		end         func(h *harness) *outcome
		wantReason  string
		wantOwed    int64
		wantEmails  []string // each at least once
		wantRefunds int
	}{
		{
			name: "terminated, then the charge is taken: it gets its receipt",
			pm:   func(*api.Input) {},
			end: func(h *harness) *outcome {
				return h.update(20*time.Minute, api.UpdateTerminate, api.TerminateRequest{Reason: "chargeback fraud"})
			},
			wantReason: api.EndTerminated, wantEmails: []string{"payment_receipt", "subscription_ended"},
		},
		{
			name: "withdrawn, then the charge is taken: receipt, refund and its email",
			pm:   func(*api.Input) {},
			end: func(h *harness) *outcome {
				return h.update(20*time.Minute, api.UpdateWithdraw, api.WithdrawRequest{})
			},
			wantReason: api.EndWithdrawn, wantRefunds: 1,
			wantEmails: []string{"withdrawal_confirmed", "payment_receipt", "refund_issued"},
		},
		{
			name: "withdrawn, then the charge is declined: nothing owed, still withdrawn",
			pm:   declined,
			end: func(h *harness) *outcome {
				return h.update(20*time.Minute, api.UpdateWithdraw, api.WithdrawRequest{})
			},
			wantReason: api.EndWithdrawn, wantEmails: []string{"withdrawal_confirmed"},
		},
		{
			name: "canceled then withdrawn, then declined: still withdrawn at the same date",
			pm:   declined,
			end: func(h *harness) *outcome {
				h.update(15*time.Minute, api.UpdateCancel, api.CancelRequest{})
				return h.update(20*time.Minute, api.UpdateWithdraw, api.WithdrawRequest{})
			},
			wantReason: api.EndWithdrawn, wantEmails: []string{"withdrawal_confirmed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.unanswered = 1000
			t0 := date("2026-01-01T10:00:00Z")
			h := newHarness(t, t0, fake)
			res := tc.end(h)
			h.at(30*time.Minute, func() {
				fake.mu.Lock()
				fake.unanswered = 0
				fake.mu.Unlock()
			})
			final, err := h.run(input(noOffer, tc.pm), day(30))
			if err != nil || !res.done || res.rejected != nil || res.err != nil {
				t.Fatalf("err %v, request %+v", err, res)
			}
			if final.EndReason != tc.wantReason || !final.EndedAt.Equal(t0.Add(20*time.Minute)) || final.OutstandingMinor != tc.wantOwed ||
				len(fake.refunds) != tc.wantRefunds || final.Settlement != "" {
				t.Fatalf("final %s at %s owing %d, settlement %q, %d refunds; want %s at %s owing %d, %d refunds",
					final.EndReason, final.EndedAt, final.OutstandingMinor, final.Settlement, len(fake.refunds),
					tc.wantReason, t0.Add(20*time.Minute), tc.wantOwed, tc.wantRefunds)
			}
			kinds := fake.emailKinds()
			for _, k := range tc.wantEmails {
				if kinds[k] == 0 {
					t.Errorf("no %s email: %v", k, kinds)
				}
			}
		})
	}
}

func TestSettlementIsHandedToOpsAfterItsWindow(t *testing.T) {
	// The refund can never succeed (the charge is disputed): the run tries
	// for the settlement window, then completes, marked for ops.
	fake := newFake()
	fake.refundFailures = 1 << 30
	t0 := date("2026-01-01T10:00:00Z")
	h := newHarness(t, t0, fake)
	h.update(day(3), api.UpdateWithdraw, api.WithdrawRequest{})
	pending := h.stateAt(day(5))
	final, err := h.run(input(noOffer), day(60))
	if pending.Settlement != billing.SettlementPending || pending.PendingRefundMinor != 995 {
		t.Fatalf("while settling: %q, pending %d", pending.Settlement, pending.PendingRefundMinor)
	}
	if err != nil || final == nil {
		t.Fatalf("the run did not complete by itself: %v", err)
	}
	if final.Settlement != billing.SettlementHandedToOps || final.PendingRefundMinor != 995 || final.EndReason != api.EndWithdrawn ||
		!final.EndedAt.Equal(t0.Add(day(3))) {
		t.Fatalf("final: settlement %q pending %d %s at %s", final.Settlement, final.PendingRefundMinor, final.EndReason, final.EndedAt)
	}
	fake.mu.Lock()
	tries := fake.refundFailures
	fake.mu.Unlock()
	if made := 1<<30 - tries; made < 7*24 || made > 7*24+3 {
		t.Fatalf("%d refund attempts, want one an hour for 7 days", made)
	}
}

func TestSettlementContinuesAsNewWhenTheServerSuggests(t *testing.T) {
	fake := newFake()
	fake.refundFailures = 1 << 30
	h := newHarness(t, date("2026-01-01T10:00:00Z"), fake)
	h.update(day(3), api.UpdateWithdraw, api.WithdrawRequest{})
	h.at(day(4), func() { h.env.SetContinueAsNewSuggested(true) })
	_, err := h.run(input(noOffer), day(60))
	next := continued(t, err)
	if len(next.Continued) == 0 {
		t.Fatal("no state carried")
	}
}

func TestCancelWhileSuspendedKeepsThePaidPeriod(t *testing.T) {
	// Cycle 1 unpaid (suspended at once: no retries), cycle 2 paid by the
	// same card; the customer cancels, then pays the debt with a new card.
	fake := newFake()
	fake.declineCycle = 1
	t0 := date("2026-01-10T09:00:00Z")
	h := newHarness(t, t0, fake)
	cancel := h.update(day(35), api.UpdateCancel, api.CancelRequest{})
	afterCancel := h.stateAt(day(35) + time.Minute)
	h.update(day(40), api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_mastercard"})
	paid := h.stateAt(day(40) + time.Minute)
	final, err := h.run(input(noOffer, func(in *api.Input) { in.DunningDays = []int{} }), day(100))
	var r api.CancelResult
	cancel.decode(t, &r)
	periodEnd := date("2026-03-10T09:00:00Z")
	if r.Status != api.StatusCanceling || !r.AccessUntil.Equal(periodEnd) || afterCancel.AccessActive || afterCancel.OutstandingMinor != 995 {
		t.Fatalf("cancel answered %+v; state access %v owing %d", r, afterCancel.AccessActive, afterCancel.OutstandingMinor)
	}
	if !paid.AccessActive || paid.Status != api.StatusCanceling || paid.OutstandingMinor != 0 {
		t.Fatalf("after paying the debt: %s access %v owing %d", paid.Status, paid.AccessActive, paid.OutstandingMinor)
	}
	if err != nil || final.Status != api.StatusEnded || !final.EndedAt.Equal(periodEnd) || len(paymentDates(*final, api.PaymentSucceeded)) != 2 {
		t.Fatalf("final %+v err %v", final, err)
	}
}

func TestTemporalCancellationIsTheBusinessCancel(t *testing.T) {
	fake := newFake()
	t0 := date("2026-03-10T08:00:00Z")
	h := newHarness(t, t0, fake)
	h.at(day(10), func() { h.env.CancelWorkflow() })
	mid := h.stateAt(day(11))
	final, err := h.run(input(), day(400))
	trialEnd := date("2026-06-10T08:00:00Z")
	if mid.Status != api.StatusCanceling || !mid.AccessActive || mid.CancelReason != TemporalCancelReason {
		t.Fatalf("after the cancellation request: %s access %v reason %q", mid.Status, mid.AccessActive, mid.CancelReason)
	}
	if err != nil || final.Status != api.StatusEnded || final.EndReason != api.EndCanceled || !final.EndedAt.Equal(trialEnd) || len(fake.calls) != 0 {
		t.Fatalf("final %+v err %v charges %d", final, err, len(fake.calls))
	}
	if kinds := fake.emailKinds(); kinds["cancellation_confirmed"] != 1 || kinds["subscription_ended"] != 1 {
		t.Fatalf("emails %v", kinds)
	}
}

func TestForgottenKeyIsLookedUpBeforeSendingAgain(t *testing.T) {
	// Stripe takes the first charge but answers only after 25 hours, and
	// forgets idempotency keys after 24: re-sending under the old key would
	// charge twice. The workflow looks the charge up first and adopts it,
	// also on a fast test clock where one activity window spans hours.
	for _, speedup := range []float64{1, 6000} {
		t.Run(fmt.Sprintf("speedup %v", speedup), func(t *testing.T) {
			fake := newFake()
			fake.lateAnswers = 1 << 30
			fake.retention = 24 * time.Hour
			t0 := date("2026-01-31T09:00:00Z")
			h := newHarness(t, t0, fake)
			clock := billing.Clock{Origin: t0, StartsAt: t0, Speedup: speedup}
			fake.now = func() time.Time { return clock.Now(h.env.Now()) }
			h.at(clock.Delay(t0, t0.Add(25*time.Hour)), func() {
				fake.mu.Lock()
				fake.lateAnswers = 0
				fake.mu.Unlock()
			})
			st := h.stateAt(clock.Delay(t0, t0.Add(day(3))))
			in := input(noOffer)
			if speedup > 1 {
				in.TestClock = &api.TestClock{StartsAt: t0.Format(time.RFC3339), Speedup: speedup}
			}
			_, _ = h.run(in, clock.Delay(t0, t0.Add(day(4))))
			taken := fake.succeeded(1)
			if len(taken) != 1 {
				t.Fatalf("cycle 1 charged %d times at Stripe: %v", len(taken), taken)
			}
			got := paymentDates(*st, api.PaymentSucceeded)
			if len(got) != 1 || st.Payments[0].PaymentIntentID != taken[0] || st.OutstandingMinor != 0 || fake.lookups == 0 {
				t.Fatalf("state payments %+v, Stripe holds %v, %d look-ups", st.Payments, taken, fake.lookups)
			}
		})
	}
}

func TestCardUpdateIsCheckedAgainstTheCustomer(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	res := h.update(day(2), api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_of_someone_else"})
	_, _ = h.run(input(noOffer), day(3))
	if res.err == nil || !strings.Contains(res.err.Error(), "not attached to customer cus_123") {
		t.Fatalf("a card of another customer: %+v", res)
	}
}

func TestUpgradeSignalContinuesAsNewAtTheNextIdlePoint(t *testing.T) {
	fake := newFake()
	t0 := date("2026-03-10T08:00:00Z")
	h := newHarness(t, t0, fake)
	h.at(day(10), func() { h.env.SignalWorkflow(api.SignalUpgrade, nil) })
	_, err := h.run(input(), day(400))
	next := continued(t, err)
	if len(next.Continued) == 0 || h.env.Now().Sub(t0) > day(11) {
		t.Fatalf("continued at %s with %d bytes of state; want at once after the signal", h.env.Now(), len(next.Continued))
	}
}

func TestKeyConflictIsLookedUpNotDeclined(t *testing.T) {
	// Stripe answers that the key was used with other parameters (a
	// re-send by a worker of another version): the charge it executed is
	// looked up and adopted, never recorded as a decline.
	fake := newFake()
	fake.conflicts = 1
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	st := h.stateAt(day(2))
	_, _ = h.run(input(noOffer), day(3))
	taken := fake.succeeded(1)
	if len(taken) != 1 || fake.lookups == 0 || len(st.Payments) != 1 || st.Payments[0].PaymentIntentID != taken[0] ||
		st.Status != api.StatusActive || fake.emailKinds()["payment_failed"] != 0 {
		t.Fatalf("payments %+v, Stripe holds %v, %d look-ups, status %s", st.Payments, taken, fake.lookups, st.Status)
	}
}

func TestUnknownFirstSendingIsLookedUpUntilStripeAnswers(t *testing.T) {
	// A run carried over from before the first sending was recorded holds an
	// unanswered attempt; Stripe took it two days ago and has forgotten its
	// key. The look-up fails once (Stripe down): the attempt is looked up
	// again an hour later, never sent again under the forgotten key.
	t0 := date("2026-02-02T09:00:00Z")
	sub := billing.New(billing.Start{ID: "subscription-acc-1", KeyPrefix: "subscription-acc-1/first-run", AccountID: "acc-1",
		Plan: api.PlanMonthly, Currency: api.CurrencyEUR, PMID: "pm_card_visa", InstalledAt: t0.AddDate(0, 0, -2)})
	c := sub.StartCycle()
	sub.Unanswered(c, time.Time{}, t0.Add(time.Minute)) // sent before SentAt was recorded
	state, err := json.Marshal(carried{Sub: sub, Clock: billing.Clock{Origin: t0.AddDate(0, 0, -2), StartsAt: t0.AddDate(0, 0, -2)}, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	fake := newFake()
	fake.lookupFailures = 1 << 30                   // down for half an hour: the look-up's retries run out
	fake.intents = append(fake.intents, fakeIntent{ // taken two days ago, without the run's metadata
		req: activities.ChargeRequest{SubscriptionID: sub.ID, Cycle: 1, AmountMinor: 995, IdempotencyKey: sub.IdempotencyKey(c)},
		res: activities.ChargeResult{PaymentIntentID: "pi_old", Status: "succeeded"},
	})
	h := newHarness(t, t0, fake)
	h.env.SetContinuedExecutionRunID("first-run")
	h.at(30*time.Minute, func() {
		fake.mu.Lock()
		fake.lookupFailures = 0
		fake.mu.Unlock()
	})
	st := h.stateAt(day(1))
	in := input(noOffer)
	in.Continued = state
	_, _ = h.run(in, day(2))
	if taken := fake.succeeded(1); len(taken) != 1 || len(fake.calls) != 0 || fake.lookups < 2 {
		t.Fatalf("Stripe holds %v after %d charge calls and %d look-ups; want pi_old only, found by a second look-up", taken, len(fake.calls), fake.lookups)
	}
	if len(st.Payments) != 1 || st.Payments[0].PaymentIntentID != "pi_old" || st.OutstandingMinor != 0 {
		t.Fatalf("state payments %+v", st.Payments)
	}
}
