package billing_test

import (
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// Rules that keep the subscription right when workers do not keep up with
// its clock: outages, late starts, answers that come after the end.

func TestDunningSpacedFromDeclinedAttempts(t *testing.T) {
	type attempt struct {
		at           string
		cycle, tries int // tries: the attempt number
		outcome      outcome
		status       string // after it
	}
	installed := at("2026-03-10T12:00:00Z")
	tests := []struct {
		name      string
		downUntil time.Time // the worker fleet is back then
		answer    func(billing.Charge, int) outcome
		until     time.Time
		want      []attempt
	}{
		{
			name:   "on time: the schedule counted from the due date",
			answer: declineCycles(1), until: at("2026-03-20T00:00:00Z"),
			want: []attempt{
				{"2026-03-10T12:00:00Z", 1, 0, declined, api.StatusPastDue},
				{"2026-03-11T12:00:00Z", 1, 1, declined, api.StatusPastDue},
				{"2026-03-13T12:00:00Z", 1, 2, declined, api.StatusPastDue},
				{"2026-03-15T12:00:00Z", 1, 3, declined, api.StatusPastDue},
				{"2026-03-17T12:00:00Z", 1, 4, declined, api.StatusSuspended},
			},
		},
		{
			// Installed 8 days before the worker first handles it: the
			// retries are spaced from the first real attempt, with access
			// kept while past due, instead of all falling due at once.
			name:      "first attempt 8 days late",
			downUntil: at("2026-03-18T12:00:00Z"), answer: declineCycles(1), until: at("2026-04-01T00:00:00Z"),
			want: []attempt{
				{"2026-03-18T12:00:00Z", 1, 0, declined, api.StatusPastDue},
				{"2026-03-19T12:00:00Z", 1, 1, declined, api.StatusPastDue},
				{"2026-03-21T12:00:00Z", 1, 2, declined, api.StatusPastDue},
				{"2026-03-23T12:00:00Z", 1, 3, declined, api.StatusPastDue},
				{"2026-03-25T12:00:00Z", 1, 4, declined, api.StatusSuspended},
			},
		},
		{
			// Down from the first due date to past the third: each billing
			// date is charged once, in order, when the fleet is back; each
			// declined cycle then keeps its own spaced retries.
			name:      "outage across three billing dates, card declined",
			downUntil: at("2026-05-20T08:00:00Z"), answer: declineCycles(1, 2, 3), until: at("2026-05-23T00:00:00Z"),
			want: []attempt{
				{"2026-05-20T08:00:00Z", 1, 0, declined, api.StatusPastDue},
				{"2026-05-20T08:00:00Z", 2, 0, declined, api.StatusPastDue},
				{"2026-05-20T08:00:00Z", 3, 0, declined, api.StatusPastDue},
				{"2026-05-21T08:00:00Z", 1, 1, declined, api.StatusPastDue},
				{"2026-05-21T08:00:00Z", 2, 1, declined, api.StatusPastDue},
				{"2026-05-21T08:00:00Z", 3, 1, declined, api.StatusPastDue},
			},
		},
		{
			name:      "outage across three billing dates, card paid",
			downUntil: at("2026-05-20T08:00:00Z"), until: at("2026-06-11T00:00:00Z"),
			want: []attempt{
				{"2026-05-20T08:00:00Z", 1, 0, paid, api.StatusActive},
				{"2026-05-20T08:00:00Z", 2, 0, paid, api.StatusActive},
				{"2026-05-20T08:00:00Z", 3, 0, paid, api.StatusActive},
				{"2026-06-10T12:00:00Z", 4, 0, paid, api.StatusActive}, // back on the calendar
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newSim(t, newSub(api.PlanMonthly, "", installed))
			m.answer, m.downUntil = tc.answer, tc.downUntil
			m.runUntil(tc.until)
			got := m.charges()
			if len(got) != len(tc.want) {
				t.Fatalf("attempts at %v, want %d", dates(got), len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.At.Equal(at(w.at)) || g.Charge.Cycle != w.cycle || g.Charge.Attempt != w.tries || g.Outcome != w.outcome || g.Status != w.status {
					t.Errorf("attempt %d: %s cycle %d attempt %d %v → %s; want %+v",
						i, g.At.Format(time.RFC3339), g.Charge.Cycle, g.Charge.Attempt, g.Outcome, g.Status, w)
				}
			}
		})
	}
}

func TestOldRulesKeepTheirDunning(t *testing.T) {
	// A subscription recorded before rules 1 replays with retries counted
	// from the due date (its history holds them so).
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	s.Rules = 0
	m := newSim(t, s)
	m.answer, m.downUntil = declineCycles(1), at("2026-03-18T12:00:00Z")
	m.runUntil(at("2026-03-19T00:00:00Z"))
	if got := m.charges(); len(got) != 5 || got[4].Status != api.StatusSuspended {
		t.Fatalf("old rules: attempts %v; want all five at once, then suspended", dates(got))
	}
}

// ended builds a subscription that ended while the answer to its cycle 1
// charge was awaited (sent on the due date, unanswered), then applies the
// late answer.
func TestLateAnswerNeverRewritesTheEnd(t *testing.T) {
	installed := at("2026-03-10T12:00:00Z")
	endAt := at("2026-03-12T09:00:00Z")
	answerAt := at("2026-03-13T10:00:00Z")
	tests := []struct {
		name          string
		rules         int
		end           func(s *billing.Subscription)
		outcome       outcome
		wantReason    string
		wantEndedAt   time.Time
		wantOwed      int64
		wantUnsettled bool
	}{
		{
			name: "withdrawn, the charge declined: nothing owed", rules: 1,
			end:     func(s *billing.Subscription) { s.Withdrawn(endAt) },
			outcome: declined, wantReason: api.EndWithdrawn, wantEndedAt: endAt,
		},
		{
			name: "canceled then withdrawn, the charge declined: still withdrawn", rules: 1,
			end: func(s *billing.Subscription) {
				if _, err := s.Cancel(at("2026-03-11T09:00:00Z"), ""); err != nil {
					t.Fatal(err)
				}
				s.Withdrawn(endAt)
			},
			outcome: declined, wantReason: api.EndWithdrawn, wantEndedAt: endAt,
		},
		{
			name: "withdrawn, the charge paid: to be refunded", rules: 1,
			end:     func(s *billing.Subscription) { s.Withdrawn(endAt) },
			outcome: paid, wantReason: api.EndWithdrawn, wantEndedAt: endAt, wantUnsettled: true,
		},
		{
			name: "terminated, the charge declined: the cycle fell due before, it is owed", rules: 1,
			end: func(s *billing.Subscription) {
				if err := s.Terminate(endAt, "fraud"); err != nil {
					t.Fatal(err)
				}
			},
			outcome: declined, wantReason: api.EndTerminated, wantEndedAt: endAt, wantOwed: 995,
		},
		{
			name: "old rules replay as recorded", rules: 0,
			end:     func(s *billing.Subscription) { s.Withdrawn(endAt) },
			outcome: declined, wantReason: api.EndWithdrawn, wantEndedAt: endAt, wantOwed: 995,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSub(api.PlanMonthly, "", installed)
			s.Dunning = []int{}
			s.Rules = tc.rules
			c := s.StartCycle()
			s.Unanswered(c, c.DueAt, c.DueAt.Add(time.Hour))
			tc.end(s)
			pending := s.UnansweredCharges()
			if len(pending) != 1 {
				t.Fatalf("the unanswered charge is not kept after the end: %v", pending)
			}
			switch tc.outcome {
			case paid:
				s.Paid(pending[0], "pi_late", answerAt)
			case declined:
				s.Declined(pending[0], "pi_late", "card_declined", answerAt)
			}
			if s.EndReason != tc.wantReason || !s.EndedAt.Equal(tc.wantEndedAt) || s.Outstanding() != tc.wantOwed {
				t.Fatalf("after the late answer: %s at %s owing %d; want %s at %s owing %d",
					s.EndReason, s.EndedAt, s.Outstanding(), tc.wantReason, tc.wantEndedAt, tc.wantOwed)
			}
			if s.Unsettled() != tc.wantUnsettled {
				t.Fatalf("unsettled %v, want %v", s.Unsettled(), tc.wantUnsettled)
			}
			if last := s.Payments[len(s.Payments)-1]; last.PaymentIntentID != "pi_late" {
				t.Fatalf("the late answer is not recorded: %+v", last)
			}
		})
	}
}

func TestCancelNeverForfeitsAPaidPeriod(t *testing.T) {
	installed := at("2026-03-10T12:00:00Z")
	d1, d2, d3 := installed, at("2026-04-10T12:00:00Z"), at("2026-05-10T12:00:00Z")
	tests := []struct {
		name  string
		rules int
		setup func(s *billing.Subscription) // ends just before the cancel
		// after the cancel
		wantStatus string
		wantAccess bool
		wantEnded  bool
		wantUntil  time.Time
	}{
		{
			name: "cycle 1 unpaid and suspended, cycle 2 paid: the paid period is kept", rules: 1,
			setup: func(s *billing.Subscription) {
				s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
				s.Paid(s.StartCycle(), "pi_2", d2)
			},
			wantStatus: api.StatusCanceling, wantUntil: d3,
		},
		{
			name: "the current period unpaid and suspended: nothing paid is left, it ends at once", rules: 1,
			setup: func(s *billing.Subscription) {
				s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
			},
			wantStatus: api.StatusEnded, wantEnded: true, wantUntil: at("2026-03-20T09:00:00Z"),
		},
		{
			name: "past due with the current period paid: access to its end", rules: 1,
			setup: func(s *billing.Subscription) {
				s.Dunning = []int{60}
				s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
				s.Paid(s.StartCycle(), "pi_2", d2)
			},
			wantStatus: api.StatusCanceling, wantAccess: true, wantUntil: d3,
		},
		{
			name: "suspended with the current period's charge unanswered: it may still be paid", rules: 1,
			setup: func(s *billing.Subscription) {
				s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
				c := s.StartCycle()
				s.Unanswered(c, d2, d2.Add(time.Hour))
				s.Paid(billing.Charge{Cycle: 99}, "pi_x", d2) // only to date the cancel; cycle 99 is not open
			},
			wantStatus: api.StatusCanceling, wantUntil: d3,
		},
		{
			name: "old rules replay as recorded: suspended ends at once", rules: 0,
			setup: func(s *billing.Subscription) {
				s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
				s.Paid(s.StartCycle(), "pi_2", d2)
			},
			wantStatus: api.StatusEnded, wantEnded: true, wantUntil: at("2026-04-20T09:00:00Z"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSub(api.PlanMonthly, "", installed)
			s.Rules, s.Dunning = tc.rules, []int{}
			tc.setup(s)
			now := s.Payments[len(s.Payments)-1].At.AddDate(0, 0, 10).Add(-3 * time.Hour)
			res, err := s.Cancel(now, "moving abroad")
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantStatus || s.AccessActive() != tc.wantAccess || s.Ended != tc.wantEnded || !res.AccessUntil.Equal(tc.wantUntil) {
				t.Fatalf("cancel: %s access %v ended %v until %s; want %s access %v ended %v until %s",
					res.Status, s.AccessActive(), s.Ended, res.AccessUntil, tc.wantStatus, tc.wantAccess, tc.wantEnded, tc.wantUntil)
			}
		})
	}

	t.Run("a canceling subscription pays its debt and gets access back to the period's end", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		s.Dunning = []int{}
		s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
		s.Paid(s.StartCycle(), "pi_2", d2)
		if _, err := s.Cancel(d2.AddDate(0, 0, 1), ""); err != nil {
			t.Fatal(err)
		}
		owed := s.Collectable()
		if len(owed) != 1 || owed[0].Cycle != 1 {
			t.Fatalf("collectable %+v, want cycle 1", owed)
		}
		s.Paid(owed[0], "pi_3", d2.AddDate(0, 0, 2))
		if !s.AccessActive() || s.Status() != api.StatusCanceling || s.Outstanding() != 0 {
			t.Fatalf("after paying: %s access %v owing %d", s.Status(), s.AccessActive(), s.Outstanding())
		}
		if ev, _ := s.NextEvent(); ev.Kind != billing.EventEnd || !ev.At.Equal(d3) {
			t.Fatalf("next event %+v, want the end at %s", ev, d3)
		}
	})

	t.Run("retries running out while canceling keep a paid current period", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		s.Dunning = []int{40}
		s.Declined(s.StartCycle(), "pi_1", "card_declined", d1)
		s.Paid(s.StartCycle(), "pi_2", d2)
		if _, err := s.Cancel(d2.AddDate(0, 0, 1), ""); err != nil {
			t.Fatal(err)
		}
		retry, ok := s.RetryCharge(1)
		if ev, _ := s.NextEvent(); !ok || ev.Kind != billing.EventRetry || !ev.At.Equal(d1.AddDate(0, 0, 40)) {
			t.Fatalf("next event %+v, want cycle 1's retry 40 days after its decline", ev)
		}
		s.Declined(retry, "pi_3", "card_declined", d1.AddDate(0, 0, 40))
		if s.Ended || s.AccessActive() || s.Status() != api.StatusCanceling {
			t.Fatalf("after the last retry: %s access %v ended %v; want canceling without access until %s", s.Status(), s.AccessActive(), s.Ended, d3)
		}
	})
}

