package billing_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

func TestCancelDuringTrial(t *testing.T) {
	s := newSub(api.PlanMonthly, api.OfferBodyScan, at("2026-01-15T10:00:00Z"))
	trialEnd := at("2026-04-15T10:00:00Z")
	m := newSim(t, s).runUntil(at("2026-02-01T00:00:00Z"))
	res, err := s.Cancel(m.now, "too expensive")
	if err != nil || res.Status != api.StatusCanceling || !res.AccessUntil.Equal(trialEnd) {
		t.Fatalf("Cancel = %+v, %v; want canceling until the trial end", res, err)
	}
	st := s.State(m.now)
	if st.Status != api.StatusCanceling || !st.AccessActive || st.NextChargeAt != nil || !ptrEq(st.AccessUntil, trialEnd) || st.CancelReason != "too expensive" {
		t.Fatalf("state %s access %v next %s until %s reason %q", st.Status, st.AccessActive, fmtPtr(st.NextChargeAt), fmtPtr(st.AccessUntil), st.CancelReason)
	}
	again, err := s.Cancel(at("2026-03-01T00:00:00Z"), "changed my mind")
	if err != nil || again != res {
		t.Fatalf("second Cancel = %+v, %v; want %+v", again, err, res)
	}
	if s.CancelReason != "too expensive" {
		t.Fatalf("reason replaced by the second cancel: %q", s.CancelReason)
	}
	m.runUntil(at("2027-01-01T00:00:00Z"))
	if len(m.charges()) != 0 || len(s.Payments) != 0 {
		t.Fatalf("a trial canceled must never be charged: %v", dates(m.charges()))
	}
	if n := len(m.kinds(billing.EventTrialEnding)); n != 0 {
		t.Fatalf("trial_ending sent %d times after cancellation", n)
	}
	ends := m.kinds(billing.EventEnd)
	if len(ends) != 1 || !ends[0].At.Equal(trialEnd) {
		t.Fatalf("end events %v, want one at the trial end", dates(ends))
	}
	st = s.State(m.now)
	if st.Status != api.StatusEnded || st.EndReason != api.EndCanceled || st.AccessActive || !ptrEq(st.EndedAt, trialEnd) || !ptrEq(st.AccessUntil, trialEnd) {
		t.Fatalf("ended state %s %s access %v endedAt %s", st.Status, st.EndReason, st.AccessActive, fmtPtr(st.EndedAt))
	}
	if _, ok := s.NextEvent(); ok {
		t.Fatalf("events after the end")
	}
	after, err := s.Cancel(m.now, "")
	if err != nil || after.Status != api.StatusCanceling || !after.AccessUntil.Equal(trialEnd) {
		t.Fatalf("Cancel after the end = %+v, %v; want the first answer again", after, err)
	}
}

func TestCancelMidPeriod(t *testing.T) {
	tests := []struct {
		name, plan, installed, cancelAt, until string
	}{
		{"monthly", api.PlanMonthly, "2026-01-31T10:00:00Z", "2026-02-10T00:00:00Z", "2026-02-28T10:00:00Z"},
		{"monthly, second period", api.PlanMonthly, "2026-01-31T10:00:00Z", "2026-03-01T00:00:00Z", "2026-03-31T10:00:00Z"},
		{"annual", api.PlanAnnual, "2026-03-01T10:00:00Z", "2026-06-01T00:00:00Z", "2027-03-01T10:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSub(tc.plan, "", at(tc.installed))
			m := newSim(t, s).runUntil(at(tc.cancelAt))
			paidBefore := len(s.Payments)
			res, err := s.Cancel(m.now, "")
			if err != nil || res.Status != api.StatusCanceling || !res.AccessUntil.Equal(at(tc.until)) {
				t.Fatalf("Cancel = %+v, %v; want canceling until %s", res, err, tc.until)
			}
			if st := s.State(m.now); !st.AccessActive || st.NextChargeAt != nil || !ptrEq(st.AccessUntil, at(tc.until)) {
				t.Fatalf("state access %v next %s until %s", st.AccessActive, fmtPtr(st.NextChargeAt), fmtPtr(st.AccessUntil))
			}
			m.runUntil(at(tc.until).AddDate(3, 0, 0))
			if len(s.Payments) != paidBefore {
				t.Fatalf("charged after cancellation: %v", dates(m.charges()))
			}
			if !s.Ended || s.EndReason != api.EndCanceled || !s.EndedAt.Equal(at(tc.until)) || s.AccessActive() {
				t.Fatalf("ended %v reason %s at %s", s.Ended, s.EndReason, s.EndedAt)
			}
			// Payments are not refunded on cancellation.
			for _, p := range s.Payments {
				if p.Status != api.PaymentSucceeded {
					t.Fatalf("payment %+v", p)
				}
			}
		})
	}
}

func TestCancelAtTheBillingDate(t *testing.T) {
	// Canceled at the very moment the paid period ends, before the charge:
	// nothing more is charged and the subscription ends at once.
	s := newSub(api.PlanMonthly, "", at("2026-01-31T10:00:00Z"))
	m := newSim(t, s).runUntil(at("2026-02-28T09:59:59Z"))
	res, err := s.Cancel(at("2026-02-28T10:00:00Z"), "")
	if err != nil || res.Status != api.StatusEnded || !res.AccessUntil.Equal(at("2026-02-28T10:00:00Z")) {
		t.Fatalf("Cancel = %+v, %v", res, err)
	}
	m.runUntil(at("2026-06-01T00:00:00Z"))
	if len(s.Payments) != 1 {
		t.Fatalf("payments %d", len(s.Payments))
	}
}

