package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// request is an update or signal waiting for the main loop, which handles
// them one at a time between billing events so that nothing runs concurrently
// with a charge.
type request struct {
	name string
	arg  any
	// at is when the request counts, on the subscription's clock: when the
	// caller made it (requestedAt), within bounds, else when it arrived.
	// Zero while the subscription opens: set when it is handled.
	at     time.Time
	signal bool
	result any
	err    error
	done   bool
}

// registerHandlers registers the contract's updates, signals and query.
// Updates are validated first: a rejected one never reaches history.
func (w *run) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, api.QueryState, func() (api.State, error) {
		if w.sub == nil {
			return api.State{}, errors.New(api.StillOpening)
		}
		return w.state(ctx, w.queryNow(ctx)), nil
	}); err != nil {
		return err
	}
	if err := errors.Join(
		setUpdate[api.CancelRequest, api.CancelResult](ctx, w, api.UpdateCancel),
		setUpdate[api.WithdrawRequest, api.WithdrawResult](ctx, w, api.UpdateWithdraw),
		setUpdate[api.UpdatePaymentMethodRequest, api.UpdatePaymentMethodResult](ctx, w, api.UpdatePaymentMethod),
		setUpdate[api.ChangePlanRequest, api.ChangePlanResult](ctx, w, api.UpdateChangePlan),
		setUpdate[api.PriceChangeRequest, api.PriceChangeResult](ctx, w, api.UpdateSchedulePriceChange),
		setUpdate[api.TerminateRequest, api.TerminateResult](ctx, w, api.UpdateTerminate),
	); err != nil {
		return err
	}
	if w.rules < 1 {
		w.receiveSignals(ctx)
	}
	return nil
}

// setUpdate registers one update whose handler queues a request for the main loop.
func setUpdate[Req, Res any](ctx workflow.Context, w *run, name string) error {
	handler := func(ctx workflow.Context, req Req) (Res, error) {
		r := &request{name: name, arg: req}
		r.at, r.err = w.arrival(ctx, req)
		w.enqueue(r)
		var zero Res
		if w.rules >= 1 {
			// A cancellation through Temporal does not cut the answer short.
			ctx, _ = workflow.NewDisconnectedContext(ctx)
		}
		if err := workflow.Await(ctx, func() bool { return r.done }); err != nil {
			return zero, err
		}
		if r.err != nil {
			return zero, r.err
		}
		return r.result.(Res), nil
	}
	validator := func(ctx workflow.Context, req Req) error { return w.validate(ctx, name, req) }
	return workflow.SetUpdateHandlerWithOptions(ctx, name, handler, workflow.UpdateHandlerOptions{Validator: validator})
}

// receiveSignals turns the cancel and withdraw signals into requests as they
// arrive. Rules 0 only: a goroutine that takes a signal runs after the main
// loop in the same workflow task, so a signal arriving with a due timer was
// counted after the event. Since rules 1 the loops take them (drainSignals)
// before looking at what fell due.
func (w *run) receiveSignals(ctx workflow.Context) {
	for _, name := range []string{api.SignalCancel, api.SignalWithdraw} {
		ch := workflow.GetSignalChannel(ctx, name)
		workflow.Go(ctx, func(ctx workflow.Context) {
			for {
				var raw json.RawMessage
				ch.Receive(ctx, &raw)
				w.enqueue(w.signalRequest(ctx, name, raw))
			}
		})
	}
}

