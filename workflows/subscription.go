// Package workflows holds the Subscription workflow: one long-lived workflow
// per customer that sleeps through the trial, charges each billing cycle,
// runs dunning, and serves the contract's updates, signals and query. The
// business rules live in package billing; this package orchestrates them.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// MaxCyclesPerRun bounds the billing cycles one run handles before it
// continues as new, whatever the server suggests.
const MaxCyclesPerRun = 24

// HistoryBudget is the history length (events) past which a run continues
// as new at its next idle point (rules 2), whatever its cycles: a cycle
// that declines through its whole dunning schedule costs about 90 events,
// an hour of Stripe outage about 20, so that no run passes 2,000 events.
const HistoryBudget = 1500

// unansweredRetry is how long the workflow waits before making again a
// charge attempt that Stripe never answered (same idempotency key).
const unansweredRetry = time.Hour

// keyRetention is how long Stripe is trusted to remember an idempotency key
// (it keeps them about 24 hours): an unanswered attempt first sent longer
// ago is looked up at Stripe before it is sent again.
const keyRetention = 23 * time.Hour

// upgradeChange names the workflow.GetVersion marker of the upgrade signal
// (a run takes it only when the signal comes, never on replay of a history
// without it).
const upgradeChange = "upgrade-signal"

// lookUpChange names the marker with which a run that follows rules 0
// starts looking forgotten keys up at Stripe (taken the first time such a
// re-send comes, so that histories recorded before replay as they ran).
const lookUpChange = "look-up-forgotten-key"

// rulesChange names the workflow.GetVersion marker of the rules that keep a
// subscription right when time slips (billing.CurrentRules): histories
// recorded before it replay with rules 0.
const rulesChange = "time-slips"

// carried is the state a run hands to the next one when it continues as new.
type carried struct {
	Sub   *billing.Subscription `json:"subscription"`
	Clock billing.Clock         `json:"clock"`
	Runs  int                   `json:"runs"` // how many times the workflow continued as new
	// Handled is the latest time on the subscription's clock the run had
	// handled: no request counts before it.
	Handled time.Time `json:"handled,omitzero"`
	// ChargeIssue is the ChargeIssue search attribute the run last
	// published (continue-as-new keeps the search attributes).
	ChargeIssue string `json:"chargeIssue,omitempty"`
}

// run is one run of the workflow.
type run struct {
	in     api.Input
	sub    *billing.Subscription // nil until the subscription is opened
	clock  billing.Clock
	runs   int
	cycles int // cycles started in this run
	inbox  []*request
	emails int // emails in flight
	// emailed is the workflow time at which an email sent as a local
	// activity (rules 3) last got its outcome: that of the workflow task
	// that records it (see closable).
	emailed time.Time
	sa      searchAttributes
	wall    func() time.Time // for queries only; nil: workflow time
	// liveStripe: the worker charges with a live Stripe key (Options.LiveStripe).
	liveStripe bool
	rules      int // the rules this run follows (billing.CurrentRules, or 0 on old histories)
	// handled is the latest time on the subscription's clock that an event
	// or a request was handled at: no request counts before it.
	handled time.Time
	// root is the workflow's own context (rules 1), whose cancellation is
	// a Temporal cancellation request; canceled says it was queued.
	root     workflow.Context
	canceled bool
	// changes caches the changes decided by workflow.GetVersion after the
	// run's start (see change).
	changes map[string]bool
	// upgrade is set by the upgrade signal: the run continues as new at its
	// next idle point, taking the current rules.
	upgrade bool
}

// Subscription is the workflow of one customer's subscription. Its input is
// validated (an invalid one fails it with an InvalidInput error naming the
// field); its result, when it ends, is its final state.
//
// Its state query reads the subscription's clock at the last workflow task;
// the worker registers it with WithWallClock so that the query reads it now.
func Subscription(ctx workflow.Context, in api.Input) (api.State, error) {
	return subscription(ctx, in, Options{})
}

