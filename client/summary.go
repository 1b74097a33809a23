package client

import (
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
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
	var next time.Time
	if get(api.SANextChargeAt, &next) && !next.IsZero() {
		s.NextChargeAt = &next
	}
	return s
}
