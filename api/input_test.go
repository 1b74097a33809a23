package api_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// now is the subscription clock at start in these tests.
var now = time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC)

// validInput is a complete, valid input as a backend would send it.
const validInput = `{
	"accountId": "acc_123-X",
	"email": "jane.doe@example.com",
	"name": "Jane Doe",
	"locale": "fr-FR",
	"stripeCustomerId": "cus_NffrFeUfNV2Hib",
	"paymentMethodId": "pm_card_visa",
	"plan": "monthly",
	"currency": "EUR",
	"offer": "body-scan",
	"installedAt": "2026-03-10T09:00:00Z",
	"dunningDays": [1, 3, 5, 7]
}`

// del removes a field from the input.
type del struct{}

// rawJSON is inserted verbatim.
type rawJSON string

// decodeWith decodes validInput with one field set (or removed) and validates it.
func decodeWith(t *testing.T, field string, value any) (api.Input, error) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validInput), &fields); err != nil {
		t.Fatal(err)
	}
	switch v := value.(type) {
	case del:
		delete(fields, field)
	case rawJSON:
		fields[field] = json.RawMessage(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fields[field] = b
	}
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	var in api.Input
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatalf("decoding %s: %v (a wrong value must be reported by Validate, not by decoding)", b, err)
	}
	return in, in.Validate(now)
}

func TestValidInput(t *testing.T) {
	var in api.Input
	if err := json.Unmarshal([]byte(validInput), &in); err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(now); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	want := api.Input{
		AccountID: "acc_123-X", Email: "jane.doe@example.com", Name: "Jane Doe", Locale: "fr-FR",
		StripeCustomerID: "cus_NffrFeUfNV2Hib", PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly,
		Currency: api.CurrencyEUR, Offer: api.OfferBodyScan, InstalledAt: "2026-03-10T09:00:00Z", DunningDays: []int{1, 3, 5, 7},
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("decoded %+v\nwant %+v", in, want)
	}
}

