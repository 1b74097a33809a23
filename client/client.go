// Package client is the typed Go client of the subscription service: it
// starts subscriptions (validating their input first), sends the contract's
// updates and signals, reads the state query, and lists subscriptions through
// Temporal visibility. A backend imports it; the starter command is built on it.
package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
)

// Client drives subscriptions through a Temporal client.
//
// Every method fails with an *Error: a message for a person (no SDK error
// types, no run IDs), what to do about it, and its Kind (not found, refused
// by the rules, Temporal unavailable, other); the SDK's or the workflow's
// error stays reachable with errors.As.
//
// Every method that sends a request sets the request's RequestedAt to the
// client's clock (UTC, to the millisecond) when the caller left it zero: the
// workflow judges the request as of that moment. A backend that sends a
// request later than the customer made it sets RequestedAt itself.
type Client struct {
	tc  tclient.Client
	now func() time.Time
	// openingWait bounds how long State waits for a subscription that is
	// still opening.
	openingWait time.Duration
	// liveStripe: the deployment charges with a live Stripe key, so Start
	// refuses test clocks.
	liveStripe bool
	// firstOfAccount: Start tries a start with an offer as the account's
	// first (see FirstOfAccountStarts).
	firstOfAccount bool
}

// FirstOfAccountStarts makes Start try a start with an offer as the
// account's first: allowing no earlier run of the workflow ID, and marked
// api.Input.FirstOfAccount, so that the workflow needs no visibility
// look-up for trial eligibility; a returning account's start, refused that
// way, is made again as a later one. Turn it on only once every worker
// runs rules 2 or later: a worker of an earlier release refuses the field
// (its input decoding is strict), so such a start would fail.
func FirstOfAccountStarts() Option { return func(c *Client) { c.firstOfAccount = true } }

// Option configures a Client.
type Option func(*Client)

// LiveStripe declares that the deployment charges with a live Stripe key
// (config.StripeLiveMode says so from STRIPE_MODE or STRIPE_SECRET_KEY):
// Start then refuses an input with a test clock, before anything is
// started, with an *api.InputError on testClock (KindRefused). A worker
// holding a live key refuses such a subscription too; the client says so
// before it is started.
func LiveStripe() Option {
	return func(c *Client) { c.liveStripe = true }
}

// OpeningWait is how long State waits, at most, for a subscription that is
// still opening (deciding its trial from the account's earlier
// subscriptions) to answer.
const OpeningWait = 10 * time.Second

// New wraps a connected Temporal client, configured by opts (LiveStripe).
func New(tc tclient.Client, opts ...Option) *Client {
	c := &Client{tc: tc, now: time.Now, openingWait: OpeningWait}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// liveTestClock is the reason a test clock is refused under LiveStripe.
const liveTestClock = "is refused: this deployment charges with a live Stripe key; test clocks are for test mode only"

// Started identifies a started subscription workflow.
type Started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// Start validates the input and starts the account's subscription. It fails
// (KindRefused) with the SDK's *serviceerror.WorkflowExecutionAlreadyStarted
// while the account has a running subscription, and with an *api.InputError,
// before anything is started, for an invalid input, or for a test clock
// under LiveStripe.
func (c *Client) Start(ctx context.Context, in api.Input) (Started, error) {
	if len(in.Continued) > 0 {
		return Started{}, classify(ctx, "start", in.AccountID, &api.InputError{Field: "continued", Reason: "is set by the workflow itself, never by a caller"})
	}
	if c.liveStripe && in.TestClock != nil {
		return Started{}, classify(ctx, "start", in.AccountID, &api.InputError{Field: "testClock", Reason: liveTestClock})
	}
	if err := in.Validate(in.StartTime(c.now())); err != nil {
		return Started{}, classify(ctx, "start", in.AccountID, err)
	}
	// First as the account's first subscription, which needs no look-up of
	// earlier ones (see api.Input.FirstOfAccount); refused when the workflow
	// ID has any earlier run, then as a later one.
	first := in
	first.FirstOfAccount = c.firstOfAccount && in.Offer != ""
	if first.FirstOfAccount {
		run, err := c.execute(ctx, first, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			if err != nil {
				return Started{}, classify(ctx, "start", in.AccountID, err)
			}
			return Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
		}
	}
	in.FirstOfAccount = false
	run, err := c.execute(ctx, in, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
	if err != nil {
		return Started{}, classify(ctx, "start", in.AccountID, err)
	}
	return Started{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// execute starts the subscription workflow of in with reuse.
func (c *Client) execute(ctx context.Context, in api.Input, reuse enumspb.WorkflowIdReusePolicy) (tclient.WorkflowRun, error) {
	return c.tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
		ID:                                       api.WorkflowID(in.AccountID),
		TaskQueue:                                api.TaskQueue,
		WorkflowIDReusePolicy:                    reuse,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            StartSummary(in),
		StaticDetails:                            StartDetails(in),
	}, api.WorkflowType, in)
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
		return res, classify(ctx, name, accountID, err)
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
		return api.UpdatePaymentMethodResult{}, classify(ctx, api.UpdatePaymentMethod, accountID, err)
	}
	req.RequestedAt = c.requestedAt(req.RequestedAt)
	return update[api.UpdatePaymentMethodResult](ctx, c, accountID, api.UpdatePaymentMethod, req)
}

// ChangePlan switches plan at the next billing date.
func (c *Client) ChangePlan(ctx context.Context, accountID string, req api.ChangePlanRequest) (api.ChangePlanResult, error) {
	if err := api.ValidPlan(req.Plan); err != nil {
		return api.ChangePlanResult{}, classify(ctx, api.UpdateChangePlan, accountID, err)
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
	if err := c.tc.SignalWorkflow(ctx, api.WorkflowID(accountID), "", name, arg); err != nil {
		return classify(ctx, name+" signal", accountID, err)
	}
	return nil
}

// State reads the subscription's state: the query on a running workflow, or
// the result of the latest run once it has ended. Right after Start the
// subscription may still be opening (deciding its trial): State then asks
// again, backing off, for up to OpeningWait (or until ctx is done), and
// fails with KindUnavailable if it still cannot answer. The lists of the
// state (payments, rejected) are empty rather than null.
func (c *Client) State(ctx context.Context, accountID string) (api.State, error) {
	id := api.WorkflowID(accountID)
	giveUp := time.NewTimer(c.openingWait)
	defer giveUp.Stop()
	pause := 50 * time.Millisecond
	for {
		var st api.State
		v, err := c.tc.QueryWorkflow(ctx, id, "", api.QueryState)
		if err == nil {
			err = v.Get(&st)
		}
		if err == nil {
			if st.Payments == nil {
				st.Payments = []api.Payment{}
			}
			if st.Rejected == nil {
				st.Rejected = []api.Rejected{}
			}
			return st, nil
		}
		cerr := classify(ctx, "state", accountID, err)
		var e *Error
		if !errors.As(cerr, &e) || e.Kind != KindUnavailable || !opening(err) {
			return api.State{}, cerr
		}
		wait := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			wait.Stop()
			return api.State{}, cerr
		case <-giveUp.C:
			wait.Stop()
			e.Message += fmt.Sprintf(" after %s", c.openingWait)
			return api.State{}, e
		case <-wait.C:
		}
		pause = min(2*pause, time.Second)
	}
}

// opening reports whether err is a subscription's refusal to answer because
// it is still opening.
func opening(err error) bool {
	var queryErr *serviceerror.QueryFailed
	var notReady *serviceerror.WorkflowNotReady
	return errors.As(err, &notReady) || (errors.As(err, &queryErr) && strings.Contains(queryErr.Message, stillOpening))
}
