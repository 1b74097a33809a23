package client

import (
	"context"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/withings-plus/subscriptions/api"
)

// TestStartSparesTheLookUpOfANewAccount: a start with an offer is first
// made allowing no earlier run of the workflow ID, marked FirstOfAccount
// (the workflow then needs no visibility look-up); when the server refuses
// it because the account had a subscription, it is made again as a later
// one, for the workflow to look up. A start without an offer needs no
// look-up at all.
func TestStartSparesTheLookUpOfANewAccount(t *testing.T) {
	reject, allow := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	for _, tc := range []struct {
		name     string
		off      bool // without FirstOfAccountStarts
		offer    string
		earlier  bool
		policies []enumspb.WorkflowIdReusePolicy
		first    []bool
	}{
		{"new account", false, api.OfferBodyScan, false, []enumspb.WorkflowIdReusePolicy{reject}, []bool{true}},
		{"returning account", false, api.OfferBodyScan, true, []enumspb.WorkflowIdReusePolicy{reject, allow}, []bool{true, false}},
		{"no offer", false, "", true, []enumspb.WorkflowIdReusePolicy{allow}, []bool{false}},
		{"option off: as before", true, api.OfferBodyScan, false, []enumspb.WorkflowIdReusePolicy{allow}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &starts{earlier: tc.earlier}
			c := New(fake, FirstOfAccountStarts())
			if tc.off {
				c = New(fake)
			}
			c.now = func() time.Time { return time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC) }
			in := api.Input{AccountID: "acc-1", Email: "ada@example.com", StripeCustomerID: "cus_1", PaymentMethodID: "pm_card_visa",
				Plan: api.PlanMonthly, Currency: api.CurrencyEUR, Offer: tc.offer}
			if _, err := c.Start(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			var first []bool
			for _, in := range fake.inputs {
				first = append(first, in.FirstOfAccount)
			}
			if !slices.Equal(fake.policies, tc.policies) || !slices.Equal(first, tc.first) {
				t.Fatalf("starts %v with firstOfAccount %v, want %v %v", fake.policies, first, tc.policies, tc.first)
			}
		})
	}
}
