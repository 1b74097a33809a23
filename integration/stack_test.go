// Package integration runs the real worker against a real Temporal dev
// server (the CLI built from the Go module proxy), the Stripe stand-in and the
// mail sink, on fast test clocks.
package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// stack is the system under test, shared by the package's tests.
type stack struct {
	server *devstack.Server
	tc     tclient.Client
	client *client.Client
	stripe *stripefake.Server
	mail   *mailsink.Server
}

var sys *stack

func TestMain(m *testing.M) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		fmt.Println("integration tests skipped: SUBSCRIPTIONS_SKIP_INTEGRATION is set")
		os.Exit(0)
	}
	s, stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: cannot bring up the stack:", err)
		os.Exit(1)
	}
	sys = s
	code := m.Run()
	stop()
	os.Exit(code)
}

func start() (*stack, func(), error) {
	ctx := context.Background()
	bin, err := devstack.BinDir()
	if err != nil {
		return nil, nil, err
	}
	cli, err := devstack.TemporalCLI(ctx, bin, os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	server, err := devstack.StartServer(ctx, cli, devstack.ServerOptions{Headless: true})
	if err != nil {
		return nil, nil, err
	}
	s := &stack{server: server, stripe: stripefake.New(), mail: mailsink.New()}
	stripeHTTP := httptest.NewServer(s.stripe)
	mailHTTP := httptest.NewServer(s.mail)
	s.tc, err = tclient.Dial(tclient.Options{HostPort: server.Address, Logger: devstack.QuietLogger{}})
	if err != nil {
		server.Stop()
		return nil, nil, err
	}
	s.client = client.New(s.tc)
	w, err := devstack.StartWorker(s.tc, config.Worker{
		StripeSecretKey: "sk_test_integration", StripeAPIURL: stripeHTTP.URL,
		SendGridAPIKey: "SG.integration", SendGridAPIURL: mailHTTP.URL,
		EmailFrom: "Withings+ <no-reply@withings.example>",
	})
	if err != nil {
		server.Stop()
		return nil, nil, err
	}
	return s, func() {
		w.Stop()
		s.tc.Close()
		stripeHTTP.Close()
		mailHTTP.Close()
		server.Stop()
	}, nil
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last: %s", what, limit, last)
}
