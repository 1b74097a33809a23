package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
)

// result is one command line's outcome.
type result struct {
	code           int
	stdout, stderr string
}

func starter(t *testing.T, connect dialer, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, connect)
	return result{code, out.String(), errOut.String()}
}

func noServer() (*client.Client, func(), error) {
	return nil, nil, fmt.Errorf("no server in this test")
}

func TestUsageErrorsExitTwoWithoutAServer(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: starter <command>"},
		{[]string{"--help"}, 0, "update-payment-method"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"cancel", "--help"}, 0, "-signal"},
		{[]string{"cancel", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"state", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"list", "--limit", "x"}, 2, "invalid value"},
	} {
		r := starter(t, noServer, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("starter %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestCommandsAgainstADevServer(t *testing.T) {
	if testing.Short() || os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("needs the Temporal dev server")
	}
	stack, err := devstack.StartStack(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	// The real dialer, configured by the SDK's environment variables.
	t.Setenv("TEMPORAL_ADDRESS", stack.Server.Address)
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	acc := fmt.Sprintf("cli-%d", rand.IntN(1_000_000))

	ok := func(args ...string) string {
		t.Helper()
		r := starter(t, dial, "", args...)
		if r.code != 0 {
			t.Fatalf("starter %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	fails := func(code int, want string, args ...string) {
		t.Helper()
		r := starter(t, dial, "", args...)
		if r.code != code || !strings.Contains(r.stderr, want) {
			t.Fatalf("starter %v: exit %d, stderr %q; want exit %d mentioning %q", args, r.code, r.stderr, code, want)
		}
	}

	fails(1, "invalid currency", "start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa", "--currency", "CHF")
	var started client.Started
	mustJSON(t, ok("start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa", "--plan", "monthly", "--currency", "EUR", "--offer", "body-scan",
		"--test-clock-start", "2026-01-31T09:00:00Z", "--speedup", "3600"), &started)
	if started.WorkflowID != api.WorkflowID(acc) || started.RunID == "" {
		t.Fatalf("started %+v", started)
	}
	fails(1, "already", "start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa")

	var st api.State
	deadline := time.Now().Add(30 * time.Second)
	for st.Status != api.StatusTrialing && time.Now().Before(deadline) {
		r := starter(t, dial, "", "state", "--account", acc)
		if r.code == 0 {
			mustJSON(t, r.stdout, &st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Status != api.StatusTrialing || !st.TrialGranted || st.Offer != api.OfferBodyScan {
		t.Fatalf("state %+v", st)
	}

	var plan api.ChangePlanResult
	mustJSON(t, ok("change-plan", "--account", acc, "--plan", "annual"), &plan)
	if !plan.EffectiveAt.Equal(*st.TrialEndsAt) {
		t.Fatalf("plan change effective %s, trial ends %s", plan.EffectiveAt, st.TrialEndsAt)
	}
	fails(1, "30 days", "price-change", "--account", acc, "--price-minor", "1295", "--effective-at", st.Now.Add(24*time.Hour).Format(time.RFC3339))
	fails(2, "--effective-at", "price-change", "--account", acc, "--price-minor", "1295", "--effective-at", "tomorrow")
	fails(1, "only card", "update-payment-method", "--account", acc, "--payment-method", "pm_sepa_debit_1")
	fails(2, "--reason is required", "terminate", "--account", acc)

	var listed []client.Summary
	deadline = time.Now().Add(30 * time.Second)
	for len(listed) == 0 && time.Now().Before(deadline) {
		mustJSON(t, ok("list", "--status", "trialing"), &listed)
		time.Sleep(200 * time.Millisecond)
	}
	if len(listed) != 1 || listed[0].AccountID != acc || !listed[0].AccessActive {
		t.Fatalf("list --status trialing: %+v", listed)
	}
	fails(2, "unknown status", "list", "--status", "sleeping")

	var canceled api.CancelResult
	mustJSON(t, ok("cancel", "--account", acc, "--reason", "cli test"), &canceled)
	if canceled.Status != api.StatusCanceling || !canceled.AccessUntil.Equal(*st.TrialEndsAt) {
		t.Fatalf("cancel %+v", canceled)
	}
	var withdrawn api.WithdrawResult
	mustJSON(t, ok("withdraw", "--account", acc), &withdrawn)
	if withdrawn.RefundedMinor != 0 || withdrawn.Currency != "EUR" {
		t.Fatalf("withdraw in trial: %+v", withdrawn)
	}
	var final api.State
	if err := stack.Client.GetWorkflow(context.Background(), started.WorkflowID, "").Get(context.Background(), &final); err != nil || final.EndReason != api.EndWithdrawn {
		t.Fatalf("workflow result %+v %v", final.EndReason, err)
	}
	fails(1, "signal cancel to subscription "+started.WorkflowID, "cancel", "--account", acc, "--signal")
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
}
