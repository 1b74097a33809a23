package fault

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// verdict is the audit of one subscription.
type verdict struct {
	cycle    int // the state's
	problems []problem
	paid     int // cycles charged exactly once at the stand-in
	gaps     int // cycles due with no succeeded charge at the stand-in
}

// problem is something wrong with a subscription.
type problem struct {
	text  string
	fatal bool // no wait can repair it
}

func (v verdict) ok() bool { return len(v.problems) == 0 }

func (v verdict) fatal() bool {
	return slices.ContainsFunc(v.problems, func(p problem) bool { return p.fatal })
}

// audit compares a subscription's state with the PaymentIntents the stand-in
// holds for it. Every cycle from 1 to the state's cycle must be charged by
// exactly one succeeded PaymentIntent, recorded in the state as the cycle's
// one succeeded payment (same id, amount, currency); no attempt may have
// failed (the card works: a Stripe failure is not a decline), nothing may be
// outstanding, and the next charge must be the next billing date, still to
// come on the subscription's clock. A second charge of a cycle, a failed
// attempt or a state contradicting the stand-in cannot be repaired by
// waiting: those problems are fatal.
func audit(st api.State, pis []stripefake.PaymentIntent, minCycles int) verdict {
	v := verdict{cycle: st.Cycle}
	bad := func(fatal bool, format string, args ...any) {
		v.problems = append(v.problems, problem{text: fmt.Sprintf(format, args...), fatal: fatal})
	}
	if st.Status != api.StatusActive || !st.AccessActive || st.OutstandingMinor != 0 {
		bad(false, "status %s, access %t, outstanding %d (cycles %v), want active with nothing outstanding",
			st.Status, st.AccessActive, st.OutstandingMinor, st.OutstandingCycles)
	}
	if st.Cycle < minCycles {
		bad(false, "cycle %d at %s, want at least %d", st.Cycle, st.Now.Format(time.RFC3339), minCycles)
	}
	next := billing.BillingDate(st.ContractStartAt, st.Plan, st.Cycle)
	switch {
	case st.NextChargeAt == nil:
		bad(false, "no next charge after cycle %d", st.Cycle)
	case !st.NextChargeAt.Equal(next):
		bad(false, "next charge at %s after cycle %d, want the next billing date %s",
			st.NextChargeAt.Format(time.RFC3339), st.Cycle, next.Format(time.RFC3339))
	case !st.NextChargeAt.After(st.Now):
		bad(false, "behind: next charge at %s, the clock reads %s", st.NextChargeAt.Format(time.RFC3339), st.Now.Format(time.RFC3339))
	}

	recorded := map[int][]api.Payment{}
	for _, p := range st.Payments {
		if p.Status != api.PaymentSucceeded {
			bad(true, "cycle %d attempt %d recorded as %s (%s, %q): a charge of a card that works never fails",
				p.Cycle, p.Attempt, p.Status, p.DeclineCode, p.PaymentIntentID)
			continue
		}
		recorded[p.Cycle] = append(recorded[p.Cycle], p)
	}
	charged := map[int][]stripefake.PaymentIntent{}
	for _, pi := range pis {
		cycle, err := strconv.Atoi(pi.Metadata["cycle"])
		switch {
		case err != nil:
			bad(true, "the stand-in holds %s with metadata cycle %q", describe(pi), pi.Metadata["cycle"])
		case pi.Status != "succeeded":
			bad(true, "cycle %d: the stand-in holds %s", cycle, describe(pi))
		default:
			charged[cycle] = append(charged[cycle], pi)
		}
	}
	for _, cycle := range sortedKeys(charged) {
		if cycle < 1 || cycle > st.Cycle {
			bad(true, "cycle %d charged at the stand-in (%s) but the state is at cycle %d", cycle, describeAll(charged[cycle]), st.Cycle)
		}
	}
	for _, cycle := range sortedKeys(recorded) {
		if cycle < 1 || cycle > st.Cycle {
			bad(true, "cycle %d recorded as paid (%+v) but the state is at cycle %d", cycle, recorded[cycle], st.Cycle)
		}
	}
	for cycle := 1; cycle <= st.Cycle; cycle++ {
		got, rec := charged[cycle], recorded[cycle]
		switch {
		case len(got) == 0:
			v.gaps++
			bad(false, "cycle %d: the stand-in holds no succeeded charge; the state records %+v", cycle, rec)
		case len(got) > 1:
			bad(true, "cycle %d charged %d times at the stand-in: %s; the state records %+v", cycle, len(got), describeAll(got), rec)
		case len(rec) != 1:
			v.paid++
			bad(len(rec) > 1, "cycle %d: the stand-in holds %s; the state records %d succeeded payments %+v", cycle, describe(got[0]), len(rec), rec)
		case rec[0].PaymentIntentID != got[0].ID || rec[0].AmountMinor != got[0].Amount || !strings.EqualFold(rec[0].Currency, got[0].Currency):
			v.paid++
			bad(true, "cycle %d: the stand-in holds %s; the state records %q %d %s",
				cycle, describe(got[0]), rec[0].PaymentIntentID, rec[0].AmountMinor, rec[0].Currency)
		default:
			v.paid++
		}
	}
	return v
}

