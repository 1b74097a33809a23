package activities

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

func chargeReq(pm, key string) ChargeRequest {
	return ChargeRequest{SubscriptionID: "subscription-acc1", Cycle: 2, Attempt: 1, AmountMinor: 995, Currency: "EUR",
		StripeCustomerID: "cus_123", PaymentMethodID: pm, IdempotencyKey: key, Run: "subscription-acc1/run-1"}
}

func TestChargeSucceeds(t *testing.T) {
	h := newHarness(t, nil)
	var res ChargeResult
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "charge-acc1-2-1"), &res); err != nil {
		t.Fatal(err)
	}
	pis := h.stripe.PaymentIntents()
	if len(pis) != 1 || res.PaymentIntentID != pis[0].ID || res.Status != "succeeded" || res.DeclineCode != "" {
		t.Fatalf("result %+v, payment intents %+v", res, pis)
	}
	reqs := h.stripe.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/v1/payment_intents" || reqs[0].IdempotencyKey != "charge-acc1-2-1" {
		t.Fatalf("requests %+v", reqs)
	}
	want := map[string]string{"amount": "995", "currency": "eur", "customer": "cus_123", "payment_method": "pm_card_visa",
		"confirm": "true", "off_session": "true", "metadata[subscription_id]": "subscription-acc1", "metadata[cycle]": "2", "metadata[attempt]": "1",
		"metadata[subscription_run]": "subscription-acc1/run-1"}
	for k, v := range want {
		if got := reqs[0].Form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
}

func TestChargeDeclines(t *testing.T) {
	tests := []struct{ pm, decline string }{
		{"pm_card_chargeDeclined", "generic_decline"},
		{"pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"},
		{"pm_card_chargeDeclinedExpiredCard", "expired_card"},
		{"pm_card_chargeDeclinedFraudulent", "fraudulent"},
		{"pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"},
		{"pm_card_authenticationRequired", "authentication_required"},
	}
	for _, tt := range tests {
		t.Run(tt.pm, func(t *testing.T) {
			h := newHarness(t, nil)
			err := run(t, h.env, h.acts.Charge, chargeReq(tt.pm, "k1"), nil)
			ae := appError(t, err, ErrTypePaymentDeclined, true)
			var res ChargeResult
			if err := ae.Details(&res); err != nil {
				t.Fatalf("details: %v", err)
			}
			pis := h.stripe.PaymentIntents()
			if len(pis) != 1 || res.PaymentIntentID != pis[0].ID || res.Status != "declined" || res.DeclineCode != tt.decline || res.Message == "" {
				t.Errorf("details %+v, payment intents %+v", res, pis)
			}
			// The activity retried under the same key sees the same decline
			// and no second PaymentIntent is created.
			err = run(t, h.env, h.acts.Charge, chargeReq(tt.pm, "k1"), nil)
			appError(t, err, ErrTypePaymentDeclined, true)
			if n := len(h.stripe.PaymentIntents()); n != 1 {
				t.Errorf("%d payment intents after a retry, want 1", n)
			}
		})
	}
}

func TestChargeRetrySameKeyReplays(t *testing.T) {
	h := newHarness(t, nil)
	var first, second ChargeResult
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), &first); err != nil {
		t.Fatal(err)
	}
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), &second); err != nil {
		t.Fatal(err)
	}
	reqs := h.stripe.Requests()
	if first != second || len(h.stripe.PaymentIntents()) != 1 || len(reqs) != 2 || !reqs[1].Replayed {
		t.Errorf("first %+v second %+v requests %+v", first, second, reqs)
	}
	// A new dunning attempt has a new key and is a new charge.
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k2"), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(h.stripe.PaymentIntents()); n != 2 {
		t.Errorf("%d payment intents, want 2", n)
	}
}

// TestChargeKeyUsedWithOtherParameters: Stripe's idempotency_error (the key
// was used for a request with other parameters, which Stripe executed) is
// never a decline: it has its own non-retryable type, for the workflow to
// look the charge up.
func TestChargeKeyUsedWithOtherParameters(t *testing.T) {
	h := newHarness(t, nil)
	old := chargeReq("pm_card_visa", "k")
	old.Run = "" // sent before metadata[subscription_run] existed
	if err := run(t, h.env, h.acts.Charge, old, nil); err != nil {
		t.Fatal(err)
	}
	err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), nil)
	appError(t, err, ErrTypeIdempotencyConflict, true)
	if n := len(h.stripe.PaymentIntents()); n != 1 {
		t.Fatalf("%d payment intents, want the first only", n)
	}
}