func TestValidateFields(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name  string
		field string
		value any
		want  string // the field Validate must name; "" if valid
	}{
		// accountId: required, 1–64 of A-Za-z0-9_-
		{"accountId missing", "accountId", del{}, "accountId"},
		{"accountId empty", "accountId", "", "accountId"},
		{"accountId one char", "accountId", "a", ""},
		{"accountId 64 chars", "accountId", long, ""},
		{"accountId 65 chars", "accountId", long + "a", "accountId"},
		{"accountId all allowed chars", "accountId", "AZaz09_-", ""},
		{"accountId space", "accountId", "acc 1", "accountId"},
		{"accountId dot", "accountId", "acc.1", "accountId"},
		{"accountId slash", "accountId", "acc/1", "accountId"},
		{"accountId accent", "accountId", "accé", "accountId"},
		{"accountId trailing newline", "accountId", "acc1\n", "accountId"},
		{"accountId null", "accountId", rawJSON("null"), "accountId"},
		{"accountId number", "accountId", 123, "accountId"},
		// email: required, a valid address
		{"email missing", "email", del{}, "email"},
		{"email empty", "email", "", "email"},
		{"email without @", "email", "jane.example.com", "email"},
		{"email without domain", "email", "jane@", "email"},
		{"email without local part", "email", "@example.com", "email"},
		{"email double @", "email", "jane@@example.com", "email"},
		{"email with display name", "email", "Jane <jane@example.com>", "email"},
		{"email in angle brackets", "email", "<jane@example.com>", "email"},
		{"email with leading space", "email", " jane@example.com", "email"},
		{"email with trailing space", "email", "jane@example.com ", "email"},
		{"email two addresses", "email", "a@example.com, b@example.com", "email"},
		{"email plus tag and subdomain", "email", "jane.doe+withings@mail.example.co.uk", ""},
		{"email array", "email", []string{"jane@example.com"}, "email"},
		// name: optional, one line of at most 256 characters (see TestValidateName)
		{"name missing", "name", del{}, ""},
		{"name unicode", "name", "Zoë Ñúñez 李", ""},
		{"name number", "name", 42, "name"},
		{"name with a comma", "name", "Smith, John", ""},
		{"name with a newline", "name", "Jane\nDoe", "name"},
		// locale: optional BCP 47
		{"locale missing", "locale", del{}, ""},
		{"locale empty (default en)", "locale", "", ""},
		{"locale en", "locale", "en", ""},
		{"locale en-GB", "locale", "en-GB", ""},
		{"locale zh-Hant-TW", "locale", "zh-Hant-TW", ""},
		{"locale es-419", "locale", "es-419", ""},
		{"locale not a tag", "locale", "english", "locale"},
		{"locale POSIX form", "locale", "en_US", "locale"},
		{"locale empty subtag", "locale", "fr--FR", "locale"},
		{"locale trailing dash", "locale", "en-", "locale"},
		{"locale digits", "locale", "123", "locale"},
		{"locale boolean", "locale", true, "locale"},
		// stripeCustomerId: required cus_…
		{"customer missing", "stripeCustomerId", del{}, "stripeCustomerId"},
		{"customer prefix only", "stripeCustomerId", "cus_", "stripeCustomerId"},
		{"customer wrong prefix", "stripeCustomerId", "cust_123", "stripeCustomerId"},
		{"customer upper-case prefix", "stripeCustomerId", "CUS_123", "stripeCustomerId"},
		{"customer a payment method", "stripeCustomerId", "pm_card_visa", "stripeCustomerId"},
		{"customer with space", "stripeCustomerId", "cus_12 3", "stripeCustomerId"},
		{"customer short", "stripeCustomerId", "cus_1", ""},
		// paymentMethodId: required pm_…
		{"pm missing", "paymentMethodId", del{}, "paymentMethodId"},
		{"pm prefix only", "paymentMethodId", "pm_", "paymentMethodId"},
		{"pm card id", "paymentMethodId", "card_123", "paymentMethodId"},
		{"pm source id", "paymentMethodId", "src_123", "paymentMethodId"},
		{"pm a customer", "paymentMethodId", "cus_123", "paymentMethodId"},
		{"pm real-looking", "paymentMethodId", "pm_1NvXyz2eZvKYlo2CabcdEFGH", ""},
		{"pm declined test card", "paymentMethodId", "pm_card_chargeDeclined", ""},
		// plan
		{"plan annual", "plan", "annual", ""},
		{"plan missing", "plan", del{}, "plan"},
		{"plan empty", "plan", "", "plan"},
		{"plan capitalised", "plan", "Monthly", "plan"},
		{"plan unknown", "plan", "weekly", "plan"},
		{"plan number", "plan", 3, "plan"},
		{"plan object", "plan", map[string]string{"name": "monthly"}, "plan"},
		// currency
		{"currency USD", "currency", "USD", ""},
		{"currency GBP", "currency", "GBP", ""},
		{"currency lower case", "currency", "eur", "currency"},
		{"currency CHF", "currency", "CHF", "currency"},
		{"currency missing", "currency", del{}, "currency"},
		{"currency symbol", "currency", "€", "currency"},
		// offer: optional, one code
		{"offer missing", "offer", del{}, ""},
		{"offer empty", "offer", "", ""},
		{"offer body-segment", "offer", "body-segment", ""},
		{"offer scanwatch-2", "offer", "scanwatch-2", ""},
		{"offer scanwatch-nova", "offer", "scanwatch-nova", ""},
		{"offer underscore", "offer", "body_scan", "offer"},
		{"offer upper case", "offer", "BODY-SCAN", "offer"},
		{"offers combined", "offer", "body-scan,scanwatch-2", "offer"},
		{"offer unknown", "offer", "scanwatch-3", "offer"},
		{"offer array", "offer", []string{"body-scan"}, "offer"},
		// installedAt: optional RFC 3339, not in the future, at most 14 days back
		{"installedAt missing", "installedAt", del{}, ""},
		{"installedAt empty", "installedAt", "", ""},
		{"installedAt now", "installedAt", "2026-03-12T10:00:00Z", ""},
		{"installedAt a second in the future", "installedAt", "2026-03-12T10:00:01Z", "installedAt"},
		{"installedAt tomorrow", "installedAt", "2026-03-13T10:00:00Z", "installedAt"},
		{"installedAt exactly 14 days ago", "installedAt", "2026-02-26T10:00:00Z", ""},
		{"installedAt 14 days and a second ago", "installedAt", "2026-02-26T09:59:59Z", "installedAt"},
		{"installedAt a year ago", "installedAt", "2025-03-12T10:00:00Z", "installedAt"},
		{"installedAt with offset", "installedAt", "2026-03-12T12:00:00+02:00", ""},
		{"installedAt with offset, future", "installedAt", "2026-03-12T12:00:01+02:00", "installedAt"},
		{"installedAt with offset, 14 days", "installedAt", "2026-02-26T05:00:00-05:00", ""},
		{"installedAt fractional seconds", "installedAt", "2026-03-11T10:00:00.123Z", ""},
		{"installedAt date only", "installedAt", "2026-03-10", "installedAt"},
		{"installedAt space separator", "installedAt", "2026-03-10 09:00:00Z", "installedAt"},
		{"installedAt without zone", "installedAt", "2026-03-10T09:00:00", "installedAt"},
		{"installedAt unix time", "installedAt", 1773136800, "installedAt"},
		{"installedAt lower-case t and z", "installedAt", "2026-03-10t09:00:00z", ""},
		{"installedAt lower-case t, offset", "installedAt", "2026-03-10t09:00:00+01:00", ""},
		{"installedAt lower-case, future", "installedAt", "2026-03-13t10:00:00z", "installedAt"},
		{"installedAt other lower-case letter", "installedAt", "2026-03-10x09:00:00z", "installedAt"},
		// testClock: optional {startsAt RFC 3339, speedup ≥ 1}
		{"testClock absent", "testClock", del{}, ""},
		{"testClock null", "testClock", rawJSON("null"), ""},
		{"testClock 1440", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":1440}`), ""},
		{"testClock speedup 1", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":1}`), ""},
		{"testClock speedup 86400.5", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":86400.5}`), ""},
		{"testClock speedup 0.5", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":0.5}`), "testClock.speedup"},
		{"testClock speedup 0", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":0}`), "testClock.speedup"},
		{"testClock speedup negative", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":-10}`), "testClock.speedup"},
		{"testClock speedup missing", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z"}`), "testClock.speedup"},
		{"testClock speedup a string", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":"fast"}`), "testClock.speedup"},
		{"testClock startsAt missing", "testClock", rawJSON(`{"speedup":1440}`), "testClock.startsAt"},
		{"testClock startsAt not a time", "testClock", rawJSON(`{"startsAt":"tomorrow","speedup":1440}`), "testClock.startsAt"},
		{"testClock startsAt a number", "testClock", rawJSON(`{"startsAt":1773136800,"speedup":1440}`), "testClock.startsAt"},
		{"testClock startsAt lower-case", "testClock", rawJSON(`{"startsAt":"2026-03-12t10:00:00z","speedup":1440}`), ""},
		{"testClock unknown field", "testClock", rawJSON(`{"startsAt":"2026-03-12T10:00:00Z","speedup":1440,"rate":2}`), "testClock.rate"},
		{"testClock field in another case", "testClock", rawJSON(`{"StartsAt":"2026-03-12T10:00:00Z","speedup":1440}`), "testClock.StartsAt"},
		{"testClock empty", "testClock", rawJSON(`{}`), "testClock.startsAt"},
		{"testClock a string", "testClock", "yes", "testClock"},
		{"testClock an array", "testClock", rawJSON(`[1440]`), "testClock"},
		// dunningDays: strictly increasing, 1..60, at most 10
		{"dunningDays missing", "dunningDays", del{}, ""},
		{"dunningDays one", "dunningDays", []int{1}, ""},
		{"dunningDays 60", "dunningDays", []int{60}, ""},
		{"dunningDays ten", "dunningDays", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ""},
		{"dunningDays eleven", "dunningDays", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "dunningDays"},
		{"dunningDays zero", "dunningDays", []int{0, 3}, "dunningDays"},
		{"dunningDays negative", "dunningDays", []int{-1}, "dunningDays"},
		{"dunningDays 61", "dunningDays", []int{1, 61}, "dunningDays"},
		{"dunningDays repeated", "dunningDays", []int{1, 1}, "dunningDays"},
		{"dunningDays decreasing", "dunningDays", []int{3, 2}, "dunningDays"},
		{"dunningDays spread", "dunningDays", []int{2, 10, 30, 60}, ""},
		{"dunningDays fraction", "dunningDays", rawJSON(`[1, 2.5]`), "dunningDays"},
		{"dunningDays a string", "dunningDays", "1,3,5", "dunningDays"},
		{"dunningDays strings", "dunningDays", []string{"1"}, "dunningDays"},
		// unknown fields are refused, names are case-sensitive
		{"unknown field", "promo", "x", "promo"},
		{"field name in another case", "accountID", "acc1", "accountID"},
		{"continued carried state", "continued", rawJSON(`{"cycle":3}`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeWith(t, tc.field, tc.value)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want valid", err)
				}
				return
			}
			var ie *api.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Validate = %v (%T), want an *api.InputError", err, err)
			}
			if ie.Field != tc.want {
				t.Fatalf("InputError.Field = %q (%v), want %q", ie.Field, err, tc.want)
			}
			if ie.Reason == "" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q must name %s and say why", err, tc.want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	// Names are real people's: punctuation and any script are accepted;
	// what cannot be one line of a mail header is refused, saying why.
	tests := []struct {
		name   string
		value  string
		reason string // a part of the reason; "" if valid
	}{
		{"empty", "", ""},
		{"plain", "Jane Doe", ""},
		{"comma", "Smith, John", ""},
		{"semicolon", "A; B", ""},
		{"apostrophe", "O'Brien", ""},
		{"double quotes", `Jean "JJ" Dupont`, ""},
		{"quotes and a comma", `Dupont, Jean "JJ"`, ""},
		{"backslash", `Ada \ Lovelace`, ""},
		{"angle brackets and at sign", "Ada <ada@example.com>", ""},
		{"accents", "Zoë Ñúñez", ""},
		{"Japanese", "山田 太郎", ""},
		{"Arabic", "محمد علي", ""},
		{"emoji", "Ada 🚀", ""},
		{"no-break space", "Jean\u00a0Dupont", ""},
		{"leading and trailing spaces", "  Ada  ", ""},
		{"256 characters", strings.Repeat("a", api.MaxNameLength), ""},
		{"256 characters, 3 bytes each", strings.Repeat("山", api.MaxNameLength), ""},
		{"257 characters", strings.Repeat("a", api.MaxNameLength+1), "257 characters long, at most 256"},
		{"257 characters, 2 bytes each", strings.Repeat("é", api.MaxNameLength+1), "257 characters long"},
		{"CR LF header injection", "Line\r\nBcc: x@y.z", `"Line\r\nBcc: x@y.z" holds U+000D`},
		{"LF", "Jane\nDoe", "U+000A"},
		{"tab", "Jane\tDoe", "U+0009"},
		{"NUL", "Jane\x00Doe", "U+0000"},
		{"escape", "Jane\x1b[31mDoe", "U+001B"},
		{"DEL", "Jane\x7fDoe", "U+007F"},
		{"C1 next line", "Jane\u0085Doe", "U+0085"},
		{"line separator", "Jane\u2028Doe", "U+2028"},
		{"paragraph separator", "Jane\u2029Doe", "U+2029"},
		{"invalid UTF-8", "Jane\xffDoe", "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validStart(t)
			in.Name = tc.value
			err := in.Validate(now)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Validate(name %q) = %v, want valid", tc.value, err)
				}
				return
			}
			var ie *api.InputError
			if !errors.As(err, &ie) || ie.Field != "name" {
				t.Fatalf("Validate(name %q) = %v, want an *api.InputError on name", tc.value, err)
			}
			if !strings.Contains(ie.Reason, tc.reason) || !strings.HasPrefix(err.Error(), "invalid name: ") {
				t.Fatalf("error %q, want it to name the field and say %q", err, tc.reason)
			}
		})
	}
}

// validStart is validInput, decoded.
func validStart(t *testing.T) api.Input {
	t.Helper()
	var in api.Input
	if err := json.Unmarshal([]byte(validInput), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestWrongTypeReason(t *testing.T) {
	// The reason must describe the wrong value, not the container it sits in.
	tests := []struct {
		field  string
		value  rawJSON
		reason string
	}{
		{"plan", `3`, "number"},
		{"accountId", `{"id":1}`, "object"},
		{"offer", `["body-scan"]`, "array"},
		{"name", `true`, "bool"},
		{"testClock", `{"startsAt":"2026-03-12T10:00:00Z","speedup":"fast"}`, "string"},
		{"testClock", `"yes"`, "string"},
		{"dunningDays", `[1, "3"]`, "string"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			_, err := decodeWith(t, tc.field, tc.value)
			var ie *api.InputError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "wrong type") || !strings.Contains(ie.Reason, tc.reason) {
				t.Fatalf("Validate = %v, want a wrong type naming %q", err, tc.reason)
			}
		})
	}
}

func TestLowerCaseTimesAreKeptInUpperCase(t *testing.T) {
	// The workflow reads installedAt and startsAt with time.Parse(time.RFC3339),
	// which refuses "t" and "z": decoding keeps them in upper case.
	doc := `{"accountId":"a","email":"a@example.com","stripeCustomerId":"cus_1","paymentMethodId":"pm_card_visa",
		"plan":"monthly","currency":"EUR","installedAt":"2026-03-10t09:00:00.5z",
		"testClock":{"startsAt":"2026-03-12t10:00:00+01:00","speedup":60}}`
	var in api.Input
	if err := json.Unmarshal([]byte(doc), &in); err != nil {
		t.Fatal(err)
	}
	if in.InstalledAt != "2026-03-10T09:00:00.5Z" || in.TestClock.StartsAt != "2026-03-12T10:00:00+01:00" {
		t.Fatalf("installedAt %q, startsAt %q: want them in upper case", in.InstalledAt, in.TestClock.StartsAt)
	}
	start := in.StartTime(now)
	if !start.Equal(time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("StartTime = %s", start)
	}
	if err := in.Validate(start); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	// Not a time: kept as it came, for the error to quote it.
	if err := json.Unmarshal([]byte(`{"installedAt":"yesterday"}`), &in); err != nil || in.InstalledAt != "yesterday" {
		t.Fatalf("installedAt %q, %v", in.InstalledAt, err)
	}
}

func TestValidateOrder(t *testing.T) {
	// With several wrong fields, decoding errors come first and one field is named.
	var in api.Input
	if err := json.Unmarshal([]byte(`{"accountId":"bad id","plan":3}`), &in); err != nil {
		t.Fatal(err)
	}
	var ie *api.InputError
	if err := in.Validate(now); !errors.As(err, &ie) || ie.Field != "plan" {
		t.Fatalf("Validate = %v, want the decoding error on plan", err)
	}
	// An empty object: the first required field.
	in = api.Input{}
	if err := json.Unmarshal([]byte(`{}`), &in); err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(now); !errors.As(err, &ie) || ie.Field != "accountId" {
		t.Fatalf("Validate = %v", err)
	}
}

func TestDecodeResets(t *testing.T) {
	// Decoding into a used Input forgets its previous content and errors.
	var in api.Input
	if err := json.Unmarshal([]byte(`{"plan":3,"offer":"body-scan"}`), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(validInput), &in); err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(now); err != nil {
		t.Fatalf("Validate after a second decoding = %v", err)
	}
}

func TestTestClockInstalledAt(t *testing.T) {
	// With a test clock, installedAt is checked on the clock (its startsAt).
	doc := `{"accountId":"a","email":"a@example.com","stripeCustomerId":"cus_1","paymentMethodId":"pm_card_visa",
		"plan":"annual","currency":"USD","installedAt":"2020-01-05T00:00:00Z",
		"testClock":{"startsAt":"2020-01-10T00:00:00+01:00","speedup":1440}}`
	var in api.Input
	if err := json.Unmarshal([]byte(doc), &in); err != nil {
		t.Fatal(err)
	}
	real := time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC)
	start := in.StartTime(real)
	if !start.Equal(time.Date(2020, 1, 9, 23, 0, 0, 0, time.UTC)) || start.Location() != time.UTC {
		t.Fatalf("StartTime = %s, want the clock's startsAt in UTC", start)
	}
	if err := in.Validate(start); err != nil {
		t.Fatalf("Validate on the test clock = %v", err)
	}
	var ie *api.InputError
	if err := in.Validate(real); !errors.As(err, &ie) || ie.Field != "installedAt" {
		t.Fatalf("on real time installedAt is years old: %v", err)
	}
	// Without a test clock the start is real time, in UTC.
	in.TestClock = nil
	if got := in.StartTime(real.In(time.FixedZone("X", 3600))); !got.Equal(real) || got.Location() != time.UTC {
		t.Fatalf("StartTime = %s", got)
	}
}

func TestInputRoundTrip(t *testing.T) {
	in := api.Input{
		AccountID: "acc-42", Email: "a.b@example.org", Name: "A B", Locale: "en-GB",
		StripeCustomerID: "cus_X1", PaymentMethodID: "pm_card_visa", Plan: api.PlanAnnual, Currency: api.CurrencyGBP,
		Offer: api.OfferScanwatchNova, InstalledAt: "2026-03-01T10:00:00Z",
		TestClock:   &api.TestClock{StartsAt: "2026-03-05T00:00:00Z", Speedup: 1440},
		DunningDays: []int{2, 4},
	}
	if err := in.Validate(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"accountId", "currency", "dunningDays", "email", "installedAt", "locale", "name", "offer",
		"paymentMethodId", "plan", "stripeCustomerId", "testClock"}
	if !slices.Equal(got, want) {
		t.Fatalf("JSON keys %v, want the contract's %v", got, want)
	}
	var back api.Input
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, in) {
		t.Fatalf("round trip\n%+v\n%+v", back, in)
	}
	if err := back.Validate(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	// A minimal input omits the optional fields.
	min := api.Input{AccountID: "a", Email: "a@example.com", StripeCustomerID: "cus_1", PaymentMethodID: "pm_1", Plan: "monthly", Currency: "EUR"}
	b, _ = json.Marshal(min)
	if s := string(b); strings.Contains(s, "testClock") || strings.Contains(s, "installedAt") || strings.Contains(s, "offer") {
		t.Fatalf("optional fields not omitted: %s", s)
	}
	back = api.Input{}
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, min) || back.Validate(now) != nil {
		t.Fatalf("minimal round trip: %+v %v", back, err)
	}
}

func TestValidHelpers(t *testing.T) {
	for _, p := range []string{api.PlanMonthly, api.PlanAnnual} {
		if err := api.ValidPlan(p); err != nil {
			t.Errorf("ValidPlan(%q) = %v", p, err)
		}
	}
	var ie *api.InputError
	if err := api.ValidPlan("yearly"); !errors.As(err, &ie) || ie.Field != "plan" {
		t.Errorf("ValidPlan(yearly) = %v", err)
	}
	if err := api.ValidPaymentMethodID("pm_card_visa"); err != nil {
		t.Errorf("ValidPaymentMethodID = %v", err)
	}
	if err := api.ValidPaymentMethodID("ba_123"); !errors.As(err, &ie) || ie.Field != "paymentMethodId" {
		t.Errorf("ValidPaymentMethodID(ba_123) = %v", err)
	}
	if got := api.Offers(); !slices.Equal(got, []string{"body-scan", "body-segment", "scanwatch-2", "scanwatch-nova"}) {
		t.Errorf("Offers() = %v", got)
	}
	e := &api.InputError{Field: "plan", Reason: "nope"}
	if e.Error() != "invalid plan: nope" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestNotAnObject(t *testing.T) {
	// Whatever refuses it (decoding or Validate), a non-object is never accepted.
	for _, doc := range []string{`[]`, `"acc1"`, `3`, `true`, `null`, `[{"accountId":"a"}]`} {
		var in api.Input
		err := json.Unmarshal([]byte(doc), &in)
		if err == nil {
			err = in.Validate(now)
		}
		if err == nil {
			t.Errorf("input %s accepted", doc)
		}
	}
}

func TestInputEdgeCases(t *testing.T) {
	now := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		json, field string
	}{
		{`[]`, "input"},
		{`"x"`, "input"},
		{`3`, "input"},
		{`{"accountId":"a","email":"a@b"}`, "email"},
		{`{"accountId":"a","email":"a@-b.com"}`, "email"},
	} {
		var in api.Input
		if err := json.Unmarshal([]byte(tc.json), &in); err != nil {
			t.Fatalf("%s: decoding failed instead of reporting InvalidInput: %v", tc.json, err)
		}
		var ie *api.InputError
		if err := in.Validate(now); !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: got %v, want an error on %s", tc.json, err, tc.field)
		}
	}
	// An explicit empty dunning schedule survives a JSON round trip; an absent one stays absent.
	for _, days := range [][]int{nil, {}} {
		b, _ := json.Marshal(api.Input{DunningDays: days})
		var back api.Input
		if err := json.Unmarshal(b, &back); err != nil || (back.DunningDays == nil) != (days == nil) {
			t.Errorf("dunningDays %#v came back as %#v (%s)", days, back.DunningDays, b)
		}
	}
}
