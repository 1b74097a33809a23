// Command worker runs the subscription workflow and its activities on the
// "subscriptions" task queue.
//
// It connects to Temporal with the SDK's standard environment variables
// (TEMPORAL_ADDRESS, default localhost:7233; TEMPORAL_NAMESPACE, default
// "default"; TLS and API key variables as envconfig reads them) and reads
// Stripe and SendGrid settings from STRIPE_SECRET_KEY, STRIPE_API_URL,
// SENDGRID_API_KEY, SENDGRID_API_URL, EMAIL_FROM and SENDGRID_TEMPLATE_<KIND>.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.WorkerFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("temporal client options: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Logger = tlog.NewStructuredLogger(logger)
	tc, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %q: %w", opts.HostPort, err)
	}
	defer tc.Close()

	w := worker.New(tc, api.TaskQueue, worker.Options{})
	workflows.Register(w, activities.New(cfg, tc, nil))
	logger.Info("worker starting", "taskQueue", api.TaskQueue, "config", cfg.String())
	return w.Run(worker.InterruptCh())
}