func TestChargeServerErrorThenSuccess(t *testing.T) {
	h := newHarness(t, nil)
	h.stripe.FailNext(1, http.StatusServiceUnavailable)
	err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), nil)
	appError(t, err, ErrTypeStripeUnavailable, false)
	var res ChargeResult
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), &res); err != nil {
		t.Fatal(err)
	}
	if pis := h.stripe.PaymentIntents(); len(pis) != 1 || res.PaymentIntentID != pis[0].ID {
		t.Errorf("result %+v payment intents %+v", res, pis)
	}
}

// TestStripeServerErrors: a charge's server error is retried under its key
// only when Stripe did not save it there (Stripe-Should-Retry: true, or a
// 429 or 503 without that header); otherwise its outcome is indeterminate.
// Look-ups and payment-method checks (GETs, saved under no key) are retried.
func TestStripeServerErrors(t *testing.T) {
	tests := []struct {
		status      int
		shouldRetry string
		charge      string // the charge's error type
	}{
		{429, "", ErrTypeStripeUnavailable},
		{429, "false", ErrTypeStripeUnavailable},
		{503, "", ErrTypeStripeUnavailable},
		{500, "true", ErrTypeStripeUnavailable},
		{502, "true", ErrTypeStripeUnavailable},
		{500, "", ErrTypeChargeIndeterminate},
		{502, "", ErrTypeChargeIndeterminate},
		{500, "false", ErrTypeChargeIndeterminate},
		{503, "false", ErrTypeChargeIndeterminate},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d should-retry %q", tt.status, tt.shouldRetry), func(t *testing.T) {
			h := newHarness(t, nil)
			h.stripe.FailNextAdvising(1, tt.status, tt.shouldRetry)
			appError(t, run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), nil), tt.charge, tt.charge != ErrTypeStripeUnavailable)
			h.stripe.FailNextAdvising(1, tt.status, tt.shouldRetry)
			appError(t, run(t, h.env, h.acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_card_visa"}, nil), ErrTypeStripeUnavailable, false)
			h.stripe.FailNextAdvising(1, tt.status, tt.shouldRetry)
			req := FindChargeRequest{SubscriptionID: "subscription-acc1", StripeCustomerID: "cus_123", Cycle: 1}
			appError(t, run(t, h.env, h.acts.FindCharge, req, nil), ErrTypeStripeUnavailable, false)
			if n := len(h.stripe.PaymentIntents()); n != 0 {
				t.Errorf("%d payment intents", n)
			}
		})
	}
}

// TestChargeSavedServerError: a 500 Stripe saved under the key is replayed
// to every retry under it, whether the charge was made or not; the
// activity says the outcome is indeterminate each time, and FindCharge
// tells the two apart.
func TestChargeSavedServerError(t *testing.T) {
	for _, fault := range []string{stripefake.FaultSaved, stripefake.FaultSavedEmpty} {
		t.Run(fault, func(t *testing.T) {
			h := newHarness(t, nil)
			h.stripe.FailNextCharges(1, fault)
			req := chargeReq("pm_card_visa", "k")
			for range 2 { // the retry gets the saved answer
				appError(t, run(t, h.env, h.acts.Charge, req, nil), ErrTypeChargeIndeterminate, true)
			}
			reqs := h.stripe.Requests()
			if last := reqs[len(reqs)-1]; !last.Replayed {
				t.Errorf("the retry under the key was not answered from what Stripe saved: %+v", last)
			}
			made := fault == stripefake.FaultSaved
			if n := len(h.stripe.PaymentIntents()); n != map[bool]int{true: 1, false: 0}[made] {
				t.Fatalf("%d payment intents, want the charge made: %v", n, made)
			}
			var found FindChargeResult
			look := FindChargeRequest{SubscriptionID: req.SubscriptionID, StripeCustomerID: req.StripeCustomerID,
				Cycle: req.Cycle, Attempt: req.Attempt, Run: req.Run}
			if err := run(t, h.env, h.acts.FindCharge, look, &found); err != nil {
				t.Fatal(err)
			}
			if found.Found != made || (made && found.Status != "succeeded") {
				t.Errorf("found %+v, want found=%v succeeded", found, made)
			}
		})
	}
}

