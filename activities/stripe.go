package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"
	"go.temporal.io/sdk/activity"

	"github.com/withings-plus/subscriptions/config"
)

// NewStripeAPI returns a Stripe client that never retries by itself (the
// workflow's retry policy owns retries) and never logs.
func NewStripeAPI(cfg config.Worker, hc *http.Client) *stripeclient.API {
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.StripeAPIURL != "" {
		bc.URL = stripe.String(cfg.StripeAPIURL)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := &stripeclient.API{}
	api.Init(cfg.StripeSecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return api
}

// Charge collects one billing cycle off-session with a confirmed
// PaymentIntent. A decline (HTTP 402 card_error, or a PaymentIntent left
// needing authentication or another payment method) is a non-retryable
// ErrTypePaymentDeclined error whose details are a ChargeResult.
func (a *Activities) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if req.IdempotencyKey == "" || req.AmountMinor <= 0 || req.Currency == "" || req.StripeCustomerID == "" || req.PaymentMethodID == "" {
		return ChargeResult{}, a.permanent(ErrTypeBadRequest, fmt.Sprintf(
			"charge of %s cycle %d: idempotency key, positive amount, currency, customer and payment method are required", req.SubscriptionID, req.Cycle))
	}
	if req.TestClock && a.cfg.LiveMode() {
		return ChargeResult{}, a.permanent(ErrTypeStripeRefused, fmt.Sprintf(
			"charge of %s cycle %d refused: the subscription runs on a test clock and this worker holds a live Stripe key", req.SubscriptionID, req.Cycle))
	}
	params := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(req.AmountMinor),
		Currency:      stripe.String(strings.ToLower(req.Currency)),
		Customer:      stripe.String(req.StripeCustomerID),
		PaymentMethod: stripe.String(req.PaymentMethodID),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
	}
	params.Context = ctx
	params.AddMetadata("subscription_id", req.SubscriptionID)
	params.AddMetadata("cycle", strconv.Itoa(req.Cycle))
	params.AddMetadata("attempt", strconv.Itoa(req.Attempt))
	if req.Run != "" {
		params.AddMetadata("subscription_run", req.Run)
	}
	params.SetIdempotencyKey(req.IdempotencyKey)

	op := fmt.Sprintf("charge of %s cycle %d attempt %d", req.SubscriptionID, req.Cycle, req.Attempt)
	pi, err := a.stripe.PaymentIntents.New(params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && isDecline(se) {
			res := ChargeResult{Status: "declined", DeclineCode: declineCode(se), Message: se.Msg}
			if se.PaymentIntent != nil {
				res.PaymentIntentID = se.PaymentIntent.ID
			}
			return ChargeResult{}, a.declined(op, res)
		}
		if errors.As(err, &se) && savedUnderKey(se) {
			return ChargeResult{}, a.permanent(ErrTypeChargeIndeterminate, describe(op, se)+" (saved under the idempotency key: the outcome is unknown)")
		}
		return ChargeResult{}, a.stripeFailure(op, err)
	}
	if pi.Status == stripe.PaymentIntentStatusProcessing {
		// Rare for cards: look again rather than replaying the stored answer.
		if pi, err = a.stripe.PaymentIntents.Get(pi.ID, &stripe.PaymentIntentParams{Params: stripe.Params{Context: ctx}}); err != nil {
			return ChargeResult{}, a.stripeFailure(op, err)
		}
	}
	return a.chargeOutcome(op, pi)
}

// chargeOutcome maps the status of a confirmed PaymentIntent to the result.
func (a *Activities) chargeOutcome(op string, pi *stripe.PaymentIntent) (ChargeResult, error) {
	res := ChargeResult{PaymentIntentID: pi.ID, Status: string(pi.Status)}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return res, nil
	case stripe.PaymentIntentStatusProcessing:
		return ChargeResult{}, a.retryable(ErrTypeStripeUnavailable, fmt.Sprintf("%s: payment intent %s is still processing", op, pi.ID))
	case stripe.PaymentIntentStatusRequiresAction, stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusCanceled:
		res.Status = "declined"
		res.DeclineCode, res.Message = declineOf(pi)
		return ChargeResult{}, a.declined(op, res)
	}
	return ChargeResult{}, a.permanent(ErrTypeStripeRefused, fmt.Sprintf("%s: payment intent %s is %s, expected succeeded", op, pi.ID, pi.Status))
}

