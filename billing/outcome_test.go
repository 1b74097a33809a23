package billing

import (
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

func heldSub(t *testing.T, rules int) (*Subscription, Charge, time.Time) {
	t.Helper()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := New(Start{ID: "subscription-a", KeyPrefix: "subscription-a/run", AccountID: "a", Plan: api.PlanMonthly,
		Currency: api.CurrencyEUR, PMID: "pm_card_visa", InstalledAt: t0})
	s.Rules = rules
	return s, s.StartCycle(), t0
}

// TestHoldLooksUpThenRenewsTheKey: an attempt held after an indeterminate
// answer or a refusal of ours is rechecked, not declined: nothing is owed,
// access and status stay, and when Stripe holds nothing it is made again
// under a new key, once per renewal.
func TestHoldLooksUpThenRenewsTheKey(t *testing.T) {
	for _, issue := range []string{"", IssueStripeRefused} {
		s, c, t0 := heldSub(t, CurrentRules)
		first := s.IdempotencyKey(c)
		s.Hold(c, t0, t0.Add(5*time.Minute), issue)
		if s.Status() != api.StatusActive || !s.AccessActive() || s.Outstanding() != 0 || len(s.Collectable()) != 0 {
			t.Fatalf("held (%q): status %s access %v outstanding %d collectable %v", issue, s.Status(), s.AccessActive(), s.Outstanding(), s.Collectable())
		}
		if ev, _ := s.NextEvent(); ev.Kind != EventRetry || !ev.At.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("next event %+v, want the recheck", ev)
		}
		if got := s.ChargeIssue(t0.Add(time.Hour)); got != issue {
			t.Fatalf("issue %q, want %q", got, issue)
		}
		r, _ := s.RetryCharge(c.Cycle)
		if !r.Recheck || !r.Resend || r.Attempt != c.Attempt || s.IdempotencyKey(r) != first {
			t.Fatalf("recheck charge %+v key %s", r, s.IdempotencyKey(r))
		}
		s.PaymentMethodID = "pm_card_new" // the customer changed cards while it was held
		n, again := s.RenewKey(r)
		if !again || n.PaymentMethodID != "pm_card_new" || n.Recheck || n.Resend || n.Key != 1 || s.IdempotencyKey(n) != first+"/key-1" {
			t.Fatalf("renewed %+v key %s", n, s.IdempotencyKey(n))
		}
		// The renewed key gets no answer: made again under it, not rechecked.
		s.Unanswered(n, t0.Add(6*time.Minute), t0.Add(time.Hour))
		r2, _ := s.RetryCharge(c.Cycle)
		if r2.Recheck || r2.Key != 1 || s.IdempotencyKey(r2) != first+"/key-1" || s.ChargeIssue(t0.Add(time.Hour)) != "" {
			t.Fatalf("after no answer under the renewed key: %+v issue %q", r2, s.ChargeIssue(t0.Add(time.Hour)))
		}
		s.Paid(r2, "pi_1", t0.Add(time.Hour))
		if len(s.Open) != 0 || s.ChargeIssue(t0.Add(48*time.Hour)) != "" {
			t.Fatalf("paid: open %v issue %q", s.Open, s.ChargeIssue(t0.Add(48*time.Hour)))
		}
	}
}

