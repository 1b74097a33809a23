package workflows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
)

func TestMonthlyRenewalsAcrossContinueAsNew(t *testing.T) {
	// Installed Jan 31: the trial ends Apr 30, the anchor; charges fall on the
	// 30th, clamped to Feb 28 and Feb 29 (2028).
	t0 := date("2026-01-31T09:00:00Z")
	fake := newFake()
	h := newHarness(t, t0, fake)
	mid := h.stateAt(day(40))
	_, err := h.run(input(), day(5*365))
	if mid.Status != api.StatusTrialing || !mid.AccessActive || mid.TrialEndsAt == nil ||
		!mid.TrialEndsAt.Equal(date("2026-04-30T09:00:00Z")) || len(mid.Payments) != 0 {
		t.Fatalf("during trial: %+v", mid)
	}
	next := continued(t, err) // after MaxCyclesPerRun cycles
	if len(fake.calls) != MaxCyclesPerRun {
		t.Fatalf("first run charged %d times, want %d", len(fake.calls), MaxCyclesPerRun)
	}
	if kinds := fake.emailKinds(); kinds["trial_started"] != 1 || kinds["trial_ending"] != 1 || kinds["payment_receipt"] != MaxCyclesPerRun {
		t.Fatalf("emails: %v", kinds)
	}

	// The next run resumes from the carried state.
	fake2 := newFake()
	h2 := newHarness(t, date("2028-03-31T10:00:00Z"), fake2)
	h2.env.SetContinuedExecutionRunID("first-run")
	st := h2.stateAt(day(400))
	_, err = h2.run(next, day(401))
	if st.ContinuedAsNewTimes != 1 {
		t.Fatalf("second run: continued %d times, err %v", st.ContinuedAsNewTimes, err)
	}
	want := []string{"2026-04-30", "2026-05-30", "2026-06-30", "2027-01-30", "2027-02-28", "2027-03-30", "2028-02-29", "2028-03-30", "2029-04-30"}
	got := paymentDates(*st, api.PaymentSucceeded)
	for _, d := range want {
		if !slices.Contains(got, d) {
			t.Errorf("no charge on %s; charges: %v", d, got)
		}
	}
	if st.Cycle != 37 || len(got) != 37 || st.Status != api.StatusActive {
		t.Fatalf("after 3 years: cycle %d, %d payments, status %s", st.Cycle, len(got), st.Status)
	}
	for _, p := range st.Payments {
		if p.AmountMinor != 995 || p.Currency != "EUR" {
			t.Fatalf("payment %+v: want 995 EUR", p)
		}
	}
	// Idempotency keys continue without repeating across runs.
	keys := map[string]bool{}
	for _, c := range append(fake.calls, fake2.calls...) {
		if keys[c.IdempotencyKey] {
			t.Fatalf("idempotency key %s used twice", c.IdempotencyKey)
		}
		keys[c.IdempotencyKey] = true
	}
}

func TestAnnualRenewalsOnLeapDay(t *testing.T) {
	// Installed Nov 29 2027: the trial ends Feb 29 2028, then Feb 28 in
	// common years and Feb 29 again in 2032.
	fake := newFake()
	h := newHarness(t, date("2027-11-29T12:00:00Z"), fake)
	st := h.stateAt(day(5 * 366))
	_, _ = h.run(input(func(in *api.Input) { in.Plan = api.PlanAnnual; in.Currency = api.CurrencyGBP }), day(5*366+1))
	want := []string{"2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"}
	if got := paymentDates(*st, api.PaymentSucceeded); !slices.Equal(got, want) {
		t.Fatalf("annual charges on %v, want %v", got, want)
	}
	for _, c := range fake.calls {
		if c.AmountMinor != 9950 || c.Currency != "GBP" {
			t.Fatalf("charge %+v: want 9950 GBP", c)
		}
	}
	if st.NextChargeAt == nil || !st.NextChargeAt.Equal(date("2033-02-28T12:00:00Z")) {
		t.Fatalf("next charge %v", st.NextChargeAt)
	}
}