// isDecline reports whether Stripe's error is the customer's decline: a
// card error (HTTP 402), or a charge refused because the customer's card
// cannot be used any more (an invalid_request_error about the
// payment_method that exists, such as a card the customer detached: "The
// customer does not have a payment method with the ID …"). A payment
// method Stripe does not know ("No such PaymentMethod", resource_missing:
// a key of another account or mode) and any other refusal are a mistake of
// ours (see stripeFailure).
func isDecline(se *stripe.Error) bool {
	if se.Type == stripe.ErrorTypeCard || se.HTTPStatusCode == http.StatusPaymentRequired {
		return true
	}
	if se.Type != stripe.ErrorTypeInvalidRequest || se.Code == stripe.ErrorCodeResourceMissing {
		return false
	}
	return se.Param == "payment_method" || strings.HasPrefix(string(se.Code), "payment_method_")
}

// savedUnderKey reports whether Stripe's server error to a POST is saved
// under its Idempotency-Key, so that a retry under the key gets it again:
// Stripe says so with Stripe-Should-Retry: false; without that header, any
// 5xx but 503 is saved (as stripe-go's own retry logic assumes). With
// Stripe-Should-Retry: true the request may be retried under its key.
func savedUnderKey(se *stripe.Error) bool {
	if se.HTTPStatusCode < 500 {
		return false
	}
	var h http.Header
	if se.LastResponse != nil {
		h = se.LastResponse.Header
	}
	switch h.Get("Stripe-Should-Retry") {
	case "false":
		return true
	case "true":
		return false
	}
	return se.HTTPStatusCode != http.StatusServiceUnavailable
}

func (a *Activities) declined(op string, res ChargeResult) error {
	msg := fmt.Sprintf("%s declined (%s)", op, res.DeclineCode)
	if res.Message != "" {
		msg += ": " + res.Message
	}
	return a.permanent(ErrTypePaymentDeclined, msg, res)
}

// declineOf is the decline code and message of a PaymentIntent that was
// declined (requires_payment_method), needs authentication (requires_action)
// or was canceled: its last payment error's, else one named after its status.
func declineOf(pi *stripe.PaymentIntent) (code, msg string) {
	code = string(pi.Status)
	if pi.Status == stripe.PaymentIntentStatusRequiresAction {
		code = "authentication_required"
	}
	if e := pi.LastPaymentError; e != nil {
		if c := declineCode(e); c != "" {
			code = c
		}
		msg = e.Msg
	}
	return code, msg
}

// declineCode is Stripe's decline_code, else its error code.
func declineCode(se *stripe.Error) string {
	if se.DeclineCode != "" {
		return string(se.DeclineCode)
	}
	return string(se.Code)
}

// Refund refunds a PaymentIntent in full. If Stripe says it was already
// refunded (a retry under a new key, or a refund made in the Dashboard), the
// existing refund is looked up and returned as the result. A server error
// Stripe saved under the key (see savedUnderKey) is resolved the same way:
// the refunds made are looked up, and only when there is none is the refund
// asked again, under a key of this activity attempt (a PaymentIntent is
// refunded in full at most once, so a new key cannot refund twice).
func (a *Activities) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	if req.IdempotencyKey == "" || req.PaymentIntentID == "" {
		return RefundResult{}, a.permanent(ErrTypeBadRequest, fmt.Sprintf("refund for %s: payment intent and idempotency key are required", req.SubscriptionID))
	}
	op := fmt.Sprintf("refund of %s for %s", req.PaymentIntentID, req.SubscriptionID)
	r, err := a.newRefund(ctx, req, req.IdempotencyKey)
	var se *stripe.Error
	if errors.As(err, &se) && savedUnderKey(se) && activity.IsActivity(ctx) {
		res, found, lerr := a.refundsOf(ctx, op, req.PaymentIntentID)
		if lerr != nil || found {
			return res, lerr
		}
		key := fmt.Sprintf("%s/renewed-%d", req.IdempotencyKey, activity.GetInfo(ctx).Attempt)
		r, err = a.newRefund(ctx, req, key)
	}
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return a.existingRefund(ctx, op, req.PaymentIntentID)
	}
	if err != nil {
		return RefundResult{}, a.stripeFailure(op, err)
	}
	return RefundResult{RefundID: r.ID, AmountMinor: r.Amount, Status: string(r.Status)}, nil
}

