package client

import (
	"context"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/withings-plus/subscriptions/api"
)

func TestSavedQueries(t *testing.T) {
	names := map[string]bool{}
	for _, q := range Queries() {
		if names[q.Name] {
			t.Errorf("%s twice", q.Name)
		}
		names[q.Name] = true
		if q.Description == "" || !strings.HasPrefix(q.Query, "WorkflowType = 'Subscription' AND ") {
			t.Errorf("%s: %+v", q.Name, q)
		}
		// Each subscription once: by its running run, or by the closed run
		// that is not a continue-as-new.
		if !strings.Contains(q.Query, "ExecutionStatus = 'Running'") && !strings.Contains(q.Query, "ExecutionStatus != 'ContinuedAsNew'") {
			t.Errorf("%s counts runs closed by continue-as-new: %s", q.Name, q.Query)
		}
		if got, err := ListQuery(q.Name); err != nil || got != q.Query {
			t.Errorf("ListQuery(%s) = %q, %v", q.Name, got, err)
		}
	}
	for _, n := range []string{api.StatusTrialing, api.StatusActive, api.StatusPastDue, api.StatusSuspended, api.StatusCanceling, api.StatusEnded,
		QueryAll, QueryLive, QueryNeedsAttention, QuerySettling, QueryHandedToOps} {
		if !names[n] {
			t.Errorf("no saved query %s", n)
		}
	}
	if all, _ := ListQuery(""); all != "WorkflowType = 'Subscription' AND ExecutionStatus != 'ContinuedAsNew' AND ExecutionStatus != 'Failed'" {
		t.Errorf("all: %s", all)
	}
	if active, _ := ListQuery(api.StatusActive); active != "WorkflowType = 'Subscription' AND ExecutionStatus = 'Running' AND SubscriptionStatus = 'active'" {
		t.Errorf("active: %s", active)
	}
	if _, err := ListQuery("sleeping"); err == nil || !strings.Contains(err.Error(), `unknown list "sleeping"`) || !strings.Contains(err.Error(), "needs_attention") {
		t.Errorf("unknown list: %v", err)
	}
}

// visibility answers ListWorkflow with pages; any other call panics on the
// nil embedded client.
type visibility struct {
	tclient.Client
	pages   [][]*workflowpb.WorkflowExecutionInfo
	queries []string
}

func (v *visibility) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	v.queries = append(v.queries, r.GetQuery())
	i := 0
	if len(r.GetNextPageToken()) > 0 {
		i = int(r.GetNextPageToken()[0])
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{Executions: v.pages[i]}
	if i+1 < len(v.pages) {
		resp.NextPageToken = []byte{byte(i + 1)}
	}
	return resp, nil
}

func run(id, runID string, status enumspb.WorkflowExecutionStatus, attrs map[string]any) *workflowpb.WorkflowExecutionInfo {
	fields := map[string]*commonpb.Payload{}
	for k, v := range attrs {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		if err != nil {
			panic(err)
		}
		fields[k] = p
	}
	e := &workflowpb.WorkflowExecutionInfo{
		Execution:        &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
		Status:           status,
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields},
	}
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		e.CloseTime = timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	}
	return e
}

func TestListCountsEachSubscriptionOnce(t *testing.T) {
	running := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	active := map[string]any{api.SASubscriptionStatus: "active", api.SAAccessActive: true, api.SANextChargeAt: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	v := &visibility{pages: [][]*workflowpb.WorkflowExecutionInfo{
		{
			run("subscription-a", "a3", running, active),
			// Visibility has not yet recorded that a2 continued as new.
			run("subscription-a", "a2", running, active),
			run("subscription-b", "b2", running, active),
		},
		{
			// A past subscription of b, ended through Temporal.
			run("subscription-b", "b1", enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, active),
			run("subscription-c", "c1", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
				map[string]any{api.SASubscriptionStatus: "ended", api.SASettlementStatus: "handed_to_ops", api.SAOutstandingMinor: 995}),
		},
	}}
	list, err := New(v).List(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, s.RunID+" "+s.Status)
	}
	if strings.Join(got, ", ") != "a3 active, b2 active, b1 ended, c1 ended" {
		t.Fatalf("listed %v", got)
	}
	if b1 := list[2]; b1.AccessActive || b1.NextChargeAt != nil || b1.Execution != "Terminated" || b1.ClosedAt == nil {
		t.Errorf("terminated run listed as %+v", b1)
	}
	if c1 := list[3]; c1.Settlement != "handed_to_ops" || c1.OutstandingMinor != 995 || c1.Execution != "Completed" {
		t.Errorf("handed over listed as %+v", c1)
	}
	if a3 := list[0]; !a3.AccessActive || a3.NextChargeAt == nil || a3.ClosedAt != nil || a3.Execution != "Running" {
		t.Errorf("running listed as %+v", a3)
	}
	if all, _ := ListQuery(QueryAll); len(v.queries) != 2 || v.queries[0] != all {
		t.Errorf("queries %q", v.queries)
	}
	limited, err := New(v).List(context.Background(), api.StatusActive, 2)
	if err != nil || len(limited) != 2 || limited[1].RunID != "b2" {
		t.Errorf("limit 2: %+v %v", limited, err)
	}
	if _, err := New(v).List(context.Background(), "sleeping", 0); KindOf(err) != KindRefused {
		t.Errorf("unknown list: %v", err)
	}
}
