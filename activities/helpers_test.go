package activities

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

const (
	stripeKey   = "sk_test_51SECRETstripeKEY0000"
	sendgridKey = "SG.SECRETsendgrid.KEY1111"
)

// harness runs the activities against the two stand-ins, through Temporal's
// test activity environment so errors are what a workflow would see.
type harness struct {
	stripe *stripefake.Server
	sink   *mailsink.Server
	cfg    config.Worker
	acts   *Activities
	env    *testsuite.TestActivityEnvironment
}

func newHarness(t *testing.T, templates map[string]string) *harness {
	t.Helper()
	h := &harness{stripe: stripefake.New(), sink: mailsink.New()}
	ss := httptest.NewServer(h.stripe)
	ms := httptest.NewServer(h.sink)
	t.Cleanup(ss.Close)
	t.Cleanup(ms.Close)
	h.cfg = config.Worker{StripeSecretKey: stripeKey, StripeAPIURL: ss.URL, SendGridAPIKey: sendgridKey,
		SendGridAPIURL: ms.URL, EmailFrom: config.DefaultEmailFrom, Templates: templates}
	h.acts = New(h.cfg, nil, ss.Client())
	h.env = newEnv(h.acts)
	return h
}

func newEnv(acts *Activities) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env
}

// run executes an activity and decodes its result into out (if non-nil).
func run(t *testing.T, env *testsuite.TestActivityEnvironment, fn, arg, out any) error {
	t.Helper()
	val, err := env.ExecuteActivity(fn, arg)
	if err != nil {
		noSecrets(t, err)
		return err
	}
	if out != nil {
		if err := val.Get(out); err != nil {
			t.Fatalf("decoding result: %v", err)
		}
	}
	return nil
}

// appError unwraps the ApplicationError a workflow would match on and checks
// its type and retryability.
func appError(t *testing.T, err error, wantType string, nonRetryable bool) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("want an ApplicationError of type %s, got %v", wantType, err)
	}
	if ae.Type() != wantType || ae.NonRetryable() != nonRetryable {
		t.Fatalf("got type %q nonRetryable=%v (%v), want %q nonRetryable=%v", ae.Type(), ae.NonRetryable(), ae, wantType, nonRetryable)
	}
	return ae
}

func noSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{stripeKey, sendgridKey, "SECRET"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error text holds a secret: %v", err)
		}
	}
}

// newRecorder serves 202 to any request after passing it to see, and
// returns its URL.
func newRecorder(t *testing.T, see func(*http.Request)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		see(r)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
