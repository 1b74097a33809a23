package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Plans, currencies and launch offers accepted in Input.
const (
	PlanMonthly = "monthly"
	PlanAnnual  = "annual"

	CurrencyEUR = "EUR"
	CurrencyUSD = "USD"
	CurrencyGBP = "GBP"

	OfferBodyScan      = "body-scan"
	OfferBodySegment   = "body-segment"
	OfferScanwatch2    = "scanwatch-2"
	OfferScanwatchNova = "scanwatch-nova"
)

// MaxInstallAge is how far in the past installedAt may lie when a
// subscription starts: the length of the withdrawal period.
const MaxInstallAge = 14 * 24 * time.Hour

// MaxDunningRetries bounds the number of retries a dunning schedule may hold.
const MaxDunningRetries = 10

// Input starts a subscription. Its JSON shape is fixed by the contract.
type Input struct {
	AccountID        string     `json:"accountId"`
	Email            string     `json:"email"`
	Name             string     `json:"name,omitempty"`
	Locale           string     `json:"locale,omitempty"`
	StripeCustomerID string     `json:"stripeCustomerId"`
	PaymentMethodID  string     `json:"paymentMethodId"`
	Plan             string     `json:"plan"`
	Currency         string     `json:"currency"`
	Offer            string     `json:"offer,omitempty"`
	InstalledAt      string     `json:"installedAt,omitempty"` // RFC 3339; default: now
	TestClock        *TestClock `json:"testClock,omitempty"`
	// DunningDays is the retry schedule after a declined charge, in days after
	// the due date, strictly increasing. Default: 1, 3, 5, 7.
	DunningDays []int `json:"dunningDays"` // null: the default; []: no retry
	// Continued is set by the workflow itself when it continues as new: the
	// state it carries over. Never set it when starting a subscription.
	Continued json.RawMessage `json:"continued,omitempty"`

	decodeErr error
}

// TestClock runs a subscription on a simulated clock, like Stripe's test clocks:
// it reads StartsAt + Speedup × (real time elapsed since the workflow started).
type TestClock struct {
	StartsAt string  `json:"startsAt"` // RFC 3339
	Speedup  float64 `json:"speedup"`  // ≥ 1
}

// UnmarshalJSON decodes field by field so that a value of the wrong type is
// reported by Validate as an InvalidInput naming the field, instead of
// failing the decoding of the whole workflow input.
func (in *Input) UnmarshalJSON(b []byte) error {
	*in = Input{}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		in.decodeErr = fmt.Errorf("input: must be a JSON object, %s", typeName(b))
		return nil
	}
	targets := map[string]any{
		"accountId": &in.AccountID, "email": &in.Email, "name": &in.Name,
		"locale": &in.Locale, "stripeCustomerId": &in.StripeCustomerID,
		"paymentMethodId": &in.PaymentMethodID, "plan": &in.Plan,
		"currency": &in.Currency, "offer": &in.Offer, "installedAt": &in.InstalledAt,
		"testClock": &in.TestClock, "dunningDays": &in.DunningDays, "continued": &in.Continued,
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		target, ok := targets[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown field", k))
			continue
		}
		if string(fields[k]) == "null" {
			continue
		}
		if err := json.Unmarshal(fields[k], target); err != nil {
			name, got := k, typeName(fields[k])
			// Name the wrong value itself when it sits inside the field
			// (testClock.speedup, an element of dunningDays).
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				if te.Field != "" {
					name = k + "." + te.Field
				}
				got = "got " + te.Value
			}
			errs = append(errs, fmt.Errorf("%s: wrong type: %s", name, got))
		}
	}
	in.decodeErr = errors.Join(errs...)
	return nil
}

func typeName(raw json.RawMessage) string {
	switch s := strings.TrimSpace(string(raw)); {
	case strings.HasPrefix(s, `"`):
		return "got a string"
	case strings.HasPrefix(s, "{"):
		return "got an object"
	case strings.HasPrefix(s, "["):
		return "got an array"
	case s == "true" || s == "false":
		return "got a boolean"
	default:
		return "got a number"
	}
}

// validEmail accepts a bare address whose domain is a dotted host name.
func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	domain := s[strings.LastIndexByte(s, '@')+1:]
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !hostLabel.MatchString(l) {
			return false
		}
	}
	return true
}

var (
	hostLabel        = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	accountIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	customerPattern  = regexp.MustCompile(`^cus_[A-Za-z0-9_]+$`)
	paymentPattern   = regexp.MustCompile(`^pm_[A-Za-z0-9_]+$`)
)

