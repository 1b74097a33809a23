// Package integration runs the real worker against a real Temporal dev
// server (the CLI built from the Go module proxy), the Stripe stand-in and the
// mail sink, on fast test clocks.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// sys is the system under test, shared by the package's tests.
var sys struct {
	tc     tclient.Client
	client *client.Client
	stripe *stripefake.Server
	mail   *mailsink.Server
}

func TestMain(m *testing.M) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		fmt.Println("integration tests skipped: SUBSCRIPTIONS_SKIP_INTEGRATION is set")
		os.Exit(0)
	}
	stack, err := devstack.StartStack(context.Background(), os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: cannot bring up the stack:", err)
		os.Exit(1)
	}
	sys.tc, sys.client, sys.stripe, sys.mail = stack.Client, client.New(stack.Client), stack.Stripe, stack.Mail
	code := m.Run()
	stack.Stop()
	os.Exit(code)
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