func TestCancelWhileSuspended(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = declineCycles(2)
	m.runUntil(at("2026-04-20T00:00:00Z"))
	if s.Status() != api.StatusSuspended {
		t.Fatalf("status %s", s.Status())
	}
	now := at("2026-04-20T00:00:00Z")
	res, err := s.Cancel(now, "")
	if err != nil || res.Status != api.StatusEnded || !res.AccessUntil.Equal(now) {
		t.Fatalf("Cancel = %+v, %v; want ended at once", res, err)
	}
	if s.AccessActive() || s.EndReason != api.EndCanceled || s.Outstanding() != 995 {
		t.Fatalf("access %v reason %s outstanding %d: the unpaid amount stays due", s.AccessActive(), s.EndReason, s.Outstanding())
	}
	if _, ok := s.NextEvent(); ok {
		t.Fatalf("events after the end")
	}
	if _, ok := s.NextChargeAt(); ok {
		t.Fatalf("a charge is announced after the end")
	}
}

func TestCancelWhilePastDue(t *testing.T) {
	t.Run("retries exhausted: ends at the last decline", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
		m := newSim(t, s)
		m.answer = declineCycles(2)
		m.runUntil(at("2026-04-12T00:00:00Z"))
		res, err := s.Cancel(m.now, "")
		if err != nil || res.Status != api.StatusCanceling || !res.AccessUntil.Equal(at("2026-05-10T12:00:00Z")) {
			t.Fatalf("Cancel = %+v, %v", res, err)
		}
		if at, ok := s.NextChargeAt(); !ok || !at.Equal(time.Date(2026, 4, 13, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("the retries go on before the access ends: next charge %s %v", at, ok)
		}
		m.runUntil(at("2026-06-01T00:00:00Z"))
		if !s.Ended || s.EndReason != api.EndCanceled || !s.EndedAt.Equal(at("2026-04-17T12:00:00Z")) || s.Outstanding() != 995 {
			t.Fatalf("ended %v %s at %s outstanding %d", s.Ended, s.EndReason, s.EndedAt, s.Outstanding())
		}
		if len(m.charges()) != 6 { // cycle 1, cycle 2, four retries; no cycle 3
			t.Fatalf("attempts %v", dates(m.charges()))
		}
	})
	t.Run("a retry pays: access to the period end", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
		m := newSim(t, s)
		m.answer = script(map[string][]outcome{"2/0": {declined}})
		m.runUntil(at("2026-04-10T18:00:00Z"))
		if _, err := s.Cancel(m.now, ""); err != nil {
			t.Fatal(err)
		}
		m.runUntil(at("2026-06-01T00:00:00Z"))
		if !s.Ended || !s.EndedAt.Equal(at("2026-05-10T12:00:00Z")) || s.Outstanding() != 0 || len(m.charges()) != 3 {
			t.Fatalf("ended %v at %s outstanding %d attempts %v", s.Ended, s.EndedAt, s.Outstanding(), dates(m.charges()))
		}
	})
}

