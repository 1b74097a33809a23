package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
)

// Malformed inputs, sent as raw JSON so that unknown fields, wrong types and
// bad times reach the workflow as a caller outside Go could send them.

// badInput is a start input, or an update or signal argument, and the field
// its error must name. A row whose field is empty is a valid edge case that
// must be accepted; accepted then checks what it did.
type badInput struct {
	name     string
	start    map[string]any  // changes to the valid start input (remove deletes a field)…
	update   string          // …or an update sent on day 5 of the trial…
	signal   string          // …or a signal sent on day 5 of the trial…
	arg      json.RawMessage // …with this argument
	field    string
	accepted func(t *testing.T, st api.State)
}

// remove deletes a field from the start input.
type remove struct{}

// badInputStart is when the subscriptions of TestBadInputs start; requests
// come on day 5 of their trial.
var badInputStart = date("2026-01-10T09:00:00Z")

func badInputs() []badInput {
	t0 := badInputStart
	requestDay := t0.Add(day(5))
	contractStart := func(want string) func(*testing.T, api.State) {
		return func(t *testing.T, st api.State) {
			t.Helper()
			if !st.ContractStartAt.Equal(date(want)) || st.Status != api.StatusTrialing {
				t.Fatalf("contract start %s, status %s; want %s, trialing", st.ContractStartAt, st.Status, want)
			}
		}
	}
	return []badInput{
		// Start inputs: the workflow fails at once with InvalidInput naming the field.
		{name: "unknown field", start: map[string]any{"promo": "WELCOME"}, field: "promo"},
		{name: "field name in another case", start: map[string]any{"AccountId": "acc-1"}, field: "AccountId"},
		{name: "unknown field inside testClock", start: map[string]any{
			"testClock": map[string]any{"startsAt": "2026-01-10T09:00:00Z", "speedup": 1440, "rate": 2}}, field: "testClock.rate"},
		{name: "accountId a number", start: map[string]any{"accountId": 42}, field: "accountId"},
		{name: "email an array", start: map[string]any{"email": []string{"ada@example.com"}}, field: "email"},
		{name: "plan a number", start: map[string]any{"plan": 1}, field: "plan"},
		{name: "testClock a string", start: map[string]any{"testClock": "fast"}, field: "testClock"},
		{name: "testClock.speedup a string", start: map[string]any{
			"testClock": map[string]any{"startsAt": "2026-01-10T09:00:00Z", "speedup": "fast"}}, field: "testClock.speedup"},
		{name: "dunningDays a string", start: map[string]any{"dunningDays": "1,3,5"}, field: "dunningDays"},
		{name: "email missing", start: map[string]any{"email": remove{}}, field: "email"},
		{name: "email without a dotted domain", start: map[string]any{"email": "ada@localhost"}, field: "email"},
		{name: "email with a display name", start: map[string]any{"email": "Ada <ada@example.com>"}, field: "email"},
		{name: "email with a trailing space", start: map[string]any{"email": "ada@example.com "}, field: "email"},
		{name: "name a number", start: map[string]any{"name": 42}, field: "name"},
		{name: "name with CR LF", start: map[string]any{"name": "Ada\r\nBcc: x@y.z"}, field: "name"},
		{name: "name with a tab", start: map[string]any{"name": "Ada\tLovelace"}, field: "name"},
		{name: "name with a line separator", start: map[string]any{"name": "Ada\u2028Lovelace"}, field: "name"},
		{name: "name of 257 characters", start: map[string]any{"name": strings.Repeat("é", api.MaxNameLength+1)}, field: "name"},
		{name: "name with a comma, quotes and accents", start: map[string]any{"name": `Smith, John "JJ" Zoë 山田`},
			accepted: contractStart("2026-01-10T09:00:00Z")},
		{name: "name of 256 characters", start: map[string]any{"name": strings.Repeat("é", api.MaxNameLength)},
			accepted: contractStart("2026-01-10T09:00:00Z")},
		{name: "accountId with a space", start: map[string]any{"accountId": "acc 1"}, field: "accountId"},
		{name: "accountId of 65 characters", start: map[string]any{"accountId": strings.Repeat("a", 65)}, field: "accountId"},
		{name: "stripeCustomerId not cus_", start: map[string]any{"stripeCustomerId": "cust_123"}, field: "stripeCustomerId"},
		{name: "paymentMethodId a card ID", start: map[string]any{"paymentMethodId": "card_123"}, field: "paymentMethodId"},
		{name: "paymentMethodId a source", start: map[string]any{"paymentMethodId": "src_123"}, field: "paymentMethodId"},
		{name: "plan unknown", start: map[string]any{"plan": "weekly"}, field: "plan"},
		{name: "currency in lower case", start: map[string]any{"currency": "eur"}, field: "currency"},
		{name: "currency unknown", start: map[string]any{"currency": "CHF"}, field: "currency"},
		{name: "offer unknown", start: map[string]any{"offer": "scanwatch-3"}, field: "offer"},
		{name: "offers combined", start: map[string]any{"offer": "body-scan,scanwatch-2"}, field: "offer"},
		{name: "locale in POSIX form", start: map[string]any{"locale": "en_US"}, field: "locale"},
		{name: "installedAt in the future", start: map[string]any{"installedAt": "2026-01-10T09:00:01Z"}, field: "installedAt"},
		{name: "installedAt 14 days and a second ago", start: map[string]any{"installedAt": "2025-12-27T08:59:59Z"}, field: "installedAt"},
		{name: "installedAt not a time", start: map[string]any{"installedAt": "yesterday"}, field: "installedAt"},
		{name: "installedAt a date", start: map[string]any{"installedAt": "2026-01-09"}, field: "installedAt"},
		{name: "installedAt a number", start: map[string]any{"installedAt": 1767949200}, field: "installedAt"},
		{name: "installedAt lower-case t and z", start: map[string]any{"installedAt": "2026-01-08t09:00:00z"},
			accepted: contractStart("2026-01-08T09:00:00Z")},
		{name: "installedAt lower-case t with an offset", start: map[string]any{"installedAt": "2026-01-08t10:00:00+01:00"},
			accepted: contractStart("2026-01-08T09:00:00Z")},
		{name: "testClock.speedup below 1", start: map[string]any{
			"testClock": map[string]any{"startsAt": "2026-01-10T09:00:00Z", "speedup": 0.5}}, field: "testClock.speedup"},
		{name: "testClock.startsAt not a time", start: map[string]any{
			"testClock": map[string]any{"startsAt": "now", "speedup": 1440}}, field: "testClock.startsAt"},
		{name: "testClock.startsAt lower-case t and z", start: map[string]any{
			"testClock": map[string]any{"startsAt": "2026-03-01t00:00:00z", "speedup": 1}},
			accepted: contractStart("2026-03-01T00:00:00Z")},
		{name: "installedAt on a test clock, lower case", start: map[string]any{"installedAt": "2026-02-27t00:00:00z",
			"testClock": map[string]any{"startsAt": "2026-03-01t00:00:00z", "speedup": 1}},
			accepted: contractStart("2026-02-27T00:00:00Z")},
		{name: "dunningDays decreasing", start: map[string]any{"dunningDays": []int{3, 2}}, field: "dunningDays"},
		{name: "dunningDays from day 0", start: map[string]any{"dunningDays": []int{0, 3}}, field: "dunningDays"},
		{name: "dunningDays past day 60", start: map[string]any{"dunningDays": []int{1, 61}}, field: "dunningDays"},
		{name: "dunningDays eleven retries", start: map[string]any{"dunningDays": []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, field: "dunningDays"},
		{name: "continued state from a caller", start: map[string]any{"continued": map[string]any{"cycle": 3}}, field: "continued"},

		// Updates: rejected with an error naming the field; nothing changes.
		{name: "cancel: unknown field", update: api.UpdateCancel, arg: raw(`{"reason":"moving","refund":true}`), field: "refund"},
		{name: "cancel: field name in another case", update: api.UpdateCancel, arg: raw(`{"Reason":"moving"}`), field: "Reason"},
		{name: "cancel: reason a number", update: api.UpdateCancel, arg: raw(`{"reason":42}`), field: "reason"},
		{name: "cancel: requestedAt not a time", update: api.UpdateCancel, arg: raw(`{"requestedAt":"yesterday"}`), field: "requestedAt"},
		{name: "withdraw: unknown field", update: api.UpdateWithdraw, arg: raw(`{"amountMinor":995}`), field: "amountMinor"},
		{name: "withdraw: requestedAt a number", update: api.UpdateWithdraw, arg: raw(`{"requestedAt":1768467600}`), field: "requestedAt"},
		{name: "withdraw: requestedAt without a zone", update: api.UpdateWithdraw, arg: raw(`{"requestedAt":"2026-01-15T09:00:00"}`), field: "requestedAt"},
		{name: "updatePaymentMethod: a card ID", update: api.UpdatePaymentMethod, arg: raw(`{"paymentMethodId":"card_123"}`), field: "paymentMethodId"},
		{name: "updatePaymentMethod: a bank account", update: api.UpdatePaymentMethod, arg: raw(`{"paymentMethodId":"ba_123"}`), field: "paymentMethodId"},
		{name: "updatePaymentMethod: missing", update: api.UpdatePaymentMethod, arg: raw(`{}`), field: "paymentMethodId"},
		{name: "updatePaymentMethod: a number", update: api.UpdatePaymentMethod, arg: raw(`{"paymentMethodId":4242}`), field: "paymentMethodId"},
		{name: "updatePaymentMethod: misspelt", update: api.UpdatePaymentMethod, arg: raw(`{"paymentMethodID":"pm_card_visa"}`), field: "paymentMethodID"},
		{name: "changePlan: unknown plan", update: api.UpdateChangePlan, arg: raw(`{"plan":"weekly"}`), field: "plan"},
		{name: "changePlan: capitalised", update: api.UpdateChangePlan, arg: raw(`{"plan":"Annual"}`), field: "plan"},
		{name: "changePlan: an array", update: api.UpdateChangePlan, arg: raw(`{"plan":["annual"]}`), field: "plan"},
		{name: "changePlan: missing", update: api.UpdateChangePlan, arg: raw(`{}`), field: "plan"},
		{name: "schedulePriceChange: price below 50", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`49`, t0.Add(day(40))), field: "priceMinor"},
		{name: "schedulePriceChange: price above 1 000 000", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`1000001`, t0.Add(day(40))), field: "priceMinor"},
		{name: "schedulePriceChange: price negative", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`-995`, t0.Add(day(40))), field: "priceMinor"},
		{name: "schedulePriceChange: price a string", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`"1295"`, t0.Add(day(40))), field: "priceMinor"},
		{name: "schedulePriceChange: price in major units", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`12.95`, t0.Add(day(40))), field: "priceMinor"},
		{name: "schedulePriceChange: 29 days' notice", update: api.UpdateSchedulePriceChange,
			arg: priceChange(`1295`, requestDay.Add(day(29))), field: "effectiveAt"},
		{name: "schedulePriceChange: effectiveAt not a time", update: api.UpdateSchedulePriceChange,
			arg: raw(`{"priceMinor":1295,"effectiveAt":"tomorrow"}`), field: "effectiveAt"},
		{name: "schedulePriceChange: effectiveAt missing", update: api.UpdateSchedulePriceChange,
			arg: raw(`{"priceMinor":1295}`), field: "effectiveAt"},
		{name: "schedulePriceChange: unknown field", update: api.UpdateSchedulePriceChange,
			arg: raw(`{"priceMinor":1295,"effectiveAt":"2026-03-01T00:00:00Z","currency":"USD"}`), field: "currency"},
		{name: "schedulePriceChange: lower-case t and z", update: api.UpdateSchedulePriceChange,
			arg: raw(`{"priceMinor":1295,"effectiveAt":"2026-02-20t09:00:00z","requestedAt":"2026-01-15t09:00:00z"}`),
			accepted: func(t *testing.T, st api.State) {
				if len(st.PriceChanges) != 1 || st.PriceChanges[0].PriceMinor != 1295 || !st.PriceChanges[0].NotifiedAt.Equal(requestDay) {
					t.Fatalf("price changes %+v; want 1295 notified on %s", st.PriceChanges, requestDay)
				}
			}},
		{name: "terminate: empty reason", update: api.UpdateTerminate, arg: raw(`{"reason":""}`), field: "reason"},
		{name: "terminate: blank reason", update: api.UpdateTerminate, arg: raw(`{"reason":" \t "}`), field: "reason"},
		{name: "terminate: no reason", update: api.UpdateTerminate, arg: raw(`{}`), field: "reason"},
		{name: "terminate: reason a boolean", update: api.UpdateTerminate, arg: raw(`{"reason":true}`), field: "reason"},
		{name: "terminate: requestedAt not a time", update: api.UpdateTerminate, arg: raw(`{"reason":"fraud","requestedAt":"now"}`), field: "requestedAt"},

		// Signals: recorded in rejected, naming the field; nothing else changes.
		{name: "cancel signal: unknown field", signal: api.SignalCancel, arg: raw(`{"reason":"moving","refund":true}`), field: "refund"},
		{name: "cancel signal: reason a number", signal: api.SignalCancel, arg: raw(`{"reason":42}`), field: "reason"},
		{name: "cancel signal: requestedAt not a time", signal: api.SignalCancel, arg: raw(`{"requestedAt":"yesterday"}`), field: "requestedAt"},
		{name: "cancel signal: lower-case t and z", signal: api.SignalCancel, arg: raw(`{"reason":"moving","requestedAt":"2026-01-15t09:00:00z"}`),
			accepted: func(t *testing.T, st api.State) {
				if st.Status != api.StatusCanceling || st.CancelReason != "moving" || len(st.Rejected) != 0 {
					t.Fatalf("status %s, reason %q, rejected %+v; want canceling for moving", st.Status, st.CancelReason, st.Rejected)
				}
			}},
		{name: "withdraw signal: unknown field", signal: api.SignalWithdraw, arg: raw(`{"amountMinor":995}`), field: "amountMinor"},
		{name: "withdraw signal: requestedAt a boolean", signal: api.SignalWithdraw, arg: raw(`{"requestedAt":true}`), field: "requestedAt"},
		{name: "withdraw signal: requestedAt without a zone", signal: api.SignalWithdraw, arg: raw(`{"requestedAt":"2026-01-15T09:00:00"}`), field: "requestedAt"},
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// priceChange is a schedulePriceChange argument whose priceMinor is the raw JSON price.
func priceChange(price string, effectiveAt time.Time) json.RawMessage {
	return raw(`{"priceMinor":` + price + `,"effectiveAt":"` + effectiveAt.Format(time.RFC3339) + `"}`)
}