func TestCancelDuringTrialChargesNothing(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-03-10T08:00:00Z"), fake)
	first := h.update(day(10), api.UpdateCancel, api.CancelRequest{Reason: "too expensive"})
	second := h.update(day(20), api.UpdateCancel, api.CancelRequest{})
	mid := h.stateAt(day(30))
	final, err := h.run(input(), day(365))
	if err != nil {
		t.Fatal(err)
	}
	var r1, r2 api.CancelResult
	first.decode(t, &r1)
	second.decode(t, &r2)
	trialEnd := date("2026-06-10T08:00:00Z")
	if r1.Status != api.StatusCanceling || !r1.AccessUntil.Equal(trialEnd) || r2 != r1 {
		t.Fatalf("cancel answers %+v then %+v, want canceling until %s twice", r1, r2, trialEnd)
	}
	if mid.Status != api.StatusCanceling || !mid.AccessActive {
		t.Fatalf("while canceling: %s access %v", mid.Status, mid.AccessActive)
	}
	if len(fake.calls) != 0 {
		t.Fatalf("charged %d times after a cancellation in trial", len(fake.calls))
	}
	if final.Status != api.StatusEnded || final.EndReason != api.EndCanceled || final.AccessActive ||
		!final.EndedAt.Equal(trialEnd) || final.CancelReason != "too expensive" {
		t.Fatalf("final: %+v", final)
	}
	kinds := fake.emailKinds()
	if kinds["cancellation_confirmed"] != 1 || kinds["subscription_ended"] != 1 || kinds["trial_ending"] != 0 {
		t.Fatalf("emails: %v", kinds)
	}
	for _, e := range fake.emails {
		if e.Locale != "en" {
			t.Fatalf("email %s in locale %q, want the default en", e.Kind, e.Locale)
		}
		if e.Kind == "subscription_ended" && (e.Data["date"] != "2026-06-10" || e.Data["reason"] != api.EndCanceled || e.To != "ada@example.com") {
			t.Fatalf("subscription_ended email %+v", e)
		}
	}
}

func TestCancelMidPeriodKeepsAccessToPeriodEnd(t *testing.T) {
	fake := newFake()
	t0 := date("2026-01-31T09:00:00Z")
	h := newHarness(t, t0, fake)
	res := h.update(day(10), api.UpdateCancel, api.CancelRequest{})
	mid := h.stateAt(day(20))
	final, err := h.run(input(noOffer), day(365))
	if err != nil {
		t.Fatal(err)
	}
	var r api.CancelResult
	res.decode(t, &r)
	periodEnd := date("2026-02-28T09:00:00Z")
	if !r.AccessUntil.Equal(periodEnd) || !mid.AccessActive || mid.NextChargeAt != nil {
		t.Fatalf("cancel answer %+v, mid-state access %v next charge %v", r, mid.AccessActive, mid.NextChargeAt)
	}
	if len(fake.calls) != 1 || len(fake.refunds) != 0 {
		t.Fatalf("%d charges and %d refunds, want the first charge and no refund", len(fake.calls), len(fake.refunds))
	}
	if final.Status != api.StatusEnded || !final.EndedAt.Equal(periodEnd) || final.Payments[0].Status != api.PaymentSucceeded {
		t.Fatalf("final %+v", final)
	}
}

