package client

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
)

// fakeTemporal records the updates and signals sent through it. Any other
// call panics on the nil embedded client.
type fakeTemporal struct {
	tclient.Client
	sent []sent
}

// sent is one update or signal.
type sent struct {
	workflowID, name string
	arg              any
}

func (f *fakeTemporal) UpdateWorkflow(_ context.Context, o tclient.UpdateWorkflowOptions) (tclient.WorkflowUpdateHandle, error) {
	if len(o.Args) != 1 {
		panic("an update carries one argument")
	}
	f.sent = append(f.sent, sent{o.WorkflowID, o.UpdateName, o.Args[0]})
	return completed{}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, workflowID, _, name string, arg any) error {
	f.sent = append(f.sent, sent{workflowID, name, arg})
	return nil
}

// completed is an update handle whose result is the zero value.
type completed struct{}

func (completed) WorkflowID() string             { return "" }
func (completed) RunID() string                  { return "" }
func (completed) UpdateID() string               { return "" }
func (completed) Get(context.Context, any) error { return nil }

func TestRequestsCarryRequestedAt(t *testing.T) {
	// The client's clock reads 10:00:00.123456789 in Paris; RequestedAt is
	// that instant in UTC, to the millisecond.
	clock := time.Date(2026, 1, 31, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	now := time.Date(2026, 1, 31, 9, 0, 0, 123e6, time.UTC)
	// A backend may send a request later than it was made.
	earlier := time.Date(2026, 1, 30, 18, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		sent string // the update or signal
		want any    // its argument
	}{
		{"Cancel", func(ctx context.Context, c *Client) error {
			_, err := c.Cancel(ctx, "acc-1", api.CancelRequest{Reason: "moving"})
			return err
		}, api.UpdateCancel, api.CancelRequest{Reason: "moving", RequestedAt: now}},
		{"Cancel made earlier", func(ctx context.Context, c *Client) error {
			_, err := c.Cancel(ctx, "acc-1", api.CancelRequest{RequestedAt: earlier})
			return err
		}, api.UpdateCancel, api.CancelRequest{RequestedAt: earlier}},
		{"Withdraw", func(ctx context.Context, c *Client) error {
			_, err := c.Withdraw(ctx, "acc-1")
			return err
		}, api.UpdateWithdraw, api.WithdrawRequest{RequestedAt: now}},
		{"WithdrawWith zero", func(ctx context.Context, c *Client) error {
			_, err := c.WithdrawWith(ctx, "acc-1", api.WithdrawRequest{})
			return err
		}, api.UpdateWithdraw, api.WithdrawRequest{RequestedAt: now}},
		{"WithdrawWith made earlier", func(ctx context.Context, c *Client) error {
			_, err := c.WithdrawWith(ctx, "acc-1", api.WithdrawRequest{RequestedAt: earlier})
			return err
		}, api.UpdateWithdraw, api.WithdrawRequest{RequestedAt: earlier}},
		{"UpdatePaymentMethod", func(ctx context.Context, c *Client) error {
			_, err := c.UpdatePaymentMethod(ctx, "acc-1", api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"})
			return err
		}, api.UpdatePaymentMethod, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa", RequestedAt: now}},
		{"ChangePlan", func(ctx context.Context, c *Client) error {
			_, err := c.ChangePlan(ctx, "acc-1", api.ChangePlanRequest{Plan: api.PlanAnnual})
			return err
		}, api.UpdateChangePlan, api.ChangePlanRequest{Plan: api.PlanAnnual, RequestedAt: now}},
		{"SchedulePriceChange", func(ctx context.Context, c *Client) error {
			_, err := c.SchedulePriceChange(ctx, "acc-1", api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: earlier.AddDate(0, 2, 0)})
			return err
		}, api.UpdateSchedulePriceChange, api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: earlier.AddDate(0, 2, 0), RequestedAt: now}},
		{"Terminate", func(ctx context.Context, c *Client) error {
			_, err := c.Terminate(ctx, "acc-1", api.TerminateRequest{Reason: "fraud"})
			return err
		}, api.UpdateTerminate, api.TerminateRequest{Reason: "fraud", RequestedAt: now}},
		{"Terminate made earlier", func(ctx context.Context, c *Client) error {
			_, err := c.Terminate(ctx, "acc-1", api.TerminateRequest{Reason: "fraud", RequestedAt: earlier})
			return err
		}, api.UpdateTerminate, api.TerminateRequest{Reason: "fraud", RequestedAt: earlier}},
		{"SignalCancel", func(ctx context.Context, c *Client) error {
			return c.SignalCancel(ctx, "acc-1", api.CancelRequest{Reason: "moving"})
		}, api.SignalCancel, api.CancelRequest{Reason: "moving", RequestedAt: now}},
		{"SignalCancel made earlier", func(ctx context.Context, c *Client) error {
			return c.SignalCancel(ctx, "acc-1", api.CancelRequest{RequestedAt: earlier})
		}, api.SignalCancel, api.CancelRequest{RequestedAt: earlier}},
		{"SignalWithdraw", func(ctx context.Context, c *Client) error {
			return c.SignalWithdraw(ctx, "acc-1")
		}, api.SignalWithdraw, api.WithdrawRequest{RequestedAt: now}},
		{"SignalWithdrawWith made earlier", func(ctx context.Context, c *Client) error {
			return c.SignalWithdrawWith(ctx, "acc-1", api.WithdrawRequest{RequestedAt: earlier})
		}, api.SignalWithdraw, api.WithdrawRequest{RequestedAt: earlier}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeTemporal{}
			c := New(fake)
			c.now = func() time.Time { return clock }
			if err := tc.call(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if len(fake.sent) != 1 {
				t.Fatalf("sent %+v, want one request", fake.sent)
			}
			got := fake.sent[0]
			if got.workflowID != "subscription-acc-1" || got.name != tc.sent || !reflect.DeepEqual(got.arg, tc.want) {
				t.Fatalf("sent %s %s %+v\nwant subscription-acc-1 %s %+v", got.workflowID, got.name, got.arg, tc.sent, tc.want)
			}
		})
	}
}

func TestRequestedAtOnTheWire(t *testing.T) {
	// What the workflow receives: the client's clock in UTC, milliseconds kept.
	fake := &fakeTemporal{}
	c := New(fake)
	c.now = func() time.Time { return time.Date(2026, 1, 31, 10, 0, 0, 123456789, time.FixedZone("CET", 3600)) }
	if _, err := c.Withdraw(context.Background(), "acc-1"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fake.sent[0].arg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"requestedAt":"2026-01-31T09:00:00.123Z"}`; string(b) != want {
		t.Fatalf("withdraw argument %s, want %s", b, want)
	}
}

func TestInvalidRequestsAreNotSent(t *testing.T) {
	fake := &fakeTemporal{}
	c := New(fake)
	ctx := context.Background()
	if _, err := c.UpdatePaymentMethod(ctx, "acc-1", api.UpdatePaymentMethodRequest{PaymentMethodID: "card_123"}); err == nil ||
		!strings.Contains(err.Error(), "paymentMethodId") {
		t.Errorf("UpdatePaymentMethod(card_123) = %v, want an error naming paymentMethodId", err)
	}
	if _, err := c.ChangePlan(ctx, "acc-1", api.ChangePlanRequest{Plan: "weekly"}); err == nil || !strings.Contains(err.Error(), "plan") {
		t.Errorf("ChangePlan(weekly) = %v, want an error naming plan", err)
	}
	if len(fake.sent) != 0 {
		t.Fatalf("sent %+v", fake.sent)
	}
}