func TestBadInputs(t *testing.T) {
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if (tc.field == "") == (tc.accepted == nil) {
				t.Fatal("a row names a field or checks what was accepted")
			}
			switch {
			case tc.start != nil:
				testBadStart(t, tc)
			case tc.update != "":
				testBadUpdate(t, tc)
			default:
				testBadSignal(t, tc)
			}
		})
	}
}

func testBadStart(t *testing.T, tc badInput) {
	fields := startJSON(t)
	for k, v := range tc.start {
		if _, ok := v.(remove); ok {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	fake := newFake()
	h := newHarness(t, badInputStart, fake)
	st := h.stateAt(time.Hour)
	err := h.runJSON(fields, day(1))
	if tc.field == "" {
		if err != nil {
			t.Fatalf("workflow failed: %v", err)
		}
		tc.accepted(t, *st)
		return
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeInvalidInput || !appErr.NonRetryable() {
		t.Fatalf("workflow error %v; want a non-retryable %s application error", err, api.ErrTypeInvalidInput)
	}
	if want := "invalid " + tc.field + ": "; !strings.HasPrefix(appErr.Message(), want) {
		t.Fatalf("error %q; want it to start with %q", appErr.Message(), want)
	}
	if !h.env.Now().Equal(badInputStart) || len(fake.calls) != 0 || len(fake.emails) != 0 {
		t.Fatalf("failed at %s after %d charges and %d emails; want at once, at %s, with nothing done",
			h.env.Now(), len(fake.calls), len(fake.emails), badInputStart)
	}
}

func testBadUpdate(t *testing.T, tc badInput) {
	h := newHarness(t, badInputStart, newFake())
	before := h.stateAt(day(5) - time.Minute)
	o := h.update(day(5), tc.update, tc.arg)
	after := h.stateAt(day(5) + time.Minute)
	_, _ = h.run(input(), day(6))
	if before.Status != api.StatusTrialing {
		t.Fatalf("state before the update %+v; want a subscription in its trial", before)
	}
	if !o.done {
		t.Fatal("no answer to the update")
	}
	if tc.field == "" {
		if o.rejected != nil || o.err != nil {
			t.Fatalf("update rejected (%v) or failed (%v)", o.rejected, o.err)
		}
		tc.accepted(t, *after)
		return
	}
	if o.rejected == nil || !strings.Contains(o.rejected.Error(), tc.field) {
		t.Fatalf("update rejected with %v (completed with %v); want a rejection naming %s", o.rejected, o.err, tc.field)
	}
	if diff := stateDiff(*before, *after); diff != "" {
		t.Fatalf("a rejected update changed the state: %s", diff)
	}
}

func testBadSignal(t *testing.T, tc badInput) {
	h := newHarness(t, badInputStart, newFake())
	before := h.stateAt(day(5) - time.Minute)
	h.at(day(5), func() { h.env.SignalWorkflow(tc.signal, tc.arg) })
	after := h.stateAt(day(5) + time.Minute)
	_, _ = h.run(input(), day(6))
	if before.Status != api.StatusTrialing {
		t.Fatalf("state before the signal %+v; want a subscription in its trial", before)
	}
	if tc.field == "" {
		tc.accepted(t, *after)
		return
	}
	n := len(before.Rejected)
	if len(after.Rejected) != n+1 {
		t.Fatalf("rejected %+v; want one entry more than %+v", after.Rejected, before.Rejected)
	}
	if r := after.Rejected[n]; r.Signal != tc.signal || !strings.Contains(r.Error, tc.field) {
		t.Fatalf("rejected %+v; want the %s signal, naming %s", r, tc.signal, tc.field)
	}
	after.Rejected = before.Rejected
	if diff := stateDiff(*before, *after); diff != "" {
		t.Fatalf("a rejected signal changed more than the rejected list: %s", diff)
	}
}

// startJSON is the harness's valid input as a JSON object.
func startJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := json.Marshal(input())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	return fields
}

// runJSON runs the workflow on an input sent as it is, not as an api.Input,
// and stops it at d if it is still running. It returns the workflow's error.
func (h *harness) runJSON(in map[string]any, d time.Duration) error {
	h.t.Helper()
	h.at(d, func() { h.env.CancelWorkflow() })
	h.env.ExecuteWorkflow(api.WorkflowType, in) // by name: the SDK does not check the argument's type
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	return h.env.GetWorkflowError()
}

// stateDiff says which fields of the state, now aside, differ from a to b.
func stateDiff(a, b api.State) string {
	var diff []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if name != "Now" && !reflect.DeepEqual(x, y) {
			diff = append(diff, fmt.Sprintf("%s %+v, then %+v", name, x, y))
		}
	}
	return strings.Join(diff, "; ")
}
