// Package config reads the worker's settings from its environment.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Defaults used when the optional variables are not set.
const (
	DefaultSendGridAPIURL = "https://api.sendgrid.com"
	DefaultEmailFrom      = "Withings+ <no-reply@withings.example>"
)

// EmailKinds returns the email kinds of the contract, and the project's
// addition refund_issued (a refund made after the withdrawal's answer), in a
// fresh slice.
func EmailKinds() []string {
	return []string{
		"trial_started", "trial_ending", "payment_receipt", "payment_failed",
		"access_suspended", "access_restored", "cancellation_confirmed",
		"withdrawal_confirmed", "price_change_notice", "subscription_ended",
		"refund_issued",
	}
}

// TemplateVar is the environment variable holding the SendGrid dynamic
// template ID of an email kind, e.g. SENDGRID_TEMPLATE_TRIAL_STARTED.
func TemplateVar(kind string) string {
	return "SENDGRID_TEMPLATE_" + strings.ToUpper(kind)
}

// Worker is what the worker needs to reach Stripe and SendGrid. The two keys
// are secrets: String and GoString redact them and JSON omits them, so
// printing or logging a Worker is safe.
type Worker struct {
	StripeSecretKey string `json:"-"` // STRIPE_SECRET_KEY, required
	StripeAPIURL    string // STRIPE_API_URL, optional; empty means Stripe's own
	SendGridAPIKey  string `json:"-"` // SENDGRID_API_KEY, required
	SendGridAPIURL  string // SENDGRID_API_URL, default DefaultSendGridAPIURL
	EmailFrom       string // EMAIL_FROM, default DefaultEmailFrom
	// SendGridSandbox (SENDGRID_SANDBOX=true) asks SendGrid to validate each
	// message without delivering it.
	SendGridSandbox bool
	// Templates maps an email kind to its SendGrid dynamic template ID; kinds
	// without one are sent with the project's own bodies.
	Templates map[string]string
	// StripeRequestsPerSecond (SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND,
	// default DefaultStripeRequestsPerSecond; 0: unlimited) paces this
	// worker's calls to Stripe: after an outage every subscription catches up
	// at once, and Stripe allows 100 requests a second in live mode (25 in
	// test mode) for the whole account. Set it to the account's limit
	// divided by the number of workers.
	StripeRequestsPerSecond float64
	// VisibilityRequestsPerSecond (SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND,
	// default DefaultVisibilityRequestsPerSecond; 0: unlimited) paces this
	// worker's reads of Temporal visibility (the trial-eligibility look-up of
	// each start with an offer): Temporal allows 10 a second per namespace by
	// default. Set it to the namespace's limit divided by the number of
	// workers, leaving room for ops' lists.
	VisibilityRequestsPerSecond float64
}

// Defaults of the worker's pacing.
const (
	DefaultStripeRequestsPerSecond     = 25
	DefaultVisibilityRequestsPerSecond = 8
)