// TestRefundSavedServerError: a refund answered with a server error saved
// under its key is looked up, then asked again under a renewed key: the
// PaymentIntent is refunded exactly once.
func TestRefundSavedServerError(t *testing.T) {
	h := newHarness(t, nil)
	var charged ChargeResult
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "k"), &charged); err != nil {
		t.Fatal(err)
	}
	h.stripe.FailNextAdvising(1, http.StatusInternalServerError, "false")
	var res RefundResult
	req := RefundRequest{SubscriptionID: "subscription-acc1", PaymentIntentID: charged.PaymentIntentID, IdempotencyKey: "r"}
	if err := run(t, h.env, h.acts.Refund, req, &res); err != nil {
		t.Fatal(err)
	}
	refunds := h.stripe.Refunds()
	if len(refunds) != 1 || res.RefundID != refunds[0].ID {
		t.Fatalf("result %+v refunds %+v, want exactly one", res, refunds)
	}
	// Asked again (a workflow retry): the refund made is found, not made twice.
	if err := run(t, h.env, h.acts.Refund, RefundRequest{SubscriptionID: req.SubscriptionID, PaymentIntentID: req.PaymentIntentID, IdempotencyKey: "r2"}, &res); err != nil || res.RefundID != refunds[0].ID {
		t.Fatalf("second refund %+v %v", res, err)
	}
	if n := len(h.stripe.Refunds()); n != 1 {
		t.Errorf("%d refunds", n)
	}
}

func TestStripeNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	acts := New(config.Worker{StripeSecretKey: stripeKey, StripeAPIURL: srv.URL, SendGridAPIKey: sendgridKey,
		SendGridAPIURL: srv.URL, EmailFrom: config.DefaultEmailFrom}, nil, nil)
	env := newEnv(acts)
	appError(t, run(t, env, acts.Charge, chargeReq("pm_card_visa", "k"), nil), ErrTypeStripeUnavailable, false)
	appError(t, run(t, env, acts.SendEmail, Email{SubscriptionID: "s", Kind: "access_restored", To: "a@example.com"}, nil), ErrTypeSendGridUnavailable, false)
}

func TestChargeInvalidRequests(t *testing.T) {
	tests := []struct {
		name    string
		req     ChargeRequest
		errType string
	}{
		{"unknown payment method", chargeReq("pm_missing_1", "k"), ErrTypeStripeRefused},
		{"non-card payment method", chargeReq("pm_sepa_debit_1", "k"), ErrTypePaymentDeclined},
		{"bad currency", func() ChargeRequest { r := chargeReq("pm_card_visa", "k"); r.Currency = "EURO"; return r }(), ErrTypeStripeRefused},
		{"no idempotency key", chargeReq("pm_card_visa", ""), ErrTypeBadRequest},
		{"zero amount", func() ChargeRequest { r := chargeReq("pm_card_visa", "k"); r.AmountMinor = 0; return r }(), ErrTypeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			appError(t, run(t, h.env, h.acts.Charge, tt.req, nil), tt.errType, true)
			if n := len(h.stripe.PaymentIntents()); n != 0 {
				t.Errorf("%d payment intents", n)
			}
		})
	}
}

func TestRefund(t *testing.T) {
	h := newHarness(t, nil)
	var charged ChargeResult
	if err := run(t, h.env, h.acts.Charge, chargeReq("pm_card_visa", "c"), &charged); err != nil {
		t.Fatal(err)
	}
	req := RefundRequest{SubscriptionID: "subscription-acc1", PaymentIntentID: charged.PaymentIntentID, IdempotencyKey: "refund-1"}
	var first, replay, again RefundResult
	if err := run(t, h.env, h.acts.Refund, req, &first); err != nil {
		t.Fatal(err)
	}
	if first.AmountMinor != 995 || first.Status != "succeeded" || first.RefundID == "" {
		t.Fatalf("refund %+v", first)
	}
	if err := run(t, h.env, h.acts.Refund, req, &replay); err != nil || replay != first {
		t.Fatalf("replay %+v %v", replay, err)
	}
	// Under a new key Stripe says charge_already_refunded: the existing refund is the result.
	req.IdempotencyKey = "refund-2"
	if err := run(t, h.env, h.acts.Refund, req, &again); err != nil || again != first {
		t.Fatalf("second refund %+v %v", again, err)
	}
	if n := len(h.stripe.Refunds()); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}
	if rq := h.stripe.Requests()[1]; rq.Path != "/v1/refunds" || rq.Form.Get("payment_intent") != charged.PaymentIntentID || rq.IdempotencyKey != "refund-1" {
		t.Errorf("refund request %+v", rq)
	}
	appError(t, run(t, h.env, h.acts.Refund, RefundRequest{PaymentIntentID: "pi_unknown", IdempotencyKey: "r"}, nil), ErrTypeStripeRefused, true)
	appError(t, run(t, h.env, h.acts.Refund, RefundRequest{PaymentIntentID: "pi_1"}, nil), ErrTypeBadRequest, true)
}