func TestDunningSuspensionAndRecoveryByCardUpdate(t *testing.T) {
	fake := newFake()
	t0 := date("2026-01-31T09:00:00Z")
	h := newHarness(t, t0, fake)
	pastDue := h.stateAt(day(2))
	suspended := h.stateAt(day(8))
	secondCycle := h.stateAt(day(29))
	rejected := h.update(day(35), api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_sepa_debit_1"})
	updated := h.update(day(40), api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"})
	after := h.stateAt(day(41))
	_, _ = h.run(input(noOffer, declined), day(50))

	if pastDue.Status != api.StatusPastDue || !pastDue.AccessActive || pastDue.OutstandingMinor != 995 {
		t.Fatalf("after the first decline: %s access %v outstanding %d", pastDue.Status, pastDue.AccessActive, pastDue.OutstandingMinor)
	}
	if got, want := paymentDates(*suspended, api.PaymentFailed), []string{"2026-01-31", "2026-02-01", "2026-02-03", "2026-02-05", "2026-02-07"}; !slices.Equal(got, want) {
		t.Fatalf("attempts on %v, want %v", got, want)
	}
	if suspended.Status != api.StatusSuspended || suspended.AccessActive || suspended.OutstandingMinor != 995 {
		t.Fatalf("after the last retry: %s access %v outstanding %d", suspended.Status, suspended.AccessActive, suspended.OutstandingMinor)
	}
	// The next cycle is still charged on its own date.
	if secondCycle.Cycle != 2 || secondCycle.OutstandingMinor != 1990 || secondCycle.Status != api.StatusSuspended {
		t.Fatalf("second cycle: cycle %d outstanding %d status %s", secondCycle.Cycle, secondCycle.OutstandingMinor, secondCycle.Status)
	}
	if rejected.err == nil || !strings.HasPrefix(rejected.err.Error(), "payment method pm_sepa_debit_1 not accepted: payment method pm_sepa_debit_1 is a sepa_debit, only card payment methods are accepted (") {
		t.Fatalf("non-card payment method: %v", rejected.err)
	}
	var r api.UpdatePaymentMethodResult
	updated.decode(t, &r)
	if r.Status != api.StatusActive || r.OutstandingMinor != 0 {
		t.Fatalf("card update answered %+v", r)
	}
	if !after.AccessActive || after.PaymentMethodID != "pm_card_visa" || len(paymentDates(*after, api.PaymentSucceeded)) != 2 {
		t.Fatalf("after the card update: %+v", after)
	}
	kinds := fake.emailKinds()
	if kinds["access_suspended"] != 1 || kinds["access_restored"] != 1 || kinds["payment_failed"] < 6 {
		t.Fatalf("emails %v", kinds)
	}
	keys := map[string]bool{}
	for _, c := range fake.calls {
		if keys[c.IdempotencyKey] {
			t.Fatalf("key %s reused by a different attempt", c.IdempotencyKey)
		}
		keys[c.IdempotencyKey] = true
	}
}

func TestUnansweredChargeIsRetriedUnderTheSameKey(t *testing.T) {
	fake := newFake()
	fake.unanswered = 1000 // Stripe unreachable for the whole first attempt
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	h.at(30*time.Minute, func() {
		fake.mu.Lock()
		fake.unanswered = 0
		fake.mu.Unlock()
	})
	st := h.stateAt(2 * time.Hour)
	_, _ = h.run(input(noOffer), 3*time.Hour)
	if len(paymentDates(*st, api.PaymentSucceeded)) != 1 || st.OutstandingMinor != 0 {
		t.Fatalf("state %+v", st)
	}
	for _, c := range fake.calls {
		if c.IdempotencyKey != fake.calls[0].IdempotencyKey {
			t.Fatalf("retry used key %s, first was %s", c.IdempotencyKey, fake.calls[0].IdempotencyKey)
		}
	}
	if len(fake.calls) < 3 {
		t.Fatalf("only %d calls", len(fake.calls))
	}
}

func TestWithdrawalRefundsEveryPayment(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  time.Duration
		accept bool
	}{
		{"day 14", day(14) + 23*time.Hour, true},
		{"day 15", day(15) + time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			t0 := date("2026-01-01T00:30:00Z")
			h := newHarness(t, t0, fake)
			res := h.update(tc.after, api.UpdateWithdraw, api.WithdrawRequest{})
			final, err := h.run(input(noOffer), day(40))
			if !tc.accept {
				if res.rejected == nil || !strings.Contains(res.rejected.Error(), "ended on 2026-01-15") {
					t.Fatalf("withdrawal on day 15: %+v", res)
				}
				if err == nil && final.EndReason == api.EndWithdrawn { // the harness stops it by a cancellation
					t.Fatal("subscription withdrawn after a rejected withdrawal")
				}
				return
			}
			var r api.WithdrawResult
			res.decode(t, &r)
			if r.RefundedMinor != 995 || r.Currency != "EUR" || len(r.RefundIDs) != 1 || len(fake.refunds) != 1 {
				t.Fatalf("withdraw answered %+v, refunds %v", r, fake.refunds)
			}
			if err != nil || final.Status != api.StatusEnded || final.EndReason != api.EndWithdrawn || final.AccessActive ||
				final.Payments[0].Status != api.PaymentRefunded {
				t.Fatalf("final %+v err %v", final, err)
			}
			if fake.refunds[0].PaymentIntentID != final.Payments[0].PaymentIntentID {
				t.Fatalf("refunded %s, paid %s", fake.refunds[0].PaymentIntentID, final.Payments[0].PaymentIntentID)
			}
			if fake.emailKinds()["withdrawal_confirmed"] != 1 {
				t.Fatalf("emails %v", fake.emailKinds())
			}
		})
	}
}

