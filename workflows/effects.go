package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// email sends an email of the given kind without waiting for it: a failed
// email is logged and never blocks or breaks billing. data is key, value pairs.
func (w *run) email(ctx workflow.Context, kind string, data ...string) {
	msg := activities.Email{
		SubscriptionID: w.sub.ID,
		Kind:           kind,
		To:             w.in.Email,
		Name:           w.in.Name,
		Locale:         w.in.Locale,
		Data:           map[string]string{"plan": w.sub.Plan},
	}
	for i := 0; i+1 < len(data); i += 2 {
		msg.Data[data[i]] = data[i+1]
	}
	if w.sub.TrialGranted {
		msg.Data["trialEndsAt"] = w.sub.TrialEnd.Format(time.DateOnly)
	}
	future := workflow.ExecuteActivity(summary(emailOptions(ctx), "email "+kind), acts.SendEmail, msg)
	w.emails++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.emails-- }()
		if err := future.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("email not sent", "kind", kind, "error", err)
		}
	})
}

// priorSubscriptions reads the account's closed subscriptions, for trial
// eligibility. Under rules 2 the look-up is retried until it succeeds
// (eligibilityOptions, then again each day), so that a burst of starts
// queues rather than granting trials it cannot check; only an error no
// retry can change (a bug) gives the customer the benefit of the doubt (the
// trial), logged. Under rules 0 and 1 a look-up that failed for 2 minutes
// granted the trial.
func (w *run) priorSubscriptions(ctx workflow.Context) []billing.Period {
	if w.in.Offer == "" || (w.rules >= 2 && w.in.FirstOfAccount) {
		return nil // no trial to decide, or no earlier subscription to find
	}
	info := workflow.GetInfo(ctx)
	req := activities.PriorRequest{
		WorkflowID:   info.WorkflowExecution.ID,
		CurrentRunID: info.WorkflowExecution.RunID,
		FirstRunID:   info.FirstRunID,
	}
	var prior []activities.PriorSubscription
	options := lookupOptions
	if w.rules >= 2 {
		options = eligibilityOptions
	}
	actx := summary(options(ctx), "look up the account's earlier subscriptions (trial eligibility)")
	for {
		err := workflow.ExecuteActivity(actx, acts.PriorSubscriptions, req).Get(ctx, &prior)
		if err == nil {
			break
		}
		var appErr *temporal.ApplicationError
		if w.rules < 2 || (errors.As(err, &appErr) && appErr.NonRetryable()) {
			workflow.GetLogger(ctx).Error("cannot read earlier subscriptions; trial eligibility assumed", "error", err)
			return nil
		}
		workflow.GetLogger(ctx).Error("earlier subscriptions unreadable for a day; still trying (the subscription stays opening)", "error", err)
	}
	periods := make([]billing.Period, 0, len(prior))
	for _, p := range prior {
		periods = append(periods, billing.Period{Start: p.StartAt, End: p.EndAt})
	}
	return periods
}

// Typed keys of the contract's search attributes.
var (
	saStatus      = temporal.NewSearchAttributeKeyKeyword(api.SASubscriptionStatus)
	saAccountID   = temporal.NewSearchAttributeKeyKeyword(api.SAAccountID)
	saPlan        = temporal.NewSearchAttributeKeyKeyword(api.SAPlan)
	saAccess      = temporal.NewSearchAttributeKeyBool(api.SAAccessActive)
	saNextCharge  = temporal.NewSearchAttributeKeyTime(api.SANextChargeAt)
	saOutstanding = temporal.NewSearchAttributeKeyInt64(api.SAOutstandingMinor)
	saSettlement  = temporal.NewSearchAttributeKeyKeyword(api.SASettlementStatus)
	saChargeIssue = temporal.NewSearchAttributeKeyKeyword(api.SAChargeIssue)
)

// searchAttributes is what the run last published.
type searchAttributes struct {
	published   bool
	status      string
	plan        string
	access      bool
	nextCharge  time.Time
	outstanding int64
	settlement  string // published only once it is set: most runs never have one
	chargeIssue string // likewise
}

// publish upserts the search attributes that changed since the last call,
// and sets the current details the UI shows.
func (w *run) publish(ctx workflow.Context) error {
	workflow.SetCurrentDetails(ctx, w.details())
	next := searchAttributes{
		published:   true,
		status:      w.sub.Status(),
		plan:        w.sub.Plan,
		access:      w.sub.AccessActive(),
		outstanding: w.sub.Outstanding(),
	}
	if w.rules >= 1 {
		next.settlement = w.sub.Settlement()
	}
	if w.rules >= 2 {
		next.chargeIssue = w.sub.ChargeIssue(w.now(ctx))
	}
	if at, ok := w.sub.NextChargeAt(); ok {
		next.nextCharge = at
	}
	prev := w.sa
	if prev == next {
		return nil
	}
	var updates []temporal.SearchAttributeUpdate
	if !prev.published {
		updates = append(updates, saAccountID.ValueSet(w.sub.AccountID))
	}
	if !prev.published || prev.status != next.status {
		updates = append(updates, saStatus.ValueSet(next.status))
	}
	if !prev.published || prev.plan != next.plan {
		updates = append(updates, saPlan.ValueSet(next.plan))
	}
	if !prev.published || prev.access != next.access {
		updates = append(updates, saAccess.ValueSet(next.access))
	}
	if !prev.published || prev.outstanding != next.outstanding {
		updates = append(updates, saOutstanding.ValueSet(next.outstanding))
	}
	if prev.settlement != next.settlement {
		if next.settlement == "" {
			updates = append(updates, saSettlement.ValueUnset())
		} else {
			updates = append(updates, saSettlement.ValueSet(next.settlement))
		}
	}
	if prev.chargeIssue != next.chargeIssue {
		if next.chargeIssue == "" {
			updates = append(updates, saChargeIssue.ValueUnset())
		} else {
			updates = append(updates, saChargeIssue.ValueSet(next.chargeIssue))
		}
	}
	if !prev.published || !prev.nextCharge.Equal(next.nextCharge) {
		if next.nextCharge.IsZero() {
			updates = append(updates, saNextCharge.ValueUnset())
		} else {
			updates = append(updates, saNextCharge.ValueSet(next.nextCharge))
		}
	}
	w.sa = next
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}
