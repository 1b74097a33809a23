package billing

import (
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

func newMonthly(t *testing.T) *Subscription {
	t.Helper()
	return New(Start{ID: "subscription-a", KeyPrefix: "subscription-a/run1", AccountID: "a",
		Plan: api.PlanMonthly, Currency: api.CurrencyEUR, PMID: "pm_card_visa",
		InstalledAt: time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)})
}

func TestChargeInFlightIsNotPastDue(t *testing.T) {
	s := newMonthly(t)
	c := s.StartCycle()
	if s.Status() != api.StatusActive || s.Outstanding() != 0 || !s.AccessActive() {
		t.Fatalf("in flight: status %s outstanding %d", s.Status(), s.Outstanding())
	}
	s.Unanswered(c, c.DueAt, c.DueAt.Add(time.Hour))
	if s.Status() != api.StatusActive || s.Outstanding() != 0 {
		t.Fatalf("unanswered: status %s outstanding %d", s.Status(), s.Outstanding())
	}
	s.Declined(c, "pi_1", "card_declined", c.DueAt.Add(time.Hour))
	if s.Status() != api.StatusPastDue || s.Outstanding() != 995 {
		t.Fatalf("declined: status %s outstanding %d", s.Status(), s.Outstanding())
	}
}

func TestUnansweredAttemptKeepsItsKeyAndCardAfterACardUpdate(t *testing.T) {
	s := newMonthly(t)
	first := s.StartCycle()
	s.Declined(first, "pi_1", "card_declined", first.DueAt)
	retry, _ := s.RetryCharge(first.Cycle)
	s.Unanswered(retry, retry.DueAt, retry.DueAt.AddDate(0, 0, 2))
	s.PaymentMethodID = "pm_card_mastercard"
	if got := s.Collectable(); len(got) != 0 {
		t.Fatalf("a new card would re-send an unanswered attempt: %+v", got)
	}
	again, ok := s.RetryCharge(first.Cycle)
	if !ok || again.PaymentMethodID != "pm_card_visa" || s.IdempotencyKey(again) != s.IdempotencyKey(retry) || !again.Retry {
		t.Fatalf("unanswered attempt made again as %+v (key %s, first sent as %s)", again, s.IdempotencyKey(again), s.IdempotencyKey(retry))
	}
	s.Declined(again, "pi_2", "card_declined", again.DueAt.AddDate(0, 0, 2))
	next := s.Collectable()
	if len(next) != 1 || next[0].PaymentMethodID != "pm_card_mastercard" || next[0].Attempt != again.Attempt+1 {
		t.Fatalf("after the answer, the new card is asked under a new attempt: %+v", next)
	}
}

func TestPaidTwiceIsRecordedOnce(t *testing.T) {
	s := newMonthly(t)
	c := s.StartCycle()
	s.Paid(c, "pi_1", c.DueAt)
	s.Paid(c, "pi_1", c.DueAt)
	if len(s.Payments) != 1 {
		t.Fatalf("%d payments recorded", len(s.Payments))
	}
}

func TestAccessReturnsOnlyWhenNothingIsOutstanding(t *testing.T) {
	s := newMonthly(t)
	first := s.StartCycle()
	s.Declined(first, "pi_1", "card_declined", first.DueAt)
	for range s.Dunning {
		r, _ := s.RetryCharge(first.Cycle)
		s.Declined(r, "pi_r", "card_declined", r.DueAt)
	}
	second := s.StartCycle()
	s.Declined(second, "pi_2", "card_declined", second.DueAt)
	if !s.Suspended() || s.Outstanding() != 1990 {
		t.Fatalf("suspended %v outstanding %d", s.Suspended(), s.Outstanding())
	}
	charges := s.Collectable()
	s.Paid(charges[0], "pi_3", second.DueAt) // the new card pays cycle 1…
	s.Declined(charges[1], "pi_4", "card_declined", second.DueAt)
	if !s.Suspended() || s.AccessActive() || s.Status() != api.StatusSuspended || s.Outstanding() != 995 {
		t.Fatalf("…but not cycle 2: status %s access %v outstanding %d", s.Status(), s.AccessActive(), s.Outstanding())
	}
	last := s.Collectable()
	s.Paid(last[0], "pi_5", second.DueAt)
	if s.Suspended() || !s.AccessActive() || s.Status() != api.StatusActive {
		t.Fatalf("all paid: status %s access %v", s.Status(), s.AccessActive())
	}
}

func TestWithdrawnKeepsWhatIsUnsettled(t *testing.T) {
	s := newMonthly(t)
	paid := s.StartCycle()
	s.Paid(paid, "pi_1", paid.DueAt)
	s.Withdrawn(paid.DueAt.AddDate(0, 0, 2))
	if !s.Unsettled() || len(s.Refundable()) != 1 {
		t.Fatalf("a withdrawal owes its refund: unsettled %v", s.Unsettled())
	}
	s.Refunded("pi_1", "re_1")
	if s.Unsettled() {
		t.Fatal("refunded and still unsettled")
	}

	s = newMonthly(t)
	c := s.StartCycle()
	s.Unanswered(c, c.DueAt, c.DueAt.Add(time.Hour))
	s.Withdrawn(c.DueAt.Add(10 * time.Minute))
	got := s.UnansweredCharges()
	if len(got) != 1 || s.IdempotencyKey(got[0]) != s.IdempotencyKey(c) || !s.Unsettled() || s.Outstanding() != 0 {
		t.Fatalf("the unanswered charge must be asked again under its key: %+v", got)
	}
	s.Paid(got[0], "pi_1", c.DueAt.Add(time.Hour))
	if !s.Unsettled() || len(s.Refundable()) != 1 {
		t.Fatal("the charge that went through must be refunded")
	}
}
