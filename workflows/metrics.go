package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/billing"
)

// Business metrics, recorded through the SDK's metrics handler (which the
// worker exports to Prometheus; nothing is recorded while a history
// replays). Names follow Prometheus conventions once exported.
const (
	metricCharges           = "subscriptions_charges_total"        // tags: outcome, currency
	metricChargedMinor      = "subscriptions_charged_minor_total"  // tags: outcome, currency
	metricRefunds           = "subscriptions_refunds_total"        // tags: currency
	metricRefundedMinor     = "subscriptions_refunded_minor_total" // tags: currency
	metricSuspensions       = "subscriptions_suspensions_total"
	metricRestorations      = "subscriptions_restorations_total"
	metricSettlementsForOps = "subscriptions_settlements_handed_to_ops_total"
)

// Outcomes of a charge attempt, as the charges metrics tag them.
const (
	outcomeSucceeded  = "succeeded"
	outcomeDeclined   = "declined"
	outcomeUnanswered = "unanswered"
	// outcomeIndeterminate: a server error Stripe saved under the key; the
	// attempt is looked up.
	outcomeIndeterminate = "indeterminate"
	// outcomeRefused: Stripe refused the charge as a mistake of ours.
	outcomeRefused = "refused"
)

// countCharge records one charge attempt's outcome and amount.
func (w *run) countCharge(ctx workflow.Context, outcome string, c billing.Charge) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome, "currency": w.sub.Currency})
	m.Counter(metricCharges).Inc(1)
	m.Counter(metricChargedMinor).Inc(c.AmountMinor)
}

// countRefund records one refund made.
func (w *run) countRefund(ctx workflow.Context, amountMinor int64) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"currency": w.sub.Currency})
	m.Counter(metricRefunds).Inc(1)
	m.Counter(metricRefundedMinor).Inc(amountMinor)
}

// count increments a counter without tags.
func count(ctx workflow.Context, name string) {
	workflow.GetMetricsHandler(ctx).Counter(name).Inc(1)
}
