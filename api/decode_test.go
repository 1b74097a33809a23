package api_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

func TestParseTime(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	tests := []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"2026-01-31T09:00:00Z", time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"2026-01-31t09:00:00z", time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"2026-01-31t09:00:00Z", time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"2026-01-31T09:00:00z", time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"2026-01-31t09:00:00+01:00", time.Date(2026, 1, 31, 9, 0, 0, 0, plus1)},
		{"2026-01-31t09:00:00.250z", time.Date(2026, 1, 31, 9, 0, 0, 250e6, time.UTC)},
		{"", time.Time{}},
		{"tomorrow", time.Time{}},
		{"2026-01-31", time.Time{}},
		{"2026-01-31 09:00:00Z", time.Time{}},
		{"2026-01-31T09:00:00", time.Time{}},
		{"2026-01-31x09:00:00z", time.Time{}},
		{"2026-01-31t09:00:00y", time.Time{}},
		{"2026-01-31tt09:00:00z", time.Time{}},
		{"2026-02-30T09:00:00Z", time.Time{}},
	}
	for _, tc := range tests {
		got, err := api.ParseTime(tc.in)
		if tc.want.IsZero() {
			if err == nil || !strings.Contains(err.Error(), `"`+tc.in+`" is not an RFC 3339 time`) {
				t.Errorf("ParseTime(%q) = %s, %v; want an error quoting it", tc.in, got, err)
			}
			continue
		}
		_, gotOffset := got.Zone()
		_, wantOffset := tc.want.Zone()
		if err != nil || !got.Equal(tc.want) || gotOffset != wantOffset {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestRequestDecoding(t *testing.T) {
	at := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		into  any // a pointer to the request type
		json  string
		field string // the field the error names; "" if valid
		want  any    // the decoded request, if valid
	}{
		{"cancel", &api.CancelRequest{}, `{"reason":"moving"}`, "", api.CancelRequest{Reason: "moving"}},
		{"cancel requestedAt", &api.CancelRequest{}, `{"reason":"moving","requestedAt":"2026-01-31T09:00:00Z"}`, "",
			api.CancelRequest{Reason: "moving", RequestedAt: at}},
		{"cancel requestedAt lower case", &api.CancelRequest{}, `{"requestedAt":"2026-01-31t09:00:00z"}`, "", api.CancelRequest{RequestedAt: at}},
		{"cancel empty", &api.CancelRequest{}, `{}`, "", api.CancelRequest{}},
		{"cancel null", &api.CancelRequest{}, `null`, "", api.CancelRequest{}},
		{"cancel null fields", &api.CancelRequest{}, `{"reason":null,"requestedAt":null}`, "", api.CancelRequest{}},
		{"cancel unknown field", &api.CancelRequest{}, `{"reason":"x","refund":true}`, "refund", nil},
		{"cancel field in another case", &api.CancelRequest{}, `{"Reason":"x"}`, "Reason", nil},
		{"cancel reason a number", &api.CancelRequest{}, `{"reason":42}`, "reason", nil},
		{"cancel requestedAt not a time", &api.CancelRequest{}, `{"requestedAt":"yesterday"}`, "requestedAt", nil},
		{"cancel requestedAt empty", &api.CancelRequest{}, `{"requestedAt":""}`, "requestedAt", nil},
		{"cancel requestedAt a number", &api.CancelRequest{}, `{"requestedAt":1769850000}`, "requestedAt", nil},
		{"cancel requestedAt without zone", &api.CancelRequest{}, `{"requestedAt":"2026-01-31T09:00:00"}`, "requestedAt", nil},
		{"withdraw", &api.WithdrawRequest{}, `{}`, "", api.WithdrawRequest{}},
		{"withdraw requestedAt", &api.WithdrawRequest{}, `{"requestedAt":"2026-01-31T10:00:00+01:00"}`, "", nil},
		{"withdraw unknown field", &api.WithdrawRequest{}, `{"amountMinor":995}`, "amountMinor", nil},
		{"withdraw requestedAt an object", &api.WithdrawRequest{}, `{"requestedAt":{}}`, "requestedAt", nil},
		{"updatePaymentMethod", &api.UpdatePaymentMethodRequest{}, `{"paymentMethodId":"pm_card_visa"}`, "",
			api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa"}},
		{"updatePaymentMethod ID a number", &api.UpdatePaymentMethodRequest{}, `{"paymentMethodId":4242}`, "paymentMethodId", nil},
		{"updatePaymentMethod misspelt", &api.UpdatePaymentMethodRequest{}, `{"paymentMethodID":"pm_card_visa"}`, "paymentMethodID", nil},
		{"changePlan", &api.ChangePlanRequest{}, `{"plan":"annual"}`, "", api.ChangePlanRequest{Plan: "annual"}},
		{"changePlan plan an array", &api.ChangePlanRequest{}, `{"plan":["annual"]}`, "plan", nil},
		{"schedulePriceChange", &api.PriceChangeRequest{}, `{"priceMinor":1295,"effectiveAt":"2026-01-31t09:00:00z"}`, "",
			api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: at}},
		{"schedulePriceChange price a string", &api.PriceChangeRequest{}, `{"priceMinor":"1295","effectiveAt":"2026-01-31T09:00:00Z"}`, "priceMinor", nil},
		{"schedulePriceChange price a fraction", &api.PriceChangeRequest{}, `{"priceMinor":12.95,"effectiveAt":"2026-01-31T09:00:00Z"}`, "priceMinor", nil},
		{"schedulePriceChange price too large for int64", &api.PriceChangeRequest{}, `{"priceMinor":1e20}`, "priceMinor", nil},
		{"schedulePriceChange effectiveAt not a time", &api.PriceChangeRequest{}, `{"priceMinor":1295,"effectiveAt":"tomorrow"}`, "effectiveAt", nil},
		{"terminate", &api.TerminateRequest{}, `{"reason":"fraud"}`, "", api.TerminateRequest{Reason: "fraud"}},
		{"terminate reason a boolean", &api.TerminateRequest{}, `{"reason":true}`, "reason", nil},
		{"several wrong fields: the first by name", &api.TerminateRequest{}, `{"reason":1,"by":"ops"}`, "by", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := argumentErr(tc.into, json.Unmarshal([]byte(tc.json), tc.into))
			got := reflect.ValueOf(tc.into).Elem().Interface()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("decoding %s: %v", tc.json, err)
				}
				if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("decoded %+v, want %+v", got, tc.want)
				}
				return
			}
			var ae *api.ArgumentError
			if !errors.As(err, &ae) {
				t.Fatalf("decoding %s: %v (%T), want an *api.ArgumentError", tc.json, err, err)
			}
			if ae.Field != tc.field || ae.Reason == "" {
				t.Fatalf("ArgumentError %+v, want one naming %s and saying why", ae, tc.field)
			}
			if want := "invalid " + ae.Request + " argument: " + tc.field + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

// argumentErr is what is wrong with a decoded request: the decoding's own
// error, else what the strict decoding kept for the workflow.
func argumentErr(into any, err error) error {
	if err != nil {
		return err
	}
	return into.(interface{ ArgumentErr() error }).ArgumentErr()
}

func TestLenientDecodingKeepsTheValueForReplay(t *testing.T) {
	// An argument the SDK's plain JSON decoding took before strict decoding
	// decodes to the same value, so recorded histories replay; the error is
	// kept for the validator.
	var r api.CancelRequest
	if err := json.Unmarshal([]byte(`{"Reason":"moving","refund":true}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Reason != "moving" || r.ArgumentErr() == nil || !strings.Contains(r.ArgumentErr().Error(), "Reason: unknown field") {
		t.Fatalf("decoded %+v, kept error %v", r, r.ArgumentErr())
	}
	// Decoding again a valid argument forgets the error.
	if err := json.Unmarshal([]byte(`{"reason":"moving"}`), &r); err != nil || r.ArgumentErr() != nil {
		t.Fatalf("second decoding: %v, kept %v", err, r.ArgumentErr())
	}
}

func TestRequestErrorNamesTheRequest(t *testing.T) {
	tests := []struct {
		into any
		json string
		want string
	}{
		{&api.PriceChangeRequest{}, `{"priceMinor":1295,"effectiveAt":"tomorrow"}`,
			`invalid schedulePriceChange argument: effectiveAt: "tomorrow" is not an RFC 3339 time`},
		{&api.CancelRequest{}, `{"reason":42}`, `invalid cancel argument: reason: wrong type: got number`},
		{&api.WithdrawRequest{}, `{"requestedAt":1}`, `invalid withdraw argument: requestedAt: wrong type: got a number, want an RFC 3339 time`},
		{&api.UpdatePaymentMethodRequest{}, `{"card":"4242"}`, `invalid updatePaymentMethod argument: card: unknown field`},
		{&api.ChangePlanRequest{}, `"annual"`, `invalid changePlan argument: wrong type: got a string, want an object`},
		{&api.TerminateRequest{}, `[]`, `invalid terminate argument: wrong type: got an array, want an object`},
	}
	for _, tc := range tests {
		if err := argumentErr(tc.into, json.Unmarshal([]byte(tc.json), tc.into)); err == nil || err.Error() != tc.want {
			t.Errorf("decoding %s into %T: %v, want %q", tc.json, tc.into, err, tc.want)
		}
	}
}

func TestRequestDecodingResets(t *testing.T) {
	// Decoding into a used request forgets what it held, as json.Unmarshal
	// into a fresh value would.
	req := api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: time.Now(), RequestedAt: time.Now()}
	if err := json.Unmarshal([]byte(`{"priceMinor":1495}`), &req); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req, api.PriceChangeRequest{PriceMinor: 1495}) {
		t.Fatalf("decoded %+v", req)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	// What the typed client encodes decodes back to the same request.
	at := time.Date(2026, 1, 31, 9, 0, 0, 123e6, time.UTC)
	tests := []struct{ in, out any }{
		{api.CancelRequest{Reason: "moving", RequestedAt: at}, &api.CancelRequest{}},
		{api.CancelRequest{}, &api.CancelRequest{}},
		{api.WithdrawRequest{RequestedAt: at}, &api.WithdrawRequest{}},
		{api.UpdatePaymentMethodRequest{PaymentMethodID: "pm_card_visa", RequestedAt: at}, &api.UpdatePaymentMethodRequest{}},
		{api.ChangePlanRequest{Plan: "annual", RequestedAt: at}, &api.ChangePlanRequest{}},
		{api.PriceChangeRequest{PriceMinor: 1295, EffectiveAt: at.AddDate(0, 2, 0), RequestedAt: at}, &api.PriceChangeRequest{}},
		{api.PriceChangeRequest{}, &api.PriceChangeRequest{}},
		{api.TerminateRequest{Reason: "fraud", RequestedAt: at}, &api.TerminateRequest{}},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, tc.out); err != nil {
			t.Errorf("%T: %s does not decode: %v", tc.in, b, err)
			continue
		}
		if got := reflect.ValueOf(tc.out).Elem().Interface(); !reflect.DeepEqual(got, tc.in) {
			t.Errorf("%T: %s decoded to %+v", tc.in, b, got)
		}
	}
}
