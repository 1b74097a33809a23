// Package stripeanswers tests, on a real Temporal dev server with the
// worker's real activities and the Stripe stand-in, that the engine stays
// right when Stripe answers as it really does: a 500 saved under the
// idempotency key (with the charge made, and without) is resolved by a
// look-up and, only when Stripe holds nothing, a new key; and a key of
// another Stripe account is never taken for the customer's decline: charging
// is held, ops see it in visibility, and it resumes once the key is fixed.
package stripeanswers

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// speedup runs an hour of the subscription's clock a second, so that the
// hourly recheck of a held charge comes every second.
const speedup = 3600

func TestStripeAsItAnswers(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // the CLI may have to be built
	defer cancel()
	stack, err := devstack.StartStackWith(ctx, os.Stderr, devstack.StackOptions{})
	if err != nil {
		t.Fatalf("bring up the stack: %v", err)
	}
	t.Cleanup(stack.Stop)
	c := client.New(stack.Client)

	// Each subtest changes the stand-in for the whole stack: they run one
	// after another.
	for _, fault := range []string{stripefake.FaultSaved, stripefake.FaultSavedEmpty} {
		t.Run("500 "+fault, func(t *testing.T) {
			stack.Stripe.FailNextCharges(1, fault)
			acc := start(t, c, fault)
			st := wait(t, c, acc, "cycle 1 paid", func(s api.State) bool { return s.Cycle == 1 && len(s.Payments) > 0 })
			pis := intents(stack.Stripe, acc)
			if len(pis) != 1 || pis[0].Status != "succeeded" {
				t.Fatalf("Stripe holds %+v for cycle 1, want exactly one charge", pis)
			}
			if len(st.Payments) != 1 || st.Payments[0].PaymentIntentID != pis[0].ID || st.Payments[0].Status != api.PaymentSucceeded ||
				st.Status != api.StatusActive || st.OutstandingMinor != 0 {
				t.Fatalf("state %s outstanding %d payments %+v", st.Status, st.OutstandingMinor, st.Payments)
			}
			if kinds := emailKinds(stack, acc); kinds["payment_failed"] != 0 {
				t.Fatalf("the customer was told of a decline: %v", kinds)
			}
			if n := lookups(stack.Stripe, acc); n != 1 {
				t.Errorf("%d look-ups of the charge, want 1", n)
			}
		})
	}

	t.Run("a key of another account", func(t *testing.T) {
		// The worker's key belongs to another account than the customers'.
		stack.Stripe.SetAccountKey("sk_test_the_account_of_the_customers")
		t.Cleanup(func() { stack.Stripe.SetAccountKey("") })
		acc := start(t, c, "other-account")
		held := wait(t, c, acc, "charging held for ops", func(s api.State) bool { return s.ChargeIssue == billing.IssueStripeRefused })
		if held.Status != api.StatusActive || !held.AccessActive || held.OutstandingMinor != 0 || len(held.Payments) != 0 {
			t.Fatalf("held: status %s access %v outstanding %d payments %+v", held.Status, held.AccessActive, held.OutstandingMinor, held.Payments)
		}
		// Ops find it in visibility, by the saved query and the search attribute.
		eventually(t, 30*time.Second, "listed as needing attention with its charge issue", func() (bool, string) {
			rows, err := c.List(ctxT(t), client.QueryNeedsAttention, 0)
			if err != nil {
				return false, err.Error()
			}
			i := slices.IndexFunc(rows, func(s client.Summary) bool { return s.AccountID == acc })
			if i < 0 {
				return false, fmt.Sprintf("not among %d rows", len(rows))
			}
			return rows[i].ChargeIssue == billing.IssueStripeRefused, "ChargeIssue " + rows[i].ChargeIssue
		})
		time.Sleep(3 * time.Second) // three hourly rechecks on its clock
		if kinds := emailKinds(stack, acc); kinds["payment_failed"]+kinds["access_suspended"] != 0 {
			t.Fatalf("the customer was told of our mistake: %v", kinds)
		}
		if pis := intents(stack.Stripe, acc); len(pis) != 0 {
			t.Fatalf("Stripe holds %+v", pis)
		}

		// Fixed: the next recheck charges the cycle, once.
		stack.Stripe.SetAccountKey("")
		st := wait(t, c, acc, "charged once fixed", func(s api.State) bool { return len(s.Payments) > 0 && s.ChargeIssue == "" })
		pis := intents(stack.Stripe, acc)
		if len(pis) != 1 || st.Payments[0].PaymentIntentID != pis[0].ID || st.Status != api.StatusActive {
			t.Fatalf("after the fix: Stripe holds %+v, payments %+v, status %s", pis, st.Payments, st.Status)
		}
		eventually(t, 30*time.Second, "charge issue cleared in visibility", func() (bool, string) {
			rows, err := c.List(ctxT(t), client.QueryAll, 0)
			if err != nil {
				return false, err.Error()
			}
			i := slices.IndexFunc(rows, func(s client.Summary) bool { return s.AccountID == acc })
			return i >= 0 && rows[i].ChargeIssue == "", fmt.Sprintf("row %d", i)
		})
	})
}

// start starts a subscription with no trial, due at once, on the fast clock.
func start(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	acc := fmt.Sprintf("answers-%s-%d", name, time.Now().UnixNano()%1_000_000)
	in := api.Input{
		AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
		PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		TestClock: &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: speedup},
	}
	if _, err := c.Start(ctxT(t), in); err != nil {
		t.Fatalf("start %s: %v", acc, err)
	}
	return acc
}

// wait polls the subscription's state until cond holds.
func wait(t *testing.T, c *client.Client, acc, what string, cond func(api.State) bool) api.State {
	t.Helper()
	var st api.State
	eventually(t, time.Minute, what, func() (bool, string) {
		var err error
		if st, err = c.State(ctxT(t), acc); err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("status %s cycle %d payments %d issue %q", st.Status, st.Cycle, len(st.Payments), st.ChargeIssue)
	})
	return st
}

// intents lists the PaymentIntents the stand-in holds for the account.
func intents(s *stripefake.Server, acc string) []stripefake.PaymentIntent {
	var out []stripefake.PaymentIntent
	for _, pi := range s.PaymentIntents() {
		if pi.Metadata["subscription_id"] == api.WorkflowID(acc) {
			out = append(out, pi)
		}
	}
	return out
}

// lookups counts the look-ups of the account's charges (PaymentIntents
// listed by customer).
func lookups(s *stripefake.Server, acc string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == "GET" && r.Path == "/v1/payment_intents" && strings.HasSuffix(r.Form.Get("customer"), strings.ReplaceAll(acc, "-", "_")) {
			n++
		}
	}
	return n
}

// emailKinds counts the emails sent to the account, by kind.
func emailKinds(s *devstack.Stack, acc string) map[string]int {
	kinds := map[string]int{}
	for _, m := range s.Mail.Messages() {
		if slices.Contains(m.To, acc+"@example.com") {
			for _, c := range m.Categories {
				kinds[c]++
			}
		}
	}
	return kinds
}

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last: %s", what, limit, last)
}
