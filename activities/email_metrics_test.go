package activities

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/metrics"
)

// TestEmailFailuresCounted sends emails through a workflow of the SDK's
// test environment, with retries as the subscription workflow makes them,
// to a SendGrid that fails: every failed attempt is counted by kind and
// error type, and an email given up once.
func TestEmailFailuresCounted(t *testing.T) {
	status := http.StatusInternalServerError
	sg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer sg.Close()
	cfg := config.Worker{StripeSecretKey: stripeKey, SendGridAPIKey: sendgridKey, SendGridAPIURL: sg.URL, EmailFrom: config.DefaultEmailFrom}
	acts := New(cfg, nil, sg.Client())
	send := func(ctx workflow.Context, e Email) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 1, MaximumAttempts: 3},
		})
		return workflow.ExecuteActivity(ctx, acts.SendEmail, e).Get(ctx, nil)
	}
	h := metrics.NewHandler(nil)
	run := func(e Email) {
		var suite testsuite.WorkflowTestSuite
		suite.SetMetricsHandler(h)
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflowWithOptions(send, workflow.RegisterOptions{Name: "send"})
		env.RegisterActivity(acts)
		env.ExecuteWorkflow("send", e)
		if env.GetWorkflowError() == nil {
			t.Fatalf("%s email sent", e.Kind)
		}
	}
	run(email("payment_failed", nil)) // 500 three times: given up after the third
	status = http.StatusBadRequest
	run(email("trial_started", nil))       // rejected: given up at once
	run(email("no_such_kind", nil))        // a bad request: given up at once
	status = http.StatusServiceUnavailable // then sent on the second attempt: not given up
	send2 := 0
	sg.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if send2++; send2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(h)
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(send, workflow.RegisterOptions{Name: "send"})
	env.RegisterActivity(acts)
	env.ExecuteWorkflow("send", email("payment_receipt", nil))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	got := map[string]float64{}
	families, err := h.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetType() == dto.MetricType_COUNTER {
				got[f.GetName()+label(m, "kind")+"/"+label(m, "error_type")] += m.GetCounter().GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		MetricEmailAttemptsFailed + "payment_failed/" + ErrTypeSendGridUnavailable: 3,
		// The test environment gives the activity no retry policy: the
		// last attempt is seen on a server only (TestGivenUp).
		MetricEmailsFailed + "payment_failed/" + ErrTypeSendGridUnavailable:         0,
		MetricEmailAttemptsFailed + "trial_started/" + ErrTypeEmailRejected:         1,
		MetricEmailsFailed + "trial_started/" + ErrTypeEmailRejected:                1,
		MetricEmailAttemptsFailed + "no_such_kind/" + ErrTypeBadRequest:             1,
		MetricEmailsFailed + "no_such_kind/" + ErrTypeBadRequest:                    1,
		MetricEmailAttemptsFailed + "payment_receipt/" + ErrTypeSendGridUnavailable: 1,
		MetricEmailsFailed + "payment_receipt/" + ErrTypeSendGridUnavailable:        0,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestGivenUp(t *testing.T) {
	retryable := temporal.NewApplicationError("503", ErrTypeSendGridUnavailable)
	rejected := temporal.NewNonRetryableApplicationError("400", ErrTypeEmailRejected, nil)
	policy := &temporal.RetryPolicy{MaximumAttempts: 8}
	for _, tt := range []struct {
		err     error
		attempt int32
		policy  *temporal.RetryPolicy
		want    bool
	}{
		{retryable, 1, policy, false},
		{retryable, 7, policy, false},
		{retryable, 8, policy, true},
		{retryable, 8, nil, false},
		{retryable, 100, &temporal.RetryPolicy{}, false}, // unlimited attempts
		{retryable, 1, &temporal.RetryPolicy{NonRetryableErrorTypes: []string{ErrTypeSendGridUnavailable}}, true},
		{rejected, 1, policy, true},
		{rejected, 1, nil, true},
	} {
		if got := givenUp(tt.err, tt.attempt, tt.policy); got != tt.want {
			t.Errorf("givenUp(%v, %d, %+v) = %v, want %v", tt.err, tt.attempt, tt.policy, got, tt.want)
		}
	}
}