func TestWithdraw(t *testing.T) {
	t.Run("refunds every payment received", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-01T10:00:00Z"))
		m := newSim(t, s)
		m.answer = script(map[string][]outcome{"1/0": {declined}}) // a failed attempt, then paid at retry 1
		m.runUntil(at("2026-03-10T00:00:00Z"))
		now := m.now
		if err := s.CheckWithdraw(now); err != nil {
			t.Fatal(err)
		}
		refundable := s.Refundable()
		if len(refundable) != 1 || refundable[0].Status != api.PaymentSucceeded || refundable[0].AmountMinor != 995 || refundable[0].PaymentIntentID != "pi_2" {
			t.Fatalf("refundable %+v, want only the successful payment", refundable)
		}
		s.Refunded(refundable[0].PaymentIntentID, "re_1")
		s.Withdrawn(now)
		if len(s.Refundable()) != 0 {
			t.Fatalf("still refundable after the refund: %+v", s.Refundable())
		}
		st := s.State(now)
		if st.Status != api.StatusEnded || st.EndReason != api.EndWithdrawn || st.AccessActive || !ptrEq(st.AccessUntil, now) ||
			!ptrEq(st.EndedAt, now) || st.OutstandingMinor != 0 || st.NextChargeAt != nil {
			t.Fatalf("state %+v", st)
		}
		if p := st.Payments[1]; p.Status != api.PaymentRefunded || p.RefundID != "re_1" {
			t.Fatalf("payment %+v", p)
		}
		if p := st.Payments[0]; p.Status != api.PaymentFailed || p.RefundID != "" {
			t.Fatalf("the failed payment changed: %+v", p)
		}
		if _, ok := s.NextEvent(); ok {
			t.Fatalf("events after withdrawal")
		}
		if err := s.CheckWithdraw(now); !errors.Is(err, billing.ErrEnded) {
			t.Fatalf("second withdrawal: %v", err)
		}
	})
	t.Run("during a trial: nothing to refund", func(t *testing.T) {
		s := newSub(api.PlanAnnual, api.OfferBodyScan, at("2026-03-01T10:00:00Z"))
		now := at("2026-03-15T23:59:59Z")
		if err := s.CheckWithdraw(now); err != nil {
			t.Fatal(err)
		}
		if r := s.Refundable(); len(r) != 0 {
			t.Fatalf("refundable %+v", r)
		}
		s.Withdrawn(now)
		if s.Status() != api.StatusEnded || s.EndReason != api.EndWithdrawn {
			t.Fatalf("status %s", s.Status())
		}
	})
	t.Run("outstanding amount cleared", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-01T10:00:00Z"))
		m := newSim(t, s)
		m.answer = declineCycles(1)
		m.runUntil(at("2026-03-05T00:00:00Z"))
		s.Withdrawn(m.now)
		if s.Outstanding() != 0 || s.Status() != api.StatusEnded {
			t.Fatalf("outstanding %d status %s", s.Outstanding(), s.Status())
		}
	})
	t.Run("while canceling: access ends at once", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-01T10:00:00Z"))
		m := newSim(t, s).runUntil(at("2026-03-05T00:00:00Z"))
		if _, err := s.Cancel(m.now, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckWithdraw(m.now); err != nil {
			t.Fatalf("withdrawal refused while canceling: %v", err)
		}
		s.Withdrawn(m.now)
		if !s.AccessUntil.Equal(m.now) || s.EndReason != api.EndWithdrawn {
			t.Fatalf("accessUntil %s reason %s", s.AccessUntil, s.EndReason)
		}
	})
	t.Run("after day 14", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-03-01T10:00:00Z"))
		if err := s.CheckWithdraw(at("2026-03-15T23:59:59Z")); err != nil {
			t.Fatalf("day 14 refused: %v", err)
		}
		err := s.CheckWithdraw(at("2026-03-16T00:00:00Z"))
		if err == nil || !strings.Contains(err.Error(), "2026-03-15") {
			t.Fatalf("day 15: %v", err)
		}
	})
}

func TestTerminate(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = declineCycles(2)
	m.runUntil(at("2026-04-12T00:00:00Z")) // past due, retries pending
	for _, reason := range []string{"", "   ", "\t\n"} {
		if err := s.CheckTerminate(reason); err == nil {
			t.Fatalf("CheckTerminate(%q) accepted", reason)
		}
		if err := s.Terminate(m.now, reason); err == nil || s.Ended {
			t.Fatalf("Terminate(%q) = %v, ended %v", reason, err, s.Ended)
		}
	}
	if err := s.CheckTerminate("abuse of the terms"); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate(m.now, "abuse of the terms"); err != nil {
		t.Fatal(err)
	}
	st := s.State(m.now)
	if st.Status != api.StatusEnded || st.EndReason != api.EndTerminated || st.AccessActive || st.TerminateReason != "abuse of the terms" ||
		!ptrEq(st.AccessUntil, m.now) || !ptrEq(st.EndedAt, m.now) {
		t.Fatalf("state %+v", st)
	}
	if st.NextChargeAt != nil {
		t.Fatalf("a terminated subscription announces a charge at %s", fmtPtr(st.NextChargeAt))
	}
	if _, ok := s.NextEvent(); ok {
		t.Fatalf("events after termination")
	}
	if s.Payments[0].Status != api.PaymentSucceeded {
		t.Fatalf("termination refunded: %+v", s.Payments[0])
	}
	if err := s.Terminate(m.now, "again"); !errors.Is(err, billing.ErrEnded) {
		t.Fatalf("second Terminate: %v", err)
	}
	if err := s.CheckTerminate("again"); !errors.Is(err, billing.ErrEnded) {
		t.Fatalf("CheckTerminate after the end: %v", err)
	}
	if _, err := s.Cancel(m.now, ""); !errors.Is(err, billing.ErrEnded) {
		t.Fatalf("Cancel after termination: %v", err)
	}
	if err := s.CheckPaymentMethodUpdate("pm_card_visa"); !errors.Is(err, billing.ErrEnded) {
		t.Fatalf("payment method update after termination: %v", err)
	}
}

func TestTerminateWhileCanceling(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s).runUntil(at("2026-03-20T00:00:00Z"))
	if _, err := s.Cancel(m.now, ""); err != nil {
		t.Fatal(err)
	}
	now := at("2026-03-25T00:00:00Z")
	if err := s.Terminate(now, "fraud"); err != nil {
		t.Fatal(err)
	}
	if !s.AccessUntil.Equal(now) || s.EndReason != api.EndTerminated || s.AccessActive() {
		t.Fatalf("accessUntil %s reason %s", s.AccessUntil, s.EndReason)
	}
	// Cancel after a termination is not a cancellation's repeat.
	if _, err := s.Cancel(now, ""); !errors.Is(err, billing.ErrEnded) {
		t.Fatalf("Cancel = %v", err)
	}
}

