package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
)

// fakeStripe stands in for the activities: it declines the payment methods
// whose ID says so, as Stripe's test methods do, and replays the answer to a
// repeated idempotency key.
type fakeStripe struct {
	mu        sync.Mutex
	calls     []activities.ChargeRequest
	answers   map[string]activities.ChargeResult
	refunds   []activities.RefundRequest
	emails    []activities.Email
	failEmail bool
	prior     []activities.PriorSubscription
	// unanswered makes the first n charge calls fail like a network error.
	unanswered int
	// refundFailures makes the first n refunds fail for good.
	refundFailures int
	n              int
	lookups        int // FindCharge calls
	lookupFailures int // the next n FindCharge calls fail
	// conflicts makes the next n charge calls take the charge and answer
	// Stripe's idempotency_error.
	conflicts int
	// declineCycle makes the charges of that cycle with pm_card_visa declined.
	declineCycle int
	// lateAnswers makes the next n charge calls take the charge (or find
	// it under its key) and then fail like a network error: Stripe
	// answering late.
	lateAnswers int
	// retention, when set, is how long a key is remembered, on now's clock:
	// Stripe forgets idempotency keys after about 24 hours.
	retention time.Duration
	now       func() time.Time
	keyAt     map[string]time.Time
	intents   []fakeIntent // every charge taken or declined
	// saved injects into the next new charges a server error Stripe saves
	// under the key: "saved" (the charge taken) or "saved-empty" (nothing
	// taken). A retry under such a key gets the same answer.
	saved     []string
	savedKeys map[string]bool
	// refusing makes Stripe refuse every charge and look-up as a key of
	// another account (ErrTypeStripeRefused) while it is set.
	refusing bool
	// priorFailures makes the next n eligibility look-ups fail as
	// visibility does when it is rate-limited or down.
	priorFailures int
	priorCalls    int
}

// fakeIntent is a PaymentIntent the fake created.
type fakeIntent struct {
	req activities.ChargeRequest
	res activities.ChargeResult
}

func newFake() *fakeStripe {
	return &fakeStripe{answers: map[string]activities.ChargeResult{}}
}

func (f *fakeStripe) Charge(_ context.Context, req activities.ChargeRequest) (activities.ChargeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	if f.unanswered > 0 {
		f.unanswered--
		return activities.ChargeResult{}, errors.New("connection reset by peer")
	}
	if f.retention > 0 && f.now().Sub(f.keyAt[req.IdempotencyKey]) > f.retention {
		delete(f.answers, req.IdempotencyKey) // forgotten: a new charge
	}
	if f.refusing {
		return activities.ChargeResult{}, temporal.NewNonRetryableApplicationError("No such customer: 'cus_123'", activities.ErrTypeStripeRefused, nil)
	}
	indeterminate := temporal.NewNonRetryableApplicationError("Stripe answered HTTP 500 api_error (saved under the idempotency key)", activities.ErrTypeChargeIndeterminate, nil)
	if f.savedKeys[req.IdempotencyKey] {
		return activities.ChargeResult{}, indeterminate
	}
	res, seen := f.answers[req.IdempotencyKey]
	if !seen && len(f.saved) > 0 {
		fault := f.saved[0]
		f.saved = f.saved[1:]
		if f.savedKeys == nil {
			f.savedKeys = map[string]bool{}
		}
		f.savedKeys[req.IdempotencyKey] = true
		if fault == "saved" {
			f.n++
			res = activities.ChargeResult{PaymentIntentID: fmt.Sprintf("pi_%d", f.n), Status: "succeeded"}
			f.intents = append(f.intents, fakeIntent{req: req, res: res})
		}
		return activities.ChargeResult{}, indeterminate
	}
	if !seen {
		f.n++
		res = activities.ChargeResult{PaymentIntentID: fmt.Sprintf("pi_%d", f.n), Status: "succeeded"}
		if strings.Contains(req.PaymentMethodID, "Declined") || (req.Cycle == f.declineCycle && req.PaymentMethodID == "pm_card_visa") {
			res.Status, res.DeclineCode = "declined", "card_declined"
		}
		f.answers[req.IdempotencyKey] = res
		f.intents = append(f.intents, fakeIntent{req: req, res: res})
		if f.now != nil {
			if f.keyAt == nil {
				f.keyAt = map[string]time.Time{}
			}
			f.keyAt[req.IdempotencyKey] = f.now()
		}
	}
	if f.lateAnswers > 0 {
		f.lateAnswers--
		return activities.ChargeResult{}, errors.New("read: connection timed out")
	}
	if f.conflicts > 0 {
		f.conflicts--
		return activities.ChargeResult{}, temporal.NewNonRetryableApplicationError("keys for idempotent requests can only be used with the same parameters", activities.ErrTypeIdempotencyConflict, nil)
	}
	if res.Status == "declined" {
		return activities.ChargeResult{}, temporal.NewNonRetryableApplicationError("Your card was declined.", activities.ErrTypePaymentDeclined, nil, res)
	}
	return res, nil
}

