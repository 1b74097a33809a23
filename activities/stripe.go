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
	params.SetIdempotencyKey(req.IdempotencyKey)

	op := fmt.Sprintf("charge of %s cycle %d attempt %d", req.SubscriptionID, req.Cycle, req.Attempt)
	pi, err := a.stripe.PaymentIntents.New(params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && (se.Type == stripe.ErrorTypeCard || se.HTTPStatusCode == http.StatusPaymentRequired) {
			res := ChargeResult{Status: "declined", DeclineCode: declineCode(se), Message: se.Msg}
			if se.PaymentIntent != nil {
				res.PaymentIntentID = se.PaymentIntent.ID
			}
			return ChargeResult{}, a.declined(op, res)
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
		res.Status, res.DeclineCode = "declined", "authentication_required"
		if pi.Status != stripe.PaymentIntentStatusRequiresAction {
			res.DeclineCode = string(pi.Status)
		}
		if e := pi.LastPaymentError; e != nil {
			if c := declineCode(e); c != "" {
				res.DeclineCode = c
			}
			res.Message = e.Msg
		}
		return ChargeResult{}, a.declined(op, res)
	}
	return ChargeResult{}, a.permanent(ErrTypeStripeRequest, fmt.Sprintf("%s: payment intent %s is %s, expected succeeded", op, pi.ID, pi.Status))
}

func (a *Activities) declined(op string, res ChargeResult) error {
	msg := fmt.Sprintf("%s declined (%s)", op, res.DeclineCode)
	if res.Message != "" {
		msg += ": " + res.Message
	}
	return a.permanent(ErrTypePaymentDeclined, msg, res)
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
// existing refund is looked up and returned as the result.
func (a *Activities) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	if req.IdempotencyKey == "" || req.PaymentIntentID == "" {
		return RefundResult{}, a.permanent(ErrTypeBadRequest, fmt.Sprintf("refund for %s: payment intent and idempotency key are required", req.SubscriptionID))
	}
	params := &stripe.RefundParams{PaymentIntent: stripe.String(req.PaymentIntentID)}
	params.Context = ctx
	params.AddMetadata("subscription_id", req.SubscriptionID)
	params.SetIdempotencyKey(req.IdempotencyKey)
	op := fmt.Sprintf("refund of %s for %s", req.PaymentIntentID, req.SubscriptionID)
	r, err := a.stripe.Refunds.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return a.existingRefund(ctx, op, req.PaymentIntentID)
	}
	if err != nil {
		return RefundResult{}, a.stripeFailure(op, err)
	}
	return RefundResult{RefundID: r.ID, AmountMinor: r.Amount, Status: string(r.Status)}, nil
}

// existingRefund reports the refunds already made on a PaymentIntent: the
// newest one that did not fail, with the total refunded.
func (a *Activities) existingRefund(ctx context.Context, op, piID string) (RefundResult, error) {
	params := &stripe.RefundListParams{PaymentIntent: stripe.String(piID)}
	params.Context = ctx
	var res RefundResult
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
		return RefundResult{}, a.stripeFailure(op+" (looking up the existing refund)", err)
	}
	if res.RefundID == "" {
		return RefundResult{}, a.permanent(ErrTypeStripeRequest, op+": Stripe says it was already refunded but lists no refund")
	}
	return res, nil
}

// CheckPaymentMethod accepts only an existing card payment method; anything
// else is a non-retryable ErrTypeInvalidPaymentMethod error.
func (a *Activities) CheckPaymentMethod(ctx context.Context, req PaymentMethodRequest) (PaymentMethodResult, error) {
	id := req.PaymentMethodID
	if id == "" {
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod, "payment method id is empty")
	}
	pm, err := a.stripe.PaymentMethods.Get(id, &stripe.PaymentMethodParams{Params: stripe.Params{Context: ctx}})
	var se *stripe.Error
	if errors.As(err, &se) && (se.Code == stripe.ErrorCodeResourceMissing || se.HTTPStatusCode == http.StatusNotFound) {
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod, fmt.Sprintf("payment method %s does not exist", id))
	}
	if err != nil {
		return PaymentMethodResult{}, a.stripeFailure("checking payment method "+id, err)
	}
	if pm.Type != stripe.PaymentMethodTypeCard {
		return PaymentMethodResult{}, a.permanent(ErrTypeInvalidPaymentMethod,
			fmt.Sprintf("payment method %s is a %s, only card payment methods are accepted", id, pm.Type))
	}
	res := PaymentMethodResult{PaymentMethodID: pm.ID, Type: string(pm.Type)}
	if pm.Card != nil {
		res.Brand, res.Last4 = string(pm.Card.Brand), pm.Card.Last4
	}
	return res, nil
}

// stripeFailure classifies an error of stripe-go: answers worth retrying
// (429, 5xx, 409 idempotency_key_in_use, 401/403 which ops can fix by
// correcting the key) and transport errors are retryable; any other 4xx is a
// non-retryable ErrTypeStripeRequest. The message never holds the raw error
// JSON, which can carry whole objects.
func (a *Activities) stripeFailure(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return a.retryable(ErrTypeStripeUnavailable, fmt.Sprintf("%s: %v", op, err))
	}
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
	switch s := se.HTTPStatusCode; {
	case s == http.StatusTooManyRequests, s >= 500, s == 0, s == http.StatusConflict,
		s == http.StatusUnauthorized, s == http.StatusForbidden:
		return a.retryable(ErrTypeStripeUnavailable, msg)
	}
	return a.permanent(ErrTypeStripeRequest, msg)
}