func TestChangePlan(t *testing.T) {
	t.Run("monthly to annual at the next billing date", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-01-31T10:00:00Z"))
		m := newSim(t, s).runUntil(at("2026-02-05T00:00:00Z"))
		res, err := s.ChangePlan(api.PlanAnnual)
		if err != nil || !res.EffectiveAt.Equal(at("2026-02-28T10:00:00Z")) {
			t.Fatalf("ChangePlan = %+v, %v", res, err)
		}
		st := s.State(m.now)
		if st.Plan != api.PlanMonthly || st.PendingPlan != api.PlanAnnual || !ptrEq(st.PendingPlanAt, at("2026-02-28T10:00:00Z")) || st.PriceMinor != 995 {
			t.Fatalf("state plan %s pending %s at %s price %d", st.Plan, st.PendingPlan, fmtPtr(st.PendingPlanAt), st.PriceMinor)
		}
		m.runUntil(at("2029-03-01T00:00:00Z"))
		// The new anchor is Feb 28: the 28th in 2028 too.
		want := []string{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2027-02-28T10:00:00Z", "2028-02-28T10:00:00Z", "2029-02-28T10:00:00Z"}
		if got := dates(m.charges()); !slices.Equal(got, want) {
			t.Fatalf("charges %v, want %v", got, want)
		}
		var amounts []int64
		for _, c := range m.charges() {
			amounts = append(amounts, c.Charge.AmountMinor)
		}
		if !slices.Equal(amounts, []int64{995, 9950, 9950, 9950, 9950}) {
			t.Fatalf("amounts %v", amounts)
		}
		if s.Plan != api.PlanAnnual || s.PendingPlan != "" {
			t.Fatalf("plan %s pending %s", s.Plan, s.PendingPlan)
		}
		if st := s.State(m.now); st.PriceMinor != 9950 || st.PendingPlanAt != nil {
			t.Fatalf("state price %d pendingAt %s", st.PriceMinor, fmtPtr(st.PendingPlanAt))
		}
	})
	t.Run("annual to monthly", func(t *testing.T) {
		s := newSub(api.PlanAnnual, "", at("2026-03-31T10:00:00Z"))
		m := newSim(t, s).runUntil(at("2026-06-01T00:00:00Z"))
		res, err := s.ChangePlan(api.PlanMonthly)
		if err != nil || !res.EffectiveAt.Equal(at("2027-03-31T10:00:00Z")) {
			t.Fatalf("ChangePlan = %+v, %v", res, err)
		}
		m.runUntil(at("2027-07-01T00:00:00Z"))
		want := []string{"2026-03-31T10:00:00Z", "2027-03-31T10:00:00Z", "2027-04-30T10:00:00Z", "2027-05-31T10:00:00Z", "2027-06-30T10:00:00Z"}
		if got := dates(m.charges()); !slices.Equal(got, want) {
			t.Fatalf("charges %v, want %v", got, want)
		}
		if c := m.charges(); c[0].Charge.AmountMinor != 9950 || c[1].Charge.AmountMinor != 995 {
			t.Fatalf("amounts %d %d", c[0].Charge.AmountMinor, c[1].Charge.AmountMinor)
		}
	})
	t.Run("during the trial: the first charge is on the new plan", func(t *testing.T) {
		s := newSub(api.PlanMonthly, api.OfferBodyScan, at("2026-01-15T10:00:00Z"))
		m := newSim(t, s).runUntil(at("2026-02-01T00:00:00Z"))
		res, err := s.ChangePlan(api.PlanAnnual)
		if err != nil || !res.EffectiveAt.Equal(at("2026-04-15T10:00:00Z")) {
			t.Fatalf("ChangePlan = %+v, %v", res, err)
		}
		m.runUntil(at("2027-04-15T10:00:00Z"))
		c := m.charges()
		if got := dates(c); !slices.Equal(got, []string{"2026-04-15T10:00:00Z", "2027-04-15T10:00:00Z"}) || c[0].Charge.AmountMinor != 9950 {
			t.Fatalf("charges %v %+v", got, c)
		}
	})
	t.Run("asking for the current plan withdraws a pending change", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", at("2026-01-31T10:00:00Z"))
		m := newSim(t, s).runUntil(at("2026-02-05T00:00:00Z"))
		if _, err := s.ChangePlan(api.PlanAnnual); err != nil {
			t.Fatal(err)
		}
		res, err := s.ChangePlan(api.PlanMonthly)
		if err != nil || !res.EffectiveAt.Equal(at("2026-02-28T10:00:00Z")) || s.PendingPlan != "" {
			t.Fatalf("ChangePlan back = %+v, %v, pending %q", res, err, s.PendingPlan)
		}
		if _, err := s.ChangePlan(api.PlanMonthly); err == nil || !strings.Contains(err.Error(), "already") {
			t.Fatalf("same plan without a pending change: %v", err)
		}
		m.runUntil(at("2026-03-31T10:00:00Z"))
		for _, c := range m.charges() {
			if c.Charge.AmountMinor != 995 {
				t.Fatalf("withdrawn change applied: %+v", c)
			}
		}
		if got := dates(m.charges()); !slices.Equal(got, []string{"2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z"}) {
			t.Fatalf("charges %v: the anchor must not move", got)
		}
	})
	t.Run("rejections", func(t *testing.T) {
		s := newSub(api.PlanAnnual, "", at("2026-01-31T10:00:00Z"))
		newSim(t, s).runUntil(at("2026-02-01T00:00:00Z"))
		if _, err := s.ChangePlan(api.PlanAnnual); err == nil {
			t.Fatalf("same plan accepted")
		}
		for _, plan := range []string{"", "weekly", "Monthly"} {
			_, err := s.ChangePlan(plan)
			var ie *api.InputError
			if !errors.As(err, &ie) || ie.Field != "plan" {
				t.Fatalf("ChangePlan(%q) = %v, want an InputError on plan", plan, err)
			}
			if s.PendingPlan != "" {
				t.Fatalf("rejected change recorded: %q", s.PendingPlan)
			}
		}
		if _, err := s.ChangePlan(api.PlanMonthly); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Cancel(at("2026-02-01T00:00:00Z"), ""); err != nil {
			t.Fatal(err)
		}
		if s.PendingPlan != "" {
			t.Fatalf("cancellation kept the pending plan change")
		}
		if err := s.CheckChangePlan(api.PlanMonthly); err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("change after cancellation: %v", err)
		}
		_ = s.Terminate(at("2026-02-02T00:00:00Z"), "breach")
		if _, err := s.ChangePlan(api.PlanMonthly); !errors.Is(err, billing.ErrEnded) {
			t.Fatalf("change after the end: %v", err)
		}
	})
}

