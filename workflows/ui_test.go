package workflows

import (
	"strings"
	"testing"

	sdkpb "go.temporal.io/api/sdk/v1"
)

// currentDetails reads what the UI shows as the workflow's current details.
func (h *harness) currentDetails() string {
	h.t.Helper()
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		h.t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		h.t.Fatalf("decode metadata: %v", err)
	}
	return md.GetCurrentDetails()
}

func TestCurrentDetailsTellTheBusinessStory(t *testing.T) {
	fake := newFake()
	t0 := date("2026-01-31T09:00:00Z")
	h := newHarness(t, t0, fake)
	var pastDue, suspended string
	h.at(day(2), func() { pastDue = h.currentDetails() })
	h.at(day(8), func() { suspended = h.currentDetails() })
	_, _ = h.run(input(noOffer, declined), day(9))
	for _, want := range []string{"**past_due**, access on", "plan: monthly, 9.95 EUR", "cycle: 1", "next charge: 2026-02-03", "outstanding: 9.95 EUR (cycle 1)"} {
		if !strings.Contains(pastDue, want) {
			t.Errorf("past due details %q lack %q", pastDue, want)
		}
	}
	if !strings.Contains(suspended, "**suspended**, access off") {
		t.Errorf("suspended details %q", suspended)
	}
	for _, secret := range []string{"ada@example.com", "cus_", "pm_"} {
		if strings.Contains(pastDue+suspended, secret) {
			t.Errorf("details hold %q: %q", secret, pastDue+suspended)
		}
	}
}
