// Command bench is the subscription engine's load benchmark.
//
//	go run ./bench [-n 300] [-cycles 5] [-period 1s] [-address host:port] [-json]
//	go run ./bench -sleeping 10000 [-concurrency 64] [-settle 10s] [-address host:port] [-json]
//
// It brings up what the integration tests do (internal/devstack): a
// headless Temporal dev server of its own, or a fresh namespace on the
// server at -address (or $SUBSCRIPTIONS_TEMPORAL_ADDRESS), the Stripe and
// SendGrid stand-ins on loopback, and the worker command built with go
// build and run as a process of its own, so that the resident memory
// measured is the worker's alone. The worker gets this process's
// environment (devstack.WorkerEnv keeps everything but the Temporal,
// Stripe, SendGrid and payload variables, which point it at the stack), so
// its tuning variables apply:
//
//	SUBSCRIPTIONS_STICKY_CACHE_SIZE=2000 go run ./bench -sleeping 10000
//
// # Cycles (the default)
//
// Two phases, one after the other on the same server: the floor, then the
// subscriptions. Each starts -n workflows at once (-concurrency starts in
// flight) on a test clock whose monthly cycle lasts -period of real time
// (speedup = 30 days / period; monthly plan, no offer, so the first cycle
// falls due at once; card pm_card_visa, never declined), and stops them
// once they have paid n × cycles cycles in all at the stand-in. With n
// cycles falling due at once every period, the worker is saturated as long
// as n/period exceeds what it can pay a second: the table prints that
// offered load beside the throughput, and warns when the throughput comes
// near it (then lower -period). Saturated, the workflows fall behind their
// clock and pay their next cycle as soon as they can, unevenly (the table
// shows the fewest and the most cycles a workflow paid), so the real time
// of a phase is about n × cycles / throughput, and charge latencies
// measure the backlog as much as the worker.
//
// The worker's own pacing of Stripe (SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND,
// Stripe's account limit) applies to both phases as the environment sets
// it: left at its default it caps both, whatever the engine costs, and
// charges queued behind it outlive their retry window on a fast clock.
// SUBSCRIPTIONS_STRIPE_REQUESTS_PER_SECOND=0 measures the engine.
//
// The floor is the least a Temporal workflow can do for the same billing:
// one timer per cycle on the same test clock and one charge per cycle
// through the real activities.Activities.Charge against the same stand-in,
// with the subscription's activity options (see Floor). Its worker is this
// binary again (-floor-worker), on a task queue of its own.
//
// Figures of each phase:
//   - paid cycles/s: the phase's first n × cycles charges answered
//     succeeded at the stand-in (the window), minus one, over the time
//     from the first of them to the last.
//   - p50/p99 charge latency: for the window's charges, the time the
//     stand-in answered the charge succeeded minus the cycle's due time
//     in real time. The due time is the cycle's billing date on the
//     workflow's clock mapped back to real time through that clock:
//     origin + (billing date − startsAt) / speedup, rounded up as the
//     workflow's timers are (billing.Clock.Delay), where origin is the
//     time of the first WorkflowTaskStarted event of the workflow's first
//     run (what workflow.Now reads in the first task, the origin of the
//     workflow's billing.Clock). The stand-in's own PaymentIntent
//     `created` is in whole seconds, too coarse: the bench stands in front
//     of it and notes each answer to the nanosecond, on the same machine
//     clock as the server's event times.
//   - events per paid cycle: all the history events of all runs of the
//     phase's workflows (the bench's termination left out) over the Charge
//     activities those histories completed.
//   - worker RSS: VmHWM (peak since start) and VmRSS when the window
//     closed, from /proc/<pid>/status of the worker process.
//   - Stripe requests per paid cycle: POST /v1/payment_intents (charges,
//     retries and replays) and look-ups (GET) at the stand-in during the
//     phase, over the cycles paid meanwhile.
//   - timers fired late p99, max: for every timer of the phase's
//     histories, the time the server fired it minus its due time (start
//     plus duration); a timer still pending when the phase stopped counts
//     if it was due. Past 2 s the bench warns: the server stalled (a dev
//     server's timers do under this load), and the figures measure it.
//     Measure throughput on Temporal on PostgreSQL (-address, see
//     scripts/temporal-postgres.sh).
//   - the audit: every cycle a workflow was charged for charged by exactly
//     one succeeded PaymentIntent at the stand-in, none skipped below the
//     last, no PaymentIntent other than succeeded.
//
// Then the ratio: subscription paid cycles/s ÷ floor paid cycles/s, and
// its inverse, the cost ratio (floor ÷ subscription; the goal is ≤ 1.10).
//
// # Sleeping (-sleeping N)
//
// N subscriptions with a trial (offer body-scan) on real time, started
// with -concurrency starts in flight: they open (look up the account's
// earlier subscriptions, send trial_started) and sleep in their trial.
// Figures: starts accepted per second (N over the time from the first
// start sent to the last one accepted); opened per second (N over the time
// from the first start sent to the last opening, the opening being the
// first UpsertWorkflowSearchAttributes event of the history: the workflow
// task that opened the subscription as trialing); the p50 and p99 time
// from a start accepted to its opening; the worker's RSS before the
// starts, once all are asleep (after -settle), its peak, and the RSS per
// sleeping subscription. Each opening reads Temporal visibility once,
// paced by the worker (SUBSCRIPTIONS_VISIBILITY_REQUESTS_PER_SECOND, the
// namespace's limit): left at its default, that pace is the opening rate.
// -timeout bounds the wait for the openings; what was measured by then is
// reported.
//
// Everything is printed as a table, with the command line, the tuning
// variables passed to the worker and the machine's load average; -json
// adds one JSON line for scripts. Ctrl-C stops the run and cleans up: the
// worker processes, the dev server, the workflows started on a server
// given by address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if slices.Contains(os.Args[1:], "-floor-worker") || slices.Contains(os.Args[1:], "--floor-worker") {
		if err := floorWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "floor worker:", err)
			os.Exit(1)
		}
		return
	}
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, opts)
	if rep != nil {
		rep.print(os.Stdout, opts.json)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted; cleaned up")
		} else {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	n, cycles   int
	period      time.Duration
	floor       bool
	sleeping    int
	concurrency int
	settle      time.Duration
	address     string
	timeout     time.Duration
	json        bool
	keepLogs    bool
	command     string    // the command line, as printed
	env         []string  // the tuning variables passed to the worker, as printed
	progress    io.Writer // progress lines; nil: none
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 300, "cycles mode: subscriptions (and floor workflows) started at once")
	fs.IntVar(&o.cycles, "cycles", 5, "cycles mode: billing cycles each must pay")
	fs.DurationVar(&o.period, "period", time.Second, "cycles mode: real time of one monthly cycle on the test clock (speedup = 30 days / period)")
	fs.BoolVar(&o.floor, "floor", true, "cycles mode: run the floor phase before the subscriptions")
	fs.IntVar(&o.sleeping, "sleeping", 0, "sleeping mode: start this many subscriptions in their trial on real time")
	fs.IntVar(&o.concurrency, "concurrency", 64, "starts in flight at once")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "sleeping mode: pause once all are open before reading the worker's RSS")
	fs.StringVar(&o.address, "address", "", "host:port of a Temporal frontend to use (a fresh namespace) instead of a dev server of the bench's own")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up a phase (cycles) or the wait for the openings (sleeping) after this long, and report what was measured")
	fs.BoolVar(&o.json, "json", false, "also print the figures as one JSON line")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the worker and server logs (their folder is printed)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench [-n 300] [-cycles 5] [-period 1s] [-address host:port] [-json]")
		fmt.Fprintln(stderr, "       go run ./bench -sleeping 10000 [-concurrency 64] [-settle 10s] [-address host:port] [-json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		err := fmt.Errorf("unexpected arguments: %q", fs.Args())
		fmt.Fprintln(stderr, err)
		return o, err
	case o.sleeping < 0 || o.n < 1 || o.cycles < 1 || o.concurrency < 1 || o.period <= 0 || o.timeout <= 0 || o.settle < 0:
		err := errors.New("-n, -cycles, -concurrency, -period and -timeout must be positive, -sleeping and -settle not negative")
		fmt.Fprintln(stderr, err)
		return o, err
	}
	o.command = commandLine(args)
	o.env = tuningEnv()
	o.progress = stderr
	return o, nil
}

// commandLine is how the bench was run, as a person would type it.
func commandLine(args []string) string {
	cmd := "go run ./bench"
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") && !strings.HasSuffix(exe, ".test") {
		cmd = exe
	}
	var b strings.Builder
	for _, kv := range tuningEnv() {
		b.WriteString(kv + " ")
	}
	b.WriteString(cmd)
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

// tuningEnv lists the variables of this environment that tune the worker
// (SUBSCRIPTIONS_*, but the payload keys and the server address, and the
// Go runtime's): they reach the worker as they are.
func tuningEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "SUBSCRIPTIONS_PAYLOAD"), name == "SUBSCRIPTIONS_BIN_DIR", name == "SUBSCRIPTIONS_SKIP_INTEGRATION":
		case strings.HasPrefix(name, "SUBSCRIPTIONS_"), slices.Contains([]string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"}, name):
			out = append(out, kv)
		}
	}
	slices.Sort(out)
	return out
}

func (o options) logf(format string, args ...any) {
	if o.progress != nil {
		fmt.Fprintf(o.progress, "bench: "+format+"\n", args...)
	}
}
