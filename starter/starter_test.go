package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

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

func noServer() (tclient.Client, func(), error) {
	return nil, nil, fmt.Errorf("no server in this test")
}

func TestUsageErrorsExitTwoWithoutAServer(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: starter <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"cancel", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"state", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"state"}, 2, "--account is required; starter state --help lists its flags"},
		{[]string{"list", "--limit", "x"}, 2, "invalid value"},
		{[]string{"list", "--limit", "-1"}, 2, "--limit must be 0 (all) or more"},
		{[]string{"list", "--status", "sleeping"}, 2, `unknown status "sleeping"`},
		{[]string{"list", "--status", "needs_attention"}, 2, `unknown status "needs_attention"`},
		{[]string{"list", "--query", "sleeping"}, 2, `unknown list "sleeping"`},
		{[]string{"list", "--status", "active", "--query", "all"}, 2, "not both"},
		{[]string{"start"}, 2, "--account, --email, --customer and --payment-method are required"},
		{[]string{"start", "--account", "acc-1", "--email", "a@example.com", "--customer", "cus_1"}, 2, "--payment-method is required"},
		{[]string{"start", "--input", "/nonexistent/input.json"}, 2, "--input: open /nonexistent/input.json"},
		{[]string{"start", "--input", "-"}, 2, "--input: unexpected end of JSON input"},
		{[]string{"price-change", "--account", "acc-1", "--effective-at", "2027-01-01T00:00:00Z"}, 2, "--price-minor is required"},
		{[]string{"change-plan", "--account", "acc-1"}, 2, "--plan is required"},
		{[]string{"terminate"}, 2, "--account and --reason are required"},
	} {
		r := starter(t, noServer, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("starter %v: exit %d, stdout %q, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
}

func TestHelpDocumentsTheExitCodes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"cancel", "--help"}, {"list", "-h"}} {
		r := starter(t, noServer, "", args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("starter %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, want := range []string{"exit codes:", "2  usage", "3  not found", "4  refused by the rules", "5  unavailable", "1  any other failure", "TEMPORAL_ADDRESS"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("starter %v does not say %q:\n%s", args, want, r.stdout)
			}
		}
	}
	if r := starter(t, noServer, "", "--help"); !strings.Contains(r.stdout, "update-payment-method") || !strings.Contains(r.stdout, "queries") {
		t.Errorf("starter --help lists no commands:\n%s", r.stdout)
	}
	if r := starter(t, noServer, "", "cancel", "--help"); !strings.Contains(r.stdout, "-signal") {
		t.Errorf("starter cancel --help lists no flags:\n%s", r.stdout)
	}
}

func TestQueriesNeedNoServer(t *testing.T) {
	r := starter(t, noServer, "", "queries")
	var got []client.SavedQuery
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mustJSON(t, r.stdout, &got)
	if !slices.Equal(got, client.Queries()) {
		t.Fatalf("printed %+v", got)
	}
}

// failing answers every call with err.
type failing struct {
	tclient.Client
	err error
}

func (f failing) UpdateWorkflow(context.Context, tclient.UpdateWorkflowOptions) (tclient.WorkflowUpdateHandle, error) {
	return nil, f.err
}

func (f failing) SignalWorkflow(context.Context, string, string, string, any) error { return f.err }

func (f failing) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, f.err
}

func (f failing) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return nil, f.err
}

func (f failing) ExecuteWorkflow(context.Context, tclient.StartWorkflowOptions, any, ...any) (tclient.WorkflowRun, error) {
	return nil, f.err
}

