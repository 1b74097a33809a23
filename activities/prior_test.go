package activities

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/mocks"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/withings-plus/subscriptions/config"
)

const wfID = "subscription-acc1"

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func execution(runID string, status enumspb.WorkflowExecutionStatus, start, end string) *workflowpb.WorkflowExecutionInfo {
	return &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: wfID, RunId: runID},
		Status: status, StartTime: ts(start), CloseTime: ts(end)}
}

// completed makes GetWorkflow(runID).Get decode result as the run's result.
func completed(tc *mocks.Client, t *testing.T, runID, result string) {
	run := mocks.NewWorkflowRun(t)
	run.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, v any) error {
		return json.Unmarshal([]byte(result), v)
	})
	tc.On("GetWorkflow", mock.Anything, wfID, runID).Return(run)
}

func TestPriorSubscriptions(t *testing.T) {
	tc := mocks.NewClient(t)
	const query = "WorkflowId = 'subscription-acc1' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'"
	const (
		completedStatus = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
		day             = "2026-01-01T00:00:00Z"
	)
	page1 := &workflowservice.ListWorkflowExecutionsResponse{NextPageToken: []byte("p2"), Executions: []*workflowpb.WorkflowExecutionInfo{
		execution("current", completedStatus, day, day),
		execution("A", completedStatus, "2025-01-05T10:00:00Z", "2025-06-01T00:00:00Z"),
		execution("B", enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, "2025-07-01T00:00:00Z", "2025-08-01T00:00:00Z"),
		execution("C", enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, "2025-09-01T00:00:00Z", "2025-09-01T00:00:01Z"),
	}}
	page2 := &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		execution("first", completedStatus, day, day),
		execution("D", completedStatus, "2025-10-01T00:00:00Z", "2025-10-01T00:00:01Z"),
		execution("E", enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
		execution("F", enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"),
		execution("G", completedStatus, "2025-11-01T00:00:00Z", "2025-11-20T00:00:00Z"),
		execution("H", completedStatus, "2023-01-01T00:00:00Z", "2023-02-01T00:00:00Z"),
	}}
	tc.On("ListWorkflow", mock.Anything, mock.MatchedBy(func(r *workflowservice.ListWorkflowExecutionsRequest) bool {
		return r.Query == query && len(r.NextPageToken) == 0
	})).Return(page1, nil).Once()
	tc.On("ListWorkflow", mock.Anything, mock.MatchedBy(func(r *workflowservice.ListWorkflowExecutionsRequest) bool {
		return r.Query == query && string(r.NextPageToken) == "p2"
	})).Return(page2, nil).Once()
	// A: a test-clock subscription; its dates come from the result, not Temporal's times.
	completed(tc, t, "A", `{"status":"ended","contractStartAt":"2030-02-01T09:00:00+01:00","endedAt":"2030-05-01T09:00:00+02:00"}`)
	// D: never started a contract (a zero time, as Go encodes it).
	completed(tc, t, "D", `{"status":"ended","contractStartAt":"0001-01-01T00:00:00Z","endedAt":null}`)
	// G: no endedAt, the state's clock at the end is used.
	completed(tc, t, "G", `{"contractStartAt":"2025-11-01T00:00:00Z","now":"2025-11-19T12:00:00Z"}`)

	// H: history already deleted by retention.
	gone := mocks.NewWorkflowRun(t)
	gone.On("Get", mock.Anything, mock.Anything).Return(serviceerror.NewNotFound("workflow execution not found"))
	tc.On("GetWorkflow", mock.Anything, wfID, "H").Return(gone)

	acts := New(config.Worker{}, tc, nil)
	var got []PriorSubscription
	err := run(t, newEnv(acts), acts.PriorSubscriptions, PriorRequest{WorkflowID: wfID, CurrentRunID: "current", FirstRunID: "first"}, &got)
	if err != nil {
		t.Fatal(err)
	}
	want := []PriorSubscription{
		{RunID: "H", StartAt: ts("2023-01-01T00:00:00Z").AsTime(), EndAt: ts("2023-02-01T00:00:00Z").AsTime()},
		{RunID: "E", StartAt: ts("2024-01-01T00:00:00Z").AsTime(), EndAt: ts("2024-02-01T00:00:00Z").AsTime()},
		{RunID: "F", StartAt: ts("2024-03-01T00:00:00Z").AsTime(), EndAt: ts("2024-04-01T00:00:00Z").AsTime()},
		{RunID: "B", StartAt: ts("2025-07-01T00:00:00Z").AsTime(), EndAt: ts("2025-08-01T00:00:00Z").AsTime()},
		{RunID: "G", StartAt: ts("2025-11-01T00:00:00Z").AsTime(), EndAt: ts("2025-11-19T12:00:00Z").AsTime()},
		{RunID: "A", StartAt: ts("2030-02-01T08:00:00Z").AsTime(), EndAt: ts("2030-05-01T07:00:00Z").AsTime()},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].RunID != want[i].RunID || !got[i].StartAt.Equal(want[i].StartAt) || !got[i].EndAt.Equal(want[i].EndAt) {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPriorSubscriptionsNone(t *testing.T) {
	tc := mocks.NewClient(t)
	tc.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Once()
	acts := New(config.Worker{}, tc, nil)
	var got []PriorSubscription
	if err := run(t, newEnv(acts), acts.PriorSubscriptions, PriorRequest{WorkflowID: wfID}, &got); err != nil || len(got) != 0 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestPriorSubscriptionsErrors(t *testing.T) {
	tc := mocks.NewClient(t)
	tc.On("ListWorkflow", mock.Anything, mock.Anything).Return(nil, errors.New("visibility unavailable")).Once()
	acts := New(config.Worker{}, tc, nil)
	env := newEnv(acts)
	var ae = appError(t, run(t, env, acts.PriorSubscriptions, PriorRequest{WorkflowID: wfID}, nil), ErrTypeTemporalUnavailable, false)
	if ae.Message() != "listing closed runs of subscription-acc1: visibility unavailable" {
		t.Errorf("message %q", ae.Message())
	}
	appError(t, run(t, env, acts.PriorSubscriptions, PriorRequest{WorkflowID: "x' OR WorkflowId != '"}, nil), ErrTypeBadRequest, true)
	broken := mocks.NewWorkflowRun(t)
	broken.On("Get", mock.Anything, mock.Anything).Return(errors.New("deadline exceeded"))
	tc.On("GetWorkflow", mock.Anything, wfID, "A").Return(broken)
	tc.On("ListWorkflow", mock.Anything, mock.Anything).Return(&workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		execution("A", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")}}, nil).Once()
	appError(t, run(t, env, acts.PriorSubscriptions, PriorRequest{WorkflowID: wfID}, nil), ErrTypeTemporalUnavailable, false)
	noClient := New(config.Worker{}, nil, nil)
	appError(t, run(t, newEnv(noClient), noClient.PriorSubscriptions, PriorRequest{WorkflowID: wfID}, nil), ErrTypeBadRequest, true)
}
