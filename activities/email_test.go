package activities

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/mailsink"
)

func email(kind string, data map[string]string) Email {
	return Email{SubscriptionID: "subscription-acc1", Kind: kind, To: "ada@example.com", Name: "Ada", Locale: "en", Data: data}
}

func TestSendEmailOwnBodies(t *testing.T) {
	data := map[string]string{"amount": "9.95 EUR", "date": "2026-03-01", "trialEndsAt": "2026-04-01", "nextRetryAt": "2026-03-02",
		"accessUntil": "2026-05-01", "appliesFrom": "2026-06-01", "reason": "insufficient_funds", "paymentIntentId": "pi_1"}
	for _, kind := range templateKinds() {
		for _, d := range []map[string]string{nil, data} {
			t.Run(kind, func(t *testing.T) {
				h := newHarness(t, nil)
				if err := run(t, h.env, h.acts.SendEmail, email(kind, d), nil); err != nil {
					t.Fatal(err)
				}
				msgs := h.sink.Messages()
				if len(msgs) != 1 {
					t.Fatalf("%d messages", len(msgs))
				}
				m := msgs[0]
				if m.From != "no-reply@withings.example" || len(m.To) != 1 || m.To[0] != "ada@example.com" ||
					len(m.Categories) != 1 || m.Categories[0] != kind || m.CustomArgs["subscription_id"] != "subscription-acc1" {
					t.Errorf("envelope %+v", m)
				}
				if m.TemplateID != "" || m.Subject == "" || !strings.HasPrefix(m.Text, "Hello Ada,") || !strings.HasPrefix(m.HTML, "<p>Hello Ada,</p>") {
					t.Errorf("body %+v", m)
				}
				for _, bad := range []string{"<no value>", "{{", "  "} {
					if strings.Contains(m.Text, bad) || strings.Contains(m.Subject, bad) {
						t.Errorf("text %q holds %q", m.Text, bad)
					}
				}
			})
		}
	}
}

func TestSendEmailRendersData(t *testing.T) {
	h := newHarness(t, nil)
	e := email("payment_receipt", map[string]string{"amountMinor": "995", "currency": "eur", "date": "1 March 2026"})
	e.Name = "<b>Ada</b>"
	if err := run(t, h.env, h.acts.SendEmail, e, nil); err != nil {
		t.Fatal(err)
	}
	m := h.sink.Messages()[0]
	if !strings.Contains(m.Text, "of 9.95 EUR on 1 March 2026") || !strings.Contains(m.Text, "Hello <b>Ada</b>,") {
		t.Errorf("text %q", m.Text)
	}
	if !strings.Contains(m.HTML, "Hello &lt;b&gt;Ada&lt;/b&gt;,") || strings.Contains(m.HTML, "<b>") {
		t.Errorf("html not escaped: %q", m.HTML)
	}
}

func TestSendEmailWorkflowKeys(t *testing.T) {
	tests := []struct {
		kind string
		data map[string]string
		want string
	}{
		{"access_suspended", map[string]string{"outstanding": "19.90 EUR"}, "payment of 19.90 EUR after"},
		{"withdrawal_confirmed", map[string]string{"refunded": "9.95 EUR"}, "9.95 EUR is refunded"},
		{"price_change_notice", map[string]string{"price": "12.95 EUR", "appliesFrom": "2026-07-01"}, "change to 12.95 EUR from the payment of 2026-07-01"},
		{"subscription_ended", map[string]string{"reason": "terminated"}, "breach of the terms of use"},
		{"refund_issued", map[string]string{"amount": "9.95 EUR", "paymentIntentId": "pi_late"},
			"we have refunded 9.95 EUR to your original payment method. It can take a few days to appear on your statement.\n\nReference: pi_late"},
		{"refund_issued", map[string]string{"amountMinor": "1990", "currency": "GBP"}, "we have refunded 19.90 GBP to"},
		{"refund_issued", nil, "we have refunded your payment to"},
	}
	for _, tt := range tests {
		h := newHarness(t, nil)
		if err := run(t, h.env, h.acts.SendEmail, email(tt.kind, tt.data), nil); err != nil {
			t.Fatal(err)
		}
		if m := h.sink.Messages()[0]; !strings.Contains(m.Text, tt.want) {
			t.Errorf("%s: text %q lacks %q", tt.kind, m.Text, tt.want)
		}
	}
}