func TestWithdrawalSignal(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-01-01T00:30:00Z"), fake)
	h.at(day(3), func() { h.env.SignalWorkflow(api.SignalWithdraw, map[string]any{}) })
	final, err := h.run(input(noOffer), day(40))
	if err != nil || final.EndReason != api.EndWithdrawn || len(fake.refunds) != 1 {
		t.Fatalf("final %+v err %v refunds %d", final, err, len(fake.refunds))
	}
}

func TestInvalidSignalIsRecordedAndChangesNothing(t *testing.T) {
	h := newHarness(t, date("2026-01-01T00:30:00Z"), newFake())
	h.at(day(3), func() { h.env.SignalWorkflow(api.SignalCancel, map[string]any{"reason": 42}) })
	h.at(day(20), func() { h.env.SignalWorkflow(api.SignalWithdraw, nil) }) // after day 14
	st := h.stateAt(day(21))
	_, _ = h.run(input(noOffer), day(22))
	if st.Status != api.StatusActive || len(st.Rejected) != 2 ||
		st.Rejected[0].Signal != api.SignalCancel || !strings.Contains(st.Rejected[1].Error, "withdrawal period ended") {
		t.Fatalf("state %s rejected %+v", st.Status, st.Rejected)
	}
}

func TestPriceChangeNeedsThirtyDaysNotice(t *testing.T) {
	fake := newFake()
	t0 := date("2026-01-10T09:00:00Z")
	h := newHarness(t, t0, fake)
	short := h.update(day(1), api.UpdateSchedulePriceChange, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: t0.Add(day(30))})
	ok := h.update(day(1), api.UpdateSchedulePriceChange, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: t0.Add(day(31))})
	st := h.stateAt(day(100))
	_, _ = h.run(input(noOffer), day(101))
	if short.rejected == nil || !strings.Contains(short.rejected.Error(), "30 days") {
		t.Fatalf("29 days of notice: %+v", short)
	}
	var r api.PriceChangeResult
	ok.decode(t, &r)
	if !r.AppliesFrom.Equal(date("2026-02-10T09:00:00Z")) {
		t.Fatalf("applies from %s, want the billing date on the effective date", r.AppliesFrom)
	}
	var amounts []int64
	for _, p := range st.Payments {
		amounts = append(amounts, p.AmountMinor)
	}
	if !slices.Equal(amounts, []int64{995, 1295, 1295, 1295}) {
		t.Fatalf("amounts %v", amounts)
	}
	if fake.emailKinds()["price_change_notice"] != 1 {
		t.Fatalf("emails %v", fake.emailKinds())
	}
}

func TestPlanChangeAtNextBillingDate(t *testing.T) {
	fake := newFake()
	t0 := date("2026-01-31T09:00:00Z")
	h := newHarness(t, t0, fake)
	res := h.update(day(5), api.UpdateChangePlan, api.ChangePlanRequest{Plan: api.PlanAnnual})
	same := h.update(day(6), api.UpdateChangePlan, api.ChangePlanRequest{Plan: api.PlanMonthly})
	again := h.update(day(7), api.UpdateChangePlan, api.ChangePlanRequest{Plan: api.PlanAnnual})
	st := h.stateAt(day(400))
	_, _ = h.run(input(noOffer), day(401))
	var r api.ChangePlanResult
	res.decode(t, &r)
	if !r.EffectiveAt.Equal(date("2026-02-28T09:00:00Z")) {
		t.Fatalf("effective at %s", r.EffectiveAt)
	}
	same.decode(t, &r) // back to monthly withdraws the pending change
	again.decode(t, &r)
	var got []string
	for _, c := range st.Payments {
		got = append(got, c.At.Format(time.DateOnly)+"="+string(rune('0'+c.AmountMinor/995)))
	}
	if want := []string{"2026-01-31=1", "2026-02-28=:", "2027-02-28=:"}; !slices.Equal(got, want) {
		t.Fatalf("charges %v, want monthly then annual anchored on Feb 28: %v", got, want)
	}
	if st.Plan != api.PlanAnnual {
		t.Fatalf("plan %s", st.Plan)
	}
}