func TestSchedulePriceChange(t *testing.T) {
	installed := at("2026-01-15T10:00:00Z")
	day := 24 * time.Hour
	start := func(t *testing.T) (*billing.Subscription, *sim) {
		s := newSub(api.PlanMonthly, "", installed)
		return s, newSim(t, s).runUntil(installed)
	}
	t.Run("notice", func(t *testing.T) {
		tests := []struct {
			name      string
			effective time.Time
			applies   string // "" for rejected
		}{
			{"29 days", installed.Add(29 * day), ""},
			{"30 days less a second", installed.Add(30*day - time.Second), ""},
			{"exactly 30 days", installed.Add(30 * day), "2026-02-15T10:00:00Z"},
			{"31 days: on a billing date", installed.Add(31 * day), "2026-02-15T10:00:00Z"},
			{"a second after a billing date", at("2026-02-15T10:00:01Z"), "2026-03-15T10:00:00Z"},
			{"far ahead", at("2026-07-01T00:00:00Z"), "2026-07-15T10:00:00Z"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, _ := start(t)
				res, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: tc.effective})
				if tc.applies == "" {
					if err == nil || !strings.Contains(err.Error(), "2026-02-14T10:00:00Z") {
						t.Fatalf("SchedulePriceChange = %+v, %v; want rejected naming the earliest date", res, err)
					}
					if len(s.PriceChanges) != 0 {
						t.Fatalf("rejected change recorded")
					}
					return
				}
				if err != nil || !res.AppliesFrom.Equal(at(tc.applies)) {
					t.Fatalf("SchedulePriceChange = %+v, %v; want applies from %s", res, err, tc.applies)
				}
				pc := s.PriceChanges
				if len(pc) != 1 || pc[0].Plan != api.PlanMonthly || pc[0].PriceMinor != 1295 || !pc[0].NotifiedAt.Equal(installed) || !pc[0].AppliesFrom.Equal(at(tc.applies)) {
					t.Fatalf("price changes %+v", pc)
				}
			})
		}
	})
	t.Run("applies from the first billing date on or after effectiveAt", func(t *testing.T) {
		s, m := start(t)
		if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: installed.Add(30 * day)}); err != nil {
			t.Fatal(err)
		}
		if p := s.State(at("2026-02-15T09:59:59Z")).PriceMinor; p != 995 {
			t.Fatalf("price before the change %d", p)
		}
		if p := s.State(at("2026-02-15T10:00:00Z")).PriceMinor; p != 1295 {
			t.Fatalf("price from the change %d", p)
		}
		m.runUntil(at("2026-04-15T10:00:00Z"))
		var amounts []int64
		for _, c := range m.charges() {
			amounts = append(amounts, c.Charge.AmountMinor)
		}
		if !slices.Equal(amounts, []int64{995, 1295, 1295, 1295}) {
			t.Fatalf("amounts %v", amounts)
		}
		if s.Payments[1].AmountMinor != 1295 {
			t.Fatalf("payment %+v", s.Payments[1])
		}
	})
	t.Run("scheduled twice for the same date: replaced", func(t *testing.T) {
		s, m := start(t)
		for _, p := range []int64{1295, 1495} {
			if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: p, EffectiveAt: installed.Add(30 * day)}); err != nil {
				t.Fatal(err)
			}
		}
		// effectiveAt a day later falls on the same billing date: also replaced.
		if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1395, EffectiveAt: installed.Add(31 * day)}); err != nil {
			t.Fatal(err)
		}
		if len(s.PriceChanges) != 1 || s.PriceChanges[0].PriceMinor != 1395 {
			t.Fatalf("price changes %+v", s.PriceChanges)
		}
		m.runUntil(at("2026-02-15T10:00:00Z"))
		if c := m.charges(); c[1].Charge.AmountMinor != 1395 {
			t.Fatalf("charged %d", c[1].Charge.AmountMinor)
		}
	})
	t.Run("two dates, scheduled in any order", func(t *testing.T) {
		for _, order := range [][]int{{0, 1}, {1, 0}} {
			s, m := start(t)
			reqs := []api.PriceChangeRequest{
				{PriceMinor: 1295, EffectiveAt: at("2026-02-15T10:00:00Z")},
				{PriceMinor: 1495, EffectiveAt: at("2026-04-15T10:00:00Z")},
			}
			for _, i := range order {
				if _, err := s.SchedulePriceChange(installed, reqs[i]); err != nil {
					t.Fatal(err)
				}
			}
			m.runUntil(at("2026-05-15T10:00:00Z"))
			var amounts []int64
			for _, c := range m.charges() {
				amounts = append(amounts, c.Charge.AmountMinor)
			}
			if !slices.Equal(amounts, []int64{995, 1295, 1295, 1495, 1495}) {
				t.Fatalf("order %v: amounts %v", order, amounts)
			}
		}
	})
	t.Run("only that plan's charges", func(t *testing.T) {
		s, m := start(t)
		if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: at("2026-03-15T10:00:00Z")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChangePlan(api.PlanAnnual); err != nil { // from Feb 15
			t.Fatal(err)
		}
		m.runUntil(at("2027-02-15T10:00:00Z"))
		var amounts []int64
		for _, c := range m.charges() {
			amounts = append(amounts, c.Charge.AmountMinor)
		}
		if !slices.Equal(amounts, []int64{995, 9950, 9950}) {
			t.Fatalf("amounts %v: the monthly price change must not touch annual charges", amounts)
		}
		if got := s.PriceAt(api.PlanMonthly, at("2026-03-15T10:00:00Z")); got != 1295 {
			t.Fatalf("monthly price %d", got)
		}
		if got := s.PriceAt(api.PlanAnnual, at("2026-03-15T10:00:00Z")); got != 9950 {
			t.Fatalf("annual price %d", got)
		}
	})
	t.Run("with a pending plan change: for the new plan", func(t *testing.T) {
		s, m := start(t)
		if _, err := s.ChangePlan(api.PlanAnnual); err != nil { // from Feb 15 2026
			t.Fatal(err)
		}
		plan, from := s.FirstBillingOnOrAfter(at("2026-03-01T00:00:00Z"))
		if plan != api.PlanAnnual || !from.Equal(at("2027-02-15T10:00:00Z")) {
			t.Fatalf("FirstBillingOnOrAfter = %s %s", plan, from)
		}
		plan, from = s.FirstBillingOnOrAfter(at("2026-02-01T00:00:00Z"))
		if plan != api.PlanAnnual || !from.Equal(at("2026-02-15T10:00:00Z")) {
			t.Fatalf("FirstBillingOnOrAfter = %s %s", plan, from)
		}
		res, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 8950, EffectiveAt: at("2026-03-01T00:00:00Z")})
		if err != nil || !res.AppliesFrom.Equal(at("2027-02-15T10:00:00Z")) || s.PriceChanges[0].Plan != api.PlanAnnual {
			t.Fatalf("SchedulePriceChange = %+v, %v, %+v", res, err, s.PriceChanges)
		}
		m.runUntil(at("2027-02-15T10:00:00Z"))
		var amounts []int64
		for _, c := range m.charges() {
			amounts = append(amounts, c.Charge.AmountMinor)
		}
		if !slices.Equal(amounts, []int64{995, 9950, 8950}) {
			t.Fatalf("amounts %v", amounts)
		}
	})
	t.Run("an open cycle keeps the amount it fell due at", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		m := newSim(t, s)
		m.answer = declineCycles(1, 2)
		m.runUntil(installed)
		if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: installed.Add(30 * day)}); err != nil {
			t.Fatal(err)
		}
		m.runUntil(at("2026-02-20T00:00:00Z"))
		if col := s.Collectable(); len(col) != 2 || col[0].AmountMinor != 995 || col[1].AmountMinor != 1295 || s.Outstanding() != 2290 {
			t.Fatalf("collectable %+v outstanding %d", col, s.Outstanding())
		}
	})
	t.Run("FirstBillingOnOrAfter during a trial", func(t *testing.T) {
		s := newSub(api.PlanMonthly, api.OfferBodyScan, installed)
		for _, tc := range []struct{ t, want string }{
			{"2026-01-20T00:00:00Z", "2026-04-15T10:00:00Z"},
			{"2026-04-15T10:00:00Z", "2026-04-15T10:00:00Z"},
			{"2026-04-15T10:00:01Z", "2026-05-15T10:00:00Z"},
		} {
			if plan, got := s.FirstBillingOnOrAfter(at(tc.t)); plan != api.PlanMonthly || !got.Equal(at(tc.want)) {
				t.Fatalf("FirstBillingOnOrAfter(%s) = %s %s, want %s", tc.t, plan, got, tc.want)
			}
		}
	})
	t.Run("rejections", func(t *testing.T) {
		s, _ := start(t)
		for _, price := range []int64{0, -1, billing.MaxPriceMinor + 1} {
			if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: price, EffectiveAt: installed.Add(60 * day)}); err == nil {
				t.Fatalf("price %d accepted", price)
			}
		}
		if _, err := s.Cancel(installed, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SchedulePriceChange(installed, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: installed.Add(60 * day)}); err == nil {
			t.Fatalf("price change accepted after cancellation")
		}
		if len(s.PriceChanges) != 0 {
			t.Fatalf("rejected changes recorded: %+v", s.PriceChanges)
		}
	})
}