func TestCheckPaymentMethod(t *testing.T) {
	tests := []struct {
		id, brand, errType, msg string
	}{
		{id: "pm_card_visa", brand: "visa"},
		{id: "pm_card_mastercard", brand: "mastercard"},
		{id: "pm_sepa_debit_de", errType: ErrTypeInvalidPaymentMethod, msg: "payment method pm_sepa_debit_de is a sepa_debit, only card payment methods are accepted"},
		{id: "pm_paypal_1", errType: ErrTypeInvalidPaymentMethod, msg: "payment method pm_paypal_1 is a paypal, only card payment methods are accepted"},
		{id: "pm_missing", errType: ErrTypeInvalidPaymentMethod, msg: "payment method pm_missing does not exist"},
		{id: "", errType: ErrTypeInvalidPaymentMethod, msg: "payment method id is empty"},
	}
	h := newHarness(t, nil)
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			var res PaymentMethodResult
			err := run(t, h.env, h.acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: tt.id}, &res)
			if tt.errType == "" {
				if err != nil || res.Type != "card" || res.Brand != tt.brand || res.PaymentMethodID != tt.id || res.Last4 == "" {
					t.Fatalf("result %+v err %v", res, err)
				}
				return
			}
			if ae := appError(t, err, tt.errType, true); ae.Message() != tt.msg {
				t.Errorf("message %q, want %q", ae.Message(), tt.msg)
			}
		})
	}
}

// echoAuth answers every request with an error that repeats the credentials,
// to prove they are scrubbed from what the activities return.
func echoAuth(status int, sendgrid bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if sendgrid {
			fmt.Fprintf(w, `{"errors":[{"message":"bad key %s","field":null}]}`, r.Header.Get("Authorization"))
			return
		}
		fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: %s"}}`, r.Header.Get("Authorization"))
	})
}

