package workflows

import (
	"context"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
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
