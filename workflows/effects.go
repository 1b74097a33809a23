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
//
// Under rules 3 the email is a local activity: the worker sends it while
// it runs the workflow task that asked for it, and records its outcome as
// a marker in that task's completion. That spares each email an activity
// task and the workflow task its completion would wake (six history events
// and two round trips to the server): a renewal then costs the server
// about what a bare timer and charge do (see `go run ./bench`).
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
	var future workflow.Future
	if w.rules >= 3 {
		future = workflow.ExecuteLocalActivity(emailLocalOptions(ctx, "email "+kind), acts.SendEmail, msg)
	} else {
		future = workflow.ExecuteActivity(summary(emailOptions(ctx), "email "+kind), acts.SendEmail, msg)
	}
	w.emails++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.emails-- }()
		err := future.Get(ctx, nil)
		if w.rules >= 3 {
			w.emailed = workflow.Now(ctx)
		}
		if err != nil {
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
func (w *run) publish(ctx workflow.Context) error { return w.upsert(ctx, true) }

// upsert is publish; unless all, a change of NextChargeAt or
// OutstandingMinor alone waits for the next publish, which the run makes
// once nothing more is due (rules 3). A run catching up (after an outage,
// or a worker that fell behind) pays cycle after cycle: each one's next
// charge date is already past when it is paid, and publishing it would
// cost the server a visibility write for nothing. Any other change (status,
// access, plan, settlement, charge issue) is published at once.
func (w *run) upsert(ctx workflow.Context, all bool) error {
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
	if !all && prev.published {
		amounts := prev
		amounts.nextCharge, amounts.outstanding = next.nextCharge, next.outstanding
		if amounts == next {
			return nil
		}
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
