package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// SendEmail sends one message of a contract kind through SendGrid, with the
// kind's dynamic template when one is configured and the project's own text
// and HTML bodies otherwise. SendGrid's 4xx (but 429, 401, 403) are
// non-retryable ErrTypeEmailRejected errors; 5xx, 429 and network errors
// are retryable. Failures are counted (MetricEmailAttemptsFailed,
// MetricEmailsFailed).
func (a *Activities) SendEmail(ctx context.Context, e Email) (err error) {
	defer func() {
		if err != nil {
			countEmailFailure(ctx, e.Kind, err)
		}
	}()
	msg, err := a.buildMail(e)
	if err != nil {
		return err
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return a.permanent(ErrTypeBadRequest, fmt.Sprintf("encoding %s email: %v", e.Kind, err))
	}
	req := sendgrid.GetRequest(a.cfg.SendGridAPIKey, "/v3/mail/send", a.cfg.SendGridAPIURL)
	req.Method = rest.Post
	req.Body = body
	res, err := (&rest.Client{HTTPClient: a.http}).SendWithContext(ctx, req)
	if err != nil {
		return a.retryable(ErrTypeSendGridUnavailable, fmt.Sprintf("sending %s email for %s: %v", e.Kind, e.SubscriptionID, err))
	}
	switch s := res.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusTooManyRequests, s >= 500, s == http.StatusUnauthorized, s == http.StatusForbidden, s < 400:
		return a.retryable(ErrTypeSendGridUnavailable, fmt.Sprintf("sendgrid answered %d to %s email for %s: %s", s, e.Kind, e.SubscriptionID, excerpt(res.Body)))
	default:
		return a.permanent(ErrTypeEmailRejected, fmt.Sprintf("sendgrid rejected %s email: %d %s", e.Kind, s, excerpt(res.Body)))
	}
}

// buildMail builds the v3 mail send body of e.
func (a *Activities) buildMail(e Email) (*mail.SGMailV3, error) {
	body, known := a.bodies[e.Kind]
	switch {
	case !known:
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("unknown email kind %q", e.Kind))
	case a.fromErr != nil:
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("EMAIL_FROM %q is not an address: %v", a.cfg.EmailFrom, a.fromErr))
	case e.SubscriptionID == "":
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("%s email has no subscription id", e.Kind))
	}
	to, err := mail.ParseEmail(e.To)
	if err != nil {
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("%s email for %s: recipient %q is not an address", e.Kind, e.SubscriptionID, e.To))
	}
	to.Name = e.Name

	data := maps.Clone(e.Data)
	if data == nil {
		data = map[string]string{}
	}
	data["name"], data["locale"] = e.Name, e.Locale
	if data["amount"] == "" && data["amountMinor"] != "" {
		data["amount"] = formatMinor(data["amountMinor"], data["currency"])
	}

	m := mail.NewV3Mail()
	m.SetFrom(a.from)
	p := mail.NewPersonalization()
	p.AddTos(to)
	m.AddPersonalizations(p)
	m.AddCategories(e.Kind)
	m.SetCustomArg("subscription_id", e.SubscriptionID)
	if a.cfg.SendGridSandbox {
		settings := mail.NewMailSettings()
		settings.SetSandboxMode(mail.NewSetting(true))
		m.SetMailSettings(settings)
	}
	if id := a.cfg.Templates[e.Kind]; id != "" {
		m.SetTemplateID(id)
		for k, v := range data {
			p.SetDynamicTemplateData(k, v)
		}
		return m, nil
	}
	subject, text, html, err := body.render(data)
	if err != nil {
		return nil, a.permanent(ErrTypeBadRequest, fmt.Sprintf("rendering %s email: %v", e.Kind, err))
	}
	m.Subject = subject
	m.AddContent(mail.NewContent("text/plain", text), mail.NewContent("text/html", html))
	return m, nil
}

// excerpt is the start of a response body on one line.
func excerpt(body string) string {
	body = strings.Join(strings.Fields(body), " ")
	if r := []rune(body); len(r) > 200 {
		body = string(r[:200]) + "…"
	}
	return body
}

// Email failures, counted through the activity's metrics handler (the
// worker exports them to Prometheus), with the tags kind (the email kind)
// and error_type (ErrTypeSendGridUnavailable, ErrTypeEmailRejected,
// ErrTypeBadRequest), besides the SDK's (activity_type, workflow_type,
// namespace, task_queue).
const (
	// MetricEmailAttemptsFailed counts every failed attempt, retried or not.
	MetricEmailAttemptsFailed = "subscriptions_email_attempts_failed_total"
	// MetricEmailsFailed counts the emails given up: the attempt failed
	// and no retry follows (a non-retryable error, or the last attempt the
	// retry policy allows). An email whose retries outlast the activity's
	// schedule-to-close timeout is not seen here; with the workflow's
	// email options (8 attempts within the hour) that cannot happen.
	MetricEmailsFailed = "subscriptions_emails_failed_total"
)

func countEmailFailure(ctx context.Context, kind string, err error) {
	errType := "unknown"
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		errType = ae.Type()
	}
	info := activity.GetInfo(ctx)
	m := activity.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": kind, "error_type": errType})
	m.Counter(MetricEmailAttemptsFailed).Inc(1)
	if givenUp(err, info.Attempt, info.RetryPolicy) {
		m.Counter(MetricEmailsFailed).Inc(1)
	}
}

// givenUp says whether an attempt that failed with err is the last: err is
// non-retryable, or the retry policy allows no further attempt. (The
// server passes the policy to the activity; the SDK's test environment
// does not.)
func givenUp(err error, attempt int32, policy *temporal.RetryPolicy) bool {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.NonRetryable() {
		return true
	}
	if policy != nil && ae != nil && slices.Contains(policy.NonRetryableErrorTypes, ae.Type()) {
		return true
	}
	return policy != nil && policy.MaximumAttempts > 0 && attempt >= policy.MaximumAttempts
}