func TestTerminateEndsAtOnceWithoutRefund(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	empty := h.update(day(3), api.UpdateTerminate, api.TerminateRequest{})
	res := h.update(day(4), api.UpdateTerminate, api.TerminateRequest{Reason: "resale of access"})
	final, err := h.run(input(noOffer), day(60))
	if empty.rejected == nil {
		t.Fatal("termination without a reason accepted")
	}
	var r api.TerminateResult
	res.decode(t, &r)
	if err != nil || r.Status != api.StatusEnded || final.EndReason != api.EndTerminated || final.AccessActive ||
		len(fake.refunds) != 0 || !final.EndedAt.Equal(date("2026-02-04T09:00:00Z")) {
		t.Fatalf("answer %+v final %+v err %v", r, final, err)
	}
}

func TestReturningSubscriberIsChargedAtOnce(t *testing.T) {
	fake := newFake()
	t0 := date("2026-05-20T09:00:00Z")
	fake.prior = []activities.PriorSubscription{{RunID: "r1", StartAt: date("2025-05-01T00:00:00Z"), EndAt: date("2026-05-01T00:00:00Z")}}
	h := newHarness(t, t0, fake)
	st := h.stateAt(time.Hour)
	_, _ = h.run(input(), 2*time.Hour)
	if st.TrialGranted || !strings.Contains(st.TrialIneligibleReason, "2026-05-01") || st.Status != api.StatusActive ||
		len(fake.calls) != 1 || st.TrialEndsAt != nil {
		t.Fatalf("state %+v, %d charges", st, len(fake.calls))
	}
}

// TestEligibilityQueuesNotGivesTrialsAway: visibility answers nothing for
// ten minutes (rate-limited by a burst of starts, or down): the returning
// subscriber's start waits for the look-up rather than granting a trial it
// cannot check, then is charged at once.
func TestEligibilityQueuesNotGivesTrialsAway(t *testing.T) {
	fake := newFake()
	t0 := date("2026-05-20T09:00:00Z")
	fake.prior = []activities.PriorSubscription{{RunID: "r1", StartAt: date("2025-05-01T00:00:00Z"), EndAt: date("2026-05-01T00:00:00Z")}}
	fake.priorFailures = 15 // with the retry policy's backoff (1 s doubling to 1 min): over 10 minutes
	h := newHarness(t, t0, fake)
	st := h.stateAt(time.Hour)
	_, _ = h.run(input(), 2*time.Hour)
	if st.TrialGranted || st.Status != api.StatusActive || len(fake.calls) != 1 || fake.emailKinds()["trial_started"] != 0 {
		t.Fatalf("state %s trial %v, %d charges, emails %v", st.Status, st.TrialGranted, len(fake.calls), fake.emailKinds())
	}
}

func TestEmailFailuresNeverBlockBilling(t *testing.T) {
	fake := newFake()
	fake.failEmail = true
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	st := h.stateAt(day(100))
	_, _ = h.run(input(noOffer), day(101))
	if len(paymentDates(*st, api.PaymentSucceeded)) != 4 || st.Status != api.StatusActive {
		t.Fatalf("payments %v status %s", paymentDates(*st, api.PaymentSucceeded), st.Status)
	}
}

func TestContinueAsNewCarriesAPendingSignal(t *testing.T) {
	// The cancel signal arrives with the last cycle of the run: the next run
	// must start canceled and end at the period's end, charging nothing more.
	fake := newFake()
	t0 := date("2026-01-15T09:00:00Z")
	h := newHarness(t, t0, fake)
	lastCycle := date("2027-12-15T09:00:00Z").Sub(t0)
	h.at(lastCycle, func() { h.env.SignalWorkflow(api.SignalCancel, api.CancelRequest{Reason: "moving"}) })
	_, err := h.run(input(noOffer), day(3*365))
	next := continued(t, err)
	fake2 := newFake()
	h2 := newHarness(t, t0.Add(lastCycle), fake2)
	h2.env.SetContinuedExecutionRunID("first-run")
	final, err := h2.run(next, day(365))
	if err != nil {
		t.Fatal(err)
	}
	if final.EndReason != api.EndCanceled || final.CancelReason != "moving" || !final.EndedAt.Equal(date("2028-01-15T09:00:00Z")) ||
		len(fake2.calls) != 0 || final.Cycle != MaxCyclesPerRun || final.ContinuedAsNewTimes != 1 {
		t.Fatalf("final %+v, %d charges in the second run", final, len(fake2.calls))
	}
}

