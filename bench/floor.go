package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/config"
)

// The floor: the least a workflow engine can do to bill a cycle. One timer
// per cycle on the same test clock as the subscriptions, and one charge per
// cycle through the real activities.Activities.Charge against the same
// Stripe stand-in, with the subscription's activity options. Nothing else:
// no state, no query, no search attributes, no email. Its worker is this
// binary run again with -floor-worker, on a task queue of its own, so that
// its memory is measured as the subscription worker's is.
const (
	floorWorkflowType = "BenchFloor"
	floorTaskQueue    = "bench-floor"
	// floorCyclesPerRun: the floor continues as new as often as the
	// subscription does (workflows.MaxCyclesPerRun), which a run of a few
	// cycles never reaches.
	floorCyclesPerRun = 24
)

// FloorInput starts a floor workflow. Origin and Done are carried over
// when it continues as new.
type FloorInput struct {
	ID               string    `json:"id"` // sent as metadata[subscription_id]
	StartsAt         time.Time `json:"startsAt"`
	Speedup          float64   `json:"speedup"`
	StripeCustomerID string    `json:"stripeCustomerId"`
	PaymentMethodID  string    `json:"paymentMethodId"`
	Currency         string    `json:"currency"`
	AmountMinor      int64     `json:"amountMinor"`
	Origin           time.Time `json:"origin,omitzero"`
	Done             int       `json:"done"` // cycles paid by the earlier runs
}

// Floor charges a monthly cycle at each billing date of its test clock,
// until it is terminated: the bench stops it once every workflow of the
// phase has paid the cycles asked for, as it stops the subscriptions.
func Floor(ctx workflow.Context, in FloorInput) error {
	if in.Origin.IsZero() {
		in.Origin = workflow.Now(ctx)
	}
	clock := billing.Clock{Origin: in.Origin, StartsAt: in.StartsAt, Speedup: in.Speedup}
	firstRun := workflow.GetInfo(ctx).FirstRunID
	for n := 0; ; n++ {
		if n == floorCyclesPerRun {
			return workflow.NewContinueAsNewError(ctx, floorWorkflowType, in)
		}
		cycle := in.Done + 1
		due := billing.BillingDate(in.StartsAt, api.PlanMonthly, cycle-1)
		if d := clock.Delay(workflow.Now(ctx), due); d > 0 {
			if err := workflow.Sleep(ctx, d); err != nil {
				return err
			}
		}
		req := activities.ChargeRequest{
			SubscriptionID: in.ID, Cycle: cycle, AmountMinor: in.AmountMinor, Currency: in.Currency,
			StripeCustomerID: in.StripeCustomerID, PaymentMethodID: in.PaymentMethodID,
			IdempotencyKey: fmt.Sprintf("%s/%s/cycle-%d", in.ID, firstRun, cycle), Run: firstRun, TestClock: true,
		}
		// The subscription's charge options (workflows.chargeOptions): retried
		// under the key within a window of an hour of the clock, at least 5 s.
		// An attempt left unanswered by its window is made again at once,
		// under the same key: a card that works is never declined.
		window := min(max(clock.Delay(workflow.Now(ctx), clock.Now(workflow.Now(ctx)).Add(time.Hour)), 5*time.Second), 10*time.Minute)
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    min(30*time.Second, window),
			ScheduleToCloseTimeout: window,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
				NonRetryableErrorTypes: []string{activities.ErrTypePaymentDeclined, activities.ErrTypeStripeRefused},
			},
		})
		for {
			var res activities.ChargeResult
			err := workflow.ExecuteActivity(actx, "Charge", req).Get(ctx, &res)
			if err == nil {
				break
			}
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) && (appErr.Type() == activities.ErrTypePaymentDeclined || appErr.Type() == activities.ErrTypeStripeRefused) {
				return err // not with pm_card_visa and the stand-in's key
			}
		}
		in.Done++
	}
}

// floorWorker is the -floor-worker process: the floor workflow and the
// activities, configured from the environment as the worker command is
// (devstack.WorkerEnv: Temporal, the stand-ins, the payload keys), on the
// floor's task queue. It runs until interrupted.
func floorWorker() error {
	proc, err := config.WorkerProcessFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	cfg, tuning, opts := proc.Worker, proc.Tuning, proc.Client
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Logger = tlog.NewStructuredLogger(logger)
	tc, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %q: %w", opts.HostPort, err)
	}
	defer tc.Close()
	// Tuned as the worker command is, so that the two compare fairly.
	w := worker.New(tc, floorTaskQueue, tuning.WorkerOptions(worker.Options{}))
	w.RegisterWorkflowWithOptions(Floor, workflow.RegisterOptions{Name: floorWorkflowType})
	w.RegisterActivity(activities.New(cfg, tc, nil))
	return w.Run(worker.InterruptCh())
}
