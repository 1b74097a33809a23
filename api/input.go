package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// MaxNameLength bounds Input.Name, the customer's display name, in
// characters (Unicode code points, not bytes): 256, far above any real
// person's name, so that a value that is not a name (a pasted text, an
// address list) is refused instead of landing in a mail header. The email
// activity cuts a longer name, carried by a subscription started before
// the bound, to this length.
const MaxNameLength = 256

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
	InstalledAt      string     `json:"installedAt,omitempty"` // RFC 3339 (see ParseTime); default: now
	TestClock        *TestClock `json:"testClock,omitempty"`
	// DunningDays is the retry schedule after a declined charge, in days after
	// the due date, strictly increasing. Default: 1, 3, 5, 7.
	DunningDays []int `json:"dunningDays"` // null: the default; []: no retry
	// Continued is set by the workflow itself when it continues as new: the
	// state it carries over. Never set it when starting a subscription.
	Continued json.RawMessage `json:"continued,omitempty"`
	// FirstOfAccount (an addition) is set by the typed client when Temporal
	// refused nothing to a start that allows no earlier run of the
	// account's workflow ID (WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE): the
	// account has no earlier subscription within the namespace's retention,
	// so the workflow skips the trial-eligibility look-up in visibility
	// (rate-limited per namespace). Other callers leave it unset; the
	// workflow then looks up.
	FirstOfAccount bool `json:"firstOfAccount,omitempty"`

	decodeErr error
}

// TestClock runs a subscription on a simulated clock, like Stripe's test clocks:
// it reads StartsAt + Speedup × (real time elapsed since the workflow started).
type TestClock struct {
	StartsAt string  `json:"startsAt"` // RFC 3339 (see ParseTime)
	Speedup  float64 `json:"speedup"`  // ≥ 1
}

// UnmarshalJSON decodes field by field so that an unknown field, a value of
// the wrong type or an unknown field inside testClock is reported by
// Validate as an InvalidInput naming the field, instead of failing the
// decoding of the whole workflow input. A valid installedAt is kept with its
// letters in upper case ("t" and "z" become "T" and "Z"), as
// time.Parse(time.RFC3339) reads it.
func (in *Input) UnmarshalJSON(b []byte) error {
	err := decodeObject(b, in)
	in.decodeErr = err
	in.InstalledAt = canonicalTime(in.InstalledAt)
	return nil
}

// UnmarshalJSON decodes a test clock strictly: an unknown field, a value of
// the wrong type is an error naming the field. A valid startsAt is kept with
// its letters in upper case, as in Input.
func (c *TestClock) UnmarshalJSON(b []byte) error {
	if err := decodeObject(b, c); err != nil {
		return err
	}
	c.StartsAt = canonicalTime(c.StartsAt)
	return nil
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
func (in *Input) Validate(now time.Time) error { return in.validate(now, true) }

// ValidateWithoutName is Validate as it was before names were checked: the
// workflow replays with it the runs that started then, whose names it
// accepted.
func (in *Input) ValidateWithoutName(now time.Time) error { return in.validate(now, false) }

func (in *Input) validate(now time.Time, names bool) error {
	var fe *fieldError
	if errors.As(in.decodeErr, &fe) {
		if fe.field == "" {
			return invalid("input", "%s", fe.reason)
		}
		return invalid(fe.field, "%s", fe.reason)
	}
	if !accountIDPattern.MatchString(in.AccountID) {
		return invalid("accountId", "%q must be 1 to 64 of A-Z a-z 0-9 _ -", in.AccountID)
	}
	if !validEmail(in.Email) {
		return invalid("email", "%q is not a valid email address", in.Email)
	}
	if err := validName(in.Name); names && err != nil {
		return err
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

// validName accepts a display name that SendGrid can put in a recipient's
// name: valid UTF-8, at most MaxNameLength characters, without control
// characters (CR, LF, tab, any Unicode Cc) or the Unicode line and
// paragraph separators, which would break the name across mail header
// lines. Commas, semicolons, quotes and any script are accepted: the email
// activity quotes the name where SendGrid needs it. (Invalid UTF-8 cannot
// come through JSON, which decodes it as U+FFFD, but an Input built in Go
// can hold it.)
func validName(name string) error {
	if !utf8.ValidString(name) {
		return invalid("name", "%q is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return invalid("name", "%d characters long, at most %d allowed", n, MaxNameLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return invalid("name", "%q holds %U, a control character or line break (a name is one line of text)", name, r)
		}
	}
	return nil
}

func (in *Input) validateClock(now time.Time) error {
	if in.TestClock != nil {
		if _, err := ParseTime(in.TestClock.StartsAt); err != nil {
			return invalid("testClock.startsAt", "%v", err)
		}
		if !(in.TestClock.Speedup >= 1) {
			return invalid("testClock.speedup", "%v must be a number ≥ 1", in.TestClock.Speedup)
		}
	}
	if in.InstalledAt == "" {
		return nil
	}
	at, err := ParseTime(in.InstalledAt)
	if err != nil {
		return invalid("installedAt", "%v", err)
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
		if t, err := ParseTime(in.TestClock.StartsAt); err == nil {
			return t.UTC()
		}
	}
	return realNow.UTC()
}
