package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// speedup runs five subscription days a real second.
const speedup = 5 * 86400

func account(t *testing.T) string {
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%d", name, rand.IntN(1_000_000))
}

func startInput(acc, pm, offer string) api.Input {
	return api.Input{
		AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
		PaymentMethodID: pm, Plan: api.PlanMonthly, Currency: api.CurrencyEUR, Offer: offer,
		TestClock: &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: speedup},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func waitState(t *testing.T, acc, what string, cond func(api.State) bool) api.State {
	t.Helper()
	var st api.State
	eventually(t, 90*time.Second, what, func() (bool, string) {
		var err error
		st, err = sys.client.State(ctx(t), acc)
		if err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("status %s cycle %d outstanding %d", st.Status, st.Cycle, st.OutstandingMinor)
	})
	return st
}

func intents(subscriptionID string) []stripefake.PaymentIntent {
	var out []stripefake.PaymentIntent
	for _, pi := range sys.stripe.PaymentIntents() {
		if pi.Metadata["subscription_id"] == subscriptionID {
			out = append(out, pi)
		}
	}
	return out
}

func charges(subscriptionID string) []stripefake.Request {
	var out []stripefake.Request
	for _, r := range sys.stripe.Requests() {
		if r.Path == "/v1/payment_intents" && r.Form.Get("metadata[subscription_id]") == subscriptionID {
			out = append(out, r)
		}
	}
	return out
}

func emailKinds(to string) map[string]int {
	kinds := map[string]int{}
	for _, m := range sys.mail.Messages() {
		if slices.Contains(m.To, to) {
			for _, c := range m.Categories {
				kinds[c]++
			}
		}
	}
	return kinds
}

func TestRenewalsThenCancel(t *testing.T) {
	t.Parallel()
	acc := account(t)
	id := api.WorkflowID(acc)
	if _, err := sys.client.Start(ctx(t), startInput(acc, "pm_card_visa", "")); err != nil {
		t.Fatal(err)
	}
	waitState(t, acc, "three cycles paid", func(s api.State) bool { return s.Cycle >= 3 && s.OutstandingMinor == 0 })
	res, err := sys.client.Cancel(ctx(t), acc, api.CancelRequest{Reason: "integration"})
	if err != nil || res.Status != api.StatusCanceling {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	again, err := sys.client.Cancel(ctx(t), acc, api.CancelRequest{})
	if err != nil || !again.AccessUntil.Equal(res.AccessUntil) {
		t.Fatalf("second cancel: %+v %v, first %+v", again, err, res)
	}
	final := waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
	if final.EndReason != api.EndCanceled || final.AccessActive || !final.EndedAt.Equal(res.AccessUntil) {
		t.Fatalf("final %+v", final)
	}
	pis := intents(id)
	if len(pis) != final.Cycle || len(pis) < 3 {
		t.Fatalf("%d payment intents for %d cycles", len(pis), final.Cycle)
	}
	keys := map[string]bool{}
	for _, r := range charges(id) {
		if keys[r.IdempotencyKey] || r.IdempotencyKey == "" {
			t.Fatalf("idempotency key %q repeated or empty", r.IdempotencyKey)
		}
		keys[r.IdempotencyKey] = true
		if r.Form.Get("amount") != "995" || r.Form.Get("currency") != "eur" || r.Form.Get("off_session") != "true" || r.Form.Get("confirm") != "true" {
			t.Fatalf("charge request %v", r.Form)
		}
	}
	eventually(t, 30*time.Second, "emails", func() (bool, string) {
		k := emailKinds(acc + "@example.com")
		return k["payment_receipt"] == final.Cycle && k["cancellation_confirmed"] == 1 && k["subscription_ended"] == 1, fmt.Sprint(k)
	})
	// The workflow's result is its final state.
	var result api.State
	if err := sys.tc.GetWorkflow(ctx(t), id, "").Get(ctx(t), &result); err != nil || result.Status != api.StatusEnded {
		t.Fatalf("workflow result %+v %v", result.Status, err)
	}
}

func TestDeclineSuspensionAndRecovery(t *testing.T) {
	t.Parallel()
	acc := account(t)
	id := api.WorkflowID(acc)
	if _, err := sys.client.Start(ctx(t), startInput(acc, "pm_card_chargeDeclinedInsufficientFunds", "")); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, acc, "suspended", func(s api.State) bool { return s.Status == api.StatusSuspended })
	if st.AccessActive || st.OutstandingMinor < 995 {
		t.Fatalf("suspended state %+v", st)
	}
	// Visibility sees the suspension through the search attributes.
	eventually(t, 30*time.Second, "visibility", func() (bool, string) {
		list, err := sys.client.List(ctx(t), api.StatusSuspended, 0)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range list {
			if s.WorkflowID == id {
				return s.AccountID == acc && !s.AccessActive && s.OutstandingMinor >= 995 && s.Plan == api.PlanMonthly, fmt.Sprintf("%+v", s)
			}
		}
		return false, fmt.Sprintf("%d listed, not %s", len(list), id)
	})
	if _, err := sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_sepa_debit_x"}); err == nil || !strings.Contains(err.Error(), "card") {
		t.Fatalf("non-card payment method accepted: %v", err)
	}
	res, err := sys.client.UpdatePaymentMethod(ctx(t), acc, api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"})
	if err != nil || res.OutstandingMinor != 0 {
		t.Fatalf("card update: %+v %v", res, err)
	}
	st = waitState(t, acc, "restored", func(s api.State) bool { return s.AccessActive && s.OutstandingMinor == 0 })
	failed := 0
	for _, p := range st.Payments {
		if p.Status == api.PaymentFailed {
			failed++
		}
	}
	if failed < 5 {
		t.Fatalf("%d failed attempts, want the due date and 4 retries at least", failed)
	}
	keys := map[string]bool{}
	for _, r := range charges(id) {
		if keys[r.IdempotencyKey] {
			t.Fatalf("attempt key %s repeated", r.IdempotencyKey)
		}
		keys[r.IdempotencyKey] = true
	}
	eventually(t, 30*time.Second, "emails", func() (bool, string) {
		k := emailKinds(acc + "@example.com")
		return k["payment_failed"] >= 5 && k["access_suspended"] >= 1 && k["access_restored"] >= 1, fmt.Sprint(k)
	})
	eventually(t, 30*time.Second, "visibility after recovery", func() (bool, string) {
		list, err := sys.client.List(ctx(t), "", 0)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range list {
			if s.WorkflowID == id {
				return s.AccessActive && s.OutstandingMinor == 0 && s.NextChargeAt != nil, fmt.Sprintf("%+v", s)
			}
		}
		return false, "not listed"
	})
	if _, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "integration cleanup"}); err != nil {
		t.Fatal(err)
	}
}

