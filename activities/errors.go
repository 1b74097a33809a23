package activities

import (
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// Error types the activities add to those of types.go.
const (
	// ErrTypeStripeUnavailable is a retryable failure to reach Stripe or an
	// answer worth retrying (HTTP 429, 409, a 5xx but a charge's saved one,
	// network errors).
	ErrTypeStripeUnavailable = "StripeUnavailable"
	// ErrTypeSendGridUnavailable is the same for SendGrid.
	ErrTypeSendGridUnavailable = "SendGridUnavailable"
	// ErrTypeTemporalUnavailable is a retryable failure to read visibility or
	// a run's result from the Temporal service.
	ErrTypeTemporalUnavailable = "TemporalUnavailable"
	// ErrTypeEmailRejected is a message SendGrid refused (other 4xx); non-retryable.
	ErrTypeEmailRejected = "EmailRejected"
	// ErrTypeIdempotencyConflict is Stripe's idempotency_error: the key was
	// already used for a request with other parameters, which Stripe
	// executed. Non-retryable; the workflow looks the charge up.
	ErrTypeIdempotencyConflict = "StripeIdempotencyConflict"
	// ErrTypeBadRequest is an activity input that can never succeed (no
	// idempotency key, unknown email kind, …); non-retryable.
	ErrTypeBadRequest = "BadActivityRequest"
)

// keyPattern matches Stripe and SendGrid secret keys, masked or not.
func keyPattern() *regexp.Regexp {
	return regexp.MustCompile(`\b(sk|rk)_(test|live)_[A-Za-z0-9*]+|\bSG\.[A-Za-z0-9_\-.]+`)
}

// userinfoPattern matches the user information of a URL (a transport
// error names the URL it failed on, and net/http keeps its user name).
func userinfoPattern() *regexp.Regexp {
	return regexp.MustCompile(`(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]+@`)
}

// scrub removes the configured secrets (and anything shaped like a key) from
// a message that is about to leave the activity.
func (a *Activities) scrub(msg string) string {
	for _, secret := range []string{a.cfg.StripeSecretKey, a.cfg.SendGridAPIKey} {
		if len(secret) >= 4 {
			msg = strings.ReplaceAll(msg, secret, "[REDACTED]")
		}
	}
	msg = userinfoPattern().ReplaceAllString(msg, "${1}[REDACTED]@")
	return keyPattern().ReplaceAllString(msg, "[REDACTED]")
}

// retryable is an error the workflow's retry policy should retry.
func (a *Activities) retryable(errType, msg string) error {
	return temporal.NewApplicationError(a.scrub(msg), errType)
}

// permanent is a non-retryable error carrying optional details.
func (a *Activities) permanent(errType, msg string, details ...any) error {
	return temporal.NewNonRetryableApplicationError(a.scrub(msg), errType, nil, details...)
}
