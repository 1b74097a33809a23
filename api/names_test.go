package api_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// The names below are fixed by CONTRACT.md section 2: backends and ops rely on them.

func TestTemporalNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{api.TaskQueue, "subscriptions"},
		{api.WorkflowType, "Subscription"},
		{api.WorkflowID("acc_42"), "subscription-acc_42"},
		{api.UpdateCancel, "cancel"},
		{api.UpdateWithdraw, "withdraw"},
		{api.UpdatePaymentMethod, "updatePaymentMethod"},
		{api.UpdateChangePlan, "changePlan"},
		{api.UpdateSchedulePriceChange, "schedulePriceChange"},
		{api.UpdateTerminate, "terminate"},
		{api.SignalCancel, "cancel"},
		{api.SignalWithdraw, "withdraw"},
		{api.QueryState, "state"},
		{api.ErrTypeInvalidInput, "InvalidInput"},
		{api.StatusTrialing, "trialing"},
		{api.StatusActive, "active"},
		{api.StatusPastDue, "past_due"},
		{api.StatusSuspended, "suspended"},
		{api.StatusCanceling, "canceling"},
		{api.StatusEnded, "ended"},
		{api.EndCanceled, "canceled"},
		{api.EndWithdrawn, "withdrawn"},
		{api.EndTerminated, "terminated"},
		{api.PaymentSucceeded, "succeeded"},
		{api.PaymentFailed, "failed"},
		{api.PaymentRefunded, "refunded"},
		{api.PlanMonthly, "monthly"},
		{api.PlanAnnual, "annual"},
		{api.CurrencyEUR, "EUR"},
		{api.CurrencyUSD, "USD"},
		{api.CurrencyGBP, "GBP"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSearchAttributes(t *testing.T) {
	want := map[string]string{
		"SubscriptionStatus": "Keyword",
		"AccountId":          "Keyword",
		"Plan":               "Keyword",
		"AccessActive":       "Bool",
		"NextChargeAt":       "Datetime",
		"OutstandingMinor":   "Int",
		"SettlementStatus":   "Keyword", // an addition
		"ChargeIssue":        "Keyword", // an addition
	}
	if got := api.SearchAttributeTypes(); !maps.Equal(got, want) {
		t.Fatalf("SearchAttributeTypes() = %v, want %v", got, want)
	}
	for _, name := range []string{api.SASubscriptionStatus, api.SAAccountID, api.SAPlan, api.SAAccessActive, api.SANextChargeAt, api.SAOutstandingMinor, api.SASettlementStatus, api.SAChargeIssue} {
		if _, ok := want[name]; !ok {
			t.Errorf("search attribute constant %q is not in the contract", name)
		}
	}
}

func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

func TestUpdateShapes(t *testing.T) {
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    any
		want []string // keys the contract fixes (others may be added)
	}{
		{"cancel argument", api.CancelRequest{Reason: "x"}, []string{"reason"}},
		{"cancel result", api.CancelResult{Status: "canceling", AccessUntil: ts}, []string{"accessUntil", "status"}},
		{"withdraw result", api.WithdrawResult{RefundIDs: []string{}}, []string{"currency", "refundIds", "refundedMinor"}},
		{"updatePaymentMethod argument", api.UpdatePaymentMethodRequest{}, []string{"paymentMethodId"}},
		{"updatePaymentMethod result", api.UpdatePaymentMethodResult{}, []string{"outstandingMinor", "status"}},
		{"changePlan argument", api.ChangePlanRequest{}, []string{"plan"}},
		{"changePlan result", api.ChangePlanResult{}, []string{"effectiveAt"}},
		{"schedulePriceChange argument", api.PriceChangeRequest{}, []string{"effectiveAt", "priceMinor"}},
		{"schedulePriceChange result", api.PriceChangeResult{}, []string{"appliesFrom"}},
		{"terminate argument", api.TerminateRequest{}, []string{"reason"}},
		{"terminate result", api.TerminateResult{}, []string{"status"}},
		{"payment", api.Payment{}, []string{"amountMinor", "at", "currency", "cycle", "paymentIntentId", "status"}},
		{"state", api.State{}, []string{"accessActive", "accessUntil", "contractStartAt", "currency", "cycle", "endReason",
			"nextChargeAt", "now", "offer", "outstandingMinor", "payments", "plan", "priceMinor", "rejected", "status",
			"trialEndsAt", "trialGranted", "trialIneligibleReason"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := jsonKeys(t, tc.v)
			for _, k := range tc.want {
				if !slices.Contains(got, k) {
					t.Errorf("JSON keys %v lack %q", got, k)
				}
			}
		})
	}
	// The withdraw argument is an empty object.
	if b, _ := json.Marshal(api.WithdrawRequest{}); string(b) != "{}" {
		t.Errorf("withdraw argument %s", b)
	}
	// A cancel without reason is {} and decodes from {}.
	if b, _ := json.Marshal(api.CancelRequest{}); string(b) != "{}" {
		t.Errorf("cancel argument %s", b)
	}
	var pc api.PriceChangeRequest
	if err := json.Unmarshal([]byte(`{"priceMinor":1295,"effectiveAt":"2026-04-01T00:00:00Z"}`), &pc); err != nil ||
		pc.PriceMinor != 1295 || !pc.EffectiveAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("schedulePriceChange argument decoded as %+v, %v", pc, err)
	}
}
