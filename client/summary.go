package client

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// summarize reads a listed execution's search attributes.
func summarize(e *workflowpb.WorkflowExecutionInfo) Summary {
	s := Summary{
		WorkflowID: e.GetExecution().GetWorkflowId(),
		RunID:      e.GetExecution().GetRunId(),
		Execution:  e.GetStatus().String(),
	}
	fields := e.GetSearchAttributes().GetIndexedFields()
	dc := converter.GetDefaultDataConverter()
	get := func(name string, v any) bool {
		p, ok := fields[name]
		return ok && dc.FromPayload(p, v) == nil
	}
	get(api.SASubscriptionStatus, &s.Status)
	get(api.SAAccountID, &s.AccountID)
	get(api.SAPlan, &s.Plan)
	get(api.SAAccessActive, &s.AccessActive)
	get(api.SAOutstandingMinor, &s.OutstandingMinor)
	get(api.SASettlementStatus, &s.Settlement)
	get(api.SAChargeIssue, &s.ChargeIssue)
	var next time.Time
	if get(api.SANextChargeAt, &next) && !next.IsZero() {
		s.NextChargeAt = &next
	}
	if e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		// A closed run's subscription has ended, also when it was stopped
		// through Temporal with other search attributes.
		s.Status, s.AccessActive, s.NextChargeAt = api.StatusEnded, false, nil
		if e.GetCloseTime() != nil {
			closed := e.GetCloseTime().AsTime()
			s.ClosedAt = &closed
		}
	}
	return s
}

// StartSummary is the one line the Temporal UI shows for a subscription
// started with in: plan, price and offer, never personal data (no email,
// name, Stripe customer or payment method).
func StartSummary(in api.Input) string {
	s := fmt.Sprintf("%s subscription of account %s, %s", in.Plan, in.AccountID, billing.FormatMoney(billing.ListPrice(in.Plan), in.Currency))
	if in.Offer != "" {
		s += ", offer " + in.Offer
	}
	return s
}

// StartDetails is the static details the Temporal UI shows (Markdown), with
// the same care for personal data as StartSummary.
func StartDetails(in api.Input) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Withings+ subscription** of account `%s`\n\n", in.AccountID)
	fmt.Fprintf(&b, "- plan: %s, currency: %s\n", in.Plan, in.Currency)
	if in.Offer != "" {
		fmt.Fprintf(&b, "- launch offer: %s\n", in.Offer)
	}
	if in.InstalledAt != "" {
		fmt.Fprintf(&b, "- installed at: %s\n", in.InstalledAt)
	}
	if in.TestClock != nil {
		fmt.Fprintf(&b, "- test clock: from %s at %g×\n", in.TestClock.StartsAt, in.TestClock.Speedup)
	}
	b.WriteString("- current status: see the current details, kept up to date by the workflow\n")
	return b.String()
}
