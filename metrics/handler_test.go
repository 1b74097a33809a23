package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// scrape gets url and returns its body, failing unless the status is want.
func scrape(t *testing.T, url string, want int) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d:\n%s", url, res.StatusCode, want, body)
	}
	return string(body)
}

// hasLine fails unless a line of the exposition matches pattern.
func hasLine(t *testing.T, exposition, pattern string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^` + pattern + `$`).MatchString(exposition) {
		t.Errorf("no line matches %s in:\n%s", pattern, exposition)
	}
}

// recording is a workflow that records through workflow.GetMetricsHandler
// as the subscription workflow does.
func recording(ctx workflow.Context) error {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": "succeeded", "currency": "EUR"})
	m.Counter("subscriptions_charges_total").Inc(1)
	m.Counter("subscriptions_charged_minor_total").Inc(995)
	workflow.GetMetricsHandler(ctx).Counter("subscriptions_suspensions_total").Inc(1)
	workflow.GetMetricsHandler(ctx).Gauge("subscriptions_demo_gauge").Update(2.5)
	workflow.GetMetricsHandler(ctx).Timer("subscriptions_demo").Record(1500 * time.Millisecond)
	return workflow.Sleep(ctx, time.Hour)
}

// TestWorkflowMetricsExported runs a workflow in the SDK's test environment
// with the handler and scrapes the server: what the workflow recorded comes
// out with Prometheus names and labels. (The test environment adds no tags
// and records no SDK metric: TestScrapeAfterSubscriptionOnDevServer does.)
func TestWorkflowMetricsExported(t *testing.T) {
	h := NewHandler(nil)
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(h)
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(recording)
	env.ExecuteWorkflow(recording)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	srv, err := Listen("127.0.0.1:0", ServerOptions{Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := scrape(t, srv.MetricsURL(), http.StatusOK)
	hasLine(t, out, `# TYPE subscriptions_charges_total counter`)
	hasLine(t, out, `subscriptions_charges_total\{currency="EUR",outcome="succeeded"\} 1`)
	hasLine(t, out, `subscriptions_charged_minor_total\{currency="EUR",outcome="succeeded"\} 995`)
	hasLine(t, out, `subscriptions_suspensions_total 1`)
	hasLine(t, out, `subscriptions_demo_gauge 2.5`)
	hasLine(t, out, `# TYPE subscriptions_demo_seconds histogram`)
	hasLine(t, out, `subscriptions_demo_seconds_bucket\{le="1"\} 0`)
	hasLine(t, out, `subscriptions_demo_seconds_bucket\{le="2.5"\} 1`)
	hasLine(t, out, `subscriptions_demo_seconds_sum 1.5`)
	hasLine(t, out, `go_goroutines \d+`)
	if strings.Contains(out, "promhttp_metric_handler_errors_total{cause=\"gathering\"} 1") {
		t.Errorf("gathering failed:\n%s", out)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ kind, name, want string }{
		{kindCounter, "temporal_request", "temporal_request_total"},
		{kindCounter, "subscriptions_charges_total", "subscriptions_charges_total"},
		{kindTimer, "temporal_activity_execution_latency", "temporal_activity_execution_latency_seconds"},
		{kindTimer, "x_seconds", "x_seconds"},
		{kindGauge, "temporal_num_pollers", "temporal_num_pollers"},
		{kindGauge, "a.b-c d:e", "a_b_c_d:e"},
		{kindGauge, "9lives", "_9lives"},
		{kindGauge, "", "_"},
	} {
		if got := ExportedName(tt.kind, tt.name); got != tt.want {
			t.Errorf("ExportedName(%s, %q) = %q, want %q", tt.kind, tt.name, got, tt.want)
		}
	}
	for tag, want := range map[string]string{"task_queue": "task_queue", "a:b": "a_b", "le": "tag_le", "__name__": "tag___name__", "émoji": "tag___moji"} {
		if got := LabelName(tag); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", tag, got, want)
		}
	}
}