// WithWallClock is Subscription whose state query reads the clock at the
// wall time wall() rather than at the workflow's last task (queries leave
// no history, so this keeps replay deterministic).
func WithWallClock(wall func() time.Time) func(workflow.Context, api.Input) (api.State, error) {
	return Options{Wall: wall}.Workflow()
}

// Options are what a worker tells the Subscription workflow of itself.
type Options struct {
	// Wall, when set, is the wall clock the state query reads (see WithWallClock).
	Wall func() time.Time
	// LiveStripe says the worker charges with a live Stripe key: a
	// subscription on a test clock is refused at its start.
	LiveStripe bool
}

// Workflow is the Subscription workflow with these options.
func (o Options) Workflow() func(workflow.Context, api.Input) (api.State, error) {
	return func(ctx workflow.Context, in api.Input) (api.State, error) {
		return subscription(ctx, in, o)
	}
}

func subscription(ctx workflow.Context, in api.Input, o Options) (api.State, error) {
	w := &run{wall: o.Wall, liveStripe: o.LiveStripe}
	w.rules = int(workflow.GetVersion(ctx, rulesChange, workflow.DefaultVersion, billing.CurrentRules))
	// A cancellation requested through Temporal (the UI's "Request
	// Cancellation") is the business's cancel, not an abort: the run goes
	// on, on a context that cancellation does not cut, to a correct end.
	if w.rules >= 1 {
		w.root = ctx
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	if err := w.registerHandlers(ctx); err != nil {
		return api.State{}, err
	}
	if err := w.open(ctx, in); err != nil {
		return api.State{}, err
	}
	return w.live(ctx)
}

// open validates the input and opens the subscription, or resumes the one a
// previous run carried over.
func (w *run) open(ctx workflow.Context, in api.Input) error {
	realNow := workflow.Now(ctx)
	if len(in.Continued) > 0 {
		if workflow.GetInfo(ctx).ContinuedExecutionRunID == "" {
			return temporal.NewNonRetryableApplicationError("invalid continued: is set by the workflow itself when it continues as new, never by a caller", api.ErrTypeInvalidInput, nil)
		}
		var c carried
		// workflowcheck flags encoding/json (reflect and the runtime's GC
		// goroutines deep inside): a false positive, decoding is deterministic.
		//workflowcheck:ignore
		if err := json.Unmarshal(in.Continued, &c); err != nil || c.Sub == nil {
			return temporal.NewNonRetryableApplicationError("continued: cannot resume the carried state", api.ErrTypeInvalidInput, err)
		}
		in.Continued = nil
		w.in, w.sub, w.clock, w.runs, w.handled = in, c.Sub, c.Clock, c.Runs, c.Handled
		if w.handled.IsZero() { // carried before Handled was: the clock now
			w.handled = w.now(ctx)
		}
		if w.sub.Rules >= 1 { // the last run published it; continue-as-new keeps it
			w.sa.settlement = w.sub.Settlement()
		}
		w.sa.chargeIssue = c.ChargeIssue
		w.sub.Rules = max(w.sub.Rules, w.rules)
		return w.publish(ctx)
	}
	startAt := in.StartTime(realNow)
	// workflowcheck flags Validate: net/mail's debug logging (off, never
	// run) reads time.Now, and x/text and fmt reach the runtime's GC
	// goroutines. A false positive: validation reads only its arguments.
	validate := in.Validate
	if w.rules < 2 { // names were not checked: runs started then replay as they ran
		validate = in.ValidateWithoutName
	}
	//workflowcheck:ignore
	if err := validate(startAt); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), api.ErrTypeInvalidInput, nil)
	}
	if in.TestClock != nil && w.rules >= 2 && w.liveStripeNow(ctx) {
		err := &api.InputError{Field: "testClock", Reason: "is refused: this worker charges with a live Stripe key, and test clocks are for test mode only"}
		return temporal.NewNonRetryableApplicationError(err.Error(), api.ErrTypeInvalidInput, nil)
	}
	if in.Locale == "" {
		in.Locale = "en"
	}
	w.in = in
	w.clock = billing.Clock{Origin: realNow, StartsAt: startAt}
	if in.TestClock != nil {
		w.clock.Speedup = in.TestClock.Speedup
	}
	installedAt := startAt
	if in.InstalledAt != "" {
		installedAt, _ = api.ParseTime(in.InstalledAt)
	}
	info := workflow.GetInfo(ctx)
	w.sub = billing.New(billing.Start{
		ID:          info.WorkflowExecution.ID,
		KeyPrefix:   info.WorkflowExecution.ID + "/" + info.FirstRunID,
		AccountID:   in.AccountID,
		Plan:        in.Plan,
		Currency:    in.Currency,
		Offer:       in.Offer,
		PMID:        in.PaymentMethodID,
		Dunning:     in.DunningDays,
		InstalledAt: installedAt,
		Prior:       w.priorSubscriptions(ctx),
	})
	w.sub.Rules = w.rules
	w.handled = startAt
	if w.sub.TrialGranted {
		w.email(ctx, "trial_started")
	}
	return w.publish(ctx)
}