// InputError is an invalid input: Field names the offending field.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return "invalid " + e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidPaymentMethodID reports whether id has the shape of a Stripe payment method ID.
func ValidPaymentMethodID(id string) error {
	if !paymentPattern.MatchString(id) {
		return invalid("paymentMethodId", "%q is not a Stripe payment method ID (pm_…)", id)
	}
	return nil
}

// ValidPlan reports whether plan is one of the contract's plans.
func ValidPlan(plan string) error {
	if plan != PlanMonthly && plan != PlanAnnual {
		return invalid("plan", "%q is not a plan (monthly or annual)", plan)
	}
	return nil
}

// Offers lists the launch offer codes.
func Offers() []string {
	return []string{OfferBodyScan, OfferBodySegment, OfferScanwatch2, OfferScanwatchNova}
}

// Validate checks the input against the contract. now is the subscription's
// clock at start: for a test clock, its startsAt. It returns an *InputError
// naming the first wrong field.
func (in *Input) Validate(now time.Time) error {
	if in.decodeErr != nil {
		var field, reason string
		msg := strings.SplitN(in.decodeErr.Error(), "\n", 2)[0]
		field, reason, _ = strings.Cut(msg, ": ")
		return invalid(field, "%s", reason)
	}
	if !accountIDPattern.MatchString(in.AccountID) {
		return invalid("accountId", "%q must be 1 to 64 of A-Z a-z 0-9 _ -", in.AccountID)
	}
	if !validEmail(in.Email) {
		return invalid("email", "%q is not a valid email address", in.Email)
	}
	if in.Locale != "" {
		// language.Parse also takes the POSIX form en_US, which is not BCP 47.
		if _, err := language.Parse(in.Locale); err != nil || strings.Contains(in.Locale, "_") {
			return invalid("locale", "%q is not a BCP 47 language tag", in.Locale)
		}
	}
	if !customerPattern.MatchString(in.StripeCustomerID) {
		return invalid("stripeCustomerId", "%q is not a Stripe customer ID (cus_…)", in.StripeCustomerID)
	}
	if err := ValidPaymentMethodID(in.PaymentMethodID); err != nil {
		return err
	}
	if err := ValidPlan(in.Plan); err != nil {
		return err
	}
	switch in.Currency {
	case CurrencyEUR, CurrencyUSD, CurrencyGBP:
	default:
		return invalid("currency", "%q is not a currency (EUR, USD or GBP)", in.Currency)
	}
	if in.Offer != "" && !slices.Contains(Offers(), in.Offer) {
		return invalid("offer", "%q is not an offer (%s)", in.Offer, strings.Join(Offers(), ", "))
	}
	if err := in.validateClock(now); err != nil {
		return err
	}
	return validateDunning(in.DunningDays)
}

func (in *Input) validateClock(now time.Time) error {
	if in.TestClock != nil {
		if _, err := time.Parse(time.RFC3339, in.TestClock.StartsAt); err != nil {
			return invalid("testClock.startsAt", "%q is not an RFC 3339 time", in.TestClock.StartsAt)
		}
		if !(in.TestClock.Speedup >= 1) {
			return invalid("testClock.speedup", "%v must be a number ≥ 1", in.TestClock.Speedup)
		}
	}
	if in.InstalledAt == "" {
		return nil
	}
	at, err := time.Parse(time.RFC3339, in.InstalledAt)
	if err != nil {
		return invalid("installedAt", "%q is not an RFC 3339 time", in.InstalledAt)
	}
	if at.After(now) {
		return invalid("installedAt", "%s is in the future (now is %s)", in.InstalledAt, now.UTC().Format(time.RFC3339))
	}
	if now.Sub(at) > MaxInstallAge {
		return invalid("installedAt", "%s is more than 14 days in the past (now is %s)", in.InstalledAt, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func validateDunning(days []int) error {
	if len(days) > MaxDunningRetries {
		return invalid("dunningDays", "at most %d retries, got %d", MaxDunningRetries, len(days))
	}
	prev := 0
	for i, d := range days {
		if d <= prev || d > 60 {
			return invalid("dunningDays", "entry %d (%d) must be a day from 1 to 60 after the previous one", i, d)
		}
		prev = d
	}
	return nil
}

// StartTime is the subscription clock's reading when the workflow starts:
// the test clock's startsAt, or realNow without one. Call after Validate.
func (in *Input) StartTime(realNow time.Time) time.Time {
	if in.TestClock != nil {
		if t, err := time.Parse(time.RFC3339, in.TestClock.StartsAt); err == nil {
			return t.UTC()
		}
	}
	return realNow.UTC()
}