func TestSecretsNeverInErrors(t *testing.T) {
	for _, status := range []int{400, 401, 500} {
		ss := httptest.NewServer(echoAuth(status, false))
		ms := httptest.NewServer(echoAuth(status, true))
		defer ss.Close()
		defer ms.Close()
		acts := New(config.Worker{StripeSecretKey: stripeKey, StripeAPIURL: ss.URL, SendGridAPIKey: sendgridKey,
			SendGridAPIURL: ms.URL, EmailFrom: config.DefaultEmailFrom}, nil, nil)
		env := newEnv(acts)
		// run checks every returned error for the secrets.
		for _, err := range []error{
			run(t, env, acts.Charge, chargeReq("pm_card_visa", "k"), nil),
			run(t, env, acts.Refund, RefundRequest{PaymentIntentID: "pi_1", IdempotencyKey: "r"}, nil),
			run(t, env, acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_1"}, nil),
			run(t, env, acts.SendEmail, Email{SubscriptionID: "s", Kind: "access_restored", To: "a@example.com"}, nil),
		} {
			if err == nil {
				t.Errorf("status %d: no error", status)
			}
		}
	}
}

func TestChargeOutcome(t *testing.T) {
	acts := New(config.Worker{StripeSecretKey: stripeKey}, nil, nil)
	lastErr := &stripe.Error{Code: stripe.ErrorCodeCardDeclined, DeclineCode: "do_not_honor", Msg: "Your card was declined."}
	tests := []struct {
		pi      stripe.PaymentIntent
		errType string
		decline string
	}{
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusSucceeded}},
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusRequiresAction}, errType: ErrTypePaymentDeclined, decline: "authentication_required"},
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusRequiresPaymentMethod, LastPaymentError: lastErr}, errType: ErrTypePaymentDeclined, decline: "do_not_honor"},
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusCanceled}, errType: ErrTypePaymentDeclined, decline: "canceled"},
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusProcessing}, errType: ErrTypeStripeUnavailable},
		{pi: stripe.PaymentIntent{Status: stripe.PaymentIntentStatusRequiresCapture}, errType: ErrTypeStripeRefused},
	}
	for _, tt := range tests {
		t.Run(string(tt.pi.Status), func(t *testing.T) {
			tt.pi.ID = "pi_x"
			res, err := acts.chargeOutcome("charge", &tt.pi)
			if tt.errType == "" {
				if err != nil || res.PaymentIntentID != "pi_x" || res.Status != "succeeded" {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			ae := appError(t, err, tt.errType, tt.errType != ErrTypeStripeUnavailable)
			if tt.decline != "" {
				var details ChargeResult
				if err := ae.Details(&details); err != nil || details.DeclineCode != tt.decline || details.PaymentIntentID != "pi_x" || details.Status != "declined" {
					t.Errorf("details %+v %v", details, err)
				}
			}
		})
	}
}

func TestCheckPaymentMethodCustomer(t *testing.T) {
	h := newHarness(t, nil)
	visaA, err := h.stripe.AttachPaymentMethod("pm_card_visa", "cus_A")
	if err != nil {
		t.Fatal(err)
	}
	// As the local demo does at Stripe: stripe-go's attach, understood by the stand-in.
	mine, err := h.acts.stripe.PaymentMethods.Attach("pm_1Mine", &stripe.PaymentMethodAttachParams{Customer: stripe.String("cus_A")})
	if err != nil || mine.ID != "pm_1Mine" || mine.Customer == nil || mine.Customer.ID != "cus_A" {
		t.Fatalf("attach with stripe-go: %+v %v", mine, err)
	}
	if _, err := h.stripe.AttachPaymentMethod("pm_sepa_debit_A", "cus_A"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pm, customer, msg string
	}{
		{name: "own copy of a test card", pm: visaA, customer: "cus_A"},
		{name: "own card attached in place", pm: "pm_1Mine", customer: "cus_A"},
		{name: "test shortcut, any customer", pm: "pm_card_visa", customer: "cus_B"},
		{name: "declining test shortcut", pm: "pm_card_chargeDeclined", customer: "cus_B"},
		{name: "no customer given: not checked", pm: visaA},
		{name: "another customer's card", pm: visaA, customer: "cus_B",
			msg: "payment method " + visaA + " is not attached to customer cus_B (it is attached to another customer)"},
		{name: "nobody's card", pm: "pm_1Loose", customer: "cus_A",
			msg: "payment method pm_1Loose is not attached to customer cus_A (it is attached to no customer)"},
		{name: "own card, not a card", pm: "pm_sepa_debit_A", customer: "cus_A",
			msg: "payment method pm_sepa_debit_A is a sepa_debit, only card payment methods are accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res PaymentMethodResult
			err := run(t, h.env, h.acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: tt.pm, StripeCustomerID: tt.customer}, &res)
			if tt.msg == "" {
				if err != nil || res.PaymentMethodID != tt.pm || res.Type != "card" {
					t.Fatalf("result %+v err %v", res, err)
				}
				return
			}
			if ae := appError(t, err, ErrTypeInvalidPaymentMethod, true); ae.Message() != tt.msg {
				t.Errorf("message %q, want %q", ae.Message(), tt.msg)
			}
		})
	}
	// What the check prevents: Stripe refuses the charge of another
	// customer's card.
	req := chargeReq(visaA, "k")
	req.StripeCustomerID = "cus_B"
	appError(t, run(t, h.env, h.acts.Charge, req, nil), ErrTypePaymentDeclined, true)
}

// charged creates PaymentIntents at the stand-in as Charge does, for the
// look-ups of FindCharge.
func charged(t *testing.T, h *harness, sub string, cycle, attempt int, pm string) string {
	t.Helper()
	req := ChargeRequest{SubscriptionID: sub, Cycle: cycle, Attempt: attempt, AmountMinor: 995, Currency: "EUR",
		StripeCustomerID: "cus_A", PaymentMethodID: pm, IdempotencyKey: fmt.Sprintf("%s-%d-%d-%s-%d", sub, cycle, attempt, pm, len(h.stripe.PaymentIntents()))}
	var res ChargeResult
	if err := run(t, h.env, h.acts.Charge, req, &res); err != nil {
		ae := appError(t, err, ErrTypePaymentDeclined, true)
		if err := ae.Details(&res); err != nil {
			t.Fatal(err)
		}
	}
	return res.PaymentIntentID
}

