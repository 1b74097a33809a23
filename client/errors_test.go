package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
)

func TestErrorsSayWhatToDo(t *testing.T) {
	const runID = "01a21290-b7f6-7bf3-b3a0-372ff450db01"
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		op     string
		err    error
		kind   Kind
		want   []string // in the message
		unwrap any      // errors.As finds it, when not nil
	}{
		{"no such workflow", nil, api.UpdateCancel,
			serviceerror.NewNotFound("workflow not found for ID: subscription-acc-1"),
			KindNotFound, []string{"no subscription for account acc-1", "start the subscription first"}, new(*serviceerror.NotFound)},
		{"state of no such workflow", nil, "state",
			fmt.Errorf("wrapped: %w", serviceerror.NewNotFound("workflow not found for ID: subscription-acc-1")),
			KindNotFound, []string{"no subscription for account acc-1"}, nil},
		{"ended", nil, api.UpdateWithdraw,
			serviceerror.NewNotFound("workflow execution already completed"),
			KindRefused, []string{"withdrawal of account acc-1 refused: the subscription has ended", "start a new subscription"}, nil},
		{"signal after the end", nil, api.SignalCancel + " signal",
			serviceerror.NewNotFound("workflow execution already completed"),
			KindRefused, []string{"cancel signal of account acc-1 refused: the subscription has ended"}, nil},
		{"already started", nil, "start",
			serviceerror.NewWorkflowExecutionAlreadyStarted("Workflow execution is already running. WorkflowId: subscription-acc-1, RunId: "+runID+".", "", runID),
			KindRefused, []string{"account acc-1 already has a running subscription", "read it with state"}, new(*serviceerror.WorkflowExecutionAlreadyStarted)},
		{"invalid input", nil, "start",
			&api.InputError{Field: "currency", Reason: `"CHF" is not a currency (EUR, USD or GBP)`},
			KindRefused, []string{`start of account acc-1 refused: invalid currency: "CHF" is not a currency`, "nothing was sent"}, new(*api.InputError)},
		{"invalid argument", nil, api.UpdateChangePlan,
			&api.ArgumentError{Request: "changePlan", Field: "plan", Reason: "is required"},
			KindRefused, []string{"plan change of account acc-1 refused", "plan"}, new(*api.ArgumentError)},
		{"rejected by the rules", nil, api.UpdateWithdraw,
			temporal.NewApplicationError("the withdrawal period ended on 2026-01-15", ""),
			KindRefused, []string{"withdrawal of account acc-1 refused: the withdrawal period ended on 2026-01-15"}, new(*temporal.ApplicationError)},
		{"rejected with a type", nil, api.UpdatePaymentMethod,
			temporal.NewNonRetryableApplicationError("payment method pm_sepa_debit_1 not accepted: only card payment methods are accepted", "InvalidPaymentMethod", nil),
			KindRefused, []string{"payment method update of account acc-1 refused: payment method pm_sepa_debit_1 not accepted: only card payment methods are accepted"}, nil},
		{"rejected with a cause", nil, api.UpdateTerminate,
			temporal.NewNonRetryableApplicationError("terminate refused", "Rule", temporal.NewApplicationError("the reason is required", "Inner")),
			KindRefused, []string{"termination of account acc-1 refused: terminate refused: the reason is required"}, nil},
		{"an activity failed", nil, api.UpdatePaymentMethod,
			temporal.NewNonRetryableApplicationError("payment method pm_1 not accepted: stripe unreachable", activityFailed, nil),
			KindOther, []string{"payment method update of account acc-1 failed", "try again later"}, nil},
		{"unreachable", nil, "state",
			fmt.Errorf("failed reaching server: %w", serviceerror.NewUnavailable(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`)),
			KindUnavailable, []string{"cannot reach Temporal (dial tcp 127.0.0.1:1: connect: connection refused)", "check TEMPORAL_ADDRESS"}, nil},
		{"deadline", nil, "state", context.DeadlineExceeded,
			KindUnavailable, []string{"state of account acc-1: no answer in time", "worker runs on task queue subscriptions"}, nil},
		{"server deadline", nil, api.UpdateCancel, serviceerror.NewDeadlineExceeded("context deadline exceeded"),
			KindUnavailable, []string{"no answer in time", "read the state before sending it again"}, nil},
		{"update timed out", nil, api.UpdateCancel,
			tclient.NewWorkflowUpdateServiceTimeoutOrCanceledError(errors.New("stream terminated by RST_STREAM with error code: CANCEL")),
			KindUnavailable, []string{"cancellation of account acc-1: no answer in time", "may still be applied"}, nil},
		{"interrupted", canceled, api.UpdateCancel,
			tclient.NewWorkflowUpdateServiceTimeoutOrCanceledError(errors.New("stream terminated by RST_STREAM with error code: CANCEL")),
			KindOther, []string{"cancellation of account acc-1: interrupted", "may still be applied"}, nil},
		{"no namespace", nil, "state", serviceerror.NewNamespaceNotFound("staging"),
			KindUnavailable, []string{"Namespace staging is not found", "check TEMPORAL_NAMESPACE"}, nil},
		{"no permission", nil, "state", serviceerror.NewPermissionDenied("Request unauthorized.", ""),
			KindUnavailable, []string{"Temporal refused the connection", "TEMPORAL_API_KEY"}, nil},
		{"still opening", nil, "state", serviceerror.NewQueryFailed("the subscription is still opening"),
			KindUnavailable, []string{"the subscription of account acc-1 is still opening", "ask again in a moment"}, nil},
		{"failed start", nil, "state", serviceerror.NewQueryFailed("unknown queryType state. KnownQueryTypes=[__stack_trace]"),
			KindNotFound, []string{"no subscription for account acc-1: its last start was refused"}, nil},
		{"other query failure", nil, "state", serviceerror.NewQueryFailed("panic: boom"),
			KindOther, []string{"state of account acc-1: panic: boom"}, nil},
		{"something else", nil, api.UpdateCancel,
			errors.New("odd (type: Weird, retryable: true), RunId: " + runID + "."),
			KindOther, []string{"cancellation of account acc-1: odd"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := classify(ctx, tc.op, "acc-1", tc.err)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v is no *Error", err, err)
			}
			if KindOf(err) != tc.kind || KindOf(fmt.Errorf("wrapped: %w", err)) != tc.kind {
				t.Errorf("kind %s, want %s", KindOf(err), tc.kind)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			for _, leak := range []string{"(type:", "retryable", runID, "RunId", "WorkflowId"} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q shows %q", msg, leak)
				}
			}
			if tc.unwrap != nil && !errors.As(err, tc.unwrap) {
				t.Errorf("errors.As does not find %T in %v", tc.unwrap, err)
			}
			if classify(ctx, tc.op, "acc-1", err) != err {
				t.Error("an *Error is classified again")
			}
		})
	}
	if classify(context.Background(), "state", "acc-1", nil) != nil || KindOf(errors.New("x")) != KindOther {
		t.Error("nil or foreign errors")
	}
}
