package activities

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
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

// seen is one request that went through the recording proxy.
type seen struct {
	method, path string
	query        url.Values
	body         string
}

// recordingProxy forwards to target and records each request.
func recordingProxy(t *testing.T, target string) (string, func() []seen) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.URL.Query(), string(body)})
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), reqs...)
	}
}

// TestStripeMockLookups checks the look-ups' requests against stripe-mock,
// which refuses parameters Stripe's OpenAPI spec does not have: the payment
// method check with a customer, and FindCharge's list of the customer's
// PaymentIntents. stripe-mock's fixtures are a card attached to no customer
// (livemode false) and PaymentIntents without our metadata.
func TestStripeMockLookups(t *testing.T) {
	base, requests := recordingProxy(t, startStripeMock(t))
	acts := New(config.Worker{StripeSecretKey: "sk_test_123", StripeAPIURL: base, SendGridAPIKey: "SG.x",
		SendGridAPIURL: config.DefaultSendGridAPIURL, EmailFrom: config.DefaultEmailFrom}, nil, nil)
	env := newEnv(acts)

	// A test shortcut is accepted for any customer; another card of no
	// customer is not.
	if err := run(t, env, acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_card_visa", StripeCustomerID: "cus_123"}, nil); err != nil {
		t.Errorf("shortcut: %v", err)
	}
	err := run(t, env, acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_1Loose", StripeCustomerID: "cus_123"}, nil)
	if ae := appError(t, err, ErrTypeInvalidPaymentMethod, true); !strings.Contains(ae.Message(), "not attached to customer cus_123") {
		t.Errorf("message %q", ae.Message())
	}

	var res FindChargeResult
	if err := run(t, env, acts.FindCharge, FindChargeRequest{SubscriptionID: "subscription-acc1", Cycle: 2, Attempt: 1, StripeCustomerID: "cus_123"}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Found {
		t.Errorf("found %+v in stripe-mock's fixtures", res)
	}

	want := []struct {
		method, path string
		query        url.Values
	}{
		{"GET", "/v1/payment_methods/pm_card_visa", url.Values{}},
		{"GET", "/v1/payment_methods/pm_1Loose", url.Values{}},
		{"GET", "/v1/payment_intents", url.Values{"customer": {"cus_123"}, "limit": {"100"}}},
	}
	got := requests()
	if len(got) < len(want) {
		t.Fatalf("requests %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.query.Encode() != w.query.Encode() || g.body != "" {
			t.Errorf("request %d: %s %s ?%s body %q, want %s %s ?%s", i, g.method, g.path, g.query.Encode(), g.body, w.method, w.path, w.query.Encode())
		}
	}
}