// drainSignals queues the signals received but not yet picked up, so that
// none is lost when the run ends or continues as new, and a cancellation
// requested through Temporal (rules 1). It also takes the upgrade signal.
func (w *run) drainSignals(ctx workflow.Context) {
	if workflow.GetSignalChannel(ctx, api.SignalUpgrade).ReceiveAsync(nil) &&
		workflow.GetVersion(ctx, upgradeChange, workflow.DefaultVersion, 1) == 1 {
		w.upgrade = true
	}
	if w.root != nil && !w.canceled && w.root.Err() != nil {
		w.canceled = true
		r := &request{name: api.UpdateCancel, signal: true, arg: api.CancelRequest{Reason: TemporalCancelReason}}
		r.at, _ = w.arrival(ctx, nil)
		w.enqueue(r)
	}
	for _, name := range []string{api.SignalCancel, api.SignalWithdraw} {
		ch := workflow.GetSignalChannel(ctx, name)
		for {
			var raw json.RawMessage
			if !ch.ReceiveAsync(&raw) {
				break
			}
			w.enqueue(w.signalRequest(ctx, name, raw))
		}
	}
}

func (w *run) signalRequest(ctx workflow.Context, name string, raw json.RawMessage) *request {
	r := &request{name: name, signal: true}
	var err error
	switch name {
	case api.SignalCancel:
		var req api.CancelRequest
		err = decodeArgument(raw, &req)
		r.arg = req
	case api.SignalWithdraw:
		var req api.WithdrawRequest
		err = decodeArgument(raw, &req)
		r.arg = req
	}
	if err == nil {
		err = argumentErr(r.arg)
	}
	if err == nil && w.rules < 1 && !requestedAt(r.arg).IsZero() && !w.change(ctx, requestedAtChange) {
		err = errors.New(`json: unknown field "requestedAt"`) // as recorded before the change
	}
	if err != nil {
		var ae *api.ArgumentError
		if errors.As(err, &ae) {
			ae.Request = name + " signal"
		}
		r.err = err
		r.at, _ = w.arrival(ctx, nil)
		return r
	}
	r.at, r.err = w.arrival(ctx, r.arg)
	if r.err != nil && w.rules >= 1 {
		// A signal has no caller to answer: a requestedAt ahead of the
		// worker's clock counts as now rather than losing the request.
		r.at, r.err = w.arrival(ctx, nil)
	}
	return r
}

// waiting reports whether a request waits for the loops: queued, or (rules
// 1) a signal or a Temporal cancellation not yet taken by drainSignals.
func (w *run) waiting(ctx workflow.Context) bool {
	if len(w.inbox) > 0 {
		return true
	}
	if w.rules < 1 {
		// An upgrade signal waits for the next wake-up: waking on it would
		// change histories recorded by workers that did not know it.
		return false
	}
	return workflow.GetSignalChannel(ctx, api.SignalUpgrade).Len() > 0 ||
		workflow.GetSignalChannel(ctx, api.SignalCancel).Len() > 0 ||
		workflow.GetSignalChannel(ctx, api.SignalWithdraw).Len() > 0 ||
		(w.root != nil && !w.canceled && w.root.Err() != nil)
}

// TemporalCancelReason is the cancel reason recorded when a cancellation is
// requested through Temporal rather than the cancel update or signal.
const TemporalCancelReason = "cancellation requested through Temporal"

// enqueue queues a request for the main loop, in the order of the times
// they count at (arrival order among equals).
func (w *run) enqueue(r *request) {
	i := len(w.inbox)
	for i > 0 && !r.at.IsZero() && r.at.Before(w.inbox[i-1].at) {
		i--
	}
	w.inbox = slices.Insert(w.inbox, i, r)
}

// decodeArgument decodes a signal's argument; an absent one is the zero
// request. The api types decode strictly and keep what is wrong for
// argumentErr.
func decodeArgument(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil
	}
	// workflowcheck flags encoding/json (reflect and the runtime's GC
	// goroutines deep inside): a false positive, decoding is deterministic.
	//workflowcheck:ignore
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("invalid argument: %w", err)
	}
	return nil
}

// argumentErr is what the strict decoding of a request's argument found
// wrong (see api.Decoding), or nil.
func argumentErr(arg any) error {
	if a, ok := arg.(interface{ ArgumentErr() error }); ok {
		return a.ArgumentErr()
	}
	return nil
}