// newRefund asks Stripe to refund req's PaymentIntent under key.
func (a *Activities) newRefund(ctx context.Context, req RefundRequest, key string) (*stripe.Refund, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(req.PaymentIntentID)}
	params.Context = ctx
	params.AddMetadata("subscription_id", req.SubscriptionID)
	params.SetIdempotencyKey(key)
	return a.stripe.Refunds.New(params)
}

// existingRefund reports the refunds already made on a PaymentIntent, for
// one Stripe says was refunded: it is an error that there is none.
func (a *Activities) existingRefund(ctx context.Context, op, piID string) (RefundResult, error) {
	res, found, err := a.refundsOf(ctx, op, piID)
	if err == nil && !found {
		return RefundResult{}, a.permanent(ErrTypeStripeRefused, op+": Stripe says it was already refunded but lists no refund")
	}
	return res, err
}

// refundsOf reports the refunds made on a PaymentIntent: the newest one
// that did not fail, with the total refunded; found is false if there is none.
func (a *Activities) refundsOf(ctx context.Context, op, piID string) (res RefundResult, found bool, err error) {
	params := &stripe.RefundListParams{PaymentIntent: stripe.String(piID)}
	params.Context = ctx
	it := a.stripe.Refunds.List(params)
	for it.Next() {
		r := it.Refund()
		if r.Status == stripe.RefundStatusFailed || r.Status == stripe.RefundStatusCanceled {
			continue
		}
		if res.RefundID == "" {
			res.RefundID, res.Status = r.ID, string(r.Status)
		}
		res.AmountMinor += r.Amount
	}
	if err := it.Err(); err != nil {
		return RefundResult{}, false, a.stripeFailure(op+" (looking up the refunds made)", err)
	}
	return res, res.RefundID != "", nil
}

// CheckPaymentMethod accepts only an existing card payment method attached
// to req.StripeCustomerID (when it is given), as Stripe charges a customer
// off-session only with a card of its own; anything else is a non-retryable
// ErrTypeInvalidPaymentMethod error. A test-mode shortcut (pm_card_visa, …),
// which Stripe attaches to no customer but copies for any charge, is
// accepted for every customer.
func (a *Activities) CheckPaymentMethod(ctx context.Context, req PaymentMethodRequest) (PaymentMethodResult, error) {
	id := req.PaymentMethodID
	if id == "" {
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod, "payment method id is empty")
	}
	pm, err := a.stripe.PaymentMethods.Get(id, &stripe.PaymentMethodParams{Params: stripe.Params{Context: ctx}})
	var se *stripe.Error
	if errors.As(err, &se) && (se.Code == stripe.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound) {
		if err := a.customerExists(ctx, req.StripeCustomerID); err != nil {
			return PaymentMethodResult{}, err // not the customer's mistake: ours
		}
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod, fmt.Sprintf("payment method %s does not exist", id))
	}
	if err != nil {
		return PaymentMethodResult{}, a.stripeFailure("checking payment method "+id, err)
	}
	if pm.Type != stripe.PaymentMethodTypeCard {
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod,
			fmt.Sprintf("payment method %s is a %s, only card payment methods are accepted", id, pm.Type))
	}
	if want := req.StripeCustomerID; want != "" {
		var owner string
		if pm.Customer != nil {
			owner = pm.Customer.ID
		}
		shortcut := owner == "" && !pm.Livemode && strings.HasPrefix(id, "pm_card_")
		if owner != want && !shortcut {
			// The other customer is not named: the message may reach the caller.
			whose := "it is attached to another customer"
			if owner == "" {
				whose = "it is attached to no customer"
			}
			return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod,
				fmt.Sprintf("payment method %s is not attached to customer %s (%s)", id, want, whose))
		}
	}
	res := PaymentMethodResult{PaymentMethodID: pm.ID, Type: string(pm.Type)}
	if pm.Card != nil {
		res.Brand, res.Last4 = string(pm.Card.Brand), pm.Card.Last4
	}
	return res, nil
}

