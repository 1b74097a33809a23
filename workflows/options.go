package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
)

// acts names the activities by their methods; it is never dereferenced.
var acts *activities.Activities

// businessErrors are outcomes no retry can change.
var businessErrors = []string{
	activities.ErrTypePaymentDeclined,
	activities.ErrTypeStripeRequest,
	activities.ErrTypeStripeRefused,
	activities.ErrTypeChargeIndeterminate,
	activities.ErrTypeIdempotencyConflict,
	activities.ErrTypeInvalidPaymentMethod,
}

// chargeOptions: network errors, 5xx and 429 are retried under the same
// idempotency key for up to 10 minutes; after that the attempt is made again
// an hour later, still under the same key. On a fast test clock the window
// shrinks to the real time of one hour of the subscription's clock (at least
// chargeWindowMin), so that Stripe's lateness is measured on the clock the
// subscription runs on.
func (w *run) chargeOptions(ctx workflow.Context) workflow.Context {
	window := w.chargeWindow(ctx)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    min(30*time.Second, window),
		ScheduleToCloseTimeout: window,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: businessErrors,
		},
	})
}

// chargeWindow is how long (real time) a charge or refund is retried under
// its key before the workflow counts it unanswered.
func (w *run) chargeWindow(ctx workflow.Context) time.Duration {
	if w.clock.Speedup <= 1 {
		return chargeWindowMax
	}
	return min(max(w.clock.Delay(workflow.Now(ctx), w.now(ctx).Add(time.Hour)), chargeWindowMin), chargeWindowMax)
}

// Bounds of the time a charge or refund is retried for before the workflow
// counts it unanswered.
const (
	chargeWindowMax = 10 * time.Minute
	chargeWindowMin = 5 * time.Second
)

// refundOptions: a withdrawal waits for its refunds for up to 10 minutes.
func (w *run) refundOptions(ctx workflow.Context) workflow.Context {
	return w.chargeOptions(ctx)
}

// lookupOptions serve a caller that is waiting: a payment-method check or
// the look-up of earlier subscriptions.
func lookupOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        20 * time.Second,
			NonRetryableErrorTypes: businessErrors,
		},
	})
}

// eligibilityOptions: the look-up of earlier subscriptions is retried for a
// day, however long visibility is slow, rate-limited or down (the worker
// paces it: see activities.ErrTypePaced), and then again (see
// priorSubscriptions): the subscription stays opening meanwhile, and a
// burst of starts queues rather than granting trials it cannot check.
func eligibilityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: businessErrors,
		},
	})
}

// emailOptions: an email is tried for up to an hour, then given up; billing never waits for it.
func emailOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    10 * time.Minute,
			MaximumAttempts:    8,
		},
	})
}

// emailLocalOptions: an email sent as a local activity (rules 3) has one
// attempt per workflow task, of at most 10 seconds, so that a slow SendGrid
// holds the workflow task (and the requests queued behind it) for no
// longer; its retries wait on a workflow timer (their first interval
// exceeds the workflow task timeout), like the activity's, for up to an
// hour and 8 attempts, and it is then given up.
func emailLocalOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    30 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    10 * time.Minute,
			MaximumAttempts:    8,
		},
		Summary: summary,
	})
}
