// Command local runs the whole system on this machine in one command: the
// Temporal dev server with its web UI and the contract's search attributes
// (the CLI is built once from the Go module proxy), the worker, and a demo of
// subscriptions on a fast test clock walking every path, shown as a live
// table. Stop it with Ctrl-C.
//
// Without STRIPE_SECRET_KEY and SENDGRID_API_KEY it uses the project's local
// stand-ins: a Stripe test double that honours Stripe's test payment methods
// and idempotency keys, and a mail sink that prints what would have been
// sent. With the keys it talks to Stripe's test mode and to SendGrid
// (-sendgrid-sandbox: SendGrid validates without delivering).
//
// Payloads are encrypted with the keys of SUBSCRIPTIONS_PAYLOAD_KEYS, or a
// random key for the run; a codec server on -codec-port decrypts them for
// the UI, which is started pointed at it.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	stripeclient "github.com/stripe/stripe-go/v76/client"
	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/gotool"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
	"github.com/withings-plus/subscriptions/metrics"
)

type options struct {
	port, uiPort int
	codecPort    int
	// inspect, if set, looks at the running stack once the demo has run,
	// before it stops (tests).
	inspect     func(ctx context.Context, s runningStack) error
	speedup     float64
	runFor      time.Duration
	demo        bool
	sandbox     bool
	metricsAddr string // host:port of /metrics, /healthz, /livez; "" or off: none
}

func main() {
	var o options
	flag.IntVar(&o.port, "port", 7233, "Temporal frontend port")
	flag.IntVar(&o.uiPort, "ui-port", 8233, "Temporal web UI port")
	flag.IntVar(&o.codecPort, "codec-port", 8234, "codec server port (it decrypts payloads for the web UI)")
	flag.Float64Var(&o.speedup, "speedup", 2*86400, "demo test clock speed-up (subscription seconds per real second)")
	flag.DurationVar(&o.runFor, "for", 0, "stop by itself after running this long, once the stack is up (0: run until Ctrl-C)")
	flag.BoolVar(&o.demo, "demo", true, "run the demo subscriptions")
	flag.BoolVar(&o.sandbox, "sendgrid-sandbox", false, "with SENDGRID_API_KEY: SendGrid's sandbox mode (validated, not delivered)")
	mcfg, err := config.MetricsFromEnv(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(2)
	}
	flag.StringVar(&o.metricsAddr, "metrics-address", mcfg.Address, "the worker's Prometheus /metrics, /healthz and /livez (off: none; default from "+config.MetricsAddressVar+")")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	log := newEventLog(out)
	bin, err := gotool.BinDir()
	if err != nil {
		return err
	}
	cli, err := devstack.TemporalCLI(ctx, bin, out)
	if err != nil {
		return err
	}
	serverLog, err := os.CreateTemp("", "withings-plus-temporal-*.log")
	if err != nil {
		return err
	}
	defer serverLog.Close()
	payload, err := devstack.RunPayload(config.Payload{}, false)
	if err != nil {
		return err
	}
	keysGenerated := os.Getenv(config.PayloadKeysVar) == "" && len(payload.Keys) > 0
	if o.uiPort == 0 || o.codecPort == 0 { // the UI's port is the codec server's CORS origin
		free, err := gotool.FreePorts(2)
		if err != nil {
			return err
		}
		o.uiPort, o.codecPort = cmp.Or(o.uiPort, free[0]), cmp.Or(o.codecPort, free[1])
	}
	var codecSrv *codecServer
	c, err := payload.Codec()
	if err != nil {
		return err
	}
	if c != nil {
		if codecSrv, err = startCodecServer(c, payload, keysGenerated, o.codecPort, o.uiPort); err != nil {
			return err
		}
		defer codecSrv.stop()
	}
	fmt.Fprintf(out, "starting the Temporal dev server on :%d (UI :%d; its log: %s)…\n", o.port, o.uiPort, serverLog.Name())
	sopts := devstack.ServerOptions{Port: o.port, UIPort: o.uiPort, Log: serverLog}
	if codecSrv != nil {
		sopts.UICodecEndpoint = codecSrv.Endpoint
	}
	server, err := devstack.StartServer(ctx, cli, sopts)
	if err != nil {
		return err
	}
	defer server.Stop()

	cfg, stopStandIns, err := workerConfig(o, log)
	if err != nil {
		return err
	}
	defer stopStandIns()
	mcfg, err := config.MetricsFromEnv(func(string) (string, bool) { return o.metricsAddr, true })
	if err != nil {
		return err
	}
	copts := tclient.Options{HostPort: server.Address, Logger: devstack.QuietLogger{}}
	var handler *metrics.Handler
	if mcfg.Enabled() {
		handler = metrics.NewHandler(nil)
		copts.MetricsHandler = handler
	}
	if copts, err = payload.ClientOptions(copts); err != nil {
		return err
	}
	tc, err := tclient.Dial(copts)
	if err != nil {
		return fmt.Errorf("connect to the dev server: %w", err)
	}
	defer tc.Close()
	var health *metrics.Server // nil: no metrics server
	metricsURL := ""
	if mcfg.Enabled() {
		if health, err = metrics.Listen(mcfg.Address, metrics.ServerOptions{Handler: handler, Client: tc}); err != nil {
			return fmt.Errorf("%w (another address: -metrics-address 127.0.0.1:0, or off)", err)
		}
		defer health.Close()
		metricsURL = health.MetricsURL()
	}
	w, err := devstack.StartWorker(tc, cfg)
	if err != nil {
		return err
	}
	defer w.Stop()
	health.WorkerStarted()
	fmt.Fprintf(out, "worker running (%s)\nTemporal UI: %s\n", cfg.String(), server.UIURL)
	printCodec(out, payload, codecSrv, server.Address)
	if health != nil {
		fmt.Fprintf(out, "Prometheus metrics: %s (health: %s/healthz)\n", metricsURL, health.URL())
	}
	if o.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}

	if o.demo {
		var stripeAPI *stripeclient.API
		if cfg.StripeAPIURL == "" || os.Getenv("STRIPE_SECRET_KEY") != "" {
			stripeAPI = activities.NewStripeAPI(cfg, nil) // a real Stripe: the demo's customers must exist there
		}
		err = runDemo(ctx, client.New(tc), stripeAPI, o.speedup, server.UIURL, metricsURL, log, out)
	} else {
		<-ctx.Done()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err == nil && o.inspect != nil {
		err = o.inspect(context.Background(), runningStack{Address: server.Address, UIURL: server.UIURL, Codec: codecSrv})
	}
	fmt.Fprintln(out, "stopping: worker, stand-ins, dev server…")
	return err
}