func TestExitCodes(t *testing.T) {
	const runID = "01a21290-b7f6-7bf3-b3a0-372ff450db01"
	start := []string{"start", "--account", "acc-1", "--email", "a@example.com", "--customer", "cus_1", "--payment-method", "pm_card_visa"}
	for _, tc := range []struct {
		name string
		args []string
		err  error
		code int
		want string
	}{
		{"no such subscription", []string{"state", "--account", "acc-1"},
			serviceerror.NewNotFound("workflow not found for ID: subscription-acc-1"), 3, "no subscription for account acc-1"},
		{"signal to no subscription", []string{"cancel", "--account", "acc-1", "--signal"},
			serviceerror.NewNotFound("workflow not found for ID: subscription-acc-1"), 3, "start the subscription first"},
		{"ended", []string{"withdraw", "--account", "acc-1"},
			serviceerror.NewNotFound("workflow execution already completed"), 4, "withdrawal of account acc-1 refused: the subscription has ended"},
		{"rejected update", []string{"update-payment-method", "--account", "acc-1", "--payment-method", "pm_sepa_debit_1"},
			temporal.NewNonRetryableApplicationError("payment method pm_sepa_debit_1 not accepted: only card payment methods are accepted", "InvalidPaymentMethod", nil),
			4, "payment method update of account acc-1 refused: payment method pm_sepa_debit_1 not accepted: only card payment methods are accepted\n"},
		{"already started", start,
			serviceerror.NewWorkflowExecutionAlreadyStarted("Workflow execution is already running. WorkflowId: subscription-acc-1, RunId: "+runID+".", "", runID),
			4, "account acc-1 already has a running subscription"},
		{"invalid input", append(slices.Clone(start), "--currency", "CHF"), nil, 4, `invalid currency: "CHF"`},
		{"invalid argument", []string{"change-plan", "--account", "acc-1", "--plan", "weekly"}, nil, 4, `invalid plan: "weekly" is not a plan`},
		{"unreachable", []string{"list"},
			fmt.Errorf("failed reaching server: %w", serviceerror.NewUnavailable(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`)),
			5, "cannot reach Temporal (dial tcp 127.0.0.1:1: connect: connection refused); check TEMPORAL_ADDRESS"},
		{"no answer", []string{"terminate", "--account", "acc-1", "--reason", "fraud"}, context.DeadlineExceeded, 5, "read the state before sending it again"},
		{"other", []string{"state", "--account", "acc-1"}, serviceerror.NewQueryFailed("panic: boom"), 1, "state of account acc-1: panic: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connect := func() (tclient.Client, func(), error) { return failing{err: tc.err}, func() {}, nil }
			r := starter(t, connect, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", r.code, r.stdout, r.stderr, tc.code, tc.want)
			}
			for _, leak := range []string{"(type:", "retryable", runID, "RunId"} {
				if strings.Contains(r.stderr, leak) {
					t.Errorf("stderr %q shows %q", r.stderr, leak)
				}
			}
		})
	}
	r := starter(t, func() (tclient.Client, func(), error) { return nil, nil, errors.New("bad TEMPORAL_TLS_CERT") }, "", "state", "--account", "acc-1")
	if r.code != 1 || !strings.Contains(r.stderr, "starter state: cannot set up the Temporal client: bad TEMPORAL_TLS_CERT\n") {
		t.Errorf("connection failure: exit %d, stderr %q", r.code, r.stderr)
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

// ExecuteWorkflow records a start as the update "start" with the input.
func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o tclient.StartWorkflowOptions, _ any, args ...any) (tclient.WorkflowRun, error) {
	f.names, f.args = append(f.names, "start"), append(f.args, args...)
	return startedRun{id: o.ID}, nil
}

// startedRun is the run of a started workflow.
type startedRun struct {
	tclient.WorkflowRun
	id string
}

func (r startedRun) GetID() string    { return r.id }
func (r startedRun) GetRunID() string { return "run-1" }

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
				connect := func() (tclient.Client, func(), error) { return fake, func() {}, nil }
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
			connect := func() (tclient.Client, func(), error) { return fake, func() {}, nil }
			r := starter(t, connect, "", append(slices.Clone(cmd.args), "--requested-at", "yesterday")...)
			if r.code != 2 || !strings.Contains(r.stderr, `--requested-at: "yesterday" is not an RFC 3339 time`) || len(fake.names) != 0 {
				t.Fatalf("exit %d, stderr %q, sent %v; want a usage error naming --requested-at and nothing sent", r.code, r.stderr, fake.names)
			}
		})
	}
}

func TestLiveStripeModeRefusesTestClocks(t *testing.T) {
	start := []string{"start", "--account", "acc-1", "--email", "a@example.com", "--customer", "cus_1", "--payment-method", "pm_card_visa"}
	withClock := append(slices.Clone(start), "--test-clock-start", "2026-01-31T09:00:00Z", "--speedup", "3600")
	const clockInput = `{"accountId":"acc-1","email":"a@example.com","stripeCustomerId":"cus_1","paymentMethodId":"pm_card_visa",
		"plan":"monthly","currency":"EUR","testClock":{"startsAt":"2026-01-31T09:00:00Z","speedup":3600}}`
	for _, tc := range []struct {
		name      string
		mode, key string // STRIPE_MODE, STRIPE_SECRET_KEY; blank is unset
		stdin     string
		args      []string
		code      int
		want      string // in stderr
		started   bool
		noConnect bool // the configuration error comes before the connection
		notStderr string
	}{
		{name: "live, test clock", mode: "live", args: withClock, code: 4,
			want: "start of account acc-1 refused: invalid testClock: is refused: this deployment charges with a live Stripe key; test clocks are for test mode only"},
		{name: "live, test clock in the input", mode: "live", stdin: clockInput, args: []string{"start", "--input", "-"}, code: 4, want: "invalid testClock"},
		{name: "live key, test clock", key: "rk_live_topsecret", args: withClock, code: 4, want: "invalid testClock", notStderr: "topsecret"},
		{name: "live, real clock", mode: "live", args: start, started: true},
		{name: "test, test clock", mode: "test", args: withClock, started: true},
		{name: "test key, test clock", key: "sk_test_abc", args: withClock, started: true},
		{name: "unknown mode", mode: "prod", args: withClock, code: 1, want: `starter start: STRIPE_MODE must be "live" or "test"`, noConnect: true, notStderr: "prod"},
		{name: "unknown mode, state", mode: "prod", args: []string{"state", "--account", "acc-1"}, code: 1, want: "STRIPE_MODE must be", noConnect: true},
		{name: "test mode, live key", mode: "test", key: "sk_live_topsecret", args: withClock, code: 1,
			want: "STRIPE_MODE is test but STRIPE_SECRET_KEY is a live key", noConnect: true, notStderr: "topsecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("STRIPE_MODE", tc.mode)
			t.Setenv("STRIPE_SECRET_KEY", tc.key)
			fake := &fakeTemporal{}
			connected := false
			connect := func() (tclient.Client, func(), error) { connected = true; return fake, func() {}, nil }
			r := starter(t, connect, tc.stdin, tc.args...)
			if tc.started {
				if r.code != 0 || len(fake.names) != 1 || fake.names[0] != "start" {
					t.Fatalf("exit %d, stderr %q, sent %v; want one start", r.code, r.stderr, fake.names)
				}
				return
			}
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", r.code, r.stdout, r.stderr, tc.code, tc.want)
			}
			if len(fake.names) != 0 {
				t.Errorf("sent %v, want nothing started", fake.names)
			}
			if tc.noConnect && connected {
				t.Error("connected to Temporal despite the configuration error")
			}
			if tc.notStderr != "" && strings.Contains(r.stderr, tc.notStderr) {
				t.Errorf("stderr %q shows %q", r.stderr, tc.notStderr)
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
	t.Setenv("TEMPORAL_NAMESPACE", stack.Server.Namespace)
	// Test mode, whatever the environment says: the start runs on a test clock.
	t.Setenv("STRIPE_MODE", "")
	t.Setenv("STRIPE_SECRET_KEY", "")
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
		if r.code != code || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Fatalf("starter %v: exit %d, stdout %q, stderr %q; want exit %d mentioning %q", args, r.code, r.stdout, r.stderr, code, want)
		}
		for _, leak := range []string{"(type:", "retryable:", "RunId", "WorkflowId"} {
			if strings.Contains(r.stderr, leak) {
				t.Fatalf("starter %v: stderr %q shows %q", args, r.stderr, leak)
			}
		}
	}

	// Usage (2), not found (3), refused by the rules (4).
	fails(2, "--email is required", "start", "--account", acc, "--customer", "cus_1", "--payment-method", "pm_card_visa")
	fails(3, "no subscription for account "+acc, "state", "--account", acc)
	fails(3, "no subscription for account "+acc, "cancel", "--account", acc)
	fails(3, "start the subscription first", "withdraw", "--account", acc, "--signal")
	fails(4, "invalid currency", "start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa", "--currency", "CHF")
	var started client.Started
	mustJSON(t, ok("start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa", "--plan", "monthly", "--currency", "EUR", "--offer", "body-scan",
		"--test-clock-start", "2026-01-31T09:00:00Z", "--speedup", "3600"), &started)
	if started.WorkflowID != api.WorkflowID(acc) || started.RunID == "" {
		t.Fatalf("started %+v", started)
	}
	// Right after start: the state, once the subscription has opened.
	var st api.State
	stateJSON := ok("state", "--account", acc)
	mustJSON(t, stateJSON, &st)
	if st.Status != api.StatusTrialing || !st.TrialGranted || st.Offer != api.OfferBodyScan {
		t.Fatalf("state %+v", st)
	}
	if !strings.Contains(stateJSON, `"rejected": []`) || !strings.Contains(stateJSON, `"payments": []`) {
		t.Fatalf("state lists are not []: %s", stateJSON)
	}
	fails(4, "account "+acc+" already has a running subscription", "start", "--account", acc, "--email", "a@example.com", "--customer", "cus_1",
		"--payment-method", "pm_card_visa")

	var plan api.ChangePlanResult
	mustJSON(t, ok("change-plan", "--account", acc, "--plan", "annual"), &plan)
	if !plan.EffectiveAt.Equal(*st.TrialEndsAt) {
		t.Fatalf("plan change effective %s, trial ends %s", plan.EffectiveAt, st.TrialEndsAt)
	}
	fails(4, "30 days", "price-change", "--account", acc, "--price-minor", "1295", "--effective-at", st.Now.Add(24*time.Hour).Format(time.RFC3339))
	fails(2, "--effective-at", "price-change", "--account", acc, "--price-minor", "1295", "--effective-at", "tomorrow")
	fails(4, "only card", "update-payment-method", "--account", acc, "--payment-method", "pm_sepa_debit_1")
	fails(2, "--reason is required", "terminate", "--account", acc)

	var listed []client.Summary
	deadline := time.Now().Add(30 * time.Second)
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
	fails(4, "cancel signal of account "+acc+" refused: the subscription has ended", "cancel", "--account", acc, "--signal")
	fails(4, "withdrawal of account "+acc+" refused: the subscription has ended", "withdraw", "--account", acc)
	mustJSON(t, ok("state", "--account", acc), &final)
	if final.Status != api.StatusEnded || final.Rejected == nil {
		t.Fatalf("state after the end %+v", final)
	}

	// Unavailable (5).
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
	fails(5, "cannot reach Temporal (dial tcp 127.0.0.1:1", "state", "--account", acc)
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
}
