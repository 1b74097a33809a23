package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

// childEnv makes the test binary act as a child process (see TestMain).
const childEnv = "DEVSTACK_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "serve": // run until interrupted, then exit cleanly
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt)
		fmt.Println("ready")
		<-ch
		os.Exit(0)
	default:
		os.Exit(3)
	}
}

func TestWorkerEnv(t *testing.T) {
	t.Setenv("TEMPORAL_API_KEY", "key-of-another-cluster")
	t.Setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
	t.Setenv("STRIPE_SECRET_KEY", "sk_live_not_this")
	t.Setenv("SENDGRID_TEMPLATE_TRIAL_STARTED", "d-not-this")
	t.Setenv("EMAIL_FROM", "Other <other@example.com>")
	t.Setenv("DEVSTACK_KEPT", "kept")
	t.Setenv(config.MetricsAddressVar, "127.0.0.1:9464")
	t.Setenv(config.PayloadKeysVar, "other=not-this-key")
	t.Setenv(config.PayloadEncryptionVar, "off")
	// The worker's pacing passes through from this process's environment
	// (the bench sets it so), as its tuning does.
	t.Setenv("SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND", "7")
	t.Setenv("SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND", "0")
	cfg := config.Worker{
		StripeSecretKey: "sk_test_x", StripeAPIURL: "http://127.0.0.1:1",
		SendGridAPIKey: "SG.x", SendGridAPIURL: "http://127.0.0.1:2",
		EmailFrom: config.DefaultEmailFrom, SendGridSandbox: true,
		Templates:               map[string]string{"payment_receipt": "d-receipt"},
		StripeRequestsPerSecond: 7,
	}
	key, err := codec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	payload := config.Payload{Keys: []codec.Key{key}}
	env := map[string]string{}
	for _, kv := range WorkerEnv("127.0.0.1:3", "default", cfg, payload) {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; dup {
			t.Errorf("%s set twice", k)
		}
		env[k] = v
	}
	for k, want := range map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:3", "TEMPORAL_NAMESPACE": "default",
		"TEMPORAL_CONFIG_FILE": os.DevNull, "DEVSTACK_KEPT": "kept", config.MetricsAddressVar: "127.0.0.1:0"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if v, ok := env["TEMPORAL_API_KEY"]; ok {
		t.Errorf("TEMPORAL_API_KEY=%q passed to the worker", v)
	}
	got, err := config.WorkerFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("the worker reads %v, want %v", got, cfg)
	}
	gotPayload, err := config.PayloadFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || !reflect.DeepEqual(gotPayload, payload) {
		t.Errorf("the worker reads payload settings %v (%v), want %v", gotPayload, err, payload)
	}
}

func TestWorkerProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &WorkerProcess{Path: exe, Env: append(os.Environ(), childEnv+"=serve")}
	if err := p.Kill(); !errors.Is(err, ErrExited) {
		t.Fatalf("Kill before Start: %v", err)
	}
	for i := range 2 {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err == nil {
			t.Fatal("started twice")
		}
		pid := p.proc.cmd.Process.Pid
		if err := p.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if p.Running() || syscall.Kill(pid, 0) == nil {
			t.Fatalf("process %d still there after Kill", pid)
		}
		if err := p.proc.err; err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("exit status %v, want killed", err)
		}
	}
	ready := make(readyWriter, 1)
	p.Log = ready
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-ready // the child is ready for an interrupt
	begin := time.Now()
	p.Stop()                                                                           // an interrupt: the child exits at once
	if d := time.Since(begin); p.Running() || d > 5*time.Second || p.proc.err != nil { // 1 s of it is -race's exit delay
		t.Fatalf("Stop took %s, exit %v", d, p.proc.err)
	}
	if p.Starts() != 3 {
		t.Fatalf("Starts() = %d", p.Starts())
	}

	crash := &WorkerProcess{Path: exe, Env: append(os.Environ(), childEnv+"=crash")}
	if err := crash.Start(); err != nil {
		t.Fatal(err)
	}
	<-crash.proc.done
	if err := crash.Kill(); !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Kill of a crashed worker: %v", err)
	}
}

// readyWriter is a Log that signals each write.
type readyWriter chan struct{}

func (w readyWriter) Write(b []byte) (int, error) {
	select {
	case w <- struct{}{}:
	default:
	}
	return len(b), nil
}

// TestStackWorkerAndServerRestart starts a subscription with no worker, then
// charges it with the in-process worker started late, and charges its next
// cycle after the worker was stopped and the server restarted on its file.
func TestStackWorkerAndServerRestart(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := StartStackWith(ctx, os.Stderr, StackOptions{NoWorker: true, DBFile: filepath.Join(t.TempDir(), "temporal.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c := client.New(s.Client)
	acc := fmt.Sprintf("devstack-%d", time.Now().UnixNano())
	in := api.Input{AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_devstack",
		PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		TestClock: &api.TestClock{StartsAt: "2026-03-01T09:00:00Z", Speedup: 5 * 86400}}
	if _, err := c.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := len(s.Stripe.PaymentIntents()); n != 0 {
		t.Fatalf("%d charges with no worker", n)
	}
	if err := s.StartWorker(); err != nil {
		t.Fatal(err)
	}
	paid := func(cycles int) {
		t.Helper()
		for {
			st, err := c.State(ctx, acc)
			if err == nil && st.Cycle >= cycles && st.OutstandingMinor == 0 && len(st.Payments) >= cycles {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%d cycles not paid: %+v %v", cycles, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	paid(1)
	s.StopWorker()
	if s.Server.External {
		t.Logf("the Temporal server at %s is shared: only the worker is restarted", s.Server.Address)
	} else if err := s.Server.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.StartWorker(); err != nil {
		t.Fatal(err)
	}
	paid(2) // the workflow outlived the restart, and the client reconnected
	if n := len(s.Stripe.PaymentIntents()); n < 2 {
		t.Fatalf("%d charges at the stand-in for two paid cycles", n)
	}
}