// TestChargeIssue: what ops see, over time.
func TestChargeIssue(t *testing.T) {
	tests := []struct {
		name  string
		rules int
		do    func(s *Subscription, c Charge, t0 time.Time)
		at    time.Duration
		want  string
	}{
		{"nothing held", CurrentRules, func(*Subscription, Charge, time.Time) {}, 48 * time.Hour, ""},
		{"unanswered for 23 h", CurrentRules, func(s *Subscription, c Charge, t0 time.Time) { s.Unanswered(c, t0, t0.Add(time.Hour)) }, 23 * time.Hour, ""},
		{"unanswered for 24 h", CurrentRules, func(s *Subscription, c Charge, t0 time.Time) { s.Unanswered(c, t0, t0.Add(time.Hour)) }, 24 * time.Hour, IssueUnknownOutcome},
		{"unknown since the first sending, through renewals", CurrentRules, func(s *Subscription, c Charge, t0 time.Time) {
			s.Hold(c, t0, t0.Add(5*time.Minute), "")
			r, _ := s.RetryCharge(c.Cycle)
			n, _ := s.RenewKey(r)
			s.Hold(n, t0.Add(20*time.Hour), t0.Add(21*time.Hour), "")
		}, 25 * time.Hour, IssueUnknownOutcome},
		{"refused at once", CurrentRules, func(s *Subscription, c Charge, t0 time.Time) { s.Hold(c, t0, t0.Add(time.Hour), IssueStripeRefused) }, 0, IssueStripeRefused},
		{"declined is no issue", CurrentRules, func(s *Subscription, c Charge, t0 time.Time) {
			s.Hold(c, t0, t0.Add(time.Hour), IssueStripeRefused)
			s.Declined(c, "pi_1", "card_declined", t0.Add(time.Hour))
		}, 48 * time.Hour, ""},
		{"rules 1 never tracks it", 1, func(s *Subscription, c Charge, t0 time.Time) { s.Unanswered(c, t0, t0.Add(time.Hour)) }, 48 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c, t0 := heldSub(t, tt.rules)
			tt.do(s, c, t0)
			if got := s.ChargeIssue(t0.Add(tt.at)); got != tt.want {
				t.Errorf("ChargeIssue = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecheckDelay(t *testing.T) {
	for key, want := range []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour} {
		if got := RecheckDelay(Charge{Key: key}); got != want {
			t.Errorf("RecheckDelay(key %d) = %s, want %s", key, got, want)
		}
	}
}

// TestNothingOwedAfterAWithdrawal: a held attempt of a withdrawn
// subscription that Stripe holds nothing of is not made again: the cycle
// is dropped, as the contract is undone.
func TestNothingOwedAfterAWithdrawal(t *testing.T) {
	s, c, t0 := heldSub(t, CurrentRules)
	s.Hold(c, t0, t0.Add(time.Hour), IssueStripeRefused)
	s.end(t0.Add(24*time.Hour), api.EndWithdrawn)
	r, _ := s.RetryCharge(c.Cycle)
	if _, again := s.RenewKey(r); again || len(s.Open) != 0 || s.Unsettled() || s.ChargeIssue(t0.Add(48*time.Hour)) != "" {
		t.Fatalf("again %v, open %v, unsettled %v", again, s.Open, s.Unsettled())
	}
	// Canceled instead: the cycle fell due before the end and is still owed.
	s, c, t0 = heldSub(t, CurrentRules)
	s.Hold(c, t0, t0.Add(time.Hour), IssueStripeRefused)
	s.end(t0.Add(24*time.Hour), api.EndCanceled)
	r, _ = s.RetryCharge(c.Cycle)
	if _, again := s.RenewKey(r); !again || len(s.Open) != 1 {
		t.Fatalf("canceled: again %v, open %v", again, s.Open)
	}
}

// TestUnpaidForAYearEnds: a subscription suspended with a cycle unpaid for
// a year ends at the next billing date from then (rules 2), not before,
// not when it is paid up, and never under older rules.
func TestUnpaidForAYearEnds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	suspended := func(rules int) *Subscription {
		s := New(Start{ID: "subscription-a", KeyPrefix: "k", AccountID: "a", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
			PMID: "pm_card_chargeDeclined", InstalledAt: t0, Dunning: []int{1}})
		s.Rules = rules
		c := s.StartCycle()
		s.Declined(c, "pi_1", "card_declined", t0)
		r, _ := s.RetryCharge(c.Cycle)
		s.Declined(r, "pi_2", "card_declined", t0.AddDate(0, 0, 1))
		if !s.Suspended() {
			t.Fatal("not suspended: the test proves nothing")
		}
		return s
	}
	tests := []struct {
		name  string
		rules int
		at    time.Time
		want  bool
	}{
		{"eleven months on", CurrentRules, t0.AddDate(0, 11, 0), false},
		{"a year on", CurrentRules, t0.AddDate(1, 0, 0), true},
		{"a year on, rules 1", 1, t0.AddDate(1, 0, 0), false},
	}
	for _, tt := range tests {
		s := suspended(tt.rules)
		if got := s.UnpaidTooLong(tt.at); got != tt.want {
			t.Errorf("%s: UnpaidTooLong = %v, want %v", tt.name, got, tt.want)
		}
	}
	s := suspended(CurrentRules)
	s.EndUnpaid(t0.AddDate(1, 0, 0))
	if st := s.State(t0.AddDate(1, 0, 0)); st.Status != api.StatusEnded || st.EndReason != api.EndTerminated ||
		st.TerminateReason != UnpaidReason || st.OutstandingMinor != 995 || s.UnpaidTooLong(t0.AddDate(2, 0, 0)) {
		t.Fatalf("ended unpaid: %+v", st)
	}
}
