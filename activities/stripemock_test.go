package activities

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/config"
)

// findStripeMock looks for the stripe-mock binary on PATH, in $GOPATH/bin
// and in ~/go/bin.
func findStripeMock() string {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startStripeMock runs stripe-mock on free ports and returns its HTTP URL.
func startStripeMock(t *testing.T) string {
	bin := findStripeMock()
	if bin == "" {
		t.Skip("stripe-mock not found on PATH, in $GOPATH/bin or ~/go/bin; install it with `go install github.com/stripe/stripe-mock@v0.203.0` to check our requests against Stripe's OpenAPI spec")
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	var out bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", httpAddr, "-https-addr", "127.0.0.1:"+strconv.Itoa(freePort(t)))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("stripe-mock output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", httpAddr, time.Second); err == nil {
			c.Close()
			return "http://" + httpAddr
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s", httpAddr)
		}
	}
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
