package integration

import (
	"context"
	"slices"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
)

// TestTheUIShowsTheBusinessStory reads a subscription the way the Temporal
// UI does (describe, the metadata query, the history) and checks the
// summary, the current details, and the activity and timer summaries.
func TestTheUIShowsTheBusinessStory(t *testing.T) {
	t.Parallel()
	acc := account(t)
	id := api.WorkflowID(acc)
	in := startInput(acc, "pm_card_chargeDeclined", "")
	in.TestClock.Speedup = 86400 // a day a second: past due for a few seconds
	if _, err := sys.client.Start(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	waitState(t, acc, "past due", func(s api.State) bool { return s.Status == api.StatusPastDue && len(s.Payments) >= 2 })

	dc := converter.GetDefaultDataConverter()
	decode := func(p *commonpb.Payload) string {
		t.Helper()
		if p == nil {
			return ""
		}
		var s string
		if err := dc.FromPayload(p, &s); err != nil {
			t.Fatalf("decode a summary: %v", err)
		}
		return s
	}

	d, err := sys.tc.DescribeWorkflowExecution(ctx(t), id, "")
	if err != nil {
		t.Fatal(err)
	}
	md := d.GetExecutionConfig().GetUserMetadata()
	if got, want := decode(md.GetSummary()), client.StartSummary(in); got != want {
		t.Errorf("static summary %q, want %q", got, want)
	}
	if got := decode(md.GetDetails()); !strings.Contains(got, "plan: monthly, currency: EUR") {
		t.Errorf("static details %q", got)
	}

	v, err := sys.tc.QueryWorkflow(ctx(t), id, "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var wm sdkpb.WorkflowMetadata
	if err := v.Get(&wm); err != nil {
		t.Fatal(err)
	}
	if cur := wm.GetCurrentDetails(); !strings.Contains(cur, "**past_due**, access on") || !strings.Contains(cur, "outstanding: 9.95 EUR") {
		t.Errorf("current details %q", cur)
	}

	var activities, timers []string
	for _, e := range history(t, id) {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			activities = append(activities, decode(e.GetUserMetadata().GetSummary()))
		case enumspb.EVENT_TYPE_MARKER_RECORDED: // an email, a local activity (rules 3)
			if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				activities = append(activities, decode(e.GetUserMetadata().GetSummary()))
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			timers = append(timers, decode(e.GetUserMetadata().GetSummary()))
		}
	}
	for _, want := range []string{"charge cycle 1, attempt 0: 9.95 EUR", "charge cycle 1, attempt 1: 9.95 EUR", "email payment_failed"} {
		if !slices.Contains(activities, want) {
			t.Errorf("no activity summarized %q in %q", want, activities)
		}
	}
	if len(timers) == 0 || !strings.HasPrefix(timers[0], "retry cycle 1 on ") {
		t.Errorf("timer summaries %q", timers)
	}
	// What the UI shows besides payloads holds no personal data, even
	// decrypted (payloads at rest are checked in internal/devstack).
	shown := strings.Join(append(append([]string{decode(md.GetSummary()), decode(md.GetDetails()), wm.GetCurrentDetails()}, activities...), timers...), "\n")
	for _, personal := range []string{in.Email, in.StripeCustomerID, in.PaymentMethodID, "@", "cus_", "pm_"} {
		if strings.Contains(shown, personal) {
			t.Errorf("the UI's summaries show %q", personal)
		}
	}
}

// history reads a running workflow's events so far.
func history(t *testing.T, id string) []*historypb.HistoryEvent {
	t.Helper()
	var out []*historypb.HistoryEvent
	it := sys.tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