func TestSettlementIsBounded(t *testing.T) {
	installed := at("2026-03-10T12:00:00Z")
	s := newSub(api.PlanMonthly, "", installed)
	s.Paid(s.StartCycle(), "pi_1", installed)
	endAt := installed.Add(48 * time.Hour)
	if got := s.Settlement(); got != "" {
		t.Fatalf("a live subscription reports settlement %q", got)
	}
	s.Withdrawn(endAt)
	if got, owed := s.Settlement(), s.PendingRefund(); got != billing.SettlementPending || owed != 995 {
		t.Fatalf("withdrawn, refund not made: settlement %q, pending refund %d", got, owed)
	}
	if s.HandOver(endAt.Add(billing.SettlementWindow - time.Second)) {
		t.Fatal("handed over before the settlement window is over")
	}
	if !s.HandOver(endAt.Add(billing.SettlementWindow)) || s.Settlement() != billing.SettlementHandedToOps {
		t.Fatalf("not handed over at the end of the window: %q", s.Settlement())
	}
	// Refunded by ops later (or a last try that works): settled.
	s.Refunded("pi_1", "re_1")
	if s.Settlement() != "" || s.PendingRefund() != 0 {
		t.Fatalf("after the refund: settlement %q, pending %d", s.Settlement(), s.PendingRefund())
	}
	// Nothing to settle: never handed over.
	done := newSub(api.PlanMonthly, "", installed)
	if err := done.Terminate(endAt, "fraud"); err != nil {
		t.Fatal(err)
	}
	if done.HandOver(endAt.AddDate(1, 0, 0)) || done.Settlement() != "" {
		t.Fatal("a settled subscription was handed over")
	}
}

