package config

import (
	"strings"
	"testing"

	"github.com/withings-plus/subscriptions/codec"
)

func TestWorkerProcessFromEnv(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "subscriptions")
	good := map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_abc", "SENDGRID_API_KEY": "SG.xyz",
		PayloadKeysVar: "k1=" + b64_1, "SUBSCRIPTIONS_STICKY_CACHE_SIZE": "100",
	}
	p, err := WorkerProcessFromEnv(env(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Worker.StripeSecretKey != "sk_test_abc" || p.Tuning.StickyCacheSize != 100 || len(p.Payload.Keys) != 1 {
		t.Errorf("read %+v", p)
	}
	if p.Client.HostPort != "temporal.example:7233" || p.Client.Namespace != "subscriptions" || p.Client.DataConverter == nil {
		t.Fatalf("client options %+v", p.Client)
	}
	if pl, err := p.Client.DataConverter.ToPayload("ada@example.com"); err != nil || !codec.Encrypted(pl) {
		t.Errorf("the client's payloads are not encrypted: %v %v", pl, err)
	}

	// Every invalid variable is named, whichever part reads it.
	bad := map[string]string{"SENDGRID_API_KEY": "SG.xyz", PayloadKeysVar: "k1=short", "SUBSCRIPTIONS_WORKFLOW_POLLERS": "0"}
	_, err = WorkerProcessFromEnv(env(bad))
	for _, name := range []string{"STRIPE_SECRET_KEY", PayloadKeysVar, "SUBSCRIPTIONS_WORKFLOW_POLLERS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}