// liveStripeNow records whether the worker that starts the run charges
// with a live Stripe key: a side effect, so that a worker of another mode
// replays the run as it ran (its Charge activity refuses what it must).
func (w *run) liveStripeNow(ctx workflow.Context) bool {
	live := w.liveStripe
	enc := workflow.SideEffect(ctx, func(workflow.Context) any { return live })
	if err := enc.Get(&live); err != nil {
		return false
	}
	return live
}

// live runs the subscription until it ends or continues as new.
func (w *run) live(ctx workflow.Context) (api.State, error) {
	for !w.sub.Ended {
		w.drainSignals(ctx)
		ev, _ := w.sub.NextEvent()
		due := !ev.At.After(w.now(ctx))
		// A request comes after what fell due before it was made.
		if len(w.inbox) > 0 && !(due && !w.inbox[0].at.IsZero() && !ev.At.After(w.inbox[0].at)) {
			w.execute(ctx, w.pop())
			continue
		}
		if due {
			w.onEvent(ctx, ev)
			continue
		}
		w.idle(ctx)
		ready := w.readyToContinueAsNew(ctx)
		if ready && w.closable(ctx) {
			return api.State{}, w.continueAsNew(ctx)
		}
		delay, label := max(w.clock.Delay(workflow.Now(ctx), ev.At), time.Millisecond), eventSummary(ev)
		if ready { // continue as new in the next task
			delay, label = time.Millisecond, "continue as new once the emails are recorded"
		}
		if _, err := workflow.AwaitWithOptions(ctx, timer(delay, label), func() bool {
			return w.waiting(ctx) || (!ready && w.readyToContinueAsNew(ctx))
		}); err != nil {
			return api.State{}, err
		}
	}
	return w.settleAfterEnd(ctx)
}

