package metrics_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/gotool"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
	"github.com/withings-plus/subscriptions/metrics"
)

// TestScrapeAfterSubscriptionOnDevServer runs the subscription worker in
// process on a real dev server, with the handler on its client, as the
// worker command does; starts a subscription charged at once and one
// declined; then scrapes /metrics: the SDK's own metrics, the business
// counters the workflow records through workflow.GetMetricsHandler, the
// email failures SendEmail counts, and the settlements gauge come out. /healthz answers 200, then 503 once the
// server is stopped.
func TestScrapeAfterSubscriptionOnDevServer(t *testing.T) {
	if testing.Short() || os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("needs the Temporal dev server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin, err := gotool.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := devstack.TemporalCLI(ctx, bin, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	server, err := devstack.StartServer(ctx, cli, devstack.ServerOptions{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	stripeURL, stopStripe, err := devstack.ServeLoopback(stripefake.New())
	if err != nil {
		t.Fatal(err)
	}
	defer stopStripe()
	mailURL, stopMail, err := devstack.ServeLoopback(mailsink.New())
	if err != nil {
		t.Fatal(err)
	}
	defer stopMail()

	h := metrics.NewHandler(nil)
	tc, err := tclient.Dial(tclient.Options{HostPort: server.Address, Logger: devstack.QuietLogger{}, MetricsHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	srv, err := metrics.Listen("127.0.0.1:0", metrics.ServerOptions{Handler: h, Client: tc, HealthCacheFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	w, err := devstack.StartWorker(tc, config.Worker{StripeSecretKey: "sk_test_stand_in", StripeAPIURL: stripeURL,
		SendGridAPIKey: "SG.stand-in", SendGridAPIURL: mailURL, EmailFrom: config.DefaultEmailFrom})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	srv.WorkerStarted()

	// An email SendGrid refuses twice, sent with two attempts at most: on a
	// server, the activity sees its retry policy and counts it given up.
	failing := mailsink.New()
	failing.FailNext(2, http.StatusInternalServerError)
	failingURL, stopFailing, err := devstack.ServeLoopback(failing)
	if err != nil {
		t.Fatal(err)
	}
	defer stopFailing()
	acts := activities.New(config.Worker{StripeSecretKey: "sk_test_stand_in", SendGridAPIKey: "SG.stand-in",
		SendGridAPIURL: failingURL, EmailFrom: config.DefaultEmailFrom}, nil, nil)
	ew := worker.New(tc, "metrics-test-emails", worker.Options{})
	ew.RegisterActivity(acts)
	ew.RegisterWorkflowWithOptions(func(ctx workflow.Context, e activities.Email) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 2}})
		return workflow.ExecuteActivity(ctx, acts.SendEmail, e).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "SendOneEmail"})
	if err := ew.Start(); err != nil {
		t.Fatal(err)
	}
	defer ew.Stop()
	run, err := tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{TaskQueue: "metrics-test-emails"}, "SendOneEmail",
		activities.Email{SubscriptionID: "subscription-metrics", Kind: "payment_failed", To: "ada@example.com", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err == nil {
		t.Error("the email was sent")
	}

	c := client.New(tc)
	for acc, pm := range map[string]string{"metrics-paid": "pm_card_visa", "metrics-declined": "pm_card_chargeDeclined"} {
		in := api.Input{AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
			PaymentMethodID: pm, Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
			TestClock: &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: 86400}}
		if _, err := c.Start(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var out string
	deadline := time.Now().Add(90 * time.Second)
	for {
		out = get(t, srv.MetricsURL(), http.StatusOK)
		if strings.Contains(out, `outcome="succeeded"`) && strings.Contains(out, `outcome="declined"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no charge counted in time:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The workflow's tags, then the SDK's: activity_type="none",
	// client_name="temporal_go", namespace, task_queue, worker_type="none",
	// workflow_type.
	sdkTags := `.*currency="EUR",namespace="default",outcome="%s",task_queue="subscriptions",.*workflow_type="Subscription"`
	for _, want := range []string{
		// The SDK's own.
		`temporal_request_total\{.*operation="StartWorkflowExecution".*\} \d+`,
		`temporal_workflow_task_execution_latency_seconds_bucket\{.*workflow_type="Subscription".*le="\+Inf"\} \d+`,
		`temporal_activity_execution_latency_seconds_count\{.*activity_type="Charge".*\} \d+`,
		`temporal_num_pollers\{.*poller_type="workflow_task".*\} \d+`,
		`temporal_worker_task_slots_available\{.*worker_type="ActivityWorker".*\} \d+`,
		// The workflow's, through workflow.GetMetricsHandler.
		`subscriptions_charges_total\{` + strings.ReplaceAll(sdkTags, "%s", "succeeded") + `\} 1`,
		`subscriptions_charged_minor_total\{` + strings.ReplaceAll(sdkTags, "%s", "succeeded") + `\} 995`,
		`subscriptions_charges_total\{` + strings.ReplaceAll(sdkTags, "%s", "declined") + `\} [1-9]\d*`,
		// The activity's, through activity.GetMetricsHandler.
		`subscriptions_email_attempts_failed_total\{.*error_type="SendGridUnavailable",kind="payment_failed",.*workflow_type="SendOneEmail"\} 2`,
		`subscriptions_emails_failed_total\{.*error_type="SendGridUnavailable",kind="payment_failed",.*workflow_type="SendOneEmail"\} 1`,
		// Counted in visibility by the server.
		`subscriptions_settlements_waiting 0`,
		`# TYPE subscriptions_charges_total counter`,
		`go_goroutines \d+`,
		`process_resident_memory_bytes \S+`,
	} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(out) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", out)
	}

	get(t, srv.URL()+"/healthz", http.StatusOK)
	get(t, srv.URL()+"/livez", http.StatusOK)
	server.Stop()
	time.Sleep(150 * time.Millisecond) // past HealthCacheFor
	if body := get(t, srv.URL()+"/healthz", http.StatusServiceUnavailable); !strings.Contains(body, "temporal unreachable") {
		t.Errorf("healthz with the server stopped: %s", body)
	}
	get(t, srv.URL()+"/livez", http.StatusOK) // a restart would not bring Temporal back
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, res.StatusCode, want, body)
	}
	return string(body)
}