func TestFindCharge(t *testing.T) {
	const sub = "subscription-acc1"
	h := newHarness(t, nil)
	// Cycle 1: declined twice, then paid on attempt 2.
	c1a0 := charged(t, h, sub, 1, 0, "pm_card_chargeDeclinedInsufficientFunds")
	charged(t, h, sub, 1, 1, "pm_card_chargeDeclined")
	c1a2 := charged(t, h, sub, 1, 2, "pm_card_visa")
	// Cycle 2: attempt 0 declined once, then (its key forgotten) declined again.
	charged(t, h, sub, 2, 0, "pm_card_chargeDeclined")
	c2a0 := charged(t, h, sub, 2, 0, "pm_card_chargeDeclinedExpiredCard")
	c2a1 := charged(t, h, sub, 2, 1, "pm_card_authenticationRequired")
	// Cycle 3 of another subscription of the customer, and of another customer.
	charged(t, h, "subscription-other", 3, 0, "pm_card_visa")
	other := ChargeRequest{SubscriptionID: sub, Cycle: 3, AmountMinor: 995, Currency: "EUR", StripeCustomerID: "cus_B",
		PaymentMethodID: "pm_card_visa", IdempotencyKey: "other-customer"}
	if err := run(t, h.env, h.acts.Charge, other, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		cycle, attempt int
		want           FindChargeResult
	}{
		{"succeeded on this attempt", 1, 2, FindChargeResult{Found: true, PaymentIntentID: c1a2, Attempt: 2, Status: "succeeded"}},
		{"succeeded on a later attempt wins", 1, 0, FindChargeResult{Found: true, PaymentIntentID: c1a2, Attempt: 2, Status: "succeeded"}},
		{"succeeded on an attempt never asked about", 1, 7, FindChargeResult{Found: true, PaymentIntentID: c1a2, Attempt: 2, Status: "succeeded"}},
		{"declined: the newest of the attempt", 2, 0, FindChargeResult{Found: true, PaymentIntentID: c2a0, Attempt: 0, Status: "declined", DeclineCode: "expired_card"}},
		{"declined for authentication", 2, 1, FindChargeResult{Found: true, PaymentIntentID: c2a1, Attempt: 1, Status: "declined", DeclineCode: "authentication_required"}},
		{"attempt never made", 2, 2, FindChargeResult{}},
		{"another subscription's cycle", 3, 0, FindChargeResult{}},
		{"cycle never charged", 4, 0, FindChargeResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got FindChargeResult
			req := FindChargeRequest{SubscriptionID: sub, Cycle: tt.cycle, Attempt: tt.attempt, StripeCustomerID: "cus_A"}
			if err := run(t, h.env, h.acts.FindCharge, req, &got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if c1a0 == "" {
		t.Fatal("no PaymentIntent for a decline")
	}
	reqs := h.stripe.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "GET" || last.Path != "/v1/payment_intents" || last.Form.Get("customer") != "cus_A" || last.Form.Get("limit") != "100" {
		t.Errorf("list request %+v", last)
	}
}

// TestFindChargeOfThisRunOnly: the workflow ID is reused by an account's
// successive subscriptions; the look-up takes only this run's charges (by
// metadata[subscription_run]), and a charge sent before that metadata
// existed only if amount and creation time fit.
func TestFindChargeOfThisRunOnly(t *testing.T) {
	const sub = "subscription-acc1"
	h := newHarness(t, nil)
	chargeRun := func(subRun string, amount int64, key string) string {
		req := ChargeRequest{SubscriptionID: sub, Cycle: 1, AmountMinor: amount, Currency: "EUR",
			StripeCustomerID: "cus_A", PaymentMethodID: "pm_card_visa", IdempotencyKey: key, Run: subRun}
		var res ChargeResult
		if err := run(t, h.env, h.acts.Charge, req, &res); err != nil {
			t.Fatal(err)
		}
		return res.PaymentIntentID
	}
	earlier := chargeRun(sub+"/run-old", 9950, "old")
	legacy := chargeRun("", 995, "legacy") // sent before subscription_run existed
	since := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		run    string
		amount int64
		since  time.Time
		want   string
	}{
		{"an earlier subscription's charge is not this one's", sub + "/run-new", 12345, since, ""},
		{"a legacy charge of the same amount, made since the start", sub + "/run-new", 995, since, legacy},
		{"a legacy charge made before the start", sub + "/run-new", 995, time.Now().Add(time.Hour), ""},
		{"this run's own charge", sub + "/run-old", 0, since, earlier},
		{"no run asked: the newest of the subscription ID", "", 0, since, legacy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got FindChargeResult
			req := FindChargeRequest{SubscriptionID: sub, Cycle: 1, StripeCustomerID: "cus_A", Run: tc.run, AmountMinor: tc.amount, Since: tc.since}
			if err := run(t, h.env, h.acts.FindCharge, req, &got); err != nil {
				t.Fatal(err)
			}
			if got.PaymentIntentID != tc.want || got.Found != (tc.want != "") {
				t.Fatalf("found %+v, want %q", got, tc.want)
			}
		})
	}
}

// TestFindChargePages: the matching PaymentIntents are found behind pages
// of others, and the iterator asks for the pages Stripe's way.
func TestFindChargePages(t *testing.T) {
	h := newHarness(t, nil)
	paid := charged(t, h, "subscription-acc1", 1, 0, "pm_card_visa")
	for i := range 230 {
		charged(t, h, "subscription-acc1", 2+i, 0, "pm_card_visa")
	}
	var got FindChargeResult
	req := FindChargeRequest{SubscriptionID: "subscription-acc1", Cycle: 1, StripeCustomerID: "cus_A"}
	if err := run(t, h.env, h.acts.FindCharge, req, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Found || got.PaymentIntentID != paid {
		t.Fatalf("got %+v, want %s", got, paid)
	}
	var lists []stripefake.Request
	for _, r := range h.stripe.Requests() {
		if r.Method == "GET" {
			lists = append(lists, r)
		}
	}
	if len(lists) != 3 || lists[0].Form.Get("starting_after") != "" || lists[1].Form.Get("starting_after") == "" ||
		lists[2].Form.Get("starting_after") == lists[1].Form.Get("starting_after") {
		t.Errorf("list requests %+v", lists)
	}
}

// listServer answers GET /v1/payment_intents with the pages given, in turn
// (a status instead of a page answers that status).
func listServer(t *testing.T, pages ...any) string {
	t.Helper()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n >= len(pages) {
			t.Errorf("request %d for %s: no page left", n, r.URL)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		page := pages[n]
		n++
		if status, ok := page.(int); ok {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"api_error","message":"HTTP %d"}}`, status)
			return
		}
		fmt.Fprint(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func piJSON(id, status, attempt, lastErr string) string {
	if lastErr == "" {
		lastErr = "null"
	}
	return fmt.Sprintf(`{"id":%q,"object":"payment_intent","status":%q,"last_payment_error":%s,
		"metadata":{"subscription_id":"subscription-acc1","cycle":"1","attempt":%q}}`, id, status, lastErr, attempt)
}

func listJSON(hasMore bool, pis ...string) string {
	return fmt.Sprintf(`{"object":"list","url":"/v1/payment_intents","has_more":%v,"data":[%s]}`, hasMore, strings.Join(pis, ","))
}

func TestFindChargeStatuses(t *testing.T) {
	declined := `{"type":"card_error","code":"card_declined","decline_code":"do_not_honor","message":"Your card was declined."}`
	tests := []struct {
		name    string
		pages   []any
		want    FindChargeResult
		errType string
	}{
		{"requires_payment_method", []any{listJSON(false, piJSON("pi_1", "requires_payment_method", "0", declined))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "declined", DeclineCode: "do_not_honor"}, ""},
		{"requires_payment_method without error", []any{listJSON(false, piJSON("pi_1", "requires_payment_method", "0", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "declined", DeclineCode: "requires_payment_method"}, ""},
		{"requires_action", []any{listJSON(false, piJSON("pi_1", "requires_action", "0", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "declined", DeclineCode: "authentication_required"}, ""},
		{"canceled", []any{listJSON(false, piJSON("pi_1", "canceled", "0", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "declined", DeclineCode: "canceled"}, ""},
		{"processing", []any{listJSON(false, piJSON("pi_1", "processing", "0", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "processing"}, ""},
		{"requires_confirmation", []any{listJSON(false, piJSON("pi_1", "requires_confirmation", "0", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Status: "processing"}, ""},
		{"succeeded without attempt metadata", []any{listJSON(false, piJSON("pi_1", "succeeded", "", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Attempt: -1, Status: "succeeded"}, ""},
		{"succeeded on a second page beats the attempt on the first", []any{
			listJSON(true, piJSON("pi_2", "processing", "0", "")), listJSON(false, piJSON("pi_1", "succeeded", "3", ""))},
			FindChargeResult{Found: true, PaymentIntentID: "pi_1", Attempt: 3, Status: "succeeded"}, ""},
		{"requires_capture", []any{listJSON(false, piJSON("pi_1", "requires_capture", "0", ""))}, FindChargeResult{}, ErrTypeStripeRefused},
		{"500", []any{500}, FindChargeResult{}, ErrTypeStripeUnavailable},
		{"429", []any{429}, FindChargeResult{}, ErrTypeStripeUnavailable},
		// A page that fails after the attempt was seen is no answer: a
		// succeeded one could be on it.
		{"later page fails", []any{listJSON(true, piJSON("pi_2", "requires_payment_method", "0", declined)), 503}, FindChargeResult{}, ErrTypeStripeUnavailable},
		{"400", []any{400}, FindChargeResult{}, ErrTypeStripeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts := New(config.Worker{StripeSecretKey: stripeKey, StripeAPIURL: listServer(t, tt.pages...)}, nil, nil)
			var got FindChargeResult
			err := run(t, newEnv(acts), acts.FindCharge, FindChargeRequest{SubscriptionID: "subscription-acc1", Cycle: 1, StripeCustomerID: "cus_A"}, &got)
			if tt.errType != "" {
				appError(t, err, tt.errType, tt.errType != ErrTypeStripeUnavailable)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestFindChargeBadRequests(t *testing.T) {
	h := newHarness(t, nil)
	for _, req := range []FindChargeRequest{
		{Cycle: 1, StripeCustomerID: "cus_A"},
		{SubscriptionID: "subscription-acc1", Cycle: 1},
		{SubscriptionID: "subscription-acc1", Cycle: -1, StripeCustomerID: "cus_A"},
		{SubscriptionID: "subscription-acc1", Cycle: 1, Attempt: -1, StripeCustomerID: "cus_A"},
	} {
		appError(t, run(t, h.env, h.acts.FindCharge, req, nil), ErrTypeBadRequest, true)
	}
	if n := len(h.stripe.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestCheckPaymentMethodWithAnotherAccountsKey: a worker whose key is of
// another account sees neither the card nor the customer: that is our
// mistake (StripeRefused), never the customer's card refused as missing.
func TestCheckPaymentMethodWithAnotherAccountsKey(t *testing.T) {
	h := newHarness(t, nil)
	h.stripe.SetAccountKey("sk_test_the_customers_account")
	err := run(t, h.env, h.acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_1Mine", StripeCustomerID: "cus_A"}, nil)
	if ae := appError(t, err, ErrTypeStripeRefused, true); !strings.Contains(ae.Message(), "another account or mode") {
		t.Errorf("message %q", ae.Message())
	}
	// With the account's key, a payment method that does not exist is the customer's.
	h.stripe.SetAccountKey("")
	err = run(t, h.env, h.acts.CheckPaymentMethod, PaymentMethodRequest{PaymentMethodID: "pm_missing", StripeCustomerID: "cus_A"}, nil)
	appError(t, err, ErrTypeInvalidPaymentMethod, true)
}

// TestScrubRemovesURLUserInfo: a transport error names the URL it failed
// on, with its user name (net/http drops only the password): never in what
// an activity returns.
func TestScrubRemovesURLUserInfo(t *testing.T) {
	a := New(config.Worker{StripeSecretKey: "sk_test_1", SendGridAPIKey: "SG.x"}, nil, nil)
	got := a.scrub(`Post "https://sk_test_other:@api.example.com/v1/payment_intents": dial tcp: connection refused; see https://user@host/x`)
	if strings.Contains(got, "sk_test_other") || strings.Contains(got, "user@") || !strings.Contains(got, "https://[REDACTED]@api.example.com/v1/payment_intents") {
		t.Errorf("scrubbed: %s", got)
	}
}

// TestLiveKeyNeverChargesATestClock: a worker with a live key refuses to
// charge a subscription on a test clock (a refusal of ours, nothing sent to
// Stripe), and charges one on real time.
func TestLiveKeyNeverChargesATestClock(t *testing.T) {
	h := newHarness(t, nil)
	cfg := h.cfg
	cfg.StripeSecretKey = "sk_live_fake"
	acts := New(cfg, nil, nil)
	env := newEnv(acts)
	req := chargeReq("pm_card_visa", "k")
	req.TestClock = true
	err := run(t, env, acts.Charge, req, nil)
	if ae := appError(t, err, ErrTypeStripeRefused, true); !strings.Contains(ae.Message(), "test clock") {
		t.Errorf("message %q", ae.Message())
	}
	if n := len(h.stripe.Requests()); n != 0 {
		t.Fatalf("%d requests reached Stripe", n)
	}
	req.TestClock = false
	if err := run(t, env, acts.Charge, req, nil); err != nil {
		t.Fatalf("a live worker does not charge a subscription on real time: %v", err)
	}
	// A test key charges a test clock.
	req.TestClock, req.IdempotencyKey = true, "k2"
	if err := run(t, h.env, h.acts.Charge, req, nil); err != nil {
		t.Fatalf("a test worker does not charge a test clock: %v", err)
	}
}
