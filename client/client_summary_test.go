package client

import (
	"strings"
	"testing"

	"github.com/withings-plus/subscriptions/api"
)

func TestStartSummaryHoldsNoPersonalData(t *testing.T) {
	in := api.Input{AccountID: "acc-7", Email: "ada@example.com", Name: "Ada Lovelace", StripeCustomerID: "cus_secret",
		PaymentMethodID: "pm_secret", Plan: api.PlanAnnual, Currency: api.CurrencyGBP, Offer: api.OfferScanwatch2,
		TestClock: &api.TestClock{StartsAt: "2026-01-01T00:00:00Z", Speedup: 86400}}
	sum, det := StartSummary(in), StartDetails(in)
	if sum != "annual subscription of account acc-7, 99.50 GBP, offer scanwatch-2" {
		t.Errorf("summary %q", sum)
	}
	for _, secret := range []string{"ada@", "Ada", "cus_", "pm_"} {
		if strings.Contains(sum+det, secret) {
			t.Errorf("%q in summary or details: %q %q", secret, sum, det)
		}
	}
	if !strings.Contains(det, "scanwatch-2") || !strings.Contains(det, "86400") {
		t.Errorf("details %q", det)
	}
}