func TestPriceChangeHandledLateKeepsItsNotice(t *testing.T) {
	// Monthly, billed on the 10th. A change requested on Mar 11 effective
	// Apr 10 (30 days) is accepted and applies from Apr 10; handled only on
	// Mar 13, its notice email goes out then, so it applies from the first
	// billing date 30 days after that: May 10.
	installed := at("2026-03-10T12:00:00Z")
	requested, notified := at("2026-03-11T12:00:00Z"), at("2026-03-13T12:00:00Z")
	effective := requested.Add(billing.PriceNotice)
	tests := []struct {
		name      string
		effective time.Time
		notified  time.Time
		want      time.Time
		wantErr   bool
	}{
		{"less than 30 days from the request", effective.Add(-time.Hour), requested, time.Time{}, true},
		{"handled at once: from effectiveAt's billing date", effective, requested, at("2026-04-10T12:00:00Z"), false},
		{"handled two days late: 30 days after the email", effective, notified, at("2026-05-10T12:00:00Z"), false},
		{"far ahead: effectiveAt rules", at("2026-07-01T00:00:00Z"), notified, at("2026-07-10T12:00:00Z"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSub(api.PlanMonthly, "", installed)
			s.Paid(s.StartCycle(), "pi_1", installed)
			res, err := s.SchedulePriceChangeNotified(requested, tc.notified, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: tc.effective})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted with less than 30 days' notice: %+v", res)
				}
				return
			}
			if err != nil || !res.AppliesFrom.Equal(tc.want) || res.AppliesFrom.Before(tc.notified.Add(billing.PriceNotice)) {
				t.Fatalf("applies from %s (%v), want %s", res.AppliesFrom, err, tc.want)
			}
			if got := s.PriceChanges[0].NotifiedAt; !got.Equal(tc.notified) {
				t.Fatalf("notified at %s, want %s", got, tc.notified)
			}
		})
	}
}
