package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// priorResult is the part of a finished Subscription workflow's result (its
// final state) that dates the subscription, on the subscription's clock.
type priorResult struct {
	ContractStartAt string `json:"contractStartAt"`
	EndedAt         string `json:"endedAt"`
	Now             string `json:"now"` // fallback when endedAt is absent
}

// PriorSubscriptions lists the closed earlier runs of the account's workflow
// ID (other than the current chain) and the period each was in force:
//   - Completed runs: contractStartAt and endedAt of the workflow's result
//     (runs whose result has no contractStartAt never started a contract and
//     are skipped);
//   - Terminated, TimedOut and Canceled runs: the run's start and close times
//     (Temporal's clock: such runs have no result);
//   - Failed runs are skipped (invalid input, or no subscription ran).
//
// A Completed run whose history is already gone (retention) is dated by its
// start and close times.
//
// The list is sorted by StartAt.
func (a *Activities) PriorSubscriptions(ctx context.Context, req PriorRequest) ([]PriorSubscription, error) {
	if a.temporal == nil {
		return nil, a.permanent(ErrTypeBadRequest, "prior subscriptions: the worker has no Temporal client")
	}
	if req.WorkflowID == "" || strings.ContainsAny(req.WorkflowID, `'"\`) {
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("prior subscriptions: invalid workflow id %q", req.WorkflowID))
	}
	query := fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'", req.WorkflowID)
	out := []PriorSubscription{}
	var token []byte
	for {
		// Visibility is rate-limited per namespace: the look-ups queue in
		// Temporal rather than fail (see pacer).
		if err := a.visibility.wait(ctx); err != nil {
			if perr, ok := a.paced("listing closed runs of "+req.WorkflowID, err); ok {
				return nil, perr
			}
			return nil, a.retryable(ErrTypeTemporalUnavailable, fmt.Sprintf("listing closed runs of %s: %v", req.WorkflowID, err))
		}
		page, err := a.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: 100, NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, a.retryable(ErrTypeTemporalUnavailable, fmt.Sprintf("listing closed runs of %s: %v", req.WorkflowID, err))
		}
		for _, info := range page.GetExecutions() {
			runID := info.GetExecution().GetRunId()
			if runID == "" || runID == req.CurrentRunID || runID == req.FirstRunID {
				continue
			}
			prior, ok, err := a.priorOf(ctx, req.WorkflowID, info)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, prior)
			}
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartAt.Before(out[j].StartAt) })
	return out, nil
}

// priorOf dates one closed run; ok is false for runs that do not count.
func (a *Activities) priorOf(ctx context.Context, workflowID string, info *workflowpb.WorkflowExecutionInfo) (PriorSubscription, bool, error) {
	runID := info.GetExecution().GetRunId()
	p := PriorSubscription{RunID: runID}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		if info.GetStartTime() == nil || info.GetCloseTime() == nil {
			return p, false, nil
		}
		p.StartAt, p.EndAt = info.GetStartTime().AsTime(), info.GetCloseTime().AsTime()
		return p, true, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
	default:
		return p, false, nil
	}
	var res priorResult
	err := a.temporal.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// History already removed by retention: count the run by Temporal's times.
		p.StartAt, p.EndAt = info.GetStartTime().AsTime(), info.GetCloseTime().AsTime()
		return p, true, nil
	}
	if err != nil {
		return p, false, a.retryable(ErrTypeTemporalUnavailable, fmt.Sprintf("reading the result of %s run %s: %v", workflowID, runID, err))
	}
	start, err := time.Parse(time.RFC3339Nano, res.ContractStartAt)
	if res.ContractStartAt == "" || (err == nil && start.IsZero()) {
		return p, false, nil // no contract was ever started
	}
	end := res.EndedAt
	if end == "" {
		end = res.Now
	}
	p.StartAt = parseOr(res.ContractStartAt, info.GetStartTime().AsTime())
	p.EndAt = parseOr(end, info.GetCloseTime().AsTime())
	return p, true, nil
}

// parseOr parses an RFC 3339 time, falling back to Temporal's own time for a
// result that cannot be read (counting the run beats ignoring it).
func parseOr(s string, fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return fallback
}
