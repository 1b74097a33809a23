// Package activities holds the subscription workflow's side effects: charges,
// refunds and payment-method checks at Stripe, emails through SendGrid, and the
// look-up of an account's earlier subscriptions in Temporal visibility.
//
// Every activity is safe to retry: Stripe calls carry an Idempotency-Key chosen
// by the workflow, and business outcomes (a decline, a non-card payment method)
// are returned as non-retryable application errors of the types below.
package activities

import "time"

// Error types of the non-retryable application errors the activities return.
// The workflow matches on them with temporal.ApplicationError.Type().
const (
	// ErrTypePaymentDeclined is a charge refused by the card issuer or Stripe
	// (HTTP 402 card_error). Its details carry a ChargeResult.
	ErrTypePaymentDeclined = "PaymentDeclined"
	// ErrTypeInvalidPaymentMethod is a payment method that is missing, is not
	// a card, or is not attached to the subscription's customer.
	ErrTypeInvalidPaymentMethod = "InvalidPaymentMethod"
	// ErrTypeStripeRequest was a request Stripe refused as invalid (other
	// 4xx). The activities no longer return it (see ErrTypeStripeRefused);
	// histories recorded before keep it.
	ErrTypeStripeRequest = "StripeInvalidRequest"
	// ErrTypeStripeRefused is a request Stripe refused as a mistake of ours,
	// not the customer's: a key of another account or mode (401, 403, "No
	// such customer"), an invalid request, an idempotency key reused with
	// other parameters, or an answer this engine never asks for. Retrying
	// it fails the same way until ops fix the cause.
	ErrTypeStripeRefused = "StripeRefused"
	// ErrTypeChargeIndeterminate is a charge Stripe answered with a server
	// error it saved under the Idempotency-Key (Stripe-Should-Retry: false,
	// or a 5xx other than 503 without that header): every retry under the
	// key gets the same answer, and the charge may or may not have been
	// made. The workflow looks it up before making it again under a new key.
	ErrTypeChargeIndeterminate = "StripeChargeIndeterminate"
)

// ChargeRequest is one attempt to collect one billing cycle off-session.
type ChargeRequest struct {
	SubscriptionID   string `json:"subscriptionId"` // the workflow ID, sent as metadata[subscription_id]
	Cycle            int    `json:"cycle"`          // sent as metadata[cycle]
	Attempt          int    `json:"attempt"`        // 0 on the due date, then one per retry
	AmountMinor      int64  `json:"amountMinor"`
	Currency         string `json:"currency"` // ISO code, upper case (EUR); sent lower case
	StripeCustomerID string `json:"stripeCustomerId"`
	PaymentMethodID  string `json:"paymentMethodId"`
	// IdempotencyKey is the same for every activity retry of this attempt and
	// different for every attempt.
	IdempotencyKey string `json:"idempotencyKey"`
	// Run identifies this subscription among the account's successive ones
	// (the workflow ID is reused): sent as metadata[subscription_run].
	Run string `json:"run,omitempty"`
	// TestClock says the subscription runs on a test clock: a worker with a
	// live Stripe key refuses to charge it (ErrTypeStripeRefused).
	TestClock bool `json:"testClock,omitempty"`
}

// ChargeResult is what Stripe said about a charge attempt. On a decline it is
// the details of the PaymentDeclined error.
type ChargeResult struct {
	PaymentIntentID string `json:"paymentIntentId,omitempty"`
	Status          string `json:"status"`                // Stripe's PaymentIntent status, or "declined"
	DeclineCode     string `json:"declineCode,omitempty"` // Stripe's decline_code, else its error code
	Message         string `json:"message,omitempty"`
}

// RefundRequest refunds one payment in full to its original payment method.
type RefundRequest struct {
	SubscriptionID  string `json:"subscriptionId"`
	PaymentIntentID string `json:"paymentIntentId"`
	IdempotencyKey  string `json:"idempotencyKey"`
}

// RefundResult is the refund Stripe created.
type RefundResult struct {
	RefundID    string `json:"refundId"`
	AmountMinor int64  `json:"amountMinor"`
	Status      string `json:"status"`
}

// PaymentMethodRequest asks whether a payment method may be charged for a
// customer: it must be a card, and attached to that customer.
type PaymentMethodRequest struct {
	PaymentMethodID string `json:"paymentMethodId"`
	// StripeCustomerID is the customer the payment method must be attached
	// to; empty skips that check (callers from before it existed).
	StripeCustomerID string `json:"stripeCustomerId"`
}

// PaymentMethodResult describes an accepted (card) payment method.
type PaymentMethodResult struct {
	PaymentMethodID string `json:"paymentMethodId"`
	Type            string `json:"type"`
	Brand           string `json:"brand,omitempty"`
	Last4           string `json:"last4,omitempty"`
}

// FindChargeRequest asks Stripe for the PaymentIntent of one charge attempt,
// by the customer's PaymentIntents' metadata.
type FindChargeRequest struct {
	SubscriptionID   string `json:"subscriptionId"` // matched with metadata[subscription_id]
	Cycle            int    `json:"cycle"`          // matched with metadata[cycle]
	Attempt          int    `json:"attempt"`        // matched with metadata[attempt]
	StripeCustomerID string `json:"stripeCustomerId"`
	// Run, when set, must equal metadata[subscription_run], so that an
	// earlier subscription of the same account is never taken for this one.
	// A PaymentIntent without that metadata (sent before it existed) matches
	// only if its amount is AmountMinor and it was created at or after Since.
	Run         string    `json:"run,omitempty"`
	AmountMinor int64     `json:"amountMinor,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// FindChargeResult is what Stripe holds for that cycle.
type FindChargeResult struct {
	Found           bool   `json:"found"`
	PaymentIntentID string `json:"paymentIntentId,omitempty"`
	// Attempt is the metadata[attempt] of the PaymentIntent found (-1 if it
	// has none; 0 when nothing is found).
	Attempt     int    `json:"attempt"`
	Status      string `json:"status,omitempty"`      // "succeeded", "declined" or "processing"
	DeclineCode string `json:"declineCode,omitempty"` // of a declined one, as in ChargeResult
}

// Email is one message of a kind listed in the contract (trial_started, …).
type Email struct {
	SubscriptionID string            `json:"subscriptionId"`
	Kind           string            `json:"kind"`
	To             string            `json:"to"`
	Name           string            `json:"name,omitempty"`
	Locale         string            `json:"locale,omitempty"`
	Data           map[string]string `json:"data,omitempty"` // template variables
}

// PriorRequest asks for the account's closed subscriptions.
type PriorRequest struct {
	WorkflowID   string `json:"workflowId"`
	CurrentRunID string `json:"currentRunId"`
	FirstRunID   string `json:"firstRunId"`
}

// PriorSubscription is the period an earlier subscription of the account was in force.
type PriorSubscription struct {
	RunID   string    `json:"runId"`
	StartAt time.Time `json:"startAt"`
	EndAt   time.Time `json:"endAt"`
}
