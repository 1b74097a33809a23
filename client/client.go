// Package client is the typed Go client of the subscription service: it
// starts subscriptions (validating their input first), sends the contract's
// updates and signals, reads the state query, and lists subscriptions through
// Temporal visibility. A backend imports it; the starter command is built on it.
package client

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
)

// Client drives subscriptions through a Temporal client.
//
// Every method that sends a request sets the request's RequestedAt to the
// client's clock (UTC, to the millisecond) when the caller left it zero: the
// workflow judges the request as of that moment. A backend that sends a
// request later than the customer made it sets RequestedAt itself.
type Client struct {
	tc  tclient.Client
	now func() time.Time
}

// New wraps a connected Temporal client.
func New(tc tclient.Client) *Client {
	return &Client{tc: tc, now: time.Now}
}

// Started identifies a started subscription workflow.
type Started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// Start validates the input and starts the account's subscription. It fails
// with the SDK's *serviceerror.WorkflowExecutionAlreadyStarted while the
// account has a running subscription, and with an *api.InputError, before
// anything is started, for an invalid input.
func (c *Client) Start(ctx context.Context, in api.Input) (Started, error) {
	if len(in.Continued) > 0 {
		return Started{}, &api.InputError{Field: "continued", Reason: "is set by the workflow itself, never by a caller"}
	}
	if err := in.Validate(in.StartTime(c.now())); err != nil {
		return Started{}, err
	}
	run, err := c.tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
		ID:                                       api.WorkflowID(in.AccountID),
		TaskQueue:                                api.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            StartSummary(in),
		StaticDetails:                            StartDetails(in),
	}, api.WorkflowType, in)
	if err != nil {
		return Started{}, fmt.Errorf("start subscription of account %s: %w", in.AccountID, err)
	}
	return Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

func update[Res any](ctx context.Context, c *Client, accountID, name string, arg any) (Res, error) {
	var res Res
	h, err := c.tc.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		WorkflowID:   api.WorkflowID(accountID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: tclient.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		return res, fmt.Errorf("%s subscription of account %s: %w", name, accountID, err)
	}
	return res, nil
}

// requestedAt is t, or when t is zero the client's clock in UTC to the
// millisecond: the time a request is made, as it travels in RequestedAt.
func (c *Client) requestedAt(t time.Time) time.Time {
	if !t.IsZero() {
		return t
	}
	return c.now().UTC().Truncate(time.Millisecond)
}

// Cancel cancels the account's subscription at the end of its paid period.
func (c *Client) Cancel(ctx context.Context, accountID string, req api.CancelRequest) (api.CancelResult, error) {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.CancelResult](ctx, c, accountID, api.UpdateCancel, req)
}

// Withdraw withdraws from the subscription within 14 days of its start,
// refunding every payment. The request is made now; see WithdrawWith.
func (c *Client) Withdraw(ctx context.Context, accountID string) (api.WithdrawResult, error) {
	return c.WithdrawWith(ctx, accountID, api.WithdrawRequest{})
}

// WithdrawWith is Withdraw with the request spelled out, for a withdrawal
// made at req.RequestedAt (zero: now).
func (c *Client) WithdrawWith(ctx context.Context, accountID string, req api.WithdrawRequest) (api.WithdrawResult, error) {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.WithdrawResult](ctx, c, accountID, api.UpdateWithdraw, req)
}

// UpdatePaymentMethod replaces the card and charges everything outstanding with it.
func (c *Client) UpdatePaymentMethod(ctx context.Context, accountID string, req api.UpdatePaymentMethodRequest) (api.UpdatePaymentMethodResult, error) {
	if err := api.ValidPaymentMethodID(req.PaymentMethodID); err != nil {
		return api.UpdatePaymentMethodResult{}, err
	}
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.UpdatePaymentMethodResult](ctx, c, accountID, api.UpdatePaymentMethod, req)
}