// settleAfterEnd finishes an ended subscription: it settles what is left (a
// charge never answered, a withdrawal's refunds), retrying hourly for at
// most billing.SettlementWindow and then handing the rest to ops, and
// answers requests until the last emails are out.
func (w *run) settleAfterEnd(ctx workflow.Context) (api.State, error) {
	for {
		w.drainSignals(ctx)
		for len(w.inbox) > 0 {
			w.execute(ctx, w.pop())
		}
		var retry time.Duration
		if w.sub.Unsettled() && !w.sub.HandedToOps {
			before := w.snapshot()
			if w.rules >= 1 && w.sub.HandOver(w.now(ctx)) {
				workflow.GetLogger(ctx).Error("settlement not done within the settlement window: handed to ops",
					"settlement", w.sub.Settlement(), "pendingRefundMinor", w.sub.PendingRefund())
				count(ctx, metricSettlementsForOps)
			} else {
				if err := w.settle(ctx, true); err != nil {
					workflow.GetLogger(ctx).Warn("settling the ended subscription; retrying in an hour", "error", err)
				}
				if w.sub.Unsettled() {
					retry = max(w.clock.Delay(workflow.Now(ctx), w.now(ctx).Add(unansweredRetry)), time.Millisecond)
				}
			}
			w.changed(ctx, before)
		}
		w.idle(ctx)
		finished := func() bool { return workflow.AllHandlersFinished(ctx) && w.emails == 0 }
		done := retry == 0 && finished() && (w.rules < 1 || !w.waiting(ctx))
		if done && w.closable(ctx) {
			return w.state(ctx, w.now(ctx)), nil
		}
		if retry > 0 && (w.rules >= 1 || w.upgrade) && w.readyToContinueAsNew(ctx) && w.closable(ctx) {
			return api.State{}, w.continueAsNew(ctx)
		}
		wake := func() bool { return w.waiting(ctx) || (retry == 0 && finished()) }
		if done { // complete in the next task
			if _, err := workflow.AwaitWithOptions(ctx, timer(time.Millisecond, "complete once the emails are recorded"), func() bool { return w.waiting(ctx) }); err != nil {
				return api.State{}, err
			}
		} else if retry == 0 {
			if err := workflow.Await(ctx, wake); err != nil {
				return api.State{}, err
			}
		} else if _, err := workflow.AwaitWithOptions(ctx, timer(retry, "settle again (refunds, unanswered charges)"), wake); err != nil {
			return api.State{}, err
		}
	}
}

// onEvent handles the next thing that fell due on the subscription's clock.
func (w *run) onEvent(ctx workflow.Context, ev billing.Event) {
	defer w.changed(ctx, w.snapshot())
	w.handled = billing.Later(w.handled, ev.At)
	switch ev.Kind {
	case billing.EventCharge:
		if w.sub.UnpaidTooLong(ev.At) {
			workflow.GetLogger(ctx).Warn("suspended with a cycle unpaid for a year: the subscription ends", "outstandingMinor", w.sub.Outstanding())
			w.sub.EndUnpaid(ev.At)
			return
		}
		w.cycles++
		if w.charge(ctx, w.sub.StartCycle()) && len(w.sub.Open) > 0 {
			w.collect(ctx) // the card works again: collect what is still due
		}
	case billing.EventRetry:
		if c, ok := w.sub.RetryCharge(ev.Cycle); ok && w.charge(ctx, c) && len(w.sub.Open) > 0 {
			w.collect(ctx)
		}
	case billing.EventTrialEnding:
		w.sub.TrialEndingSent = true
		w.email(ctx, "trial_ending")
	case billing.EventEnd:
		w.sub.Expire(w.now(ctx))
	}
}

