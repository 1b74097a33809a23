package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/workflows"
)

// TestEmailRetriedWhileBillingGoesOn: SendGrid refuses the first receipt
// (503). The email, a local activity of the workflow task that decided it
// (rules 3), is tried again on a workflow timer 30 s later, while the
// subscription goes on charging its next cycles on a clock of 5 days a
// second; in the end every cycle has exactly one receipt, the history holds
// no activity task for an email but the failed attempt's marker, and it
// replays.
func TestEmailRetriedWhileBillingGoesOn(t *testing.T) {
	t.Parallel()
	acc := account(t)
	to := acc + "@example.com"
	sys.mail.FailNextTo(to, 1, http.StatusServiceUnavailable)
	if _, err := sys.client.Start(ctx(t), startInput(acc, "pm_card_visa", "")); err != nil {
		t.Fatal(err)
	}
	// Cycle 2 falls due a month in, 6 s of real time: well before the
	// first receipt's retry.
	st := waitState(t, acc, "two cycles paid", func(s api.State) bool { return paid(s) >= 2 })
	if got := emailKinds(to)["payment_receipt"]; got >= paid(st) {
		t.Fatalf("%d receipts for %d cycles paid while the first one waits for its retry", got, paid(st))
	}
	mustDo(t)(sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "integration"}))
	final := waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
	eventually(t, 60*time.Second, "a receipt for every cycle", func() (bool, string) {
		k := emailKinds(to)
		return k["payment_receipt"] == paid(final), fmt.Sprintf("%v for %d cycles paid", k, paid(final))
	})

	var emailActivities, markers, failed int
	var h historypb.History
	it := sys.tc.GetWorkflowHistory(ctx(t), api.WorkflowID(acc), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "SendEmail" {
				emailActivities++
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if m := ev.GetMarkerRecordedEventAttributes(); m.GetMarkerName() == "LocalActivity" {
				markers++
				if m.GetFailure() != nil {
					failed++
				}
			}
		}
	}
	if emailActivities != 0 || failed != 1 || markers < paid(final)+failed {
		t.Errorf("history: %d SendEmail activities, %d local-activity markers (%d failed) for %d receipts and more emails", emailActivities, markers, failed, paid(final))
	}
	if err := workflows.Replay(&h, nil, nil); err != nil {
		t.Errorf("replay: %v", err)
	}
}