// ChangePlan switches plan at the next billing date.
func (c *Client) ChangePlan(ctx context.Context, accountID string, req api.ChangePlanRequest) (api.ChangePlanResult, error) {
	if err := api.ValidPlan(req.Plan); err != nil {
		return api.ChangePlanResult{}, err
	}
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.ChangePlanResult](ctx, c, accountID, api.UpdateChangePlan, req)
}

// SchedulePriceChange schedules a new price with at least 30 days' notice.
func (c *Client) SchedulePriceChange(ctx context.Context, accountID string, req api.PriceChangeRequest) (api.PriceChangeResult, error) {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.PriceChangeResult](ctx, c, accountID, api.UpdateSchedulePriceChange, req)
}

// Terminate ends the subscription at once for a breach of the terms of use.
func (c *Client) Terminate(ctx context.Context, accountID string, req api.TerminateRequest) (api.TerminateResult, error) {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.TerminateResult](ctx, c, accountID, api.UpdateTerminate, req)
}

// SignalCancel sends the cancel signal (fire and forget).
func (c *Client) SignalCancel(ctx context.Context, accountID string, req api.CancelRequest) error {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return c.signal(ctx, accountID, api.SignalCancel, req)
}

// SignalWithdraw sends the withdraw signal (fire and forget). The request is
// made now; see SignalWithdrawWith.
func (c *Client) SignalWithdraw(ctx context.Context, accountID string) error {
	return c.SignalWithdrawWith(ctx, accountID, api.WithdrawRequest{})
}

// SignalWithdrawWith is SignalWithdraw with the request spelled out, for a
// withdrawal made at req.RequestedAt (zero: now).
func (c *Client) SignalWithdrawWith(ctx context.Context, accountID string, req api.WithdrawRequest) error {
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return c.signal(ctx, accountID, api.SignalWithdraw, req)
}

func (c *Client) signal(ctx context.Context, accountID, name string, arg any) error {
	id := api.WorkflowID(accountID)
	if err := c.tc.SignalWorkflow(ctx, id, "", name, arg); err != nil {
		return fmt.Errorf("signal %s to subscription %s: %w", name, id, err)
	}
	return nil
}

// State reads the subscription's state: the query on a running workflow, or
// the result of the latest run once it has ended.
func (c *Client) State(ctx context.Context, accountID string) (api.State, error) {
	var st api.State
	id := api.WorkflowID(accountID)
	v, err := c.tc.QueryWorkflow(ctx, id, "", api.QueryState)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		return st, fmt.Errorf("state of subscription %s: %w", id, err)
	}
	return st, nil
}

// Summary is one subscription as Temporal visibility lists it.
type Summary struct {
	WorkflowID       string     `json:"workflowId"`
	RunID            string     `json:"runId"`
	Execution        string     `json:"execution"` // Running, Completed, …
	Status           string     `json:"status"`
	AccountID        string     `json:"accountId"`
	Plan             string     `json:"plan"`
	AccessActive     bool       `json:"accessActive"`
	NextChargeAt     *time.Time `json:"nextChargeAt"`
	OutstandingMinor int64      `json:"outstandingMinor"`
}

// ListQuery builds the visibility query of List: subscriptions, with the
// given status when it is not empty.
func ListQuery(status string) (string, error) {
	q := fmt.Sprintf("WorkflowType = '%s'", api.WorkflowType)
	if status == "" {
		return q, nil
	}
	switch status {
	case api.StatusTrialing, api.StatusActive, api.StatusPastDue, api.StatusSuspended, api.StatusCanceling, api.StatusEnded:
		return q + fmt.Sprintf(" AND %s = '%s'", api.SASubscriptionStatus, status), nil
	}
	return "", fmt.Errorf("unknown status %q (trialing, active, past_due, suspended, canceling or ended)", status)
}

// List lists subscriptions through Temporal visibility, newest first.
func (c *Client) List(ctx context.Context, status string, limit int) ([]Summary, error) {
	query, err := ListQuery(status)
	if err != nil {
		return nil, err
	}
	var out []Summary
	var token []byte
	for {
		resp, err := c.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list subscriptions (%s): %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, summarize(e))
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