// TestSeriesEdges: one name with different label sets, a negative count, a
// name taken by another kind, tags overwritten by WithTags, a label value
// that is not UTF-8, an le tag on a timer.
func TestSeriesEdges(t *testing.T) {
	h := NewHandler(slog.New(slog.DiscardHandler))
	base := h.WithTags(map[string]string{"operation": "Poll", "namespace": "default"})
	base.Counter("temporal_request").Inc(2)
	failed := base.WithTags(map[string]string{"status_code": "Unavailable"})
	failed.Counter("temporal_request").Inc(1)
	failed.Counter("temporal_request").Inc(-5)
	base.WithTags(map[string]string{"namespace": "other"}).Counter("temporal_request").Inc(7)
	h.Gauge("temporal_request_total").Update(3) // clashes with the counter: dropped
	h.WithTags(map[string]string{"v": "bad\xff", "le": "x"}).Timer("t").Record(time.Second)
	h.Counter("temporal_request").Inc(1)
	srv, err := Listen("127.0.0.1:0", ServerOptions{Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := scrape(t, srv.MetricsURL(), http.StatusOK)
	hasLine(t, out, `temporal_request_total\{namespace="default",operation="Poll"\} 2`)
	hasLine(t, out, `temporal_request_total\{namespace="default",operation="Poll",status_code="Unavailable"\} 1`)
	hasLine(t, out, `temporal_request_total\{namespace="other",operation="Poll"\} 7`)
	hasLine(t, out, `temporal_request_total 1`)
	hasLine(t, out, `t_seconds_count\{tag_le="x",v="bad\x{FFFD}"\} 1`)
	if strings.Contains(out, "# TYPE temporal_request_total gauge") || strings.Contains(out, "promhttp_metric_handler_errors_total{cause=\"gathering\"} 1") {
		t.Errorf("clash or gathering error:\n%s", out)
	}
}

// TestWithTagsKeepsDerivedHandlers: the SDK derives a handler for every
// task with the same tags; it gets the one derived before, which records
// into the same series, and tags that only look alike get their own.
func TestWithTagsKeepsDerivedHandlers(t *testing.T) {
	h := NewHandler(nil)
	a := h.WithTags(map[string]string{"namespace": "default", "task_queue": "subscriptions"})
	b := h.WithTags(map[string]string{"task_queue": "subscriptions", "namespace": "default"})
	if a != b {
		t.Error("the same tags derived two handlers")
	}
	a.Counter("c").Inc(1)
	b.Counter("c").Inc(2)
	for _, tags := range []map[string]string{
		{"namespace": "default"},
		{"namespace": "default", "task_queue": "subscriptions\x00"},
		{"namespace": "default\x00task_queue", "": "subscriptions"},
		{"namespace": "default", "task_queue": "subscriptions", "x": ""},
	} {
		if d := h.WithTags(tags); d == a {
			t.Errorf("tags %q got the handler of other tags", tags)
		}
	}
	// Tags clashing once sanitized: what each parent overwrites is its own.
	p1 := h.WithTags(map[string]string{"a.b": "1"})
	p2 := h.WithTags(map[string]string{"a_b": "1"})
	p1.WithTags(map[string]string{"a.b": "2"}).Counter("d").Inc(1)
	p2.WithTags(map[string]string{"a.b": "2"}).Counter("d").Inc(1)
	srv, err := Listen("127.0.0.1:0", ServerOptions{Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	out := scrape(t, srv.MetricsURL(), http.StatusOK)
	hasLine(t, out, `c_total\{namespace="default",task_queue="subscriptions"\} 3`)
	hasLine(t, out, `d_total\{a_b="2"\} 1`)
	hasLine(t, out, `d_total\{a_b="1"\} 1`)
}

// BenchmarkWithTags is what the SDK does for each task: derive the
// handler of its tags and count.
//
//	go test ./metrics -run '^$' -bench WithTags
func BenchmarkWithTags(b *testing.B) {
	h := NewHandler(nil).WithTags(map[string]string{"namespace": "default", "client_name": "temporal-go"})
	tags := map[string]string{"task_queue": "subscriptions", "workflow_type": "Subscription", "worker_type": "WorkflowWorker"}
	b.ReportAllocs()
	for b.Loop() {
		h.WithTags(tags).Counter("temporal_workflow_task_execution").Inc(1)
	}
}

func TestSeriesBounded(t *testing.T) {
	h := NewHandler(nil)
	for i := range MaxSeries + 10 {
		h.WithTags(map[string]string{"id": string(rune('a'+i%26)) + strings.Repeat("x", i/26)}).Counter("c").Inc(1)
	}
	if n := len(h.store.order); n != MaxSeries {
		t.Errorf("%d series kept, want %d", n, MaxSeries)
	}
}

// TestHealth: 503 before the worker starts, when Temporal cannot be
// reached, and after the worker stopped; /livez fails only after it stopped.
func TestHealth(t *testing.T) {
	// A port nothing listens on: Temporal is unreachable.
	unreachable, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	srv, err := Listen("127.0.0.1:0", ServerOptions{Handler: NewHandler(nil), Client: unreachable,
		HealthTimeout: 500 * time.Millisecond, SettlementsEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s", srv.URL())
	}
	if body := scrape(t, srv.URL()+"/healthz", http.StatusServiceUnavailable); !strings.Contains(body, "worker not started") {
		t.Errorf("healthz before start: %s", body)
	}
	scrape(t, srv.URL()+"/livez", http.StatusOK)
	srv.WorkerStarted()
	if body := scrape(t, srv.URL()+"/healthz", http.StatusServiceUnavailable); !strings.Contains(body, "temporal unreachable") {
		t.Errorf("healthz without Temporal: %s", body)
	}
	srv.WorkerStopped(errors.New("namespace not found"))
	if body := scrape(t, srv.URL()+"/livez", http.StatusServiceUnavailable); !strings.Contains(body, "namespace not found") {
		t.Errorf("livez after a fatal error: %s", body)
	}
	scrape(t, srv.URL()+"/healthz", http.StatusServiceUnavailable)
	// Without a client, the worker alone counts.
	alone, err := Listen("127.0.0.1:0", ServerOptions{Handler: NewHandler(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	alone.WorkerStarted()
	scrape(t, alone.URL()+"/healthz", http.StatusOK)
	if _, err := Listen(alone.Addr().String(), ServerOptions{Handler: NewHandler(nil)}); err == nil {
		t.Error("listened twice on one address")
	}
}

func TestURL(t *testing.T) {
	srv, err := Listen(":0", ServerOptions{Handler: NewHandler(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.MetricsURL(), "http://localhost:") || !strings.HasSuffix(srv.MetricsURL(), "/metrics") {
		t.Errorf("MetricsURL %s", srv.MetricsURL())
	}
}