// pop takes the oldest queued request.
func (w *run) pop() *request {
	r := w.inbox[0]
	w.inbox = w.inbox[1:]
	return r
}

// maxClockSkew is how far ahead of the worker's clock a caller's
// requestedAt may be (clocks differ a little): taken as now. Further ahead
// is refused.
const maxClockSkew = time.Minute

// maxRequestAge bounds how far back before the worker's clock a
// requestedAt may reach (besides what was already handled): an older one
// counts at that bound.
const maxRequestAge = 7 * 24 * time.Hour

// arrival is when a request counts: see requestTime. Zero while the
// subscription opens (it is stamped when handled).
func (w *run) arrival(ctx workflow.Context, arg any) (time.Time, error) {
	if w.sub == nil {
		return time.Time{}, nil
	}
	return w.requestTime(ctx, arg)
}

// requestTime is when a request counts, on the subscription's clock: when
// the caller made it (its requestedAt, a wall time), bounded so that no
// caller reaches before what the subscription has already handled nor into
// the future; without requestedAt, now.
func (w *run) requestTime(ctx workflow.Context, arg any) (time.Time, error) {
	return w.requestTimeAs(ctx, arg, false)
}

// requestTimeAs is requestTime; validating says it runs in an update's
// validator, which may not record a version marker.
func (w *run) requestTimeAs(ctx workflow.Context, arg any, validating bool) (time.Time, error) {
	real := workflow.Now(ctx)
	if requested := requestedAt(arg); !requested.IsZero() && w.honoursRequestedAt(ctx, validating) {
		if requested.After(real.Add(maxClockSkew)) {
			return time.Time{}, fmt.Errorf("invalid requestedAt: %s is in the future (the worker's clock reads %s)",
				requested.UTC().Format(time.RFC3339), real.UTC().Format(time.RFC3339))
		}
		if requested.Before(real) {
			real = billing.Later(requested, real.Add(-maxRequestAge))
		}
	}
	return billing.Later(w.clock.Now(real), w.handled), nil
}

// requestedAtChange names the marker with which a run that follows rules 0
// starts honouring requestedAt: taken at the first request that carries
// one, so that histories recorded before (which ignored it on updates and
// refused it on signals as an unknown field) replay as they ran.
const requestedAtChange = "requested-at"

// honoursRequestedAt reports whether the run judges requests at their
// requestedAt (always since rules 1).
func (w *run) honoursRequestedAt(ctx workflow.Context, validating bool) bool {
	if w.rules >= 1 {
		return true
	}
	if v, decided := w.changes[requestedAtChange]; decided || validating {
		return v || !decided // a validator runs live only: as the handler will decide
	}
	return w.change(ctx, requestedAtChange)
}

// change reports whether the change named id applies to this run, asking
// workflow.GetVersion the first time (so a history recorded before the
// change replays without it).
func (w *run) change(ctx workflow.Context, id string) bool {
	if v, ok := w.changes[id]; ok {
		return v
	}
	if w.changes == nil {
		w.changes = map[string]bool{}
	}
	v := workflow.GetVersion(ctx, id, workflow.DefaultVersion, 1) == 1
	w.changes[id] = v
	return v
}

// requestedAt is the time the caller says it made the request, or zero.
func requestedAt(arg any) time.Time {
	switch req := arg.(type) {
	case api.CancelRequest:
		return req.RequestedAt
	case api.WithdrawRequest:
		return req.RequestedAt
	case api.UpdatePaymentMethodRequest:
		return req.RequestedAt
	case api.ChangePlanRequest:
		return req.RequestedAt
	case api.PriceChangeRequest:
		return req.RequestedAt
	case api.TerminateRequest:
		return req.RequestedAt
	}
	return time.Time{}
}