// charge makes one charge attempt and records its outcome. A decline is a
// business outcome; an attempt Stripe never answered is made again later
// under the same idempotency key, so it can never be charged twice. Before
// it is sent again once Stripe may have forgotten that key, it is looked up
// at Stripe and its outcome adopted; so is an attempt Stripe refuses because
// its key was used with other parameters.
func (w *run) charge(ctx workflow.Context, c billing.Charge) bool {
	sent := w.now(ctx)
	if c.Resend && (c.Recheck || w.keyMayBeForgotten(ctx, c)) && (w.rules >= 1 || w.change(ctx, lookUpChange)) {
		if done, ok := w.adopt(ctx, c); done {
			return ok
		}
		// Stripe holds no such charge: sending it again cannot charge twice,
		// under a new key if the old one is spent; unless nothing is owed
		// any more (a withdrawal undid the contract).
		if c.Recheck {
			var again bool
			if c, again = w.sub.RenewKey(c); !again {
				return false
			}
		}
	}
	req := activities.ChargeRequest{
		SubscriptionID:   w.sub.ID,
		Cycle:            c.Cycle,
		Attempt:          c.Attempt,
		AmountMinor:      c.AmountMinor,
		Currency:         w.sub.Currency,
		StripeCustomerID: w.in.StripeCustomerID,
		PaymentMethodID:  c.PaymentMethodID,
		IdempotencyKey:   w.sub.IdempotencyKey(c),
	}
	if !c.Resend || !c.SentAt.IsZero() {
		// A re-send of an attempt first sent before the run was recorded
		// keeps its parameters, as Stripe compares them under the key.
		req.Run = w.sub.KeyPrefix
	}
	req.TestClock = w.in.TestClock != nil // an input of the activity: replay never compares it
	var res activities.ChargeResult
	actx := summary(w.chargeOptions(ctx), fmt.Sprintf("charge cycle %d, attempt %d: %s", c.Cycle, c.Attempt, billing.FormatMoney(c.AmountMinor, w.sub.Currency)))
	err := workflow.ExecuteActivity(actx, acts.Charge, req).Get(ctx, &res)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return w.paid(ctx, c, res.PaymentIntentID)
	case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeIdempotencyConflict:
		// The key was used for a request Stripe executed: what it did is
		// looked up, never taken for a decline.
		if done, ok := w.adopt(ctx, c); done {
			return ok
		}
		if w.rules >= 2 { // a mistake of ours: ops are told
			w.refused(ctx, c, sent, err)
			return false
		}
		w.sub.Unanswered(c, c.SentAt, w.now(ctx).Add(unansweredRetry))
	case w.rules >= 2 && errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeChargeIndeterminate:
		workflow.GetLogger(ctx).Warn("charge answered with a server error saved under its key; it will be looked up at Stripe",
			"cycle", c.Cycle, "attempt", c.Attempt, "error", err)
		w.countCharge(ctx, outcomeIndeterminate, c)
		w.sub.Hold(c, sent, w.now(ctx).Add(billing.RecheckDelay(c)), "")
	case w.rules >= 2 && refusedByStripe(err):
		w.refused(ctx, c, sent, err)
	case errors.As(err, &appErr) && (appErr.Type() == activities.ErrTypePaymentDeclined || appErr.Type() == activities.ErrTypeStripeRequest):
		var d activities.ChargeResult
		if appErr.HasDetails() {
			_ = appErr.Details(&d)
		}
		if d.DeclineCode == "" {
			d.DeclineCode = appErr.Type()
		}
		w.declined(ctx, c, d.PaymentIntentID, d.DeclineCode)
	default:
		workflow.GetLogger(ctx).Warn("charge attempt got no answer; it will be made again under the same idempotency key",
			"cycle", c.Cycle, "attempt", c.Attempt, "error", err)
		w.countCharge(ctx, outcomeUnanswered, c)
		w.sub.Unanswered(c, sent, w.now(ctx).Add(unansweredRetry))
	}
	return false
}

// refused holds an attempt Stripe refused as a mistake of ours (a key of
// another account or mode, an invalid request): nothing is declined, the
// customer is not told and keeps access, ops are alerted (the log, the
// charges metric, the ChargeIssue search attribute), and the attempt is
// looked up and made again every hour until the cause is fixed.
func (w *run) refused(ctx workflow.Context, c billing.Charge, sent time.Time, err error) {
	workflow.GetLogger(ctx).Error("Stripe refuses our charge: charging is held until ops fix the cause",
		"cycle", c.Cycle, "attempt", c.Attempt, "error", err)
	w.countCharge(ctx, outcomeRefused, c)
	w.sub.Hold(c, sent, w.now(ctx).Add(unansweredRetry), billing.IssueStripeRefused)
}

// refusedByStripe reports whether err is Stripe refusing a request as a
// mistake of ours (ErrTypeStripeRefused, or ErrTypeStripeRequest from a
// worker of an earlier release).
func refusedByStripe(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) &&
		(appErr.Type() == activities.ErrTypeStripeRefused || appErr.Type() == activities.ErrTypeStripeRequest)
}