// WorkerFromEnv reads a Worker through lookup (os.LookupEnv in production).
// Blank values count as unset. With a live Stripe key (see LiveMode),
// STRIPE_API_URL and SENDGRID_API_URL must be https. The error names every
// missing or invalid variable, never a value.
func WorkerFromEnv(lookup func(string) (string, bool)) (Worker, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	w := Worker{
		StripeSecretKey: get("STRIPE_SECRET_KEY"),
		StripeAPIURL:    strings.TrimRight(get("STRIPE_API_URL"), "/"),
		SendGridAPIKey:  get("SENDGRID_API_KEY"),
		SendGridAPIURL:  strings.TrimRight(get("SENDGRID_API_URL"), "/"),
		EmailFrom:       get("EMAIL_FROM"),
		Templates:       map[string]string{},
	}
	var errs []error
	w.StripeRequestsPerSecond = DefaultStripeRequestsPerSecond
	w.VisibilityRequestsPerSecond = DefaultVisibilityRequestsPerSecond
	for _, v := range []struct {
		name string
		dst  *float64
	}{
		{"SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND", &w.StripeRequestsPerSecond},
		{"SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND", &w.VisibilityRequestsPerSecond},
	} {
		if raw := get(v.name); raw != "" {
			f, ok := parseRate(raw)
			if !ok {
				errs = append(errs, fmt.Errorf("%s must be a number of requests a second, 0 or more (0: unlimited)", v.name))
			}
			*v.dst = f
		}
	}
	if raw := get("SENDGRID_SANDBOX"); raw != "" {
		sandbox, err := strconv.ParseBool(raw)
		if err != nil {
			errs = append(errs, errors.New("SENDGRID_SANDBOX must be true or false"))
		}
		w.SendGridSandbox = sandbox
	}
	if w.SendGridAPIURL == "" {
		w.SendGridAPIURL = DefaultSendGridAPIURL
	}
	if w.EmailFrom == "" {
		w.EmailFrom = DefaultEmailFrom
	}
	for _, kind := range EmailKinds() {
		if id := get(TemplateVar(kind)); id != "" {
			w.Templates[kind] = id
		}
	}

	var missing []string
	for _, req := range []struct{ name, value string }{
		{"STRIPE_SECRET_KEY", w.StripeSecretKey},
		{"SENDGRID_API_KEY", w.SendGridAPIKey},
	} {
		if req.value == "" {
			missing = append(missing, req.name)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing required environment variables: %s", strings.Join(missing, ", ")))
	}
	if w.StripeAPIURL != "" {
		errs = append(errs, checkURL("STRIPE_API_URL", w.StripeAPIURL, w.LiveMode()))
	}
	errs = append(errs, checkURL("SENDGRID_API_URL", w.SendGridAPIURL, w.LiveMode()))
	if _, err := mail.ParseAddress(w.EmailFrom); err != nil {
		errs = append(errs, fmt.Errorf("EMAIL_FROM is not an email address such as %q: %w", DefaultEmailFrom, err))
	}
	if err := errors.Join(errs...); err != nil {
		return Worker{}, fmt.Errorf("worker configuration: %w", err)
	}
	return w, nil
}

// checkURL checks the URL of variable name: absolute http(s), and https
// when the worker holds a live Stripe key. The error never shows the URL,
// which may carry credentials.
func checkURL(name, raw string, live bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http(s) URL", name)
	}
	if live && u.Scheme != "https" {
		return fmt.Errorf("%s must be https with a live Stripe key (sk_live_…, rk_live_…): a live key is never sent in clear text", name)
	}
	return nil
}

// LiveMode reports whether w charges with a live Stripe key: a secret key
// sk_live_… or a restricted key rk_live_…. A live worker talks to Stripe
// and SendGrid over https only, and refuses to run a subscription on a test
// clock.
func (w Worker) LiveMode() bool { return LiveStripeKey(w.StripeSecretKey) }

// displayURL is raw as it may be shown: its user information (a key, a
// password) replaced by REDACTED, its query string and fragment dropped.
func displayURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}

// String describes w with its secrets redacted, and its URLs without their
// user information and query string.
func (w Worker) String() string {
	kinds := make([]string, 0, len(w.Templates))
	for k := range w.Templates {
		kinds = append(kinds, k+"="+w.Templates[k])
	}
	sort.Strings(kinds)
	return fmt.Sprintf("config.Worker{StripeSecretKey:%s StripeAPIURL:%q SendGridAPIKey:%s SendGridAPIURL:%q EmailFrom:%q Templates:[%s]}",
		redact(w.StripeSecretKey), displayURL(w.StripeAPIURL), redact(w.SendGridAPIKey), displayURL(w.SendGridAPIURL), w.EmailFrom, strings.Join(kinds, " "))
}

// LogAttrs describes w as key, value pairs for a structured log line, the
// secrets redacted and the URLs shown as String shows them: what a person
// reading the worker's log needs, starting with the Stripe mode (live or
// test).
func (w Worker) LogAttrs() []any {
	kinds := make([]string, 0, len(w.Templates))
	for k := range w.Templates {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	stripeURL, sendgridURL := displayURL(w.StripeAPIURL), displayURL(w.SendGridAPIURL)
	if stripeURL == "" {
		stripeURL = "https://api.stripe.com (default)"
	}
	if sendgridURL == "" {
		sendgridURL = "https://api.sendgrid.com (default)"
	}
	mode := StripeModeTest
	if w.LiveMode() {
		mode = StripeModeLive
	}
	return []any{
		"stripeMode", mode, "stripeAPI", stripeURL, "stripeKey", redact(w.StripeSecretKey),
		"sendgridAPI", sendgridURL, "sendgridKey", redact(w.SendGridAPIKey), "sendgridSandbox", w.SendGridSandbox,
		"emailFrom", w.EmailFrom, "dynamicTemplates", strings.Join(kinds, ","),
		"stripeRequestsPerSecond", w.StripeRequestsPerSecond, "visibilityRequestsPerSecond", w.VisibilityRequestsPerSecond,
	}
}

// GoString is String, so %#v redacts the secrets too.
func (w Worker) GoString() string { return w.String() }

func redact(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[REDACTED]"
}