func TestInvalidInputFailsWithInvalidInput(t *testing.T) {
	h := newHarness(t, date("2026-01-31T09:00:00Z"), newFake())
	_, err := h.run(input(func(in *api.Input) { in.Currency = "CHF" }), day(1))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeInvalidInput || !strings.Contains(appErr.Error(), "currency") {
		t.Fatalf("got %v", err)
	}
}

func TestContinueAsNewWhenTheServerSuggests(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	h.env.SetContinueAsNewSuggested(true)
	_, err := h.run(input(noOffer), day(365))
	next := continued(t, err)
	if len(fake.calls) != 1 || len(next.Continued) == 0 {
		t.Fatalf("continued after %d charges with %d bytes of state", len(fake.calls), len(next.Continued))
	}
}

func TestContinuedStateFromACallerIsRefused(t *testing.T) {
	h := newHarness(t, date("2026-01-31T09:00:00Z"), newFake())
	_, err := h.run(input(func(in *api.Input) { in.Continued = []byte(`{"subscription":{"keyPrefix":"someone-else"}}`) }), day(1))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeInvalidInput || !strings.Contains(appErr.Error(), "continued") {
		t.Fatalf("got %v", err)
	}
}

func TestTestClockRunsMonthsInDays(t *testing.T) {
	// At 1440× a real day is about four subscription years; 10 real days cover the trial.
	fake := newFake()
	h := newHarness(t, date("2026-11-24T12:00:00Z"), fake)
	st := h.stateAt(time.Hour + 30*time.Minute) // 90 days of subscription time
	_, _ = h.run(input(func(in *api.Input) {
		in.TestClock = &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: 1440}
		in.InstalledAt = "2026-01-30T09:00:00Z"
	}), 2*time.Hour)
	if !st.ContractStartAt.Equal(date("2026-01-30T09:00:00Z")) || st.Now.Before(date("2026-05-01T09:00:00Z")) {
		t.Fatalf("contract start %s, now %s", st.ContractStartAt, st.Now)
	}
	if got := paymentDates(*st, api.PaymentSucceeded); !slices.Equal(got, []string{"2026-04-30"}) {
		t.Fatalf("charges on %v, want the trial end", got)
	}
}

func TestRequestsWhileTheLastEmailsGoOut(t *testing.T) {
	// The subscription has ended but its last emails are still being sent:
	// a cancel then still gets its (same) answer and the workflow completes.
	fake := newFake()
	h := newHarness(t, date("2026-03-10T08:00:00Z"), fake)
	h.env.OnActivity(acts.SendEmail, mock.Anything, mock.Anything).After(time.Hour).Return(nil)
	first := h.update(day(10), api.UpdateCancel, api.CancelRequest{})
	trialEnd := date("2026-06-10T08:00:00Z").Sub(date("2026-03-10T08:00:00Z"))
	late := h.update(trialEnd+30*time.Minute, api.UpdateCancel, api.CancelRequest{})
	final, err := h.run(input(), day(365))
	if err != nil || final.Status != api.StatusEnded {
		t.Fatalf("final %+v err %v", final, err)
	}
	var r1, r2 api.CancelResult
	first.decode(t, &r1)
	late.decode(t, &r2)
	if r2 != r1 {
		t.Fatalf("late cancel answered %+v, first %+v", r2, r1)
	}
}