// adopt looks an attempt up at Stripe and records what Stripe holds. done
// says it was settled that way (paid says whether it was paid); otherwise
// Stripe holds no such charge. When the look-up fails, or the charge is
// still processing, the attempt is left unanswered, to be tried again later
// with its first sending time kept (unknown stays unknown, so it is looked
// up again).
func (w *run) adopt(ctx workflow.Context, c billing.Charge) (done, paid bool) {
	found, err := w.findCharge(ctx, c)
	switch {
	case w.rules >= 2 && refusedByStripe(err):
		w.refused(ctx, c, c.SentAt, err)
		return true, false
	case err != nil:
		workflow.GetLogger(ctx).Warn("cannot look up an unanswered charge at Stripe; trying again later",
			"cycle", c.Cycle, "attempt", c.Attempt, "error", err)
	case found.Found && found.Status == "succeeded":
		c.Attempt = found.Attempt
		return true, w.paid(ctx, c, found.PaymentIntentID)
	case found.Found && found.Status == "declined" && found.Attempt == c.Attempt:
		w.declined(ctx, c, found.PaymentIntentID, found.DeclineCode)
		return true, false
	case found.Found && found.Attempt == c.Attempt: // still processing at Stripe
	default:
		return false, false
	}
	w.sub.Unanswered(c, c.SentAt, w.now(ctx).Add(unansweredRetry))
	return true, false
}

// paid records a successful charge and sends its receipt: every money
// movement gets its email, also a charge answered after the end.
func (w *run) paid(ctx workflow.Context, c billing.Charge, paymentIntentID string) bool {
	w.countCharge(ctx, outcomeSucceeded, c)
	w.sub.Paid(c, paymentIntentID, w.now(ctx))
	if w.sub.Ended && w.rules < 1 {
		return true // as recorded before rules 1: no receipt after the end
	}
	w.email(ctx, "payment_receipt", "cycle", fmt.Sprint(c.Cycle), "amount", billing.FormatMoney(c.AmountMinor, w.sub.Currency))
	return true
}

// declined records a declined charge and tells the customer while the
// subscription runs.
func (w *run) declined(ctx workflow.Context, c billing.Charge, paymentIntentID, code string) {
	w.countCharge(ctx, outcomeDeclined, c)
	w.sub.Declined(c, paymentIntentID, code, w.now(ctx))
	if !w.sub.Ended {
		w.email(ctx, "payment_failed", "cycle", fmt.Sprint(c.Cycle), "amount", billing.FormatMoney(c.AmountMinor, w.sub.Currency), "reason", code)
	}
}

// keyMayBeForgotten reports whether Stripe may have forgotten the key of an
// unanswered attempt before the retries of sending it again are over: it
// was first sent keyRetention before the end of that window (on the
// subscription's clock), or when it was is not known (sent before SentAt
// was recorded).
func (w *run) keyMayBeForgotten(ctx workflow.Context, c billing.Charge) bool {
	if c.SentAt.IsZero() {
		return true
	}
	real := workflow.Now(ctx)
	windowEnd := w.clock.Now(real.Add(w.chargeWindow(ctx)))
	return !windowEnd.Before(c.SentAt.Add(keyRetention))
}

// findCharge asks Stripe for what it holds of an attempt sent long ago.
func (w *run) findCharge(ctx workflow.Context, c billing.Charge) (activities.FindChargeResult, error) {
	req := activities.FindChargeRequest{
		SubscriptionID:   w.sub.ID,
		Cycle:            c.Cycle,
		Attempt:          c.Attempt,
		StripeCustomerID: w.in.StripeCustomerID,
		Run:              w.sub.KeyPrefix,
		AmountMinor:      c.AmountMinor,
		Since:            w.clock.Origin,
	}
	var res activities.FindChargeResult
	actx := summary(w.chargeOptions(ctx), fmt.Sprintf("look up at Stripe the charge of cycle %d, attempt %d", c.Cycle, c.Attempt))
	err := workflow.ExecuteActivity(actx, acts.FindCharge, req).Get(ctx, &res)
	return res, err
}

// collect charges every unpaid cycle at once, oldest first, and stops at the first decline.
func (w *run) collect(ctx workflow.Context) {
	for _, c := range w.sub.Collectable() {
		if !w.charge(ctx, c) {
			return
		}
	}
}

