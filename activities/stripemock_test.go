package activities

import (
	"context"
	"os"
	"testing"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/stripemock"
)

// startStripeMock runs stripe-mock (built once with go install) and returns its HTTP URL.
func startStripeMock(t *testing.T) string {
	t.Helper()
	url, stop, err := stripemock.Start(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

// TestAgainstStripeMock sends our three Stripe requests to stripe-mock, which
// validates parameters against Stripe's OpenAPI spec and answers with
// fixtures. Its PaymentIntent fixture has status requires_payment_method, so
// the charge comes back as a decline carrying the PaymentIntent: what matters
// is that stripe-mock accepted the request (no StripeInvalidRequest).
func TestAgainstStripeMock(t *testing.T) {
	url := startStripeMock(t)
	acts := New(config.Worker{StripeSecretKey: "sk_test_123", StripeAPIURL: url, SendGridAPIKey: "SG.x",
		SendGridAPIURL: config.DefaultSendGridAPIURL, EmailFrom: config.DefaultEmailFrom}, nil, nil)
	env := newEnv(acts)

	var charged ChargeResult
	err := run(t, env, acts.Charge, chargeReq("pm_card_visa", "stripe-mock-charge"), &charged)
	if err != nil {
		ae := appError(t, err, ErrTypePaymentDeclined, true)
		if err := ae.Details(&charged); err != nil {
			t.Fatal(err)
		}
	}
	if len(charged.PaymentIntentID) < 4 || charged.PaymentIntentID[:3] != "pi_" {
		t.Fatalf("charge result %+v", charged)
	}

	var refunded RefundResult
	if err := run(t, env, acts.Refund, RefundRequest{SubscriptionID: "subscription-acc1", PaymentIntentID: charged.PaymentIntentID,
		IdempotencyKey: "stripe-mock-refund"}, &refunded); err != nil {
		t.Fatal(err)
	}
	if refunded.RefundID == "" || refunded.Status == "" {
		t.Errorf("refund result %+v", refunded)
	}

	// The look-ups of the edge cases: the existing refunds of a PaymentIntent
	// (after charge_already_refunded) and a PaymentIntent by id (processing).
	if res, err := acts.existingRefund(context.Background(), "lookup", charged.PaymentIntentID); err != nil || res.RefundID == "" {
		t.Errorf("existing refund: %+v %v", res, err)
	}
	if _, err := acts.stripe.PaymentIntents.Get(charged.PaymentIntentID, nil); err != nil {
		t.Errorf("payment intent by id: %v", err)
	}

	var pm PaymentMethodResult
	if err := run(t, env, acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_card_visa"}, &pm); err != nil {
		t.Fatal(err)
	}
	if pm.Type != "card" || pm.Brand == "" {
		t.Errorf("payment method %+v", pm)
	}
}