func TestWithdrawalRefunds(t *testing.T) {
	t.Parallel()
	acc := account(t)
	id := api.WorkflowID(acc)
	in := startInput(acc, "pm_card_visa", "")
	in.TestClock.Speedup = 3600 // an hour a second: the withdrawal lands well within 14 days
	if _, err := sys.client.Start(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	waitState(t, acc, "first charge", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 })
	res, err := sys.client.Withdraw(ctx(t), acc)
	if err != nil || res.RefundedMinor != 995 || res.Currency != "EUR" || len(res.RefundIDs) != 1 {
		t.Fatalf("withdraw: %+v %v", res, err)
	}
	pis := intents(id)
	refunds := sys.stripe.Refunds()
	i := slices.IndexFunc(refunds, func(r stripefake.Refund) bool { return r.PaymentIntent == pis[0].ID })
	if len(pis) != 1 || i < 0 || refunds[i].Amount != 995 || refunds[i].ID != res.RefundIDs[0] {
		t.Fatalf("stand-in saw intents %+v refunds %+v", pis, refunds)
	}
	final := waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
	if final.EndReason != api.EndWithdrawn || final.Payments[0].Status != api.PaymentRefunded {
		t.Fatalf("final %+v", final)
	}
}

func TestPriceChangeAndTrial(t *testing.T) {
	t.Parallel()
	acc := account(t)
	in := startInput(acc, "pm_card_visa", api.OfferScanwatch2)
	in.TestClock.Speedup = 3600
	if _, err := sys.client.Start(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
	if !st.TrialGranted || st.TrialEndsAt == nil || !st.TrialEndsAt.Equal(time.Date(2026, 4, 30, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("trial %+v", st)
	}
	_, err := sys.client.SchedulePriceChange(ctx(t), acc, api.PriceChangeRequest{PriceMinor: 1195, EffectiveAt: st.Now.Add(29 * 24 * time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("29 days of notice: %v", err)
	}
	res, err := sys.client.SchedulePriceChange(ctx(t), acc, api.PriceChangeRequest{PriceMinor: 1195, EffectiveAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || !res.AppliesFrom.Equal(time.Date(2026, 5, 30, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("price change: %+v %v", res, err)
	}
	eventually(t, 30*time.Second, "emails", func() (bool, string) {
		k := emailKinds(acc + "@example.com")
		return k["trial_started"] == 1 && k["price_change_notice"] == 1, fmt.Sprint(k)
	})
	if _, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "integration cleanup"}); err != nil {
		t.Fatal(err)
	}
}

func TestInputRefusedAndDuplicateStart(t *testing.T) {
	t.Parallel()
	acc := account(t)
	bad := startInput(acc, "pm_card_visa", "")
	bad.Currency = "CHF"
	var inErr *api.InputError
	if _, err := sys.client.Start(ctx(t), bad); !errors.As(err, &inErr) || inErr.Field != "currency" {
		t.Fatalf("typed client let %v through", err)
	}
	// Started around the client, the workflow fails itself with InvalidInput.
	run, err := sys.tc.ExecuteWorkflow(ctx(t), tclient.StartWorkflowOptions{ID: api.WorkflowID(acc), TaskQueue: api.TaskQueue}, api.WorkflowType, bad)
	if err != nil {
		t.Fatal(err)
	}
	var appErr *temporal.ApplicationError
	if err := run.Get(ctx(t), nil); !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeInvalidInput || !strings.Contains(err.Error(), "currency") {
		t.Fatalf("workflow error %v", err)
	}
	good := startInput(acc, "pm_card_visa", "")
	if _, err := sys.client.Start(ctx(t), good); err != nil {
		t.Fatal(err)
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if _, err := sys.client.Start(ctx(t), good); !errors.As(err, &already) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "integration cleanup"}); err != nil {
		t.Fatal(err)
	}
}

// TestReturningSubscriberThroughTheClient: the typed client starts a new
// account's subscription as its first (no visibility look-up) and a
// returning account's as a later one: the server refuses the first way
// because the workflow ID has an earlier run, and the workflow's look-up
// finds it, so no second trial is granted.
func TestReturningSubscriberThroughTheClient(t *testing.T) {
	t.Parallel()
	acc := account(t)
	starts := client.New(sys.tc, client.FirstOfAccountStarts())
	if _, err := starts.Start(ctx(t), startInput(acc, "pm_card_visa", api.OfferBodyScan)); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, acc, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
	if !st.TrialGranted {
		t.Fatalf("a new account was refused the trial: %q", st.TrialIneligibleReason)
	}
	if _, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "ended before subscribing again"}); err != nil {
		t.Fatal(err)
	}
	waitState(t, acc, "ended", func(s api.State) bool { return s.Status == api.StatusEnded })
	eventually(t, 30*time.Second, "the first run closed", func() (bool, string) {
		d, err := sys.tc.DescribeWorkflowExecution(ctx(t), api.WorkflowID(acc), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetCloseTime() != nil, fmt.Sprint(err)
	})
	if _, err := starts.Start(ctx(t), startInput(acc, "pm_card_visa", api.OfferBodyScan)); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, acc, "opened again", func(s api.State) bool { return s.Status != api.StatusEnded && s.Status != "" })
	if st.TrialGranted || st.TrialIneligibleReason == "" {
		t.Fatalf("a returning account got a second trial (reason %q)", st.TrialIneligibleReason)
	}
	if _, err := sys.client.Terminate(ctx(t), acc, api.TerminateRequest{Reason: "integration cleanup"}); err != nil {
		t.Fatal(err)
	}
}
