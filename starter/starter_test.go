package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

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

// fakeTemporal records the updates and signals the commands send; any other
// call panics on the nil embedded client.
type fakeTemporal struct {
	tclient.Client
	names []string
	args  []any
}

func (f *fakeTemporal) UpdateWorkflow(_ context.Context, o tclient.UpdateWorkflowOptions) (tclient.WorkflowUpdateHandle, error) {
	f.names, f.args = append(f.names, o.UpdateName), append(f.args, o.Args...)
	return completed{}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, _, _, name string, arg any) error {
	f.names, f.args = append(f.names, name), append(f.args, arg)
	return nil
}

// completed is an update handle whose result is the zero value.
type completed struct{}

func (completed) WorkflowID() string             { return "" }
func (completed) RunID() string                  { return "" }
func (completed) UpdateID() string               { return "" }
func (completed) Get(context.Context, any) error { return nil }

// requestedAt reads the RequestedAt of a request the client sent.
func requestedAt(t *testing.T, arg any) time.Time {
	t.Helper()
	b, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		RequestedAt time.Time `json:"requestedAt"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	return req.RequestedAt
}

func TestRequestedAtFlag(t *testing.T) {
	at := time.Date(2026, 3, 14, 18, 0, 0, 0, time.UTC)
	commands := []struct {
		name string
		args []string
		sent string
	}{
		{"cancel", []string{"cancel", "--account", "acc-1"}, api.UpdateCancel},
		{"cancel --signal", []string{"cancel", "--account", "acc-1", "--signal"}, api.SignalCancel},
		{"withdraw", []string{"withdraw", "--account", "acc-1"}, api.UpdateWithdraw},
		{"withdraw --signal", []string{"withdraw", "--account", "acc-1", "--signal"}, api.SignalWithdraw},
		{"update-payment-method", []string{"update-payment-method", "--account", "acc-1", "--payment-method", "pm_card_visa"}, api.UpdatePaymentMethod},
		{"change-plan", []string{"change-plan", "--account", "acc-1", "--plan", "annual"}, api.UpdateChangePlan},
		{"price-change", []string{"price-change", "--account", "acc-1", "--price-minor", "1295", "--effective-at", "2026-05-01t00:00:00z"}, api.UpdateSchedulePriceChange},
		{"terminate", []string{"terminate", "--account", "acc-1", "--reason", "fraud"}, api.UpdateTerminate},
	}
	flags := []struct {
		name  string
		flags []string
		want  time.Time // zero: now
	}{
		{"default now", nil, time.Time{}},
		{"given", []string{"--requested-at", "2026-03-14T18:00:00Z"}, at},
		{"given in lower case", []string{"--requested-at", "2026-03-14t18:00:00z"}, at},
		{"given with an offset", []string{"--requested-at=2026-03-14T19:00:00+01:00"}, at},
	}
	for _, cmd := range commands {
		for _, fl := range flags {
			t.Run(cmd.name+" "+fl.name, func(t *testing.T) {
				fake := &fakeTemporal{}
				connect := func() (*client.Client, func(), error) { return client.New(fake), func() {}, nil }
				before := time.Now().Truncate(time.Millisecond)
				r := starter(t, connect, "", append(slices.Clone(cmd.args), fl.flags...)...)
				after := time.Now()
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				if len(fake.names) != 1 || fake.names[0] != cmd.sent {
					t.Fatalf("sent %v, want %s", fake.names, cmd.sent)
				}
				got := requestedAt(t, fake.args[0])
				if fl.want.IsZero() {
					if got.Before(before) || got.After(after) {
						t.Fatalf("requestedAt %s, want now (between %s and %s)", got, before, after)
					}
					return
				}
				if !got.Equal(fl.want) {
					t.Fatalf("requestedAt %s, want %s", got, fl.want)
				}
			})
		}
		t.Run(cmd.name+" not a time", func(t *testing.T) {
			fake := &fakeTemporal{}
			connect := func() (*client.Client, func(), error) { return client.New(fake), func() {}, nil }
			r := starter(t, connect, "", append(slices.Clone(cmd.args), "--requested-at", "yesterday")...)
			if r.code != 2 || !strings.Contains(r.stderr, `--requested-at: "yesterday" is not an RFC 3339 time`) || len(fake.names) != 0 {
				t.Fatalf("exit %d, stderr %q, sent %v; want a usage error naming --requested-at and nothing sent", r.code, r.stderr, fake.names)
			}
		})
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
