package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/internal/stripefake"
	"github.com/withings-plus/subscriptions/workflows"
)

// day is a test clock running a day a real second.
const day = 86400

// TestRecordHistories records complete workflow histories of the main paths
// into workflows/testdata/histories, where the replay test proves that every
// later change of the workflow still replays them. It runs only when
// SUBSCRIPTIONS_RECORD=1; commit what it writes. Files are named after the
// rules version they were recorded under (billing.CurrentRules): histories
// of older versions stay, so that the guards keep them replaying. A path
// that continues as new records every run of its subscription:
// <name>-rules<N>.json is the first, <name>-run<K>-rules<N>.json the K-th.
// Record only some paths with -run 'TestRecordHistories/<name>'.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_RECORD") == "" {
		t.Skip("set SUBSCRIPTIONS_RECORD=1 to record histories for the replay test")
	}
	dir := filepath.Join("..", "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type path struct {
		name    string
		pm      string
		offer   string
		setup   func(in *api.Input)
		drive   func(t *testing.T, acc string)
		speedup float64 // of the test clock; 0: a day a second
	}
	for _, p := range []path{
		{"trial-cancel", "pm_card_visa", api.OfferBodyScan, nil, func(t *testing.T, acc string) {
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
			mustDo(t)(sys.client.ChangePlan(ctx(t), acc, api.ChangePlanRequest{Plan: api.PlanAnnual}))
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
		{"dunning-recovery-cancel", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
			mustDo(t)(sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}))
			waitState(t, acc, "two more cycles", func(s api.State) bool { return s.Cycle >= 3 })
			mustDo(t)(sys.client.SchedulePriceChange(ctx(t), acc, api.PriceChangeRequest{PriceMinor: 1095, EffectiveAt: time.Now().AddDate(1, 0, 0)}))
			if err := sys.client.SignalCancel(ctx(t), acc, api.CancelRequest{}); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"withdrawal", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "charged", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 })
			mustDo(t)(sys.client.Withdraw(ctx(t), acc))
		}, 0},
		{"late-start-dunning", "pm_card_chargeDeclined", "", func(in *api.Input) {
			start, _ := time.Parse(time.RFC3339, in.TestClock.StartsAt)
			in.InstalledAt = start.AddDate(0, 0, -8).Format(time.RFC3339)
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
			mustDo(t)(sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}))
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
		{"saved-500", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.FailNextCharges(1, stripefake.FaultSavedEmpty) // looked up, then made under a new key
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 && len(s.Payments) == 1 })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
		{"stripe-refused", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.SetAccountKey("sk_test_another_account")
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "held", func(s api.State) bool { return s.ChargeIssue == billing.IssueStripeRefused })
			sys.stripe.SetAccountKey("")
			waitState(t, acc, "paid", func(s api.State) bool { return len(s.Payments) == 1 && s.ChargeIssue == "" })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
		{"temporal-cancel", "pm_card_visa", api.OfferScanwatch2, nil, func(t *testing.T, acc string) {
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
			if err := sys.tc.CancelWorkflow(ctx(t), api.WorkflowID(acc), ""); err != nil {
				t.Fatal(err)
			}
		}, 0},
		// A trial that runs to its end: trial_ending, the first charge, a
		// renewal, then a cancellation to the end of the period.
		{"trial-conversion", "pm_card_visa", api.OfferScanwatch2, nil, func(t *testing.T, acc string) {
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing && s.TrialGranted })
			waitState(t, acc, "converted and renewed", func(s api.State) bool {
				return s.Cycle >= 2 && paid(s) == s.Cycle && s.Status == api.StatusActive
			})
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 15 * day},
		// MaxCyclesPerRun renewals, then the run continues as new by itself
		// and the next run renews; both runs are recorded.
		{"renewals-continue-as-new", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "continued as new and renewed", func(s api.State) bool {
				return s.ContinuedAsNewTimes >= 1 && s.Cycle > workflows.MaxCyclesPerRun && paid(s) == s.Cycle
			})
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 30 * day},
		// The upgrade signal: the run continues as new at once, and the next
		// run renews; both runs are recorded.
		{"upgrade-continue-as-new", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			if err := sys.tc.SignalWorkflow(ctx(t), api.WorkflowID(acc), "", api.SignalUpgrade, nil); err != nil {
				t.Fatal(err)
			}
			waitState(t, acc, "continued as new", func(s api.State) bool { return s.ContinuedAsNewTimes == 1 })
			waitState(t, acc, "renewed in the next run", func(s api.State) bool { return s.Cycle == 2 && paid(s) == 2 })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 5 * day},
		// Every retry of the dunning schedule declined: suspended; a card
		// update pays and restores access; a later renewal is paid; then a
		// cancellation to the end of the period.
		{"dunning-suspension-recovery", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended && !s.AccessActive })
			mustDo(t)(sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}))
			waitState(t, acc, "restored", func(s api.State) bool { return s.AccessActive && s.OutstandingMinor == 0 })
			waitState(t, acc, "renewed", func(s api.State) bool { return s.Cycle == 2 && s.OutstandingMinor == 0 && paid(s) == 2 })
			res, err := sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"})
			if err != nil || res.Status != api.StatusCanceling {
				t.Fatalf("cancel: %+v %v", res, err)
			}
		}, 5 * day},
		// Canceled while suspended with the current period unpaid: it ends
		// at once, the debt stays recorded.
		{"cancel-while-suspended", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
			res, err := sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"})
			if err != nil || res.Status != api.StatusEnded {
				t.Fatalf("cancel: %+v %v", res, err)
			}
			waitState(t, acc, "ended owing", func(s api.State) bool { return s.Status == api.StatusEnded && s.OutstandingMinor > 0 })
		}, 5 * day},
		// A withdrawal signal after the 14 days is rejected (recorded in the
		// state); a cancellation in a paid period runs to its end.
		{"cancel-after-paid-period", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			st := waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			last, err := time.Parse(time.DateOnly, st.WithdrawalEndsOn)
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, acc, "withdrawal period over", func(s api.State) bool { return s.Now.After(last.AddDate(0, 0, 1)) })
			if err := sys.client.SignalWithdraw(ctx(t), acc); err != nil {
				t.Fatal(err)
			}
			waitState(t, acc, "withdrawal rejected", func(s api.State) bool { return len(s.Rejected) == 1 })
			res, err := sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"})
			if err != nil || res.Status != api.StatusCanceling {
				t.Fatalf("cancel: %+v %v", res, err)
			}
			final := waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
			if final.EndReason != api.EndCanceled || final.EndedAt == nil || !final.EndedAt.Equal(res.AccessUntil) {
				t.Fatalf("final %+v, canceled to %s", final, res.AccessUntil)
			}
		}, 5 * day},
		// Declined, past due, paid by a card update, then withdrawn by the
		// signal: the payment received is refunded.
		{"withdrawal-refunds", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "past due", func(s api.State) bool { return s.Status == api.StatusPastDue })
			res, err := sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"})
			if err != nil || res.OutstandingMinor != 0 {
				t.Fatalf("card update: %+v %v", res, err)
			}
			if err := sys.client.SignalWithdraw(ctx(t), acc); err != nil {
				t.Fatal(err)
			}
			final := waitState(t, acc, "refunded", func(s api.State) bool { return s.Status == api.StatusEnded && refunded(s) == 1 })
			if final.EndReason != api.EndWithdrawn {
				t.Fatalf("final %+v", final)
			}
		}, 0},
		// Withdrawn while past due: nothing to refund, the debt is cleared.
		{"withdrawal-past-due", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "past due", func(s api.State) bool { return s.Status == api.StatusPastDue && s.OutstandingMinor > 0 })
			res, err := sys.client.Withdraw(ctx(t), acc)
			if err != nil || res.RefundedMinor != 0 {
				t.Fatalf("withdraw: %+v %v", res, err)
			}
			waitState(t, acc, "cleared", func(s api.State) bool { return s.Status == api.StatusEnded && s.OutstandingMinor == 0 })
		}, 0},
		// Withdrawn while the first charge has no answer (Stripe answers
		// 503): the withdrawal ends it with the refund pending; once Stripe
		// answers, the charge is made again under its key and refunded
		// after the end.
		{"withdrawal-settled-after-end", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.FailNext(1<<30, 503)
		}, func(t *testing.T, acc string) {
			eventually(t, time.Minute, "first charge sent", func() (bool, string) {
				n := len(charges(api.WorkflowID(acc)))
				return n > 0, fmt.Sprint(n, " charges")
			})
			res, err := sys.client.Withdraw(ctx(t), acc)
			if err != nil || res.PendingRefundMinor != 995 {
				t.Fatalf("withdraw: %+v %v", res, err)
			}
			waitState(t, acc, "settling", func(s api.State) bool {
				return s.Status == api.StatusEnded && s.Settlement == billing.SettlementPending
			})
			sys.stripe.FailNext(0, 0)
			waitState(t, acc, "settled", func(s api.State) bool { return s.Settlement == "" && refunded(s) == 1 && s.PendingRefundMinor == 0 })
		}, 3600},
		// A charge Stripe does not answer for more than a day of the
		// subscription's clock (unknown_outcome for ops), looked up, made
		// again once Stripe answers; then a cancellation.
		{"unanswered-charge-lookup", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.FailNext(1<<30, 503)
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "unknown outcome", func(s api.State) bool { return s.ChargeIssue == billing.IssueUnknownOutcome })
			sys.stripe.FailNext(0, 0)
			waitState(t, acc, "paid", func(s api.State) bool { return paid(s) == 1 && s.ChargeIssue == "" })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
		// Monthly to annual at the next billing date, the first annual
		// charge, then a cancellation to the end of that year.
		{"plan-change", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			st := waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			res, err := sys.client.ChangePlan(ctx(t), acc, api.ChangePlanRequest{Plan: api.PlanAnnual})
			if err != nil || st.NextChargeAt == nil || !res.EffectiveAt.Equal(*st.NextChargeAt) {
				t.Fatalf("change plan: %+v %v, next charge %v", res, err, st.NextChargeAt)
			}
			waitState(t, acc, "renewed on the annual plan", func(s api.State) bool {
				return s.Plan == api.PlanAnnual && s.Cycle == 2 && paid(s) == 2 && s.PendingPlan == ""
			})
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 15 * day},
		// A price change with its notice, charged from the first billing
		// date on or after its effective date; then a cancellation.
		{"price-change", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			st := waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			res, err := sys.client.SchedulePriceChange(ctx(t), acc, api.PriceChangeRequest{PriceMinor: 1195, EffectiveAt: st.Now.AddDate(0, 0, 35)})
			if err != nil || res.AppliesFrom.Before(st.Now.AddDate(0, 0, 35)) {
				t.Fatalf("price change: %+v %v", res, err)
			}
			waitState(t, acc, "charged the new price", func(s api.State) bool {
				last := s.Payments[len(s.Payments)-1]
				return s.Cycle >= 3 && last.Status == api.PaymentSucceeded && last.AmountMinor == 1195
			})
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 10 * day},
		// The terminate update ends a paid subscription at once.
		{"termination", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			res, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "breach of the terms (recorded)"})
			if err != nil || res.Status != api.StatusEnded {
				t.Fatalf("terminate: %+v %v", res, err)
			}
		}, 0},
		// An account that had a subscription within the month subscribes
		// again with an offer: no trial, charged at once. The second
		// subscription is recorded.
		{"ineligible-returning-subscriber", "pm_card_visa", api.OfferBodyScan, nil, func(t *testing.T, acc string) {
			id := api.WorkflowID(acc)
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
			mustDo(t)(sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "recorded: the first subscription"}))
			var first api.State
			if err := sys.tc.GetWorkflow(ctx(t), id, "").Get(ctx(t), &first); err != nil || first.Status != api.StatusEnded {
				t.Fatalf("first subscription: %+v %v", first.Status, err)
			}
			// Eligibility reads the closed run in visibility.
			eventually(t, 30*time.Second, "first subscription closed in visibility", func() (bool, string) {
				res, err := sys.tc.ListWorkflow(ctx(t), &workflowservice.ListWorkflowExecutionsRequest{
					Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'Completed'", id),
				})
				if err != nil {
					return false, err.Error()
				}
				return len(res.GetExecutions()) == 1, fmt.Sprint(len(res.GetExecutions()), " closed runs")
			})
			again := startInput(acc, "pm_card_visa", api.OfferBodyScan)
			again.TestClock.Speedup = 5 * day
			if _, err := sys.client.Start(ctx(t), again); err != nil {
				t.Fatal(err)
			}
			st := waitState(t, acc, "charged at once", func(s api.State) bool { return s.Cycle == 1 && paid(s) == 1 })
			if st.TrialGranted || st.TrialIneligibleReason == "" {
				t.Fatalf("returning subscriber: trial granted %v, reason %q", st.TrialGranted, st.TrialIneligibleReason)
			}
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}, 0},
	} {
		t.Run(p.name, func(t *testing.T) {
			acc := account(t)
			in := startInput(acc, p.pm, p.offer)
			in.TestClock.Speedup = day // a day a second: the steps land where they should
			if p.speedup != 0 {
				in.TestClock.Speedup = p.speedup
			}
			t.Cleanup(func() { sys.stripe.FailNext(0, 0) }) // a path that failed leaves no fault behind
			if p.setup != nil {
				p.setup(&in)
			}
			if _, err := sys.client.Start(ctx(t), in); err != nil {
				t.Fatal(err)
			}
			p.drive(t, acc)
			waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
			for i, run := range runs(t, api.WorkflowID(acc)) {
				name := p.name
				if i > 0 {
					name = fmt.Sprintf("%s-run%d", p.name, i+1)
				}
				writeRun(t, api.WorkflowID(acc), run, filepath.Join(dir, fmt.Sprintf("%s-rules%d.json", name, billing.CurrentRules)))
			}
		})
	}
}

