package billing_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

func TestNew(t *testing.T) {
	installed := at("2026-11-30T09:30:00+01:00") // 08:30 UTC
	t.Run("offer to a new subscriber", func(t *testing.T) {
		s := newSub(api.PlanMonthly, api.OfferBodyScan, installed)
		if !s.TrialGranted || s.TrialIneligibleReason != "" {
			t.Fatalf("trial not granted: %+v", s)
		}
		if want := at("2027-02-28T08:30:00Z"); !s.TrialEnd.Equal(want) || !s.Anchor.Equal(want) {
			t.Fatalf("trial end %s anchor %s, want %s", s.TrialEnd, s.Anchor, want)
		}
		if s.ContractStart.Location() != time.UTC || !s.ContractStart.Equal(installed) {
			t.Fatalf("contract start %s, want %s in UTC", s.ContractStart, installed)
		}
		if s.Status() != api.StatusTrialing || !s.AccessActive() || s.Outstanding() != 0 {
			t.Fatalf("status %s access %v outstanding %d", s.Status(), s.AccessActive(), s.Outstanding())
		}
		if !slices.Equal(s.Dunning, []int{1, 3, 5, 7}) {
			t.Fatalf("dunning %v, want the default", s.Dunning)
		}
		ev, ok := s.NextEvent()
		if !ok || ev.Kind != billing.EventTrialEnding || !ev.At.Equal(at("2027-02-21T08:30:00Z")) {
			t.Fatalf("first event %+v %v, want trial_ending on 2027-02-21", ev, ok)
		}
	})
	t.Run("no offer: charged at installation", func(t *testing.T) {
		s := newSub(api.PlanMonthly, "", installed)
		if s.TrialGranted || s.TrialIneligibleReason != "" || !s.TrialEnd.IsZero() {
			t.Fatalf("unexpected trial: %+v", s)
		}
		ev, ok := s.NextEvent()
		if !ok || ev.Kind != billing.EventCharge || !ev.At.Equal(installed) {
			t.Fatalf("first event %+v %v, want a charge at installation", ev, ok)
		}
		if s.Status() != api.StatusActive {
			t.Fatalf("status %s, want active", s.Status())
		}
	})
	t.Run("offer to a recent subscriber: charged at installation, told why", func(t *testing.T) {
		prior := billing.Period{Start: at("2026-01-01T00:00:00Z"), End: at("2026-11-10T00:00:00Z")}
		s := newSub(api.PlanMonthly, api.OfferScanwatch2, installed, prior)
		if s.TrialGranted || !strings.Contains(s.TrialIneligibleReason, "2026-11-10") {
			t.Fatalf("granted %v reason %q", s.TrialGranted, s.TrialIneligibleReason)
		}
		ev, _ := s.NextEvent()
		if ev.Kind != billing.EventCharge || !ev.At.Equal(installed) {
			t.Fatalf("first event %+v, want a charge at installation", ev)
		}
		st := s.State(installed)
		if st.TrialGranted || st.TrialEndsAt != nil || st.TrialIneligibleReason == "" || st.Offer != api.OfferScanwatch2 {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("custom dunning schedule kept", func(t *testing.T) {
		s := billing.New(billing.Start{ID: "x", Plan: api.PlanMonthly, Currency: api.CurrencyUSD, InstalledAt: installed, Dunning: []int{2, 9}})
		if !slices.Equal(s.Dunning, []int{2, 9}) {
			t.Fatalf("dunning %v", s.Dunning)
		}
	})
}

// TestBillingSchedule runs subscriptions for years and checks every charge
// falls on the anchor's day of month, clamped, at the installation's time.
func TestBillingSchedule(t *testing.T) {
	tests := []struct {
		name      string
		plan      string
		offer     string
		installed string
		prior     []billing.Period
		trialEnd  string   // "" without a trial
		want      []string // charge times, in order
	}{
		{"monthly without offer, from Jan 31", api.PlanMonthly, "", "2026-01-31T10:15:00Z", nil, "", []string{
			"2026-01-31T10:15:00Z", "2026-02-28T10:15:00Z", "2026-03-31T10:15:00Z", "2026-04-30T10:15:00Z",
			"2026-05-31T10:15:00Z", "2026-06-30T10:15:00Z", "2026-07-31T10:15:00Z",
		}},
		{"monthly trial ending Jan 31 2028, then Feb 29", api.PlanMonthly, api.OfferBodyScan, "2027-10-31T09:30:00Z", nil,
			"2028-01-31T09:30:00Z", []string{
				"2028-01-31T09:30:00Z", "2028-02-29T09:30:00Z", "2028-03-31T09:30:00Z", "2028-04-30T09:30:00Z", "2028-05-31T09:30:00Z",
			}},
		// The anchor is the trial end, Feb 28: later dates fall on the 28th.
		{"monthly trial from Nov 30 ends Feb 28", api.PlanMonthly, api.OfferBodySegment, "2026-11-30T09:30:00Z", nil,
			"2027-02-28T09:30:00Z", []string{
				"2027-02-28T09:30:00Z", "2027-03-28T09:30:00Z", "2027-04-28T09:30:00Z",
			}},
		{"monthly from Dec 31 at 23:59:59, across years", api.PlanMonthly, "", "2026-12-31T23:59:59Z", nil, "", []string{
			"2026-12-31T23:59:59Z", "2027-01-31T23:59:59Z", "2027-02-28T23:59:59Z", "2027-03-31T23:59:59Z",
		}},
		{"monthly from the 30th", api.PlanMonthly, "", "2027-11-30T00:00:00Z", nil, "", []string{
			"2027-11-30T00:00:00Z", "2027-12-30T00:00:00Z", "2028-01-30T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-30T00:00:00Z",
		}},
		{"monthly from the 29th", api.PlanMonthly, "", "2027-01-29T08:00:00Z", nil, "", []string{
			"2027-01-29T08:00:00Z", "2027-02-28T08:00:00Z", "2027-03-29T08:00:00Z",
		}},
		{"annual from Feb 29 2028", api.PlanAnnual, "", "2028-02-29T08:00:00Z", nil, "", []string{
			"2028-02-29T08:00:00Z", "2029-02-28T08:00:00Z", "2030-02-28T08:00:00Z", "2031-02-28T08:00:00Z",
			"2032-02-29T08:00:00Z", "2033-02-28T08:00:00Z",
		}},
		{"annual trial ending Feb 29 2028", api.PlanAnnual, api.OfferScanwatchNova, "2027-11-29T08:00:00Z", nil,
			"2028-02-29T08:00:00Z", []string{
				"2028-02-29T08:00:00Z", "2029-02-28T08:00:00Z", "2030-02-28T08:00:00Z", "2031-02-28T08:00:00Z", "2032-02-29T08:00:00Z",
			}},
		{"offer refused to a recent subscriber: charged at installation", api.PlanMonthly, api.OfferBodyScan, "2026-03-31T08:00:00Z",
			[]billing.Period{{Start: at("2025-01-01T00:00:00Z"), End: at("2026-03-01T00:00:00Z")}}, "", []string{
				"2026-03-31T08:00:00Z", "2026-04-30T08:00:00Z", "2026-05-31T08:00:00Z",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSub(tc.plan, tc.offer, at(tc.installed), tc.prior...)
			m := newSim(t, s)
			if tc.trialEnd != "" {
				// Just before the trial ends: the notice went out, nothing was charged.
				m.runUntil(at(tc.trialEnd).Add(-time.Nanosecond))
				notices := m.kinds(billing.EventTrialEnding)
				if len(notices) != 1 || !notices[0].At.Equal(at(tc.trialEnd).AddDate(0, 0, -7)) {
					t.Fatalf("trial_ending events %v, want one 7 days before %s", dates(notices), tc.trialEnd)
				}
				if len(m.charges()) != 0 || s.Status() != api.StatusTrialing || !s.AccessActive() {
					t.Fatalf("during the trial: charges %v status %s", dates(m.charges()), s.Status())
				}
				if st := s.State(m.now); !ptrEq(st.TrialEndsAt, at(tc.trialEnd)) || !ptrEq(st.NextChargeAt, at(tc.trialEnd)) || !ptrEq(st.AccessUntil, at(tc.trialEnd)) {
					t.Fatalf("trial state: trialEndsAt %s nextChargeAt %s accessUntil %s", fmtPtr(st.TrialEndsAt), fmtPtr(st.NextChargeAt), fmtPtr(st.AccessUntil))
				}
			} else if s.TrialGranted {
				t.Fatalf("unexpected trial")
			}
			m.runUntil(at(tc.want[len(tc.want)-1]))
			got := m.charges()
			if !slices.Equal(dates(got), tc.want) {
				t.Fatalf("charges at\n%v\nwant\n%v", dates(got), tc.want)
			}
			for i, c := range got {
				if c.Kind != billing.EventCharge || c.Charge.Cycle != i+1 || c.Charge.Attempt != 0 || c.Charge.Retry ||
					c.Charge.AmountMinor != billing.ListPrice(tc.plan) {
					t.Fatalf("charge %d: %+v", i, c)
				}
			}
			if len(s.Payments) != len(tc.want) || s.Cycle != len(tc.want) {
				t.Fatalf("%d payments, cycle %d, want %d", len(s.Payments), s.Cycle, len(tc.want))
			}
			for i, p := range s.Payments {
				if p.Status != api.PaymentSucceeded || p.Cycle != i+1 || p.Currency != api.CurrencyEUR || !p.At.Equal(at(tc.want[i])) {
					t.Fatalf("payment %d: %+v", i, p)
				}
			}
			if s.Status() != api.StatusActive || !s.AccessActive() || s.Outstanding() != 0 {
				t.Fatalf("status %s access %v outstanding %d", s.Status(), s.AccessActive(), s.Outstanding())
			}
			if tc.trialEnd == "" && len(m.kinds(billing.EventTrialEnding)) != 0 {
				t.Fatalf("trial_ending without a trial")
			}
		})
	}
}

func TestDunningDefaultSchedule(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = declineCycles(2)

	m.runUntil(at("2026-04-10T12:00:00Z")) // cycle 2's first attempt is declined
	st := s.State(m.now)
	if st.Status != api.StatusPastDue || !st.AccessActive || st.OutstandingMinor != 995 {
		t.Fatalf("after the decline: status %s access %v outstanding %d", st.Status, st.AccessActive, st.OutstandingMinor)
	}
	if !ptrEq(st.NextChargeAt, at("2026-04-11T12:00:00Z")) || !ptrEq(st.AccessUntil, at("2026-05-10T12:00:00Z")) {
		t.Fatalf("nextChargeAt %s accessUntil %s", fmtPtr(st.NextChargeAt), fmtPtr(st.AccessUntil))
	}
	if !slices.Equal(st.OutstandingCycles, []int{2}) {
		t.Fatalf("outstanding cycles %v", st.OutstandingCycles)
	}

	m.runUntil(at("2026-04-17T11:59:59Z")) // three retries declined: still past due
	if s.Status() != api.StatusPastDue || !s.AccessActive() {
		t.Fatalf("before the last retry: status %s access %v", s.Status(), s.AccessActive())
	}

	m.runUntil(at("2026-04-17T12:00:00Z")) // the last retry is declined: suspended
	retries := m.kinds(billing.EventRetry)
	wantRetries := []string{"2026-04-11T12:00:00Z", "2026-04-13T12:00:00Z", "2026-04-15T12:00:00Z", "2026-04-17T12:00:00Z"}
	if !slices.Equal(dates(retries), wantRetries) {
		t.Fatalf("retries at %v, want %v", dates(retries), wantRetries)
	}
	for i, r := range retries {
		if r.Charge.Cycle != 2 || r.Charge.Attempt != i+1 || !r.Charge.Retry || r.Charge.AmountMinor != 995 || !r.Charge.DueAt.Equal(at("2026-04-10T12:00:00Z")) {
			t.Fatalf("retry %d: %+v", i+1, r.Charge)
		}
		wantStatus := api.StatusPastDue
		if i == 3 {
			wantStatus = api.StatusSuspended
		}
		if r.Status != wantStatus || r.Access != (i < 3) {
			t.Fatalf("after retry %d: status %s access %v", i+1, r.Status, r.Access)
		}
	}
	st = s.State(m.now)
	if st.Status != api.StatusSuspended || st.AccessActive || st.OutstandingMinor != 995 || st.AccessUntil != nil {
		t.Fatalf("suspended state: %s access %v outstanding %d accessUntil %s", st.Status, st.AccessActive, st.OutstandingMinor, fmtPtr(st.AccessUntil))
	}
	// "It does not delay the other due payments": cycle 3 is next, on its own date.
	if !ptrEq(st.NextChargeAt, at("2026-05-10T12:00:00Z")) {
		t.Fatalf("nextChargeAt %s, want cycle 3's date", fmtPtr(st.NextChargeAt))
	}

	m.runUntil(at("2026-05-10T12:00:00Z"))
	last := m.steps[len(m.steps)-1]
	if last.Kind != billing.EventCharge || last.Charge.Cycle != 3 || !last.At.Equal(at("2026-05-10T12:00:00Z")) || last.Outcome != paid {
		t.Fatalf("cycle 3: %+v", last)
	}
	if s.Status() != api.StatusSuspended || s.AccessActive() || s.Outstanding() != 995 {
		t.Fatalf("after cycle 3 paid, cycle 2 still unpaid: status %s access %v outstanding %d", s.Status(), s.AccessActive(), s.Outstanding())
	}

	// A new payment method: everything outstanding is collected at once.
	col := s.Collectable()
	if len(col) != 1 || col[0].Cycle != 2 || col[0].AmountMinor != 995 || col[0].Retry || col[0].Attempt != 5 {
		t.Fatalf("collectable %+v", col)
	}
	for _, r := range retries {
		if s.IdempotencyKey(col[0]) == r.Key {
			t.Fatalf("the collection reuses the key of attempt %d", r.Charge.Attempt)
		}
	}
	now := at("2026-05-12T09:00:00Z")
	s.Paid(col[0], "pi_new", now)
	st = s.State(now)
	if st.Status != api.StatusActive || !st.AccessActive || st.OutstandingMinor != 0 || st.OutstandingCycles != nil {
		t.Fatalf("after collection: %s access %v outstanding %d cycles %v", st.Status, st.AccessActive, st.OutstandingMinor, st.OutstandingCycles)
	}
	if !ptrEq(st.NextChargeAt, at("2026-06-10T12:00:00Z")) || !ptrEq(st.AccessUntil, at("2026-06-10T12:00:00Z")) {
		t.Fatalf("nextChargeAt %s accessUntil %s", fmtPtr(st.NextChargeAt), fmtPtr(st.AccessUntil))
	}

	// The payment history: one entry per answered attempt.
	var got []string
	for _, p := range s.Payments {
		got = append(got, p.Status)
	}
	want := []string{"succeeded", "failed", "failed", "failed", "failed", "failed", "succeeded", "succeeded"}
	if !slices.Equal(got, want) {
		t.Fatalf("payments %v, want %v", got, want)
	}
	if p := s.Payments[1]; p.Cycle != 2 || p.Attempt != 0 || p.DeclineCode != "card_declined" || p.AmountMinor != 995 {
		t.Fatalf("failed payment %+v", p)
	}
	m.now = now
	m.runUntil(at("2026-06-10T12:00:00Z"))
	if s.Cycle != 4 || s.Status() != api.StatusActive {
		t.Fatalf("cycle %d status %s", s.Cycle, s.Status())
	}
}

func TestDunningRecoversOnRetry(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = script(map[string][]outcome{"1/0": {declined}, "1/1": {declined}}) // paid at retry 2
	m.runUntil(at("2026-04-09T00:00:00Z"))
	if got := dates(m.charges()); !slices.Equal(got, []string{"2026-03-10T12:00:00Z", "2026-03-11T12:00:00Z", "2026-03-13T12:00:00Z"}) {
		t.Fatalf("attempts at %v", got)
	}
	if s.Status() != api.StatusActive || !s.AccessActive() || s.Outstanding() != 0 {
		t.Fatalf("status %s outstanding %d", s.Status(), s.Outstanding())
	}
	if at, ok := s.NextChargeAt(); !ok || !at.Equal(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("next charge %s %v: no more retries once paid", at, ok)
	}
}

func TestDunningCustomSchedule(t *testing.T) {
	tests := []struct {
		name    string
		dunning []int
		retries []string
	}{
		{"2 and 9 days", []int{2, 9}, []string{"2026-03-12T12:00:00Z", "2026-03-19T12:00:00Z"}},
		{"one retry", []int{1}, []string{"2026-03-11T12:00:00Z"}},
		{"no retry", []int{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := billing.New(billing.Start{ID: "x", KeyPrefix: "x", Plan: api.PlanMonthly, Currency: api.CurrencyGBP,
				PMID: "pm_card_visa", InstalledAt: at("2026-03-10T12:00:00Z"), Dunning: tc.dunning})
			m := newSim(t, s)
			m.answer = declineCycles(1)
			m.runUntil(at("2026-04-09T00:00:00Z"))
			if got := dates(m.kinds(billing.EventRetry)); !slices.Equal(got, tc.retries) {
				t.Fatalf("retries at %v, want %v", got, tc.retries)
			}
			if s.Status() != api.StatusSuspended || s.AccessActive() || s.Outstanding() != 995 {
				t.Fatalf("status %s access %v outstanding %d", s.Status(), s.AccessActive(), s.Outstanding())
			}
			if p := s.Payments[0]; p.Currency != api.CurrencyGBP {
				t.Fatalf("payment currency %s", p.Currency)
			}
		})
	}
}

// TestChargeInFlight: between StartCycle and the answer nothing has failed:
// access stays on, whatever the dunning schedule.
func TestChargeInFlight(t *testing.T) {
	for _, dunning := range [][]int{nil, {}, {1}} {
		s := billing.New(billing.Start{ID: "x", KeyPrefix: "x", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
			InstalledAt: at("2026-03-10T12:00:00Z"), Dunning: dunning})
		c := s.StartCycle()
		if !s.AccessActive() || s.Suspended() {
			t.Fatalf("dunning %v: a charge in flight suspends access (status %s)", dunning, s.Status())
		}
		if s.Outstanding() != 0 || s.Status() != api.StatusActive {
			t.Fatalf("a charge in flight is pending, not outstanding: %d, status %s", s.Outstanding(), s.Status())
		}
		s.Paid(c, "pi_1", c.DueAt)
		if s.Status() != api.StatusActive || s.Outstanding() != 0 {
			t.Fatalf("dunning %v: after payment status %s", dunning, s.Status())
		}
	}
}

func TestTwoCyclesOutstanding(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-01-31T12:00:00Z"))
	m := newSim(t, s)
	m.answer = declineCycles(2, 3)
	m.runUntil(at("2026-04-15T00:00:00Z"))
	// Cycle 2 (Feb 28) and cycle 3 (Mar 31) each went through their own schedule.
	want := []string{
		"2026-01-31T12:00:00Z",
		"2026-02-28T12:00:00Z", "2026-03-01T12:00:00Z", "2026-03-03T12:00:00Z", "2026-03-05T12:00:00Z", "2026-03-07T12:00:00Z",
		"2026-03-31T12:00:00Z", "2026-04-01T12:00:00Z", "2026-04-03T12:00:00Z", "2026-04-05T12:00:00Z", "2026-04-07T12:00:00Z",
	}
	if got := dates(m.charges()); !slices.Equal(got, want) {
		t.Fatalf("attempts\n%v\nwant\n%v", got, want)
	}
	if s.Outstanding() != 1990 || s.Status() != api.StatusSuspended {
		t.Fatalf("outstanding %d status %s", s.Outstanding(), s.Status())
	}
	col := s.Collectable()
	if len(col) != 2 || col[0].Cycle != 2 || col[1].Cycle != 3 {
		t.Fatalf("collectable %+v, want cycles 2 then 3", col)
	}
	now := at("2026-04-15T00:00:00Z")
	s.Paid(col[0], "pi_a", now)
	if s.Status() != api.StatusSuspended || s.Outstanding() != 995 {
		t.Fatalf("one of two paid: status %s outstanding %d", s.Status(), s.Outstanding())
	}
	s.Paid(col[1], "pi_b", now)
	if s.Status() != api.StatusActive || !s.AccessActive() || s.Outstanding() != 0 {
		t.Fatalf("both paid: status %s outstanding %d", s.Status(), s.Outstanding())
	}
}

// TestRetryBeforeChargeAtTheSameTime: a retry falling on the next billing
// date is made before that date's charge.
func TestRetryBeforeChargeAtTheSameTime(t *testing.T) {
	s := billing.New(billing.Start{ID: "x", KeyPrefix: "x", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		InstalledAt: at("2026-04-10T12:00:00Z"), Dunning: []int{30}}) // Apr 10 + 30 days = May 10
	m := newSim(t, s)
	m.answer = declineCycles(1)
	m.runUntil(at("2026-05-10T12:00:00Z"))
	got := m.charges()
	if len(got) != 3 || got[1].Kind != billing.EventRetry || got[2].Kind != billing.EventCharge ||
		!got[1].At.Equal(got[2].At) || got[2].Charge.Cycle != 2 {
		t.Fatalf("steps %+v", got)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-01-31T12:00:00Z"))
	m := newSim(t, s)
	m.answer = declineCycles(2, 3)
	m.runUntil(at("2026-06-01T00:00:00Z"))
	seen := map[string]billing.Charge{}
	for _, st := range m.charges() {
		if again := s.IdempotencyKey(st.Charge); again != st.Key {
			t.Fatalf("key not stable: %q then %q", st.Key, again)
		}
		if prev, dup := seen[st.Key]; dup {
			t.Fatalf("attempts %+v and %+v share the key %q", prev, st.Charge, st.Key)
		}
		seen[st.Key] = st.Charge
		if !strings.HasPrefix(st.Key, s.KeyPrefix) {
			t.Fatalf("key %q does not start with the subscription's prefix", st.Key)
		}
	}
	for _, c := range s.Collectable() {
		if _, dup := seen[s.IdempotencyKey(c)]; dup {
			t.Fatalf("collection of cycle %d reuses key %q", c.Cycle, s.IdempotencyKey(c))
		}
	}
	// Another subscription (or run) never shares a key.
	other := newSub(api.PlanMonthly, "", at("2026-01-31T12:00:00Z"))
	other.KeyPrefix = "subscription-acc1/run-2"
	c := billing.Charge{Cycle: 1, Attempt: 0}
	if other.IdempotencyKey(c) == s.IdempotencyKey(c) {
		t.Fatalf("two runs share key %q", s.IdempotencyKey(c))
	}
}

func TestUnanswered(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = script(map[string][]outcome{
		"1/0": {unanswered, declined}, // the due-date attempt: no answer, then declined
		"1/1": {unanswered, declined}, // retry 1: no answer, then declined
		// retry 2 (attempt 2) is paid
	})
	m.runUntil(at("2026-03-10T12:00:00Z"))
	if ev, _ := s.NextEvent(); ev.Kind != billing.EventRetry || ev.Cycle != 1 || !ev.At.Equal(at("2026-03-10T13:00:00Z")) {
		t.Fatalf("after no answer, next event %+v; want the same attempt again an hour later", ev)
	}
	if at, ok := s.NextChargeAt(); !ok || !at.Equal(time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("NextChargeAt %s", at)
	}
	m.runUntil(at("2026-03-31T00:00:00Z"))
	type row struct {
		at      string
		attempt int
		retry   bool
		outcome outcome
	}
	want := []row{
		{"2026-03-10T12:00:00Z", 0, false, unanswered},
		{"2026-03-10T13:00:00Z", 0, false, declined},  // same attempt again: not a dunning retry
		{"2026-03-11T13:00:00Z", 1, true, unanswered}, // retry 1 a day after the decline
		{"2026-03-11T14:00:00Z", 1, true, declined},   // retry 1 again: counts as retry 1
		{"2026-03-13T14:00:00Z", 2, true, paid},       // retry 2 two days (3-1) after that decline
	}
	got := m.charges()
	if len(got) != len(want) {
		t.Fatalf("attempts at %v", dates(got))
	}
	for i, w := range want {
		g := got[i]
		if !g.At.Equal(at(w.at)) || g.Charge.Attempt != w.attempt || g.Charge.Retry != w.retry || g.Outcome != w.outcome {
			t.Fatalf("attempt %d: at %s attempt %d retry %v %v; want %+v", i, g.At.Format(time.RFC3339), g.Charge.Attempt, g.Charge.Retry, g.Outcome, w)
		}
	}
	if got[0].Key != got[1].Key || got[2].Key != got[3].Key || got[1].Key == got[2].Key || got[3].Key == got[4].Key {
		t.Fatalf("keys %q %q %q %q %q: the same attempt must keep its key, a new attempt must not", got[0].Key, got[1].Key, got[2].Key, got[3].Key, got[4].Key)
	}
	// Unanswered attempts are not recorded as payments.
	var statuses []string
	for _, p := range s.Payments {
		statuses = append(statuses, p.Status)
	}
	if !slices.Equal(statuses, []string{"failed", "failed", "succeeded"}) {
		t.Fatalf("payments %v", statuses)
	}
	if s.Status() != api.StatusActive || s.Outstanding() != 0 {
		t.Fatalf("status %s outstanding %d", s.Status(), s.Outstanding())
	}
}

// TestUnansweredLastRetry: the last retry, unanswered then declined, still
// counts as the last retry and suspends access; while unanswered it does not.
func TestUnansweredLastRetry(t *testing.T) {
	s := newSub(api.PlanMonthly, "", at("2026-03-10T12:00:00Z"))
	m := newSim(t, s)
	m.answer = func(c billing.Charge, calls int) outcome {
		if c.Attempt == 4 && calls < 3 {
			return unanswered
		}
		return declined
	}
	m.unansweredRetry = 30 * time.Minute
	m.runUntil(at("2026-03-17T13:00:00Z")) // retry 4 at 12:00, 12:30, 13:00: no answer
	if s.Status() != api.StatusPastDue || !s.AccessActive() {
		t.Fatalf("last retry unanswered: status %s access %v", s.Status(), s.AccessActive())
	}
	m.runUntil(at("2026-03-17T13:30:00Z")) // and declined at 13:30
	if s.Status() != api.StatusSuspended || s.AccessActive() || s.Outstanding() != 995 {
		t.Fatalf("status %s access %v", s.Status(), s.AccessActive())
	}
	ch := m.charges()
	var keys []string
	for _, c := range ch[len(ch)-4:] {
		if c.Charge.Attempt != 4 || !c.Charge.Retry {
			t.Fatalf("attempt %+v, want retry attempt 4", c.Charge)
		}
		keys = append(keys, c.Key)
	}
	if len(slices.Compact(slices.Clone(keys))) != 1 {
		t.Fatalf("one attempt made four times under keys %v", keys)
	}
	if got := dates(ch[len(ch)-4:]); !slices.Equal(got, []string{"2026-03-17T12:00:00Z", "2026-03-17T12:30:00Z", "2026-03-17T13:00:00Z", "2026-03-17T13:30:00Z"}) {
		t.Fatalf("retry 4 made at %v", got)
	}
}