// FindCharge finds what the fake took for the subscription's cycle, as the
// activity lists a customer's PaymentIntents: a success for the cycle, else
// the attempt asked for.
func (f *fakeStripe) FindCharge(_ context.Context, req activities.FindChargeRequest) (activities.FindChargeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.refusing {
		return activities.FindChargeResult{}, temporal.NewNonRetryableApplicationError("No such customer: 'cus_123'", activities.ErrTypeStripeRefused, nil)
	}
	if f.lookupFailures > 0 {
		f.lookupFailures--
		return activities.FindChargeResult{}, errors.New("stripe unreachable")
	}
	var out activities.FindChargeResult
	for _, pi := range f.intents {
		if pi.req.SubscriptionID != req.SubscriptionID || pi.req.Cycle != req.Cycle {
			continue
		}
		if pi.req.Run != req.Run && (pi.req.Run != "" || pi.req.AmountMinor != req.AmountMinor) {
			continue // another subscription's, or sent before runs were recorded with another amount
		}
		found := activities.FindChargeResult{Found: true, PaymentIntentID: pi.res.PaymentIntentID, Attempt: pi.req.Attempt,
			Status: pi.res.Status, DeclineCode: pi.res.DeclineCode}
		if pi.res.Status == "succeeded" {
			return found, nil
		}
		if pi.req.Attempt == req.Attempt {
			out = found
		}
	}
	return out, nil
}

// succeeded lists the charges taken for a cycle.
func (f *fakeStripe) succeeded(cycle int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, pi := range f.intents {
		if pi.req.Cycle == cycle && pi.res.Status == "succeeded" {
			out = append(out, pi.res.PaymentIntentID)
		}
	}
	return out
}

func (f *fakeStripe) Refund(_ context.Context, req activities.RefundRequest) (activities.RefundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refundFailures > 0 {
		f.refundFailures--
		return activities.RefundResult{}, temporal.NewNonRetryableApplicationError("charge is disputed", activities.ErrTypeStripeRequest, nil)
	}
	f.refunds = append(f.refunds, req)
	return activities.RefundResult{RefundID: "re_" + req.PaymentIntentID, Status: "succeeded"}, nil
}

func (f *fakeStripe) CheckPaymentMethod(_ context.Context, req activities.PaymentMethodRequest) (activities.PaymentMethodResult, error) {
	if strings.HasPrefix(req.PaymentMethodID, "pm_sepa") {
		return activities.PaymentMethodResult{}, temporal.NewNonRetryableApplicationError(
			"payment method "+req.PaymentMethodID+" is a sepa_debit, only card payment methods are accepted", activities.ErrTypeInvalidPaymentMethod, nil)
	}
	if !strings.HasPrefix(req.PaymentMethodID, "pm_card") { // the test cards belong to every customer
		return activities.PaymentMethodResult{}, temporal.NewNonRetryableApplicationError(
			"payment method "+req.PaymentMethodID+" is not attached to customer "+req.StripeCustomerID, activities.ErrTypeInvalidPaymentMethod, nil)
	}
	return activities.PaymentMethodResult{PaymentMethodID: req.PaymentMethodID, Type: "card"}, nil
}

