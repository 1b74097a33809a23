package workflows

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/billing"
)

// TestEmailsAreLocalActivities: under rules 3 the worker sends emails
// within the workflow task that decides them (local activities), never as
// activity tasks of their own; the charges stay activities. (The retries of
// a failing email wait on workflow timers, which the SDK's test
// environment mixes up with real time: TestEmailRetriedWhileBillingGoesOn
// in package integration covers them on a real server.)
func TestEmailsAreLocalActivities(t *testing.T) {
	fake := newFake()
	h := newHarness(t, date("2026-01-31T09:00:00Z"), fake)
	var mu sync.Mutex
	regular, local := map[string]int{}, map[string]int{}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		regular[info.ActivityType.Name]++
	})
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		mu.Lock()
		defer mu.Unlock()
		local[info.ActivityType.Name]++
	})
	_, _ = h.run(input(), day(200)) // trial, then three renewals
	emails := 0
	for _, n := range fake.emailKinds() {
		emails += n
	}
	if regular["SendEmail"] != 0 || local["SendEmail"] != emails || emails < 5 {
		t.Errorf("%d emails sent: %d as activities, %d as local activities; want all local", emails, regular["SendEmail"], local["SendEmail"])
	}
	if regular["Charge"] != len(fake.calls) || local["Charge"] != 0 || len(fake.calls) < 3 {
		t.Errorf("%d charges: %d as activities, %d as local ones; want all activities", len(fake.calls), regular["Charge"], local["Charge"])
	}
}

// TestRunsCloseAfterTheirEmailsAreRecorded reads the histories recorded on
// the current rules: no run completes or continues as new in the workflow
// task that records an email's outcome (a LocalActivity marker), which
// would send it again should the server refuse that task (see closable).
func TestRunsCloseAfterTheirEmailsAreRecorded(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", fmt.Sprintf("*-rules%d.json", billing.CurrentRules)))
	if err != nil || len(files) == 0 {
		t.Fatalf("no history recorded on rules %d: %v", billing.CurrentRules, err)
	}
	for _, file := range files {
		events := readHistory(t, file).GetEvents()
		markers := 0 // since the last workflow task completed
		for _, e := range events {
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				markers = 0
			case enumspb.EVENT_TYPE_MARKER_RECORDED:
				if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
					markers++
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				if markers > 0 {
					t.Errorf("%s: the run closes (event %d) in the task that records %d emails", filepath.Base(file), e.GetEventId(), markers)
				}
			}
		}
	}
}