func TestRequestComesAfterWhatFellDueBeforeIt(t *testing.T) {
	// The loop is busy (a slow payment-method check) across the Feb 10
	// billing date; a plan change that arrived after that date must not
	// reach back to it: Feb 10 is billed monthly, the change starts Mar 10.
	fake := newFake()
	t0 := date("2026-01-10T09:00:00Z")
	h := newHarness(t, t0, fake)
	h.env.OnActivity(acts.CheckPaymentMethod, mock.Anything, mock.Anything).After(2*time.Hour).
		Return(activities.PaymentMethodResult{PaymentMethodID: "pm_card_mastercard", Type: "card"}, nil)
	feb10 := date("2026-02-10T09:00:00Z").Sub(t0)
	h.update(feb10-time.Hour, api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_mastercard"})
	change := h.update(feb10+30*time.Minute, api.UpdateChangePlan, api.ChangePlanRequest{Plan: api.PlanAnnual})
	st := h.stateAt(day(70))
	_, _ = h.run(input(noOffer), day(71))
	var r api.ChangePlanResult
	change.decode(t, &r)
	if !r.EffectiveAt.Equal(date("2026-03-10T09:00:00Z")) {
		t.Fatalf("plan change effective %s, want the next billing date after its arrival", r.EffectiveAt)
	}
	var amounts []int64
	for _, p := range st.Payments {
		amounts = append(amounts, p.AmountMinor)
	}
	if !slices.Equal(amounts, []int64{995, 995, 9950}) {
		t.Fatalf("charged %v, want 995 (Jan 10), 995 (Feb 10), 9950 (Mar 10)", amounts)
	}
}

func TestWithdrawalWhoseRefundFailsStillEndsAndRefundsLater(t *testing.T) {
	fake := newFake()
	fake.refundFailures = 2 // at the withdrawal, and again as the run settles; an hour later it goes through
	h := newHarness(t, date("2026-01-01T10:00:00Z"), fake)
	res := h.update(day(3), api.UpdateWithdraw, api.WithdrawRequest{})
	right := h.stateAt(day(3) + time.Minute)
	final, err := h.run(input(noOffer), day(60))
	var r api.WithdrawResult
	res.decode(t, &r)
	if r.RefundedMinor != 0 || r.PendingRefundMinor != 995 {
		t.Fatalf("withdraw answered %+v", r)
	}
	if right.Status != api.StatusEnded || right.EndReason != api.EndWithdrawn || right.AccessActive {
		t.Fatalf("right after: %s %s access %v", right.Status, right.EndReason, right.AccessActive)
	}
	if err != nil || len(fake.refunds) != 1 || final.Payments[0].Status != api.PaymentRefunded || len(fake.calls) != 1 {
		t.Fatalf("final %+v err %v refunds %d charges %d", final, err, len(fake.refunds), len(fake.calls))
	}
}

func TestWithdrawalAfterAnUnansweredChargeRefundsItOnceAnswered(t *testing.T) {
	// The first charge gets no answer (it may have gone through); the
	// customer withdraws meanwhile. The charge is asked again under its key
	// and, taken, is refunded.
	fake := newFake()
	fake.unanswered = 1000
	h := newHarness(t, date("2026-01-01T10:00:00Z"), fake)
	res := h.update(20*time.Minute, api.UpdateWithdraw, api.WithdrawRequest{})
	h.at(30*time.Minute, func() {
		fake.mu.Lock()
		fake.unanswered = 0
		fake.mu.Unlock()
	})
	final, err := h.run(input(noOffer), day(30))
	var r api.WithdrawResult
	res.decode(t, &r)
	if r.PendingRefundMinor != 995 {
		t.Fatalf("withdraw answered %+v", r)
	}
	if err != nil || final.EndReason != api.EndWithdrawn || len(final.Payments) != 1 || final.Payments[0].Status != api.PaymentRefunded ||
		len(fake.refunds) != 1 || fake.refunds[0].PaymentIntentID != final.Payments[0].PaymentIntentID {
		t.Fatalf("final %+v err %v refunds %+v", final, err, fake.refunds)
	}
	for _, c := range fake.calls {
		if c.IdempotencyKey != fake.calls[0].IdempotencyKey {
			t.Fatalf("asked again under a new key %s", c.IdempotencyKey)
		}
	}
}

// TestFirstOfAccountNeedsNoLookUp: a start the client made as the
// account's first (the server refused none) grants the trial without
// reading visibility; the same start not so marked looks up.
func TestFirstOfAccountNeedsNoLookUp(t *testing.T) {
	for _, first := range []bool{true, false} {
		fake := newFake()
		h := newHarness(t, date("2026-05-20T09:00:00Z"), fake)
		st := h.stateAt(time.Hour)
		in := input()
		in.FirstOfAccount = first
		_, _ = h.run(in, 2*time.Hour)
		if want := map[bool]int{true: 0, false: 1}[first]; fake.priorCalls != want || !st.TrialGranted {
			t.Fatalf("firstOfAccount %v: %d look-ups (want %d), trial %v", first, fake.priorCalls, want, st.TrialGranted)
		}
	}
}