func TestState(t *testing.T) {
	installed := at("2026-03-10T12:00:00+01:00") // 11:00 UTC
	t.Run("trialing", func(t *testing.T) {
		s := newSub(api.PlanAnnual, api.OfferBodySegment, installed)
		now := at("2026-03-11T08:00:00+02:00")
		st := s.State(now)
		trialEnd := at("2026-06-10T11:00:00Z")
		if st.SubscriptionID != "subscription-acc1" || st.AccountID != "acc1" || st.Status != api.StatusTrialing || st.EndReason != "" ||
			!st.AccessActive || st.Plan != api.PlanAnnual || st.Currency != api.CurrencyEUR || st.PriceMinor != 9950 ||
			st.Offer != api.OfferBodySegment || !st.TrialGranted || st.TrialIneligibleReason != "" ||
			!st.ContractStartAt.Equal(installed) || !ptrEq(st.TrialEndsAt, trialEnd) || !ptrEq(st.NextChargeAt, trialEnd) ||
			!ptrEq(st.AccessUntil, trialEnd) || st.OutstandingMinor != 0 || st.Cycle != 0 || st.EndedAt != nil ||
			st.PaymentMethodID != "pm_card_visa" || st.WithdrawalEndsOn != "2026-03-24" || !slices.Equal(st.DunningDays, []int{1, 3, 5, 7}) {
			t.Fatalf("state %+v", st)
		}
		if !st.Now.Equal(now) || st.Now.Location() != time.UTC {
			t.Fatalf("now %s, want %s in UTC", st.Now, now)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"status", "endReason", "accessActive", "plan", "currency", "priceMinor", "offer", "trialGranted",
			"trialIneligibleReason", "contractStartAt", "trialEndsAt", "nextChargeAt", "accessUntil", "outstandingMinor", "cycle",
			"payments", "rejected", "now"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("state JSON lacks %q", k)
			}
		}
		if string(raw["payments"]) != "[]" || string(raw["rejected"]) != "[]" {
			t.Fatalf("payments %s rejected %s, want empty arrays", raw["payments"], raw["rejected"])
		}
		if string(raw["trialEndsAt"]) != `"2026-06-10T11:00:00Z"` || string(raw["contractStartAt"]) != `"2026-03-10T11:00:00Z"` {
			t.Fatalf("times %s %s, want RFC 3339 UTC", raw["trialEndsAt"], raw["contractStartAt"])
		}
	})
	t.Run("active without trial", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		m := newSim(t, s).runUntil(at("2026-03-20T00:00:00Z"))
		st := s.State(m.now)
		next := at("2026-04-10T11:00:00Z")
		if st.Status != api.StatusActive || st.TrialEndsAt != nil || !ptrEq(st.NextChargeAt, next) || !ptrEq(st.AccessUntil, next) ||
			st.Cycle != 1 || len(st.Payments) != 1 || st.PriceMinor != 995 {
			t.Fatalf("state %+v", st)
		}
		b, _ := json.Marshal(st)
		if !strings.Contains(string(b), `"trialEndsAt":null`) || !strings.Contains(string(b), `"endedAt":null`) {
			t.Fatalf("absent times must be null: %s", b)
		}
		// The state is a copy.
		st.Payments[0].Status = "tampered"
		st.DunningDays[0] = 99
		if s.Payments[0].Status != api.PaymentSucceeded || s.Dunning[0] != 1 {
			t.Fatalf("State shares slices with the subscription")
		}
	})
	t.Run("rejected signals", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		for i := range 60 {
			s.Reject(installed.Add(time.Duration(i)*time.Second), api.SignalWithdraw, errors.New("the withdrawal period ended"))
		}
		st := s.State(installed)
		if len(st.Rejected) != 50 {
			t.Fatalf("%d rejected kept, want the last 50", len(st.Rejected))
		}
		if r := st.Rejected[0]; !r.At.Equal(installed.Add(10*time.Second)) || r.Signal != api.SignalWithdraw || r.Error != "the withdrawal period ended" {
			t.Fatalf("oldest kept %+v", r)
		}
	})
}