// duplicates lists, by subscription ID, the cycles the stand-in holds more
// than one succeeded PaymentIntent of, whatever any state says.
func duplicates(pis []stripefake.PaymentIntent) map[string]map[string][]stripefake.PaymentIntent {
	by := map[string]map[string][]stripefake.PaymentIntent{}
	for _, pi := range pis {
		if pi.Status != "succeeded" {
			continue
		}
		id, cycle := pi.Metadata["subscription_id"], pi.Metadata["cycle"]
		if by[id] == nil {
			by[id] = map[string][]stripefake.PaymentIntent{}
		}
		by[id][cycle] = append(by[id][cycle], pi)
	}
	for id, cycles := range by {
		for cycle, got := range cycles {
			if len(got) < 2 {
				delete(cycles, cycle)
			}
		}
		if len(cycles) == 0 {
			delete(by, id)
		}
	}
	return by
}

func describe(pi stripefake.PaymentIntent) string {
	return fmt.Sprintf("%s %s %d %s (attempt %s)", pi.ID, pi.Status, pi.Amount, pi.Currency, pi.Metadata["attempt"])
}

func describeAll(pis []stripefake.PaymentIntent) string {
	out := make([]string, len(pis))
	for i, pi := range pis {
		out[i] = describe(pi)
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestAudit checks the suite's oracle on made-up states and stand-in
// contents: it must pass a correct subscription and catch each way of
// getting one wrong.
func TestAudit(t *testing.T) {
	start := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	const id = "subscription-a"
	pi := func(n, cycle int, status string) stripefake.PaymentIntent {
		return stripefake.PaymentIntent{ID: fmt.Sprintf("pi_%d", n), Status: status, Amount: 995, Currency: "eur",
			Metadata: map[string]string{"subscription_id": id, "cycle": strconv.Itoa(cycle), "attempt": "0"}}
	}
	paid := func(n, cycle int) api.Payment {
		return api.Payment{Cycle: cycle, AmountMinor: 995, Currency: "EUR", Status: api.PaymentSucceeded, PaymentIntentID: fmt.Sprintf("pi_%d", n)}
	}
	// good is three cycles paid, between the third and the fourth billing date.
	good := func() (api.State, []stripefake.PaymentIntent) {
		next := billing.BillingDate(start, api.PlanMonthly, 3)
		return api.State{SubscriptionID: id, Status: api.StatusActive, AccessActive: true, Plan: api.PlanMonthly,
				ContractStartAt: start, Cycle: 3, NextChargeAt: &next, Now: next.Add(-time.Hour),
				Payments: []api.Payment{paid(1, 1), paid(2, 2), paid(3, 3)}},
			[]stripefake.PaymentIntent{pi(1, 1, "succeeded"), pi(2, 2, "succeeded"), pi(3, 3, "succeeded")}
	}
	tests := []struct {
		name   string
		change func(*api.State, *[]stripefake.PaymentIntent)
		want   string // in a problem; "" for none
		fatal  bool
		paid   int
		gaps   int
	}{
		{"correct", func(*api.State, *[]stripefake.PaymentIntent) {}, "", false, 3, 0},
		{"charged twice", func(_ *api.State, p *[]stripefake.PaymentIntent) { *p = append(*p, pi(4, 2, "succeeded")) },
			"cycle 2 charged 2 times", true, 2, 0},
		{"gap", func(_ *api.State, p *[]stripefake.PaymentIntent) { *p = (*p)[:2] },
			"cycle 3: the stand-in holds no succeeded charge", false, 2, 1},
		{"other id recorded", func(s *api.State, _ *[]stripefake.PaymentIntent) { s.Payments[1].PaymentIntentID = "pi_9" },
			`the state records "pi_9"`, true, 3, 0},
		{"other amount recorded", func(s *api.State, _ *[]stripefake.PaymentIntent) { s.Payments[0].AmountMinor = 1995 },
			`the state records "pi_1" 1995`, true, 3, 0},
		{"not recorded yet", func(s *api.State, _ *[]stripefake.PaymentIntent) { s.Payments = s.Payments[:2] },
			"the state records 0 succeeded payments", false, 3, 0},
		{"recorded twice", func(s *api.State, _ *[]stripefake.PaymentIntent) { s.Payments = append(s.Payments, paid(3, 3)) },
			"the state records 2 succeeded payments", true, 3, 0},
		{"failed attempt", func(s *api.State, _ *[]stripefake.PaymentIntent) {
			s.Payments = append(s.Payments, api.Payment{Cycle: 3, Status: api.PaymentFailed, DeclineCode: "stripe_request"})
		}, "recorded as failed", true, 3, 0},
		{"declined at the stand-in", func(_ *api.State, p *[]stripefake.PaymentIntent) {
			*p = append(*p, pi(5, 3, "requires_payment_method"))
		}, "requires_payment_method", true, 3, 0},
		{"charged ahead of the state", func(_ *api.State, p *[]stripefake.PaymentIntent) { *p = append(*p, pi(6, 4, "succeeded")) },
			"cycle 4 charged at the stand-in", true, 3, 0},
		{"behind the clock", func(s *api.State, _ *[]stripefake.PaymentIntent) { s.Now = s.NextChargeAt.Add(time.Minute) },
			"behind", false, 3, 0},
		{"a billing date skipped", func(s *api.State, _ *[]stripefake.PaymentIntent) {
			next := billing.BillingDate(start, api.PlanMonthly, 4)
			s.NextChargeAt, s.Now = &next, next.Add(-time.Hour)
		}, "want the next billing date 2026-04-30T09:00:00Z", false, 3, 0},
		{"past due", func(s *api.State, _ *[]stripefake.PaymentIntent) {
			s.Status, s.OutstandingMinor, s.OutstandingCycles = api.StatusPastDue, 995, []int{3}
		}, "status past_due", false, 3, 0},
		{"too few cycles", func(s *api.State, p *[]stripefake.PaymentIntent) {
			next := billing.BillingDate(start, api.PlanMonthly, 2)
			s.Cycle, s.Payments, s.NextChargeAt, s.Now, *p = 2, s.Payments[:2], &next, next.Add(-time.Hour), (*p)[:2]
		}, "cycle 2 at", false, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, pis := good()
			tt.change(&st, &pis)
			v := audit(st, pis, 3)
			var texts []string
			for _, p := range v.problems {
				texts = append(texts, p.text)
			}
			all := strings.Join(texts, "\n")
			switch {
			case tt.want == "" && !v.ok():
				t.Fatalf("problems in a correct subscription:\n%s", all)
			case tt.want != "" && !strings.Contains(all, tt.want):
				t.Fatalf("problems do not say %q:\n%s", tt.want, all)
			case v.fatal() != tt.fatal:
				t.Fatalf("fatal = %t, want %t:\n%s", v.fatal(), tt.fatal, all)
			case v.paid != tt.paid || v.gaps != tt.gaps:
				t.Fatalf("paid %d gaps %d, want %d and %d", v.paid, v.gaps, tt.paid, tt.gaps)
			}
		})
	}
	_, pis := good()
	pis = append(pis, pi(7, 2, "succeeded"), pi(8, 2, "requires_payment_method"))
	if d := duplicates(pis); len(d) != 1 || len(d[id]) != 1 || len(d[id]["2"]) != 2 {
		t.Fatalf("duplicates = %v, want cycle 2 of %s twice", d, id)
	}
}