func (f *fakeStripe) SendEmail(_ context.Context, e activities.Email) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failEmail {
		return temporal.NewNonRetryableApplicationError("sendgrid rejected the email", "EmailRejected", nil)
	}
	f.emails = append(f.emails, e)
	return nil
}

func (f *fakeStripe) PriorSubscriptions(_ context.Context, _ activities.PriorRequest) ([]activities.PriorSubscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.priorCalls++
	if f.priorFailures > 0 {
		f.priorFailures--
		return nil, temporal.NewApplicationError("visibility: namespace rate limit exceeded", activities.ErrTypeTemporalUnavailable)
	}
	return f.prior, nil
}

func (f *fakeStripe) emailKinds() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	kinds := map[string]int{}
	for _, e := range f.emails {
		kinds[e.Kind]++
	}
	return kinds
}

// harness runs one workflow in the SDK's time-skipping test environment.
type harness struct {
	t    testing.TB
	env  *testsuite.TestWorkflowEnvironment
	fake *fakeStripe
	t0   time.Time
}

func newHarness(t testing.TB, t0 time.Time, fake *fakeStripe, metrics ...client.MetricsHandler) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	level := slog.LevelError + 1 // declines and retries are expected here
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
	if len(metrics) > 0 {
		suite.SetMetricsHandler(metrics[0])
	}
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflow(Subscription)
	env.RegisterActivity(fake)
	return &harness{t: t, env: env, fake: fake, t0: t0}
}

func input(mods ...func(*api.Input)) api.Input {
	in := api.Input{
		AccountID: "acc-1", Email: "ada@example.com", StripeCustomerID: "cus_123",
		PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		Offer: api.OfferBodyScan,
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func noOffer(in *api.Input)  { in.Offer = "" }
func declined(in *api.Input) { in.PaymentMethodID = "pm_card_chargeDeclined" }

// at runs fn when the workflow clock has moved d past the start.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

// state queries the workflow's state.
func (h *harness) state() api.State {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(api.QueryState)
	if err != nil {
		h.t.Fatalf("query state: %v", err)
	}
	var st api.State
	if err := v.Get(&st); err != nil {
		h.t.Fatalf("decode state: %v", err)
	}
	return st
}

// stateAt records the state at d.
func (h *harness) stateAt(d time.Duration) *api.State {
	st := &api.State{}
	h.at(d, func() { *st = h.state() })
	return st
}

// outcome is an update's answer.
type outcome struct {
	rejected error
	err      error
	raw      json.RawMessage
	done     bool
}

func (o *outcome) decode(t *testing.T, v any) {
	t.Helper()
	if !o.done || o.rejected != nil || o.err != nil {
		t.Fatalf("update did not succeed: done=%v rejected=%v err=%v", o.done, o.rejected, o.err)
	}
	if err := json.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("decode update result: %v", err)
	}
}

// update sends an update at d.
func (h *harness) update(d time.Duration, name string, arg any) *outcome {
	o := &outcome{}
	h.at(d, func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { o.rejected, o.done = err, true },
			OnComplete: func(v any, err error) {
				o.err, o.done = err, true
				if err == nil {
					o.raw, _ = json.Marshal(v)
				}
			},
		}, arg)
	})
	return o
}

// run executes the workflow and stops it at d if it is still running.
func (h *harness) run(in api.Input, d time.Duration) (final *api.State, err error) {
	h.at(d, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(Subscription, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	err = h.env.GetWorkflowError()
	if err == nil {
		final = &api.State{}
		if gerr := h.env.GetWorkflowResult(final); gerr != nil {
			h.t.Fatalf("decode result: %v", gerr)
		}
	}
	return final, err
}

// continued decodes the input a run handed to the next one.
func continued(t *testing.T, err error) api.Input {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next api.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatalf("decode continued input: %v", err)
	}
	return next
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// paymentDates lists the dates of the payments with the given status.
func paymentDates(st api.State, status string) []string {
	var out []string
	for _, p := range st.Payments {
		if p.Status == status {
			out = append(out, p.At.Format(time.DateOnly))
		}
	}
	return out
}
