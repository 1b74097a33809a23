// Command worker runs the subscription workflow and its activities on the
// "subscriptions" task queue.
//
// It connects to Temporal with the SDK's standard environment variables
// (TEMPORAL_ADDRESS, default localhost:7233; TEMPORAL_NAMESPACE, default
// "default"; TLS and API key variables as envconfig reads them) and reads
// Stripe and SendGrid settings from STRIPE_SECRET_KEY, STRIPE_API_URL,
// SENDGRID_API_KEY, SENDGRID_API_URL, EMAIL_FROM and SENDGRID_TEMPLATE_<KIND>.
//
// Payloads (the workflow's input, the activities' inputs and results, …)
// and error messages are encrypted with the keys of
// SUBSCRIPTIONS_PAYLOAD_KEYS (see config.PayloadKeysVar); it refuses to
// start without them unless SUBSCRIPTIONS_PAYLOAD_ENCRYPTION=off.
//
// It serves Prometheus metrics (the SDK's and the workflow's business
// counters) on /metrics, and /healthz and /livez for orchestrators, at
// SUBSCRIPTIONS_METRICS_ADDRESS (default 127.0.0.1:9464; off: none).
//
// At scale it reads its tuning (sticky cache size, pollers, task slots,
// activity rates: config.TuningFromEnv) and paces Stripe and visibility
// (SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND,
// SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND).
package main

import (
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/metrics"
	"github.com/withings-plus/subscriptions/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	proc, err := config.WorkerProcessFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	cfg, payload, tuning, opts := proc.Worker, proc.Payload, proc.Tuning, proc.Client
	mcfg, err := config.MetricsFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Logger = tlog.NewStructuredLogger(logger)
	var handler *metrics.Handler
	if mcfg.Enabled() {
		handler = metrics.NewHandler(logger)
		opts.MetricsHandler = handler
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %q: %w", opts.HostPort, err)
	}
	defer tc.Close()
	var health *metrics.Server // nil: no metrics server
	if mcfg.Enabled() {
		if health, err = metrics.Listen(mcfg.Address, metrics.ServerOptions{Handler: handler, Client: tc, Logger: logger}); err != nil {
			return err
		}
		defer health.Close()
		logger.Info("metrics and health", "metrics", health.MetricsURL(), "healthz", health.URL()+"/healthz")
	}

	fatal := make(chan error, 1)
	w := worker.New(tc, api.TaskQueue, tuning.WorkerOptions(worker.Options{OnFatalError: func(err error) {
		health.WorkerStopped(err)
		fatal <- err
	}}))
	workflows.Register(w, activities.New(cfg, tc, nil))
	attrs := append([]any{"taskQueue", api.TaskQueue, "payloadKeys", payload.String()}, cfg.LogAttrs()...)
	logger.Info("worker starting", append(attrs, tuning.LogAttrs()...)...)
	if payload.Off {
		logger.Warn("payloads are written in clear: personal data is stored unencrypted in Temporal", "variable", config.PayloadEncryptionVar)
	}
	if err := w.Start(); err != nil {
		return err
	}
	health.WorkerStarted()
	select {
	case s := <-worker.InterruptCh():
		logger.Info("worker stopping", "signal", s)
		health.WorkerStopped(nil)
		w.Stop()
		return nil
	case err := <-fatal:
		w.Stop()
		return err
	}
}