func TestSendEmailDynamicTemplate(t *testing.T) {
	h := newHarness(t, map[string]string{"payment_failed": "d-failed"})
	if err := run(t, h.env, h.acts.SendEmail, email("payment_failed", map[string]string{"amount": "9.95 EUR"}), nil); err != nil {
		t.Fatal(err)
	}
	if err := run(t, h.env, h.acts.SendEmail, email("payment_receipt", nil), nil); err != nil {
		t.Fatal(err)
	}
	msgs := h.sink.Messages()
	m := msgs[0]
	if m.TemplateID != "d-failed" || m.Subject != "" || m.Text != "" || m.HTML != "" || m.DynamicData["amount"] != "9.95 EUR" ||
		m.DynamicData["name"] != "Ada" || m.Categories[0] != "payment_failed" || m.CustomArgs["subscription_id"] != "subscription-acc1" {
		t.Errorf("template message %+v", m)
	}
	if msgs[1].TemplateID != "" || msgs[1].Subject == "" {
		t.Errorf("a kind without template should use the own body: %+v", msgs[1])
	}
}

func TestSendEmailFailures(t *testing.T) {
	tests := []struct {
		name    string
		fail    int
		email   Email
		errType string
		retry   bool
		msg     string
	}{
		{name: "sendgrid 500", fail: 500, email: email("trial_started", nil), errType: ErrTypeSendGridUnavailable, retry: true},
		{name: "sendgrid 429", fail: 429, email: email("trial_started", nil), errType: ErrTypeSendGridUnavailable, retry: true},
		{name: "sendgrid 400", fail: 400, email: email("trial_started", nil), errType: ErrTypeEmailRejected,
			msg: "sendgrid rejected trial_started email: 400 "},
		{name: "unknown kind", email: email("welcome", nil), errType: ErrTypeBadRequest, msg: `unknown email kind "welcome"`},
		{name: "bad recipient", email: func() Email { e := email("trial_started", nil); e.To = "nobody"; return e }(), errType: ErrTypeBadRequest},
		{name: "no subscription id", email: func() Email { e := email("trial_started", nil); e.SubscriptionID = ""; return e }(), errType: ErrTypeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tt.fail != 0 {
				h.sink.FailNext(1, tt.fail)
			}
			ae := appError(t, run(t, h.env, h.acts.SendEmail, tt.email, nil), tt.errType, !tt.retry)
			if !strings.HasPrefix(ae.Message(), tt.msg) {
				t.Errorf("message %q, want prefix %q", ae.Message(), tt.msg)
			}
			if n := len(h.sink.Messages()); n != 0 {
				t.Errorf("%d messages recorded", n)
			}
		})
	}
}

func TestSendEmailSendsRequestShape(t *testing.T) {
	var gotAuth, gotPath, gotType string
	h := newHarness(t, nil)
	srv := newRecorder(t, func(r *http.Request) {
		gotAuth, gotPath, gotType = r.Header.Get("Authorization"), r.URL.Path, r.Header.Get("Content-Type")
	})
	cfg := h.cfg
	cfg.SendGridAPIURL = srv
	acts := New(cfg, nil, nil)
	if err := run(t, newEnv(acts), acts.SendEmail, email("access_restored", nil), nil); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer "+sendgridKey || gotPath != "/v3/mail/send" || gotType != "application/json" {
		t.Errorf("auth set=%v path=%q type=%q", gotAuth != "", gotPath, gotType)
	}
}