// validate checks a request against the current state without changing it.
func (w *run) validate(ctx workflow.Context, name string, arg any) error {
	if err := argumentErr(arg); err != nil {
		return err
	}
	if w.sub == nil {
		return nil // still opening: checked again when handled
	}
	now, err := w.requestTimeAs(ctx, arg, true)
	if err != nil {
		return err
	}
	switch req := arg.(type) {
	case api.CancelRequest:
		if w.sub.Ended && w.sub.EndReason != api.EndCanceled {
			return billing.ErrEnded
		}
		return nil
	case api.WithdrawRequest:
		return w.sub.CheckWithdraw(now)
	case api.UpdatePaymentMethodRequest:
		return w.sub.CheckPaymentMethodUpdate(req.PaymentMethodID)
	case api.ChangePlanRequest:
		return w.sub.CheckChangePlan(req.Plan)
	case api.PriceChangeRequest:
		return w.sub.CheckPriceChange(now, req)
	case api.TerminateRequest:
		return w.sub.CheckTerminate(req.Reason)
	}
	return fmt.Errorf("unknown request %s", name)
}

// execute handles one request in the main loop.
func (w *run) execute(ctx workflow.Context, r *request) {
	defer w.changed(ctx, w.snapshot())
	defer func() { r.done = true }()
	at := r.at
	if at.IsZero() { // arrived while opening
		at = w.now(ctx)
		if r.err == nil {
			var err error
			if at, err = w.requestTime(ctx, r.arg); err != nil {
				at, r.err = w.now(ctx), err
			}
		}
	}
	at = billing.Later(at, w.handled) // what was handled meanwhile comes first
	if r.err == nil {
		w.handled = at
		r.result, r.err = w.apply(ctx, r.arg, at)
	}
	if r.signal && r.err != nil {
		w.sub.Reject(at, r.name, r.err)
	}
}

// apply carries out a request as of at, the time it arrived.
func (w *run) apply(ctx workflow.Context, arg any, now time.Time) (any, error) {
	switch req := arg.(type) {
	case api.CancelRequest:
		wasCanceled := w.sub.Canceled
		res, err := w.sub.Cancel(now, req.Reason)
		if err == nil && !wasCanceled {
			w.email(ctx, "cancellation_confirmed", "accessUntil", res.AccessUntil.Format("2006-01-02"))
		}
		return res, err
	case api.WithdrawRequest:
		return w.withdraw(ctx, now)
	case api.UpdatePaymentMethodRequest:
		return w.updatePaymentMethod(ctx, req.PaymentMethodID)
	case api.ChangePlanRequest:
		return w.sub.ChangePlan(req.Plan)
	case api.PriceChangeRequest:
		notified := now
		if w.rules >= 1 || w.changes[requestedAtChange] {
			notified = billing.Later(now, w.now(ctx)) // when the notice email goes out
		}
		res, err := w.sub.SchedulePriceChangeNotified(now, notified, req)
		if err == nil {
			w.email(ctx, "price_change_notice", "price", billing.FormatMoney(req.PriceMinor, w.sub.Currency),
				"appliesFrom", res.AppliesFrom.Format("2006-01-02"))
		}
		return res, err
	case api.TerminateRequest:
		if err := w.sub.Terminate(now, req.Reason); err != nil {
			return nil, err
		}
		return api.TerminateResult{Status: w.sub.Status()}, nil
	}
	return nil, fmt.Errorf("unknown request %T", arg)
}

