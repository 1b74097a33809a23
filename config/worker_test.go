package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestWorkerFromEnv(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{"STRIPE_SECRET_KEY": "sk_test_abc", "SENDGRID_API_KEY": "SG.xyz"}
	}
	with := func(kv ...string) map[string]string {
		m := base()
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*testing.T, Worker)
		wantErr []string // substrings; nil means success
		notErr  []string
	}{
		{name: "defaults", env: base(), want: func(t *testing.T, w Worker) {
			if w.StripeSecretKey != "sk_test_abc" || w.SendGridAPIKey != "SG.xyz" || w.StripeAPIURL != "" {
				t.Errorf("keys/url = %#v", w)
			}
			if w.SendGridAPIURL != DefaultSendGridAPIURL || w.EmailFrom != DefaultEmailFrom || len(w.Templates) != 0 {
				t.Errorf("defaults = %q %q %v", w.SendGridAPIURL, w.EmailFrom, w.Templates)
			}
		}},
		{name: "all set", env: with("STRIPE_API_URL", "http://localhost:12111/", "SENDGRID_API_URL", "http://localhost:9000",
			"EMAIL_FROM", "Billing <billing@example.com>", "SENDGRID_TEMPLATE_TRIAL_STARTED", "d-1",
			"SENDGRID_TEMPLATE_PAYMENT_FAILED", " d-2 ", "SENDGRID_TEMPLATE_UNKNOWN_KIND", "d-3"),
			want: func(t *testing.T, w Worker) {
				if w.StripeAPIURL != "http://localhost:12111" || w.SendGridAPIURL != "http://localhost:9000" || w.EmailFrom != "Billing <billing@example.com>" {
					t.Errorf("got %#v", w)
				}
				if len(w.Templates) != 2 || w.Templates["trial_started"] != "d-1" || w.Templates["payment_failed"] != "d-2" {
					t.Errorf("templates = %v", w.Templates)
				}
			}},
		{name: "pacing defaults", env: base(), want: func(t *testing.T, w Worker) {
			if w.StripeRequestsPerSecond != DefaultStripeRequestsPerSecond || w.VisibilityRequestsPerSecond != DefaultVisibilityRequestsPerSecond {
				t.Errorf("pacing = %v %v", w.StripeRequestsPerSecond, w.VisibilityRequestsPerSecond)
			}
		}},
		{name: "pacing set", env: with("SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND", "90", "SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND", "0"),
			want: func(t *testing.T, w Worker) {
				if w.StripeRequestsPerSecond != 90 || w.VisibilityRequestsPerSecond != 0 {
					t.Errorf("pacing = %v %v", w.StripeRequestsPerSecond, w.VisibilityRequestsPerSecond)
				}
			}},
		{name: "pacing invalid", env: with("SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND", "-1", "SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND", "fast"),
			wantErr: []string{"SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND must be a number", "SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND must be a number"}},
		{name: "sandbox", env: with("SENDGRID_SANDBOX", "true"), want: func(t *testing.T, w Worker) {
			if !w.SendGridSandbox {
				t.Error("SENDGRID_SANDBOX=true not read")
			}
		}},
		{name: "bad sandbox", env: with("SENDGRID_SANDBOX", "maybe"), wantErr: []string{"SENDGRID_SANDBOX must be true or false"}},
		{name: "nothing set", env: map[string]string{}, wantErr: []string{"STRIPE_SECRET_KEY, SENDGRID_API_KEY"}},
		{name: "blank stripe key", env: with("STRIPE_SECRET_KEY", "  "), wantErr: []string{"missing required environment variables: STRIPE_SECRET_KEY"}, notErr: []string{"SENDGRID_API_KEY"}},
		{name: "missing sendgrid key", env: map[string]string{"STRIPE_SECRET_KEY": "sk_test_abc"}, wantErr: []string{"SENDGRID_API_KEY"}, notErr: []string{"sk_test_abc"}},
		{name: "live key over https", env: with("STRIPE_SECRET_KEY", "sk_live_abc", "STRIPE_API_URL", "https://stripe.internal:8443/",
			"SENDGRID_API_URL", "HTTPS://mail.internal"), want: func(t *testing.T, w Worker) {
			if !w.LiveMode() || w.StripeAPIURL != "https://stripe.internal:8443" {
				t.Errorf("live worker = %#v, LiveMode %v", w, w.LiveMode())
			}
		}},
		{name: "live key, default urls", env: with("STRIPE_SECRET_KEY", "rk_live_abc"), want: func(t *testing.T, w Worker) {
			if !w.LiveMode() {
				t.Error("rk_live_ key is not live")
			}
		}},
		{name: "test key over http", env: with("STRIPE_API_URL", "http://localhost:12111", "SENDGRID_API_URL", "http://localhost:9000"),
			want: func(t *testing.T, w Worker) {
				if w.LiveMode() {
					t.Error("sk_test_ key is live")
				}
			}},
		{name: "live key, stripe over http", env: with("STRIPE_SECRET_KEY", "sk_live_topsecret", "STRIPE_API_URL", "http://proxy:pw1234@stripe.internal/?token=q9"),
			wantErr: []string{"STRIPE_API_URL must be https", "never sent in clear text"},
			notErr:  []string{"SENDGRID_API_URL", "topsecret", "pw1234", "q9", "stripe.internal"}},
		{name: "live restricted key, sendgrid over http", env: with("STRIPE_SECRET_KEY", "rk_live_topsecret", "SENDGRID_API_URL", "HTTP://mail.internal"),
			wantErr: []string{"SENDGRID_API_URL must be https", "never sent in clear text"},
			notErr:  []string{"STRIPE_API_URL", "topsecret", "mail.internal"}},
		{name: "live key, both over http", env: with("STRIPE_SECRET_KEY", "sk_live_topsecret", "STRIPE_API_URL", "http://localhost:12111",
			"SENDGRID_API_URL", "http://localhost:9000"),
			wantErr: []string{"STRIPE_API_URL must be https", "SENDGRID_API_URL must be https"}, notErr: []string{"topsecret", "localhost"}},
		{name: "bad urls and from", env: with("STRIPE_API_URL", "localhost:12111", "SENDGRID_API_URL", "ftp://x", "EMAIL_FROM", "not an address"),
			wantErr: []string{"STRIPE_API_URL", "SENDGRID_API_URL", "EMAIL_FROM"}, notErr: []string{"sk_test_abc", "SG.xyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := WorkerFromEnv(env(tt.env))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tt.want(t, w)
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got %#v", tt.wantErr, w)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, s := range tt.notErr {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
}

func TestWorkerRedactsSecrets(t *testing.T) {
	w := Worker{StripeSecretKey: "sk_test_secret", SendGridAPIKey: "SG.secret", SendGridAPIURL: DefaultSendGridAPIURL,
		EmailFrom: DefaultEmailFrom, Templates: map[string]string{"trial_started": "d-1"}}
	js, _ := json.Marshal(w)
	for _, out := range []string{fmt.Sprint(w), fmt.Sprintf("%+v", w), fmt.Sprintf("%#v", w), fmt.Sprintf("%v", &w), fmt.Sprintf("%s", w), string(js)} {
		if strings.Contains(out, "secret") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s := w.String(); !strings.Contains(s, "[REDACTED]") || !strings.Contains(s, "trial_started=d-1") {
		t.Errorf("String() = %s", s)
	}
}

func TestTemplateVar(t *testing.T) {
	if got := TemplateVar("price_change_notice"); got != "SENDGRID_TEMPLATE_PRICE_CHANGE_NOTICE" {
		t.Errorf("TemplateVar = %q", got)
	}
	if n := len(EmailKinds()); n != 11 { // the contract's ten and refund_issued
		t.Errorf("EmailKinds has %d kinds", n)
	}
}

func TestLogAttrsRedactSecrets(t *testing.T) {
	w := Worker{StripeSecretKey: "sk_test_supersecret123", SendGridAPIKey: "SG.supersecret.456", EmailFrom: "Withings+ <no-reply@example.com>",
		Templates: map[string]string{"payment_receipt": "d-1"}}
	line := fmt.Sprint(w.LogAttrs()...)
	for _, secret := range []string{"supersecret123", "supersecret.456"} {
		if strings.Contains(line, secret) {
			t.Fatalf("log attributes hold a secret: %s", line)
		}
	}
	for _, want := range []string{"https://api.stripe.com (default)", "payment_receipt", "no-reply@example.com"} {
		if !strings.Contains(line, want) {
			t.Errorf("log attributes lack %q: %s", want, line)
		}
	}
	if strings.Contains(line, "config.Worker{") {
		t.Errorf("log attributes are a struct dump: %s", line)
	}
}

func TestWorkerURLsShownWithoutCredentials(t *testing.T) {
	w := Worker{StripeSecretKey: "sk_live_abc", StripeAPIURL: "https://user:pass@stripe.internal/x?key=abc#frag",
		SendGridAPIKey: "SG.xyz", SendGridAPIURL: "https://apikey@mail.internal/v3?api_key=def", EmailFrom: DefaultEmailFrom}
	for name, out := range map[string]string{"String": w.String(), "GoString": fmt.Sprintf("%#v", w), "LogAttrs": fmt.Sprint(w.LogAttrs()...)} {
		for _, leak := range []string{"user", "pass", "apikey", "key=", "abc", "def", "frag", "?"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s shows %q: %s", name, leak, out)
			}
		}
		for _, want := range []string{"https://REDACTED@stripe.internal/x", "https://REDACTED@mail.internal/v3"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q: %s", name, want, out)
			}
		}
	}
	if line := fmt.Sprintln(w.LogAttrs()...); !strings.Contains(line, "stripeMode live ") {
		t.Errorf("log attributes lack the live mode: %s", line)
	}
	if s := fmt.Sprintln((Worker{StripeAPIURL: "http://a b", SendGridAPIURL: "http://localhost:9000"}).LogAttrs()...); !strings.Contains(s, "[unparsable URL]") ||
		!strings.Contains(s, "http://localhost:9000") || strings.Contains(s, "a b") || !strings.Contains(s, "stripeMode test ") {
		t.Errorf("log attributes: %s", s)
	}
}

func TestLiveStripeKey(t *testing.T) {
	for key, want := range map[string]bool{
		"sk_live_abc": true, "rk_live_abc": true, " sk_live_abc ": true,
		"sk_test_abc": false, "rk_test_abc": false, "pk_live_abc": false, "sk_live": false, "": false, "sk_LIVE_abc": false,
	} {
		if got := LiveStripeKey(key); got != want {
			t.Errorf("LiveStripeKey(%q) = %v, want %v", key, got, want)
		}
		if got := (Worker{StripeSecretKey: strings.TrimSpace(key)}).LiveMode(); got != want {
			t.Errorf("Worker{StripeSecretKey: %q}.LiveMode() = %v, want %v", key, got, want)
		}
	}
}
