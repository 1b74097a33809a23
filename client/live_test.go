package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
)

// starts records the workflows started through it. Any other call panics on
// the nil embedded client.
type starts struct {
	tclient.Client
	inputs   []api.Input
	policies []enumspb.WorkflowIdReusePolicy
	// earlier makes a start that allows no earlier run fail, as the server
	// answers when the workflow ID has one.
	earlier bool
}

func (s *starts) ExecuteWorkflow(_ context.Context, o tclient.StartWorkflowOptions, _ any, args ...any) (tclient.WorkflowRun, error) {
	s.inputs = append(s.inputs, args[0].(api.Input))
	s.policies = append(s.policies, o.WorkflowIDReusePolicy)
	if s.earlier && o.WorkflowIDReusePolicy == enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("workflow execution already started", "", "run-0")
	}
	return startedRun{id: o.ID}, nil
}

// startedRun is a started workflow run.
type startedRun struct {
	tclient.WorkflowRun
	id string
}

func (r startedRun) GetID() string    { return r.id }
func (r startedRun) GetRunID() string { return "run-1" }

func TestLiveStripeRefusesTestClocks(t *testing.T) {
	input := func(clock *api.TestClock) api.Input {
		return api.Input{AccountID: "acc-1", Email: "ada@example.com", StripeCustomerID: "cus_1", PaymentMethodID: "pm_card_visa",
			Plan: api.PlanMonthly, Currency: api.CurrencyEUR, TestClock: clock}
	}
	clock := &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: 3600}
	for _, tc := range []struct {
		name    string
		opts    []Option
		in      api.Input
		refused bool
	}{
		{"test mode, test clock", nil, input(clock), false},
		{"test mode, real clock", nil, input(nil), false},
		{"live, real clock", []Option{LiveStripe()}, input(nil), false},
		{"live, test clock", []Option{LiveStripe()}, input(clock), true},
		{"live, empty test clock", []Option{LiveStripe()}, input(&api.TestClock{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &starts{}
			c := New(fake, tc.opts...)
			c.now = func() time.Time { return time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC) }
			started, err := c.Start(context.Background(), tc.in)
			if !tc.refused {
				if err != nil || len(fake.inputs) != 1 || started.WorkflowID != "subscription-acc-1" {
					t.Fatalf("Start = %+v, %v; started %d workflows, want one", started, err, len(fake.inputs))
				}
				return
			}
			if len(fake.inputs) != 0 || started != (Started{}) {
				t.Fatalf("Start = %+v and started %+v, want nothing started", started, fake.inputs)
			}
			var inErr *api.InputError
			if !errors.As(err, &inErr) || inErr.Field != "testClock" || KindOf(err) != KindRefused {
				t.Fatalf("Start error %v (kind %v), want a refused *api.InputError on testClock", err, KindOf(err))
			}
			for _, want := range []string{"start of account acc-1 refused: invalid testClock", "live Stripe key", "test mode only", "nothing was sent"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Start error %q lacks %q", err, want)
				}
			}
		})
	}
}
