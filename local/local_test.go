package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

// TestDemoWalksThePaths runs the README's run command for 30 seconds (60
// subscription days) on free ports and reads its last table.
func TestDemoWalksThePaths(t *testing.T) {
	if testing.Short() || os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("needs the Temporal dev server")
	}
	t.Setenv("STRIPE_SECRET_KEY", "")
	t.Setenv("SENDGRID_API_KEY", "")
	t.Setenv(config.PayloadKeysVar, "") // a key of its own for the run
	t.Setenv(config.PayloadEncryptionVar, "")
	var out bytes.Buffer
	if err := run(context.Background(), options{speedup: 2 * 86400, demo: true, runFor: 30 * time.Second, metricsAddr: "127.0.0.1:0", inspect: inspectCodec}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	last := text[strings.LastIndex(text, "Withings+ local demo"):]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`demo-renewal\s+2026-0[34]-\d\d\s+trialing\s+yes\s+monthly\s+9\.95 EUR\s+0\s+2026-04-30`),
		regexp.MustCompile(`demo-annual\s+\S+\s+active\s+yes\s+annual\s+99\.50 USD\s+1\s+2027-01-31`),
		regexp.MustCompile(`demo-dunning\s+\S+\s+active\s+yes\s+monthly\s+9\.95 EUR\s+\d\s+\S+\s+0\.00 EUR\s+\d/5/0`),
		regexp.MustCompile(`demo-withdraw\s+\S+\s+ended \(withdrawn\)\s+no\s+monthly\s+9\.95 GBP\s+1\s+-\s+0\.00 GBP\s+0/0/1`),
		regexp.MustCompile(`demo-plan\s+\S+\s+active\s+yes\s+annual\s+99\.50 EUR\s+2\s+2027-02-28`),
		regexp.MustCompile(`demo-cancel\s+\S+\s+canceling\s+yes`),
		regexp.MustCompile(`/namespaces/default/workflows/subscription-demo-renewal`),
		regexp.MustCompile(`Prometheus metrics of the worker: http://127\.0\.0\.1:\d+/metrics`),
	} {
		if !want.MatchString(last) {
			t.Errorf("last table lacks %s:\n%s", want, last)
		}
	}
	for _, event := range []string{
		`demo-price day 1: price-change 1195 from day 40 → {"appliesFrom":"2026-03-31T09:00:00Z"}`,
		`demo-dunning day 12: update-payment-method pm_sepa_debit_demo → refused`,
		`demo-dunning day 12.5: update-payment-method pm_card_visa → {"status":"active","outstandingMinor":0}`,
		`mail: access_suspended to=demo-dunning@example.com`,
	} {
		if !strings.Contains(text, event) {
			t.Errorf("output lacks %q", event)
		}
	}
	if !regexp.MustCompile(`Codec server: http://127\.0\.0\.1:\d+ \(the UI decrypts payloads through it`).MatchString(text) ||
		!strings.Contains(text, "Payload encryption: payloads encrypted with key run-") {
		t.Error("the codec server and payload encryption are not announced")
	}
	if strings.Contains(text, codec.TokenPathPrefix) {
		t.Error("the codec token is printed")
	}
	if !strings.Contains(text, "stopping: worker, stand-ins, dev server") {
		t.Error("no clean stop")
	}
}
