package activities

import (
	"bytes"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"

	"github.com/withings-plus/subscriptions/billing"
)

// Data keys the project's own bodies use (all optional; a sentence whose key
// is missing is left out). Dynamic templates receive the same Data, plus
// "name" and "locale".
//
//	amount          formatted money ("9.95 EUR") of the receipt, failed charge,
//	                …; derived from amountMinor + currency when absent
//	outstanding     (access_suspended), refunded (withdrawal_confirmed),
//	price           (price_change_notice): formatted money; amount is used
//	                when they are absent
//	trialEndsAt, nextRetryAt, accessUntil, appliesFrom, date   dates as shown
//	plan, reason, cycle, paymentIntentId
//
// Besides the contract's kinds, refund_issued (data: amount, paymentIntentId)
// tells of a refund made after the withdrawal was answered: one that
// succeeded only on a later try, or that of a charge answered late.
func emailSources() map[string][2]string { // kind → {subject, body}
	return map[string][2]string{
		"trial_started": {"Your Withings+ free trial has started",
			"Your free months of Withings+ have started.{{with .trialEndsAt}} The trial ends on {{.}}.{{end}}{{with .amount}} After that the subscription costs {{.}}.{{end}} Cancel before the trial ends and nothing is charged."},
		"trial_ending": {"Your Withings+ free trial ends soon",
			"Your free trial ends{{with .trialEndsAt}} on {{.}}{{else}} in 7 days{{end}}.{{with .amount}} Your card will then be charged {{.}}.{{end}} Cancel before then and nothing is charged."},
		"payment_receipt": {"Your Withings+ receipt",
			"We received your payment{{with .amount}} of {{.}}{{end}}{{with .date}} on {{.}}{{end}}. Thank you!{{with .paymentIntentId}}\n\nReference: {{.}}{{end}}"},
		"payment_failed": {"Your Withings+ payment failed",
			"We could not charge your card{{with .amount}} for {{.}}{{end}}{{with .reason}} ({{.}}){{end}}.{{with .nextRetryAt}} We will try again on {{.}}.{{end}} Your access continues meanwhile; please update your card to avoid an interruption."},
		"access_suspended": {"Your Withings+ access is suspended",
			"We could not collect your payment{{with or .outstanding .amount}} of {{.}}{{end}} after several attempts, so your access is suspended. Update your card and it is restored as soon as the amount is paid."},
		"access_restored": {"Your Withings+ access is restored",
			"Thank you, your payment went through and your Withings+ access is active again."},
		"cancellation_confirmed": {"Your Withings+ cancellation",
			"Your subscription is cancelled.{{with .accessUntil}} You keep access until {{.}}.{{end}} Nothing more will be charged."},
		"withdrawal_confirmed": {"Your Withings+ withdrawal",
			"Your withdrawal is confirmed and your access has ended.{{with or .refunded .amount}} {{.}} is refunded to your original payment method.{{end}}"},
		"price_change_notice": {"A change to your Withings+ price",
			"Your subscription price will change{{with or .price .amount}} to {{.}}{{end}}{{with .appliesFrom}} from the payment of {{.}}{{end}}. You can cancel at any time before then."},
		"refund_issued": {"Your Withings+ refund",
			"Following your withdrawal, we have refunded{{with .amount}} {{.}}{{else}} your payment{{end}} to your original payment method. It can take a few days to appear on your statement.{{with .paymentIntentId}}\n\nReference: {{.}}{{end}}"},
		"subscription_ended": {"Your Withings+ subscription has ended",
			`Your Withings+ subscription has ended{{with .date}} on {{.}}{{end}}.{{if eq .reason "terminated"}} It was ended for a breach of the terms of use.{{end}} Thank you for having been with us.`},
	}
}

const (
	greeting = "Hello{{with .name}} {{.}}{{end}},\n\n"
	signOff  = "\n\nThe Withings+ team"
)

// bodyTemplate renders one kind's subject and bodies.
type bodyTemplate struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// parseBodies parses the sources; they are constants, so a failure is a bug.
func parseBodies() map[string]*bodyTemplate {
	out := map[string]*bodyTemplate{}
	for kind, src := range emailSources() {
		body := greeting + src[1] + signOff
		out[kind] = &bodyTemplate{
			subject: texttemplate.Must(texttemplate.New(kind).Option("missingkey=zero").Parse(src[0])),
			text:    texttemplate.Must(texttemplate.New(kind).Option("missingkey=zero").Parse(body)),
			html:    htmltemplate.Must(htmltemplate.New(kind).Option("missingkey=zero").Parse(body)),
		}
	}
	return out
}

// render returns the subject, text/plain and text/html bodies. The HTML body
// is the same text, escaped by html/template, one <p> per paragraph.
func (b *bodyTemplate) render(data map[string]string) (subject, text, html string, err error) {
	var s, t, h bytes.Buffer
	if err = b.subject.Execute(&s, data); err == nil {
		if err = b.text.Execute(&t, data); err == nil {
			err = b.html.Execute(&h, data)
		}
	}
	html = "<p>" + strings.ReplaceAll(h.String(), "\n\n", "</p>\n<p>") + "</p>"
	return s.String(), t.String(), html, err
}

// formatMinor writes an amount of minor units as "9.95 EUR".
func formatMinor(minor, currency string) string {
	n, err := strconv.ParseInt(minor, 10, 64)
	if err != nil {
		return ""
	}
	return billing.FormatMoney(n, currency)
}