// withdraw ends the subscription at once and refunds every payment received.
// A refund that fails, and a charge whose answer never came, are settled
// after the subscription has ended (see settle); the answer says how much is
// still to be refunded.
func (w *run) withdraw(ctx workflow.Context, at time.Time) (api.WithdrawResult, error) {
	if err := w.sub.CheckWithdraw(at); err != nil {
		return api.WithdrawResult{}, err
	}
	w.sub.Withdrawn(at)
	settleErr := w.settle(ctx, false)
	res := api.WithdrawResult{Currency: w.sub.Currency, RefundIDs: []string{}}
	for _, p := range w.sub.Payments {
		switch p.Status {
		case api.PaymentRefunded:
			res.RefundedMinor += p.AmountMinor
			res.RefundIDs = append(res.RefundIDs, p.RefundID)
		case api.PaymentSucceeded:
			res.PendingRefundMinor += p.AmountMinor
		}
	}
	for _, c := range w.sub.UnansweredCharges() {
		res.PendingRefundMinor += c.AmountMinor
	}
	if settleErr != nil {
		workflow.GetLogger(ctx).Warn("withdrawal refunds pending; retried until done", "error", settleErr)
	}
	w.email(ctx, "withdrawal_confirmed", "refunded", billing.FormatMoney(res.RefundedMinor, res.Currency))
	return res, nil
}

// settle finishes what an ended subscription still owes or is owed: a charge
// whose answer never came is made again under its own key, and after a
// withdrawal every payment received is refunded (one idempotency key per
// payment). With announce (after the withdrawal's answer), each refund made
// gets its refund_issued email. It reports the last failure; what failed is
// tried again later.
func (w *run) settle(ctx workflow.Context, announce bool) error {
	var last error
	for _, c := range w.sub.UnansweredCharges() {
		w.charge(ctx, c)
	}
	if w.sub.EndReason != api.EndWithdrawn {
		return nil
	}
	for _, p := range w.sub.Refundable() {
		req := activities.RefundRequest{
			SubscriptionID:  w.sub.ID,
			PaymentIntentID: p.PaymentIntentID,
			IdempotencyKey:  w.sub.KeyPrefix + "/refund/" + p.PaymentIntentID,
		}
		var res activities.RefundResult
		rctx := summary(w.refundOptions(ctx), fmt.Sprintf("refund cycle %d: %s", p.Cycle, billing.FormatMoney(p.AmountMinor, w.sub.Currency)))
		if err := workflow.ExecuteActivity(rctx, acts.Refund, req).Get(ctx, &res); err != nil {
			last = requestError(err, "refund of payment %s failed", p.PaymentIntentID)
			continue
		}
		w.sub.Refunded(p.PaymentIntentID, res.RefundID)
		w.countRefund(ctx, p.AmountMinor)
		if announce && w.rules >= 1 {
			w.email(ctx, "refund_issued", "amount", billing.FormatMoney(p.AmountMinor, w.sub.Currency), "paymentIntentId", p.PaymentIntentID)
		}
	}
	return last
}

// updatePaymentMethod accepts a card only, then charges everything
// outstanding with it at once.
func (w *run) updatePaymentMethod(ctx workflow.Context, id string) (api.UpdatePaymentMethodResult, error) {
	if err := w.sub.CheckPaymentMethodUpdate(id); err != nil {
		return api.UpdatePaymentMethodResult{}, err
	}
	var pm activities.PaymentMethodResult
	req := activities.PaymentMethodRequest{PaymentMethodID: id, StripeCustomerID: w.in.StripeCustomerID}
	if err := workflow.ExecuteActivity(summary(lookupOptions(ctx), "check the new card at Stripe"), acts.CheckPaymentMethod, req).Get(ctx, &pm); err != nil {
		return api.UpdatePaymentMethodResult{}, requestError(err, "payment method %s not accepted", id)
	}
	w.sub.PaymentMethodID = id
	w.collect(ctx)
	return api.UpdatePaymentMethodResult{Status: w.sub.Status(), OutstandingMinor: w.sub.Outstanding()}, nil
}

// requestError is the error a caller sees when an activity failed: what
// failed, then the activity's own message, without the activity's envelope.
func requestError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewNonRetryableApplicationError(msg+": "+appErr.Message(), appErr.Type(), nil)
	}
	return temporal.NewNonRetryableApplicationError(msg+": "+err.Error(), "ActivityFailed", nil)
}