// customerExists tells a payment method that does not exist from a key
// that sees none of the account's objects: when Stripe does not know the
// customer either (a key of another account or mode), it is a non-retryable
// ErrTypeStripeRefused error, for ops to fix. An empty id is not checked.
func (a *Activities) customerExists(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	_, err := a.stripe.Customers.Get(id, &stripe.CustomerParams{Params: stripe.Params{Context: ctx}})
	var se *stripe.Error
	if errors.As(err, &se) && (se.Code == stripe.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound) {
		return a.permanent(ErrTypeStripeRefused, fmt.Sprintf(
			"checking a payment method of customer %s: Stripe knows neither the payment method nor the customer (is the worker's key of another account or mode?)", id))
	}
	if err != nil {
		return a.stripeFailure("checking customer "+id, err)
	}
	return nil
}

// FindCharge looks for what Stripe holds of one charge attempt, for when its
// Idempotency-Key may have been forgotten (Stripe keeps keys about 24
// hours): it pages through the customer's PaymentIntents, newest first, and
// keeps those whose metadata[subscription_id] and metadata[cycle] match.
// A succeeded one of the cycle wins, whatever its attempt (the newest if
// several); else the newest whose metadata[attempt] is req.Attempt is
// reported: succeeded, "declined" (requires_payment_method, requires_action
// or canceled, with its last payment error's decline code) or "processing"
// (processing, requires_confirmation). Else Found is false. Transport
// errors, 5xx and 429 are retryable ErrTypeStripeUnavailable errors; a
// PaymentIntent of the attempt in another status (requires_capture, which
// this engine never asks for) is a non-retryable ErrTypeStripeRefused.
func (a *Activities) FindCharge(ctx context.Context, req FindChargeRequest) (FindChargeResult, error) {
	if req.SubscriptionID == "" || req.StripeCustomerID == "" || req.Cycle < 0 || req.Attempt < 0 {
		return FindChargeResult{}, a.permanent(ErrTypeBadRequest, fmt.Sprintf(
			"finding the charge of %q cycle %d attempt %d: subscription, customer and a cycle and attempt of 0 or more are required",
			req.SubscriptionID, req.Cycle, req.Attempt))
	}
	op := fmt.Sprintf("finding the charge of %s cycle %d attempt %d", req.SubscriptionID, req.Cycle, req.Attempt)
	params := &stripe.PaymentIntentListParams{Customer: stripe.String(req.StripeCustomerID)}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	cycle, attempt := strconv.Itoa(req.Cycle), strconv.Itoa(req.Attempt)
	var same *stripe.PaymentIntent // the newest of the same attempt
	it := a.stripe.PaymentIntents.List(params)
	for it.Next() {
		pi := it.PaymentIntent()
		if pi.Metadata["subscription_id"] != req.SubscriptionID || pi.Metadata["cycle"] != cycle || !sameRun(pi, req) {
			continue
		}
		if pi.Status == stripe.PaymentIntentStatusSucceeded {
			return found(pi, "succeeded", ""), nil
		}
		if same == nil && pi.Metadata["attempt"] == attempt {
			same = pi
		}
	}
	if err := it.Err(); err != nil {
		return FindChargeResult{}, a.stripeFailure(op, err)
	}
	if same == nil {
		return FindChargeResult{}, nil
	}
	switch same.Status {
	case stripe.PaymentIntentStatusRequiresPaymentMethod, stripe.PaymentIntentStatusRequiresAction, stripe.PaymentIntentStatusCanceled:
		code, _ := declineOf(same)
		return found(same, "declined", code), nil
	case stripe.PaymentIntentStatusProcessing, stripe.PaymentIntentStatusRequiresConfirmation:
		return found(same, "processing", ""), nil
	}
	return FindChargeResult{}, a.permanent(ErrTypeStripeRefused, fmt.Sprintf("%s: payment intent %s is %s", op, same.ID, same.Status))
}

