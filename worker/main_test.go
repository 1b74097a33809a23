package main

import (
	"strings"
	"testing"

	"github.com/withings-plus/subscriptions/config"
)

// TestRefusesToStartWithoutPayloadKeys: with Stripe and SendGrid set but
// neither payload key nor an explicit SUBSCRIPTIONS_PAYLOAD_ENCRYPTION=off,
// the worker stops before connecting, saying what to set.
func TestRefusesToStartWithoutPayloadKeys(t *testing.T) {
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_x")
	t.Setenv("SENDGRID_API_KEY", "SG.x")
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1") // never reached
	t.Setenv(config.PayloadKeysVar, "")
	t.Setenv(config.PayloadEncryptionVar, "")
	err := run()
	if err == nil || !strings.Contains(err.Error(), config.PayloadKeysVar+" is not set") || !strings.Contains(err.Error(), config.PayloadEncryptionVar+"=off") {
		t.Fatalf("run: %v", err)
	}
	t.Setenv(config.PayloadKeysVar, "k1=c2hvcnQ=")
	if err := run(); err == nil || !strings.Contains(err.Error(), `entry 1 (ID "k1"): the key is 5 bytes`) || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("run with a short key: %v", err)
	}
}