func TestPaymentsBounded(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-01-31T10:00:00Z"))
	m := newSim(t, s).runUntil(at("2047-01-01T00:00:00Z")) // 252 monthly cycles
	if s.Cycle != 252 || len(s.Payments) != 240 {
		t.Fatalf("cycle %d, %d payments kept", s.Cycle, len(s.Payments))
	}
	if first, last := s.Payments[0], s.Payments[239]; first.Cycle != 13 || last.Cycle != 252 {
		t.Fatalf("kept cycles %d..%d, want the latest 240", first.Cycle, last.Cycle)
	}
	if got := m.charges()[251].At; !got.Equal(at("2046-12-31T10:00:00Z")) {
		t.Fatalf("cycle 252 at %s", got)
	}
}

// TestContinueAsNew: the subscription carried as JSON across
// continue-as-new behaves exactly like the one that was not.
func TestContinueAsNew(t *testing.T) {
	answer := script(map[string][]outcome{"2/0": {declined}, "2/1": {unanswered, declined}, "3/0": {declined}})
	a := newSub(api.PlanMonthly, api.OfferBodyScan, at("2026-01-31T10:00:00Z"))
	ma := newSim(t, a)
	ma.answer = answer
	ma.runUntil(at("2026-05-31T12:00:00Z")) // in the middle of an unanswered retry
	if _, err := a.ChangePlan(api.PlanAnnual); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SchedulePriceChange(ma.now, api.PriceChangeRequest{PriceMinor: 9000, EffectiveAt: at("2027-01-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	b := new(billing.Subscription)
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, b); err != nil {
		t.Fatal(err)
	}
	mb := newSim(t, b)
	mb.answer, mb.now, mb.calls, mb.pi = answer, ma.now, map[string]int{}, ma.pi
	for k, v := range ma.calls {
		mb.calls[k] = v
	}
	mb.steps = slices.Clone(ma.steps)
	until := at("2029-01-01T00:00:00Z")
	ma.runUntil(until)
	mb.runUntil(until)
	ja, _ := json.Marshal(a.State(until))
	jb, _ := json.Marshal(b.State(until))
	if string(ja) != string(jb) {
		t.Fatalf("state differs after continue-as-new:\n%s\n%s", ja, jb)
	}
	if !slices.EqualFunc(ma.steps, mb.steps, func(x, y step) bool { return x.At.Equal(y.At) && x.Key == y.Key && x.Kind == y.Kind }) {
		t.Fatalf("steps differ")
	}
	if a.Plan != api.PlanAnnual || a.Cycle < 5 {
		t.Fatalf("plan %s cycle %d: the scenario did not run", a.Plan, a.Cycle)
	}
}

// TestCancelDropsRetriesAfterAccessEnds: a canceled subscription makes no
// attempt once its access has ended, and ends with the amount still due.
func TestCancelDropsRetriesAfterAccessEnds(t *testing.T) {
	s := billing.New(billing.Start{ID: "x", KeyPrefix: "x", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		InstalledAt: at("2026-03-10T12:00:00Z"), Dunning: []int{1, 40}})
	m := newSim(t, s)
	m.answer = declineCycles(1)
	m.runUntil(at("2026-03-12T00:00:00Z")) // declined at due and at retry 1
	if ev, _ := s.NextEvent(); ev.Kind != billing.EventCharge || !ev.At.Equal(at("2026-04-10T12:00:00Z")) {
		t.Fatalf("before cancel: next event %+v, want cycle 2 (retry 2 is at due+40 days, Apr 19)", ev)
	}
	if _, err := s.Cancel(m.now, ""); err != nil {
		t.Fatal(err)
	}
	if at, ok := s.NextChargeAt(); ok {
		t.Fatalf("retry after the access ends still announced at %s", at)
	}
	m.runUntil(at("2026-06-01T00:00:00Z"))
	if len(m.charges()) != 2 || !s.Ended || !s.EndedAt.Equal(at("2026-04-10T12:00:00Z")) || s.Outstanding() != 995 {
		t.Fatalf("attempts %v ended %v at %s outstanding %d", dates(m.charges()), s.Ended, s.EndedAt, s.Outstanding())
	}
}

func TestExpire(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	newSim(t, s).runUntil(at("2026-03-20T00:00:00Z"))
	s.Expire(at("2026-05-01T00:00:00Z"))
	if s.Ended {
		t.Fatalf("Expire ended a subscription that was not canceled")
	}
	if _, err := s.Cancel(at("2026-03-20T00:00:00Z"), ""); err != nil {
		t.Fatal(err)
	}
	s.Expire(at("2026-04-10T11:59:59Z"))
	if s.Ended {
		t.Fatalf("Expire ended the subscription before its access ran out")
	}
	s.Expire(at("2026-04-10T12:00:00Z"))
	if !s.Ended || s.EndReason != api.EndCanceled || !s.AccessUntil.Equal(at("2026-04-10T12:00:00Z")) {
		t.Fatalf("ended %v reason %s accessUntil %s", s.Ended, s.EndReason, s.AccessUntil)
	}
}

func TestUnknownCycle(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	newSim(t, s).runUntil(at("2026-03-20T00:00:00Z"))
	if c, ok := s.RetryCharge(1); ok {
		t.Fatalf("RetryCharge of a paid cycle = %+v", c)
	}
	if c, ok := s.RetryCharge(7); ok {
		t.Fatalf("RetryCharge of a future cycle = %+v", c)
	}
	before := len(s.Payments)
	s.Declined(billing.Charge{Cycle: 1, Attempt: 1, AmountMinor: 995}, "pi_x", "card_declined", at("2026-03-20T00:00:00Z"))
	s.Unanswered(billing.Charge{Cycle: 1, Attempt: 1}, at("2026-03-20T00:00:00Z"), at("2026-03-21T00:00:00Z"))
	if len(s.Payments) != before || len(s.Open) != 0 || s.Status() != api.StatusActive {
		t.Fatalf("a late answer for a paid cycle changed the subscription: %+v", s)
	}
}

func TestCheckPaymentMethodUpdate(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	if err := s.CheckPaymentMethodUpdate("pm_1NvXyz2eZvKYlo2C"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "pm_", "card_123", "src_123", "pm_12 3"} {
		var ie *api.InputError
		if err := s.CheckPaymentMethodUpdate(id); !errors.As(err, &ie) || ie.Field != "paymentMethodId" {
			t.Fatalf("CheckPaymentMethodUpdate(%q) = %v", id, err)
		}
	}
}
