package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// TestRecordHistories records complete workflow histories of the main paths
// into workflows/testdata/histories, where the replay test proves that every
// later change of the workflow still replays them. It runs only when
// SUBSCRIPTIONS_RECORD=1; commit what it writes. Files are named after the
// rules version they were recorded under (billing.CurrentRules): histories
// of older versions stay, so that the guards keep them replaying.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_RECORD") == "" {
		t.Skip("set SUBSCRIPTIONS_RECORD=1 to record histories for the replay test")
	}
	dir := filepath.Join("..", "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type path struct {
		name  string
		pm    string
		offer string
		setup func(in *api.Input)
		drive func(t *testing.T, acc string)
	}
	for _, p := range []path{
		{"trial-cancel", "pm_card_visa", api.OfferBodyScan, nil, func(t *testing.T, acc string) {
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
			mustDo(t)(sys.client.ChangePlan(ctx(t), acc, api.ChangePlanRequest{Plan: api.PlanAnnual}))
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}},
		{"dunning-recovery-cancel", "pm_card_chargeDeclined", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
			mustDo(t)(sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}))
			waitState(t, acc, "two more cycles", func(s api.State) bool { return s.Cycle >= 3 })
			mustDo(t)(sys.client.SchedulePriceChange(ctx(t), acc, api.PriceChangeRequest{PriceMinor: 1095, EffectiveAt: time.Now().AddDate(1, 0, 0)}))
			if err := sys.client.SignalCancel(ctx(t), acc, api.CancelRequest{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"withdrawal", "pm_card_visa", "", nil, func(t *testing.T, acc string) {
			waitState(t, acc, "charged", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 })
			mustDo(t)(sys.client.Withdraw(ctx(t), acc))
		}},
		{"late-start-dunning", "pm_card_chargeDeclined", "", func(in *api.Input) {
			start, _ := time.Parse(time.RFC3339, in.TestClock.StartsAt)
			in.InstalledAt = start.AddDate(0, 0, -8).Format(time.RFC3339)
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
			mustDo(t)(sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}))
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}},
		{"saved-500", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.FailNextCharges(1, stripefake.FaultSavedEmpty) // looked up, then made under a new key
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "paid", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 && len(s.Payments) == 1 })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}},
		{"stripe-refused", "pm_card_visa", "", func(*api.Input) {
			sys.stripe.SetAccountKey("sk_test_another_account")
		}, func(t *testing.T, acc string) {
			waitState(t, acc, "held", func(s api.State) bool { return s.ChargeIssue == billing.IssueStripeRefused })
			sys.stripe.SetAccountKey("")
			waitState(t, acc, "paid", func(s api.State) bool { return len(s.Payments) == 1 && s.ChargeIssue == "" })
			mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "recorded"}))
		}},
		{"temporal-cancel", "pm_card_visa", api.OfferScanwatch2, nil, func(t *testing.T, acc string) {
			waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
			if err := sys.tc.CancelWorkflow(ctx(t), api.WorkflowID(acc), ""); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(p.name, func(t *testing.T) {
			acc := account(t)
			in := startInput(acc, p.pm, p.offer)
			in.TestClock.Speedup = 86400 // a day a second: the steps land where they should
			if p.setup != nil {
				p.setup(&in)
			}
			if _, err := sys.client.Start(ctx(t), in); err != nil {
				t.Fatal(err)
			}
			p.drive(t, acc)
			waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
			writeHistory(t, api.WorkflowID(acc), filepath.Join(dir, fmt.Sprintf("%s-rules%d.json", p.name, billing.CurrentRules)))
		})
	}
}

func mustDo(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// writeHistory saves a closed workflow's history as `temporal workflow show --output json` does.
func writeHistory(t *testing.T, workflowID, file string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var run string
	eventually(t, 30*time.Second, "closed", func() (bool, string) {
		d, err := sys.tc.DescribeWorkflowExecution(c, workflowID, "")
		if err != nil {
			return false, err.Error()
		}
		run = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		return d.GetWorkflowExecutionInfo().GetCloseTime() != nil, d.GetWorkflowExecutionInfo().GetStatus().String()
	})
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
	t.Logf("recorded %d events of %s in %s", len(h.Events), workflowID, file)
}