// sameRun reports whether pi belongs to the subscription run req asks about.
func sameRun(pi *stripe.PaymentIntent, req FindChargeRequest) bool {
	if req.Run == "" {
		return true
	}
	if run, ok := pi.Metadata["subscription_run"]; ok {
		return run == req.Run
	}
	return pi.Amount == req.AmountMinor && pi.Created >= req.Since.Unix()
}

// found is the FindChargeResult of pi.
func found(pi *stripe.PaymentIntent, status, declineCode string) FindChargeResult {
	attempt, err := strconv.Atoi(pi.Metadata["attempt"])
	if err != nil {
		attempt = -1
	}
	return FindChargeResult{Found: true, PaymentIntentID: pi.ID, Attempt: attempt, Status: status, DeclineCode: declineCode}
}

// stripeFailure classifies an error of stripe-go. Answers worth retrying
// (429, 5xx, 409 idempotency_key_in_use, and any with Stripe-Should-Retry:
// true) and transport errors are retryable ErrTypeStripeUnavailable errors
// (a charge's 5xx saved under its key never reaches here: see
// savedUnderKey; a GET is saved under no key, so it is retried whatever
// Stripe-Should-Retry says). Any other answer is Stripe refusing the request as a mistake of
// ours, not the customer's: a key of another account or mode (401, 403, a
// customer or object that does not exist for the key), an invalid request,
// an idempotency key reused with other parameters (ErrTypeIdempotencyConflict,
// which the workflow looks up); a non-retryable ErrTypeStripeRefused that
// ops must fix. The message never holds the raw error JSON, which can carry
// whole objects.
func (a *Activities) stripeFailure(op string, err error) error {
	if perr, ok := a.paced(op, err); ok {
		return perr // never sent: its turn comes later
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		return a.retryable(ErrTypeStripeUnavailable, fmt.Sprintf("%s: %v", op, err))
	}
	msg := describe(op, se)
	if se.Type == stripe.ErrorTypeIdempotency {
		return a.permanent(ErrTypeIdempotencyConflict, msg)
	}
	shouldRetry := "" // Stripe's advice, when it gives one
	if se.LastResponse != nil {
		shouldRetry = se.LastResponse.Header.Get("Stripe-Should-Retry")
	}
	switch s := se.HTTPStatusCode; {
	case shouldRetry == "true", shouldRetry == "" && (s == http.StatusTooManyRequests || s >= 500 || s == 0 || s == http.StatusConflict):
		return a.retryable(ErrTypeStripeUnavailable, msg)
	case s >= 500 || s == http.StatusTooManyRequests:
		return a.retryable(ErrTypeStripeUnavailable, msg+" (Stripe-Should-Retry: false)")
	}
	return a.permanent(ErrTypeStripeRefused, msg)
}

// describe is the message of Stripe's error to op, without its raw JSON.
func describe(op string, se *stripe.Error) string {
	msg := fmt.Sprintf("%s: Stripe answered HTTP %d %s", op, se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		msg += "/" + string(se.Code)
	}
	if se.Param != "" {
		msg += " (param " + se.Param + ")"
	}
	if se.Msg != "" {
		msg += ": " + se.Msg
	}
	return msg
}