// paid counts the cycles paid.
func paid(s api.State) int {
	n := 0
	for _, p := range s.Payments {
		if p.Status == api.PaymentSucceeded || p.Status == api.PaymentRefunded {
			n++
		}
	}
	return n
}

// refunded counts the payments refunded.
func refunded(s api.State) int {
	n := 0
	for _, p := range s.Payments {
		if p.Status == api.PaymentRefunded {
			n++
		}
	}
	return n
}

func mustDo(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runs waits until the workflow's last run has closed, and lists the runs
// of its subscription, first to last: the run it started with, then each
// run it continued as new into.
func runs(t *testing.T, workflowID string) []string {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var first string
	eventually(t, 30*time.Second, "closed", func() (bool, string) {
		d, err := sys.tc.DescribeWorkflowExecution(c, workflowID, "")
		if err != nil {
			return false, err.Error()
		}
		info := d.GetWorkflowExecutionInfo()
		first = info.GetFirstRunId()
		if first == "" {
			first = info.GetExecution().GetRunId()
		}
		return info.GetCloseTime() != nil, info.GetStatus().String()
	})
	out := []string{first}
	for {
		it := sys.tc.GetWorkflowHistory(c, workflowID, out[len(out)-1], false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		if !it.HasNext() {
			t.Fatalf("%s run %s: no close event", workflowID, out[len(out)-1])
		}
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		next := e.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		if next == "" {
			return out
		}
		out = append(out, next)
	}
}

// writeRun saves the history of one closed run as `temporal workflow show --output json` does.
func writeRun(t *testing.T, workflowID, run, file string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &historypb.History{}
	it := sys.tc.GetWorkflowHistory(c, workflowID, run, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events of %s (run %s) in %s", len(h.Events), workflowID, run, file)
}
