package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/stripemock"
)

// TestCreateCustomersAgainstStripeMock checks the requests that make the demo
// real in Stripe's test mode against Stripe's API (stripe-mock validates them).
func TestCreateCustomersAgainstStripeMock(t *testing.T) {
	url, stop, err := stripemock.Start(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	api := activities.NewStripeAPI(config.Worker{StripeSecretKey: "sk_test_123", StripeAPIURL: url}, nil)
	scenarios := demoScenarios(86400)
	var dunning *scenario
	for _, s := range scenarios {
		if s.acc == "demo-dunning" {
			dunning = s
		}
	}
	if got := dunning.testCards(); len(got) != 1 || got[0] != "pm_card_visa" {
		t.Fatalf("the dunning scenario switches to %v, want the visa test card only", got)
	}
	if err := createCustomers(api, scenarios, newEventLog(os.Stderr)); err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		if !strings.HasPrefix(s.in.StripeCustomerID, "cus_") || !strings.HasPrefix(s.in.PaymentMethodID, "pm_") || len(s.cards) == 0 {
			t.Fatalf("%s: customer %q card %q cards %v", s.acc, s.in.StripeCustomerID, s.in.PaymentMethodID, s.cards)
		}
	}
	if dunning.card("pm_card_visa") != dunning.cards["pm_card_visa"] || dunning.card("pm_sepa_debit_demo") != "pm_sepa_debit_demo" {
		t.Fatalf("card mapping %v", dunning.cards)
	}
}