// runningStack is what run brought up.
type runningStack struct {
	Address string       // the Temporal frontend
	UIURL   string       // the web UI
	Codec   *codecServer // nil: payloads in clear
}

// printCodec says how payloads are encrypted and where the codec server is.
func printCodec(out io.Writer, payload config.Payload, c *codecServer, address string) {
	fmt.Fprintf(out, "Payload encryption: %s\n", payload.String())
	if c == nil {
		return
	}
	fmt.Fprintf(out, "Codec server: %s (the UI decrypts payloads through it; its token", c.URL)
	if os.Getenv(config.PayloadKeysVar) == "" {
		fmt.Fprint(out, " and this run's key")
	}
	fmt.Fprintf(out, " in %s)\n", c.EnvFile)
	fmt.Fprintf(out, "  starter:      . %s && TEMPORAL_ADDRESS=%s go run ./starter state --account demo-renewal\n", c.EnvFile, address)
	fmt.Fprintf(out, "  temporal CLI: . %s && temporal workflow show --address %s -w subscription-demo-renewal --codec-endpoint %s --codec-auth \"Bearer $%s\"\n",
		c.EnvFile, address, c.URL, config.CodecTokenVar)
}

// workerConfig reads the worker's settings from the environment, putting
// the local stand-ins in place of Stripe and SendGrid when their keys are absent.
func workerConfig(o options, log *eventLog) (config.Worker, func(), error) {
	var closers []func()
	stopAll := func() {
		for _, c := range closers {
			c()
		}
	}
	env := map[string]string{}
	lookup := func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	if os.Getenv("STRIPE_SECRET_KEY") == "" {
		url, stop, err := devstack.ServeLoopback(stripefake.New())
		if err != nil {
			return config.Worker{}, stopAll, err
		}
		closers = append(closers, stop)
		env["STRIPE_SECRET_KEY"], env["STRIPE_API_URL"] = "sk_test_local_stand_in", url
		log.add("Stripe: local stand-in at %s (no STRIPE_SECRET_KEY)", url)
	} else if strings.HasPrefix(os.Getenv("STRIPE_SECRET_KEY"), "sk_live_") {
		return config.Worker{}, stopAll, errors.New("refusing a live Stripe key: the local run is for test mode keys (sk_test_…)")
	}
	if os.Getenv("SENDGRID_API_KEY") == "" {
		sink := mailsink.New(mailsink.Printer(log))
		url, stop, err := devstack.ServeLoopback(sink)
		if err != nil {
			return config.Worker{}, stopAll, err
		}
		closers = append(closers, stop)
		env["SENDGRID_API_KEY"], env["SENDGRID_API_URL"] = "SG.local-stand-in", url
		log.add("SendGrid: local mail sink at %s (no SENDGRID_API_KEY); mails are listed below", url)
	}
	cfg, err := config.WorkerFromEnv(lookup)
	cfg.SendGridSandbox = cfg.SendGridSandbox || o.sandbox
	return cfg, stopAll, err
}
