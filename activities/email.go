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
	"unicode"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
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
	name, toName := recipientName(e.Name)
	to.Name = toName

	data := maps.Clone(e.Data)
	if data == nil {
		data = map[string]string{}
	}
	data["name"], data["locale"] = name, e.Locale
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

// recipientName turns the customer's name into the two forms a message
// carries: name, as people read it (the templates' "name"), and toName, as
// SendGrid's personalizations[].to[].name needs it. Either is "" for no name.
//
// A name never fails an email, since a subscription started before
// api.Input.Validate checked names may carry any text: name is the name
// made one line of text. Invalid UTF-8 becomes U+FFFD; control characters
// (CR, LF, tab, any Unicode Cc) and the line and paragraph separators
// U+2028 and U+2029 become spaces; runs of spaces collapse into one; the
// result is trimmed and cut, on a character boundary, to
// api.MaxNameLength characters.
//
// toName is name in double quotes, with \ and " escaped as \\ and \" (an
// RFC 5322 quoted-string), when name holds a comma or a semicolon: SendGrid
// reads those as address separators, accepts the request (202) and then
// drops the mail. Like SendGrid's own libraries (sendgrid-php
// EmailAddress::setName), only those two characters trigger the quotes,
// which some mail clients show; other characters (quotes, apostrophes,
// accents, any script) go as they are.
func recipientName(raw string) (name, toName string) {
	var b strings.Builder
	n, gap := 0, false // characters written; a space is pending
	for _, r := range strings.ToValidUTF8(raw, "\uFFFD") {
		if r == ' ' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			gap = n > 0
			continue
		}
		need := 1
		if gap {
			need = 2
		}
		if n+need > api.MaxNameLength {
			break
		}
		if gap {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
		n, gap = n+need, false
	}
	name = b.String()
	if !strings.ContainsAny(name, ",;") {
		return name, name
	}
	return name, `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
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