func TestFormatMinor(t *testing.T) {
	for in, want := range map[[2]string]string{{"995", "eur"}: "9.95 EUR", {"9950", "USD"}: "99.50 USD", {"5", "gbp"}: "0.05 GBP", {"x", "eur"}: ""} {
		if got := formatMinor(in[0], in[1]); got != want {
			t.Errorf("formatMinor(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSendEmailSandboxMode(t *testing.T) {
	for _, sandbox := range []bool{false, true} {
		var body []byte
		h := newHarness(t, nil)
		srv := newRecorder(t, func(r *http.Request) { body, _ = io.ReadAll(r.Body) })
		cfg := h.cfg
		cfg.SendGridAPIURL, cfg.SendGridSandbox = srv, sandbox
		acts := New(cfg, nil, nil)
		if err := run(t, newEnv(acts), acts.SendEmail, email("access_restored", nil), nil); err != nil {
			t.Fatal(err)
		}
		var sent struct {
			MailSettings *struct {
				SandboxMode *struct{ Enable bool } `json:"sandbox_mode"`
			} `json:"mail_settings"`
		}
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatal(err)
		}
		got := sent.MailSettings != nil && sent.MailSettings.SandboxMode != nil && sent.MailSettings.SandboxMode.Enable
		if got != sandbox {
			t.Errorf("sandbox %v: request asked for sandbox mode %v: %s", sandbox, got, body)
		}
	}
}

// templateKinds lists the kinds the project has bodies for, sorted.
func templateKinds() []string {
	return slices.Sorted(maps.Keys(emailSources()))
}

// TestEmailKinds: every kind of the contract has a body, and the kinds
// beyond the contract are the known additions.
func TestEmailKinds(t *testing.T) {
	additions := []string{"refund_issued"}
	kinds := templateKinds()
	for _, kind := range config.EmailKinds() {
		if !slices.Contains(kinds, kind) {
			t.Errorf("contract kind %s has no body", kind)
		}
	}
	for _, kind := range kinds {
		if !slices.Contains(config.EmailKinds(), kind) && !slices.Contains(additions, kind) {
			t.Errorf("kind %s is neither in the contract nor a known addition", kind)
		}
	}
	for _, kind := range additions {
		if !slices.Contains(kinds, kind) {
			t.Errorf("addition %s has no body", kind)
		}
	}
}

// TestEveryKindThroughMailSink sends every kind to the mail sink the local
// demo prints from: each is accepted, recorded with its subject and both
// bodies, and printed on one line with its kind and subject.
func TestEveryKindThroughMailSink(t *testing.T) {
	var printed bytes.Buffer
	sink := mailsink.New(mailsink.Printer(&printed))
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	acts := New(config.Worker{StripeSecretKey: stripeKey, SendGridAPIKey: sendgridKey, SendGridAPIURL: srv.URL,
		EmailFrom: config.DefaultEmailFrom}, nil, nil)
	env := newEnv(acts)
	for _, kind := range templateKinds() {
		if err := run(t, env, acts.SendEmail, email(kind, map[string]string{"amount": "9.95 EUR"}), nil); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	msgs := sink.Messages()
	lines := strings.Split(strings.TrimSuffix(printed.String(), "\n"), "\n")
	if len(msgs) != len(templateKinds()) || len(lines) != len(msgs) {
		t.Fatalf("%d kinds, %d messages, %d lines printed", len(templateKinds()), len(msgs), len(lines))
	}
	for i, kind := range templateKinds() {
		m := msgs[i]
		subject := emailSources()[kind][0]
		if m.Categories[0] != kind || m.Subject != subject || m.Text == "" || m.HTML == "" {
			t.Errorf("%s: message %+v", kind, m)
		}
		if want := fmt.Sprintf("mail: %s to=ada@example.com subject=%q", kind, subject); !strings.HasPrefix(lines[i], want) {
			t.Errorf("%s: printed %q, want prefix %q", kind, lines[i], want)
		}
	}
}

func TestRecipientName(t *testing.T) {
	long := strings.Repeat("a", api.MaxNameLength)
	tests := []struct {
		name, raw    string
		want, wantTo string // the readable name; the name SendGrid gets
	}{
		{"plain", "Ada Lovelace", "Ada Lovelace", "Ada Lovelace"},
		{"empty", "", "", ""},
		{"comma", "Smith, John", "Smith, John", `"Smith, John"`},
		{"semicolon", "A; B", "A; B", `"A; B"`},
		{"quotes and a comma", `Dupont, Jean "JJ"`, `Dupont, Jean "JJ"`, `"Dupont, Jean \"JJ\""`},
		{"backslash and a comma", `Smith\, John`, `Smith\, John`, `"Smith\\, John"`},
		{"quotes without comma", `Jean "JJ" Dupont`, `Jean "JJ" Dupont`, `Jean "JJ" Dupont`},
		{"apostrophe", "O'Brien", "O'Brien", "O'Brien"},
		{"accents and Japanese", "Zoë 山田 太郎", "Zoë 山田 太郎", "Zoë 山田 太郎"},
		{"header injection", "Line\r\nBcc: x@y.z", "Line Bcc: x@y.z", "Line Bcc: x@y.z"},
		{"injection with a comma", "Ada\r\nBcc: x@y.z, y@y.z", "Ada Bcc: x@y.z, y@y.z", `"Ada Bcc: x@y.z, y@y.z"`},
		{"tab, NUL, DEL, C1, separators", "A\tB\x00C\x7fD\u0085E\u2028F\u2029G", "A B C D E F G", "A B C D E F G"},
		{"spaces collapsed and trimmed", "  \t Ada   \n  Lovelace \r\n", "Ada Lovelace", "Ada Lovelace"},
		{"no-break space kept", "Jean\u00a0Dupont", "Jean\u00a0Dupont", "Jean\u00a0Dupont"},
		{"only control characters", "\r\n\t", "", ""},
		{"invalid UTF-8", "Ada\xff\xfeLovelace", "Ada\uFFFDLovelace", "Ada\uFFFDLovelace"},
		{"at the limit", long, long, long},
		{"too long", long + "bcd", long, long},
		{"too long, 3 bytes a character", strings.Repeat("山", api.MaxNameLength+10), strings.Repeat("山", api.MaxNameLength),
			strings.Repeat("山", api.MaxNameLength)},
		{"cut before a space", long[1:] + " xyz", long[1:], long[1:]},
		{"too long with a comma", "Smith, " + long, "Smith, " + long[7:], `"Smith, ` + long[7:] + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, to := recipientName(tt.raw)
			if name != tt.want || to != tt.wantTo {
				t.Errorf("recipientName(%q) = %q, %q; want %q, %q", tt.raw, name, to, tt.want, tt.wantTo)
			}
			if n := utf8.RuneCountInString(name); n > api.MaxNameLength || !utf8.ValidString(name) {
				t.Errorf("name of %d characters, valid UTF-8 %v", n, utf8.ValidString(name))
			}
		})
	}
}

// TestSendEmailRecipientName reads the body SendGrid receives: the
// recipient's name quoted where SendGrid needs it, the templates' name
// readable, both one line, and the name never a reason to fail.
func TestSendEmailRecipientName(t *testing.T) {
	long := strings.Repeat("é", api.MaxNameLength)
	tests := []struct {
		name, raw string
		to        string // personalizations[0].to, as SendGrid receives it
		want      string // the templates' name
	}{
		{"comma", "Smith, John", `[{"name":"\"Smith, John\"","email":"ada@example.com"}]`, "Smith, John"},
		{"semicolon", "A; B", `[{"name":"\"A; B\"","email":"ada@example.com"}]`, "A; B"},
		{"quote and comma", `Dupont, Jean "JJ"`, `[{"name":"\"Dupont, Jean \\\"JJ\\\"\"","email":"ada@example.com"}]`, `Dupont, Jean "JJ"`},
		{"header injection", "Line\r\nBcc: x@y.z", `[{"name":"Line Bcc: x@y.z","email":"ada@example.com"}]`, "Line Bcc: x@y.z"},
		{"too long", long + "éé", `[{"name":"` + long + `","email":"ada@example.com"}]`, long},
		{"plain", "Ada Lovelace", `[{"name":"Ada Lovelace","email":"ada@example.com"}]`, "Ada Lovelace"},
		{"only control characters", "\r\n", `[{"email":"ada@example.com"}]`, ""},
	}
	type sent struct {
		Personalizations []struct {
			To                  json.RawMessage `json:"to"`
			Cc                  json.RawMessage `json:"cc"`
			Bcc                 json.RawMessage `json:"bcc"`
			DynamicTemplateData map[string]any  `json:"dynamic_template_data"`
		} `json:"personalizations"`
		Content []struct{ Value string } `json:"content"`
	}
	// send sends e, with the kind's dynamic template or the own bodies,
	// and decodes the body SendGrid receives.
	send := func(t *testing.T, e Email, templates map[string]string) (sent, []byte) {
		t.Helper()
		var body []byte
		h := newHarness(t, templates)
		cfg := h.cfg
		cfg.SendGridAPIURL = newRecorder(t, func(r *http.Request) { body, _ = io.ReadAll(r.Body) })
		acts := New(cfg, nil, nil)
		if err := run(t, newEnv(acts), acts.SendEmail, e, nil); err != nil {
			t.Fatalf("name %q failed the email: %v", e.Name, err)
		}
		var s sent
		if err := json.Unmarshal(body, &s); err != nil || len(s.Personalizations) != 1 {
			t.Fatalf("body %s: %v", body, err)
		}
		if p := s.Personalizations[0]; p.Cc != nil || p.Bcc != nil {
			t.Fatalf("cc %s, bcc %s: %s", p.Cc, p.Bcc, body)
		}
		return s, body
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := email("payment_receipt", map[string]string{"amount": "9.95 EUR"})
			e.Name = tt.raw
			for _, templates := range []map[string]string{{"payment_receipt": "d-receipt"}, nil} {
				s, body := send(t, e, templates)
				p := s.Personalizations[0]
				if string(p.To) != tt.to {
					t.Errorf("to %s, want %s", p.To, tt.to)
				}
				if templates != nil {
					if got := p.DynamicTemplateData["name"]; got != tt.want {
						t.Errorf("dynamic_template_data.name %q, want %q: %s", got, tt.want, body)
					}
					continue
				}
				greeting := "Hello,"
				if tt.want != "" {
					greeting = "Hello " + tt.want + ","
				}
				if len(s.Content) != 2 || !strings.HasPrefix(s.Content[0].Value, greeting+"\n") {
					t.Errorf("text does not start with %q: %s", greeting, body)
				}
			}
		})
	}
}