// closable reports whether the run may complete or continue as new in this
// workflow task. Under rules 3 it may not in a task that records an
// email's outcome: the email, a local activity, went out while the task
// ran, and should the server refuse the task's completion (a request came
// meanwhile) the task would run again and send it twice. The run waits a
// millisecond first, so that the email's marker is recorded by a task that
// does not close it. (Workflow time moves within a task only when a local
// activity's outcome comes, which sets emailed again; a later task's is
// later.)
func (w *run) closable(ctx workflow.Context) bool {
	return w.rules < 3 || !workflow.Now(ctx).Equal(w.emailed)
}

// readyToContinueAsNew reports whether the run should hand over to a new one
// now: it has run long enough and nothing is in progress.
func (w *run) readyToContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	long := w.cycles >= MaxCyclesPerRun || info.GetContinueAsNewSuggested() || w.upgrade ||
		(w.rules >= 2 && info.GetCurrentHistoryLength() >= HistoryBudget)
	return long && !w.waiting(ctx) && w.emails == 0 && workflow.AllHandlersFinished(ctx)
}

// continueAsNew hands the whole state, signals received so far included, to a new run.
func (w *run) continueAsNew(ctx workflow.Context) error {
	// Everything until now was handled: nothing is due, no request waits.
	// (workflowcheck flags encoding/json, for reflect and the runtime's GC
	// goroutines deep inside: a false positive, map keys are sorted.)
	//workflowcheck:ignore
	state, err := json.Marshal(carried{Sub: w.sub, Clock: w.clock, Runs: w.runs + 1, Handled: billing.Later(w.handled, w.now(ctx)),
		ChargeIssue: w.sa.chargeIssue})
	if err != nil {
		return fmt.Errorf("encode carried state: %w", err)
	}
	next := w.in
	next.Continued = state
	return workflow.NewContinueAsNewError(ctx, api.WorkflowType, next)
}

// queryNow is the subscription's clock for a query: at the wall time when
// the worker gave one, never before the workflow's own time.
func (w *run) queryNow(ctx workflow.Context) time.Time {
	real := workflow.Now(ctx)
	if w.wall != nil {
		real = billing.Later(real, w.wall())
	}
	return w.clock.Now(real)
}

// now is the subscription's clock.
func (w *run) now(ctx workflow.Context) time.Time { return w.clock.Now(workflow.Now(ctx)) }

func (w *run) state(ctx workflow.Context, now time.Time) api.State {
	st := w.sub.State(now)
	st.ContinuedAsNewTimes = w.runs
	return st
}

// snapshot is what changed() compares against to send transition emails.
type snapshot struct {
	status string
	access bool
}

func (w *run) snapshot() snapshot {
	return snapshot{status: w.sub.Status(), access: w.sub.AccessActive()}
}

// changed sends the emails of a status transition and publishes the state.
func (w *run) changed(ctx workflow.Context, before snapshot) {
	after := w.snapshot()
	switch {
	case before.access && !after.access && after.status == api.StatusSuspended:
		count(ctx, metricSuspensions)
		w.email(ctx, "access_suspended", "outstanding", billing.FormatMoney(w.sub.Outstanding(), w.sub.Currency))
	case before.status == api.StatusSuspended && after.access:
		count(ctx, metricRestorations)
		w.email(ctx, "access_restored")
	}
	if before.status != api.StatusEnded && after.status == api.StatusEnded {
		w.email(ctx, "subscription_ended", "reason", w.sub.EndReason, "date", w.sub.EndedAt.Format(time.DateOnly))
	}
	if err := w.upsert(ctx, w.rules < 3); err != nil {
		workflow.GetLogger(ctx).Error("cannot update search attributes", "error", err)
	}
}

// idle publishes what upsert left for when nothing more is due (rules 3):
// the run calls it before it waits, continues as new or completes.
func (w *run) idle(ctx workflow.Context) {
	if w.rules < 3 {
		return // everything was published as it changed
	}
	if err := w.publish(ctx); err != nil {
		workflow.GetLogger(ctx).Error("cannot update search attributes", "error", err)
	}
}
