package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// startsAt is where every test clock of the cycles mode starts.
const startsAt = "2026-01-01T00:00:00Z"

// month is the nominal month of the -period flag.
const month = 30 * 24 * time.Hour

// stalledTimer: a timer the server fires later than this after its due
// time is a stall of the server, not load (under saturation timers fire
// about a second late on the 2-core machine, on either server).
const stalledTimer = 2 * time.Second

// bench is one run's stack and its parts.
type bench struct {
	o          options
	stack      *devstack.Stack
	rec        *recorder
	workerPath string
	self       string // this binary, run again as the floor worker
	dir        string // the logs
	runID      string // in every workflow ID of the run
}

// run runs the bench as o says. The report holds what was measured, even
// when the run was cut short by an error or an interrupt.
func run(ctx context.Context, o options) (*report, error) {
	rep := &report{Command: o.command, Env: o.env, CPUs: runtime.NumCPU(), LoadBefore: loadAverage()}
	began := time.Now()
	b, cleanup, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		cleanup()
		rep.LoadAfter = loadAverage()
		rep.Seconds = round(time.Since(began).Seconds(), 1)
	}()
	rep.Server = "dev server (headless, in memory)"
	if b.stack.Server.External {
		rep.Server = b.stack.Server.Address + " namespace " + b.stack.Server.Namespace
	}
	if o.sleeping > 0 {
		rep.Mode = "sleeping"
		rep.Sleeping, err = b.sleeping(ctx)
		return rep, err
	}
	rep.Mode = "cycles"
	rep.Workflows, rep.Cycles = o.n, o.cycles
	rep.PeriodSeconds = o.period.Seconds()
	rep.Speedup = speedup(o.period)
	rep.OfferedPerSecond = round(float64(o.n)/o.period.Seconds(), 1)
	if o.floor {
		if rep.Floor, err = b.cycles(ctx, floorPhase); err != nil {
			return rep, err
		}
	}
	rep.Subscription, err = b.cycles(ctx, subscriptionPhase)
	if f, s := rep.Floor, rep.Subscription; f != nil && s != nil && f.CyclesPerSecond > 0 && s.CyclesPerSecond > 0 {
		rep.Ratio = round(s.CyclesPerSecond/f.CyclesPerSecond, 3)
		rep.CostRatio = round(f.CyclesPerSecond/s.CyclesPerSecond, 3)
	}
	return rep, err
}

func speedup(period time.Duration) float64 { return float64(month) / float64(period) }

// setup brings up the stack with the recorder in front of the Stripe
// stand-in, and builds the worker command meanwhile.
func setup(ctx context.Context, o options) (*bench, func(), error) {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return nil, nil, err
	}
	b := &bench{o: o, dir: dir, runID: fmt.Sprintf("%06d", rand.IntN(1_000_000))}
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		if o.keepLogs {
			o.logf("logs kept in %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}
	fail := func(err error) (*bench, func(), error) {
		cleanup()
		return nil, nil, err
	}
	if b.self, err = os.Executable(); err != nil {
		return fail(err)
	}
	if o.address != "" {
		os.Setenv(devstack.ExternalServerVar, o.address)
	}
	built := devstack.BuildWorkerMeanwhile(ctx, dir)
	serverLog, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(err)
	}
	stops = append(stops, func() { serverLog.Close() })
	progress := o.progress
	if progress == nil {
		progress = io.Discard
	}
	o.logf("starting the stack and building the worker command")
	b.stack, err = devstack.StartStackWith(ctx, progress, devstack.StackOptions{NoWorker: true, ServerLog: serverLog})
	workerPath, buildErr := built()
	if err != nil {
		return fail(err)
	}
	stops = append(stops, b.stack.Stop)
	if buildErr != nil {
		return fail(buildErr)
	}
	b.workerPath = workerPath
	b.rec = newRecorder(b.stack.Stripe)
	url, stopRec, err := devstack.ServeLoopback(b.rec)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, stopRec)
	b.stack.WorkerConfig.StripeAPIURL = url // the workers charge through the recorder
	return b, cleanup, nil
}

// process is a worker process of a phase.
type process struct {
	pid  int
	stop func()
	log  string
}

// startSubscriptionWorker starts the worker command.
func (b *bench) startSubscriptionWorker(name string) (*process, error) {
	path := filepath.Join(b.dir, name+".log")
	log, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	p := b.stack.NewWorkerProcess(b.workerPath, log)
	if err := p.Start(); err != nil {
		log.Close()
		return nil, err
	}
	return &process{pid: p.Pid(), log: path, stop: func() { p.Stop(); log.Close() }}, nil
}

// startFloorWorker runs this binary again as the floor's worker, with the
// environment the worker command gets.
func (b *bench) startFloorWorker(name string) (*process, error) {
	path := filepath.Join(b.dir, name+".log")
	log, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	s := b.stack
	cmd := exec.Command(b.self, "-floor-worker")
	cmd.Env = devstack.WorkerEnv(s.Server.Address, s.Server.Namespace, s.WorkerConfig, s.Payload)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the bench, which stops it
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start the floor worker: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
			log.Close()
		})
	}
	return &process{pid: cmd.Process.Pid, log: path, stop: stop}, nil
}

// waitPollers waits until a worker polls queue.
func (b *bench) waitPollers(ctx context.Context, queue string, p *process) error {
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := b.stack.Client.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(res.GetPollers()) > 0 {
			return nil
		}
		if _, merr := readMemory(p.pid); merr != nil {
			return fmt.Errorf("the worker exited before polling %s:\n%s", queue, tail(p.log, 3000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no worker polls %s after a minute (%v):\n%s", queue, err, tail(p.log, 3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// phaseKind is the floor or the subscriptions.
type phaseKind int

const (
	floorPhase phaseKind = iota
	subscriptionPhase
)

func (k phaseKind) String() string {
	if k == floorPhase {
		return "floor"
	}
	return "subscription"
}

// started is a workflow the bench started.
type started struct {
	id, runID string
	accepted  time.Time // when the start was answered
}

// startAll starts n workflows with `concurrency` starts in flight.
func (b *bench) startAll(ctx context.Context, n int, start func(ctx context.Context, i int) (started, error)) ([]started, error) {
	out := make([]started, n)
	err := forEach(ctx, n, b.o.concurrency, func(ctx context.Context, i int) error {
		var err error
		for try := 0; try < 3; try++ {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			out[i], err = start(sctx, i)
			cancel()
			var already *serviceerror.WorkflowExecutionAlreadyStarted
			if err == nil || errors.As(err, &already) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("start %d: %w", i, err)
		}
		out[i].accepted = time.Now()
		return nil
	})
	return out, err
}

// cycles runs one phase of the cycles mode.
func (b *bench) cycles(ctx context.Context, kind phaseKind) (*phaseResult, error) {
	o := b.o
	res := &phaseResult{Name: kind.String(), Workflows: o.n}
	sp := speedup(o.period)
	starts, _ := api.ParseTime(startsAt)
	var (
		p      *process
		err    error
		queue  string
		prefix string
		start  func(ctx context.Context, i int) (started, error)
	)
	switch kind {
	case floorPhase:
		queue, prefix = floorTaskQueue, "bench-floor-"+b.runID+"-"
		p, err = b.startFloorWorker("floor-worker")
		start = func(ctx context.Context, i int) (started, error) {
			id := fmt.Sprintf("%s%05d", prefix, i)
			run, err := b.stack.Client.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: floorTaskQueue}, floorWorkflowType, FloorInput{
				ID: id, StartsAt: starts, Speedup: sp, StripeCustomerID: fmt.Sprintf("cus_bench_floor_%s_%05d", b.runID, i),
				PaymentMethodID: "pm_card_visa", Currency: api.CurrencyEUR, AmountMinor: billing.ListPrice(api.PlanMonthly),
			})
			if err != nil {
				return started{}, err
			}
			return started{id: id, runID: run.GetRunID()}, nil
		}
	case subscriptionPhase:
		queue, prefix = api.TaskQueue, api.WorkflowID("bench-"+b.runID+"-")
		p, err = b.startSubscriptionWorker("subscription-worker")
		c := client.New(b.stack.Client, client.FirstOfAccountStarts())
		start = func(ctx context.Context, i int) (started, error) {
			acc := fmt.Sprintf("bench-%s-%05d", b.runID, i)
			st, err := c.Start(ctx, api.Input{
				AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
				PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
				TestClock: &api.TestClock{StartsAt: startsAt, Speedup: sp},
			})
			if err != nil {
				return started{}, err
			}
			return started{id: st.WorkflowID, runID: st.RunID}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if err := b.waitPollers(ctx, queue, p); err != nil {
		return nil, err
	}
	o.logf("%s phase: %d workflows × %d cycles, a cycle every %s (speedup %.0f)", kind, o.n, o.cycles, o.period, sp)

	cpu0, _ := cpuTime(p.pid)
	busy0, total0 := machineCPU()
	want := o.n * o.cycles
	done := b.rec.watch(prefix, want)
	posts0, gets0, _ := b.rec.counts()
	began := time.Now()
	wfs, err := b.startAll(ctx, o.n, start)
	if err != nil {
		return nil, err
	}
	res.StartSeconds = round(time.Since(began).Seconds(), 2)

	// Until every workflow has paid its cycles, or the timeout.
	timeout := time.NewTimer(o.timeout)
	defer timeout.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	timedOut := false
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			return res, ctx.Err()
		case <-timeout.C:
			timedOut = true
			break wait
		case <-tick.C:
			o.logf("%s phase: %d/%d cycles paid (%.0f s)", kind, b.rec.progress(), want, time.Since(began).Seconds())
		}
	}

	mem, merr := readMemory(p.pid)
	if merr != nil {
		return res, fmt.Errorf("%s worker: %v\n%s", kind, merr, tail(p.log, 3000))
	}
	res.RSSPeakMiB, res.RSSEndMiB = mib(mem.Peak), mib(mem.RSS)
	posts1, gets1, _ := b.rec.counts()
	paid := b.rec.progress()
	if cpu1, err := cpuTime(p.pid); err == nil && paid > 0 {
		res.WorkerCPUSeconds = round((cpu1 - cpu0).Seconds(), 2)
		res.WorkerCPUMsPerCycle = round(float64((cpu1-cpu0).Milliseconds())/float64(paid), 2)
	}
	if busy1, total1 := machineCPU(); total1 > total0 {
		res.MachineBusyPercent = round(100*float64(busy1-busy0)/float64(total1-total0), 1)
	}
	res.TimedOut = timedOut
	if timedOut {
		o.logf("%s phase: timed out after %s with %d/%d cycles paid; reporting what was measured", kind, o.timeout, b.rec.progress(), want)
	}

	// What the subscriptions still owe, as they say (before the stand-in is
	// read: whatever it then holds was charged by a cycle they had started).
	var open map[string][]int
	if kind == subscriptionPhase {
		open = map[string][]int{}
		var mu sync.Mutex
		c := client.New(b.stack.Client, client.FirstOfAccountStarts())
		if err := forEach(ctx, len(wfs), 16, func(ctx context.Context, i int) error {
			qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			st, err := c.State(qctx, strings.TrimPrefix(wfs[i].id, api.WorkflowIDPrefix))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.StatesUnread++
				return nil
			}
			open[wfs[i].id] = st.OutstandingCycles
			for cycle := st.Cycle + 1; cycle <= st.Cycle+1000; cycle++ { // started after the state was read
				open[wfs[i].id] = append(open[wfs[i].id], cycle)
			}
			return nil
		}); err != nil {
			return res, err
		}
	}
	pis := b.stack.Stripe.PaymentIntents()

	// Stop the workflows where they are, then the worker, then read.
	if err := b.terminate(ctx, wfs, "bench: phase done"); err != nil {
		return res, err
	}
	p.stop()
	if log := tail(p.log, 1<<30); strings.Contains(log, "WARNING: DATA RACE") || strings.Contains(log, "panic") {
		o.logf("%s worker log, last lines:\n%s", kind, tail(p.log, 4000))
	}
	hists := make([]history, len(wfs))
	if err := forEach(ctx, len(wfs), 16, func(ctx context.Context, i int) error {
		var err error
		hists[i], err = readHistory(ctx, b.stack.Client, wfs[i].id, wfs[i].runID, false)
		return err
	}); err != nil {
		return res, err
	}

	// The figures.
	origin := map[string]time.Time{}
	var timersLate []time.Duration
	for i, h := range hists {
		res.Events += h.events
		res.PaidInHistory += h.charges
		origin[wfs[i].id] = h.origin
		timersLate = append(timersLate, h.timersLate...)
	}
	if late := sortedDurations(timersLate); len(late) > 0 {
		res.TimerLateP99Ms, res.TimerLateMaxMs = ms(percentile(late, 0.99)), ms(late[len(late)-1])
		if late[len(late)-1] > stalledTimer {
			o.logf("%s phase: the server fired timers up to %.1f s late: the figures measure its stalls as much as the workflows (a dev server's timers stall under load; see docs/operations.md, The load benchmark)",
				kind, late[len(late)-1].Seconds())
		}
	}
	if res.PaidInHistory > 0 {
		res.EventsPerCycle = round(float64(res.Events)/float64(res.PaidInHistory), 1)
	}
	var mine []charge // in the order answered
	for _, c := range b.rec.snapshot() {
		if strings.HasPrefix(c.workflow, prefix) {
			mine = append(mine, c)
		}
	}
	// The window: from the phase's first charge to the one that made the
	// cycles wanted (or the last one before the timeout).
	window := mine[:min(want, len(mine))]
	var lat []time.Duration
	for _, c := range window {
		org, ok := origin[c.workflow]
		if !ok || org.IsZero() || c.cycle < 1 {
			continue
		}
		clock := billing.Clock{Origin: org, StartsAt: starts, Speedup: sp}
		due := org.Add(clock.Delay(org, billing.BillingDate(starts, api.PlanMonthly, c.cycle-1)))
		lat = append(lat, c.at.Sub(due))
	}
	res.PaidInWindow = len(window)
	if n := len(window); n > 1 {
		w := window[n-1].at.Sub(window[0].at)
		res.WindowSeconds = round(w.Seconds(), 2)
		res.CyclesPerSecond = round(float64(n-1)/w.Seconds(), 2)
		res.Seconds = round(window[n-1].at.Sub(began).Seconds(), 2)
	}
	perWorkflow := map[string]int{}
	for _, c := range mine {
		perWorkflow[c.workflow] = max(perWorkflow[c.workflow], c.cycle)
	}
	res.MinCycles, res.MaxCycles = -1, 0
	for _, w := range wfs {
		n := perWorkflow[w.id]
		if res.MinCycles < 0 || n < res.MinCycles {
			res.MinCycles = n
		}
		res.MaxCycles = max(res.MaxCycles, n)
	}
	sorted := sortedDurations(lat)
	res.Latencies = len(sorted)
	res.LatencyP50Ms, res.LatencyP99Ms = ms(percentile(sorted, 0.50)), ms(percentile(sorted, 0.99))
	if len(sorted) > 0 {
		res.LatencyMinMs, res.LatencyMaxMs = ms(sorted[0]), ms(sorted[len(sorted)-1])
	}
	res.ChargeRequests, res.LookUps = posts1-posts0, gets1-gets0
	a := auditStandIn(pis, prefix, open)
	res.Duplicates, res.Gaps, res.Outstanding, res.Unaudited, res.Failed, res.Succeeded = a.duplicates, a.gaps, a.outstanding, a.unaudited, a.failed, a.succeeded
	if paid > 0 {
		res.RequestsPerCycle = round(float64(res.ChargeRequests+res.LookUps)/float64(paid), 2)
	}
	o.logf("%s phase: %.2f paid cycles/s, %d events per paid cycle, RSS peak %.1f MiB", kind, res.CyclesPerSecond, int(res.EventsPerCycle+0.5), res.RSSPeakMiB)
	if res.Duplicates > 0 || res.Failed > 0 || res.Gaps > 0 {
		return res, fmt.Errorf("%s phase: the stand-in holds %d cycles charged twice, %d failed PaymentIntents, %d cycles skipped (not owed by the workflow)", kind, res.Duplicates, res.Failed, res.Gaps)
	}
	return res, nil
}

// audit is what auditStandIn found, in cycles (failed and succeeded: in
// PaymentIntents).
type audit struct {
	duplicates, gaps, outstanding, unaudited, failed, succeeded int
}

// auditStandIn checks what the stand-in holds of the workflows whose IDs
// start with prefix: every cycle charged by exactly one succeeded
// PaymentIntent, no PaymentIntent other than succeeded, and no cycle
// skipped below the last one charged, unless open (nil for the floor,
// which pays its cycles in order) lists it as still owed by the workflow
// (outstanding: its charge unanswered yet, to be made again). A
// subscription missing from open (its state could not be read) has its
// uncharged cycles counted as unaudited, not as gaps.
func auditStandIn(pis []stripefake.PaymentIntent, prefix string, open map[string][]int) (a audit) {
	count := map[string]map[int]int{}
	for _, pi := range pis {
		id := pi.Metadata["subscription_id"]
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		if pi.Status != "succeeded" {
			a.failed++
			continue
		}
		a.succeeded++
		if count[id] == nil {
			count[id] = map[int]int{}
		}
		cycle, _ := strconv.Atoi(pi.Metadata["cycle"])
		count[id][cycle]++
	}
	for id, byCycle := range count {
		last := 0
		for cycle, n := range byCycle {
			a.duplicates += n - 1
			last = max(last, cycle)
		}
		owed, read := open[id]
		for cycle := 1; cycle <= last; cycle++ {
			switch {
			case byCycle[cycle] > 0:
			case slices.Contains(owed, cycle):
				a.outstanding++
			case open != nil && !read:
				a.unaudited++
			default:
				a.gaps++
			}
		}
	}
	return a
}

// terminate terminates the workflows the bench started.
func (b *bench) terminate(ctx context.Context, wfs []started, reason string) error {
	return forEach(ctx, len(wfs), b.o.concurrency, func(ctx context.Context, i int) error {
		if wfs[i].id == "" {
			return nil
		}
		err := b.stack.Client.TerminateWorkflow(ctx, wfs[i].id, "", reason)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) && ctx.Err() == nil {
			return fmt.Errorf("terminate %s: %w", wfs[i].id, err)
		}
		return nil
	})
}

// sleeping runs the sleeping mode.
func (b *bench) sleeping(ctx context.Context) (*sleepResult, error) {
	o := b.o
	res := &sleepResult{Subscriptions: o.sleeping, Concurrency: o.concurrency}
	p, err := b.startSubscriptionWorker("subscription-worker")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if err := b.waitPollers(ctx, api.TaskQueue, p); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // the worker's start-up allocations done
	base, err := readMemory(p.pid)
	if err != nil {
		return nil, err
	}
	res.RSSBeforeMiB = mib(base.RSS)

	cpu0, _ := cpuTime(p.pid)
	busy0, total0 := machineCPU()
	o.logf("sleeping: starting %d subscriptions in their trial, %d starts in flight", o.sleeping, o.concurrency)
	c := client.New(b.stack.Client, client.FirstOfAccountStarts())
	first := time.Now()
	wfs, err := b.startAll(ctx, o.sleeping, func(ctx context.Context, i int) (started, error) {
		acc := fmt.Sprintf("bench-%s-%05d", b.runID, i)
		st, err := c.Start(ctx, api.Input{
			AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
			PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR, Offer: api.OfferBodyScan,
		})
		if err != nil {
			return started{}, err
		}
		return started{id: st.WorkflowID, runID: st.RunID}, nil
	})
	if b.stack.Server.External {
		// A shared server keeps nothing of the bench's: its sleepers go.
		defer func() {
			tctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := b.terminate(tctx, wfs, "bench: done"); err != nil {
				o.logf("%v", err)
			}
		}()
	}
	if err != nil {
		return res, err
	}
	var lastAccepted time.Time
	for _, w := range wfs {
		if w.accepted.After(lastAccepted) {
			lastAccepted = w.accepted
		}
	}
	res.StartSeconds = round(lastAccepted.Sub(first).Seconds(), 2)
	res.StartsPerSecond = round(float64(len(wfs))/lastAccepted.Sub(first).Seconds(), 1)
	o.logf("sleeping: %d starts accepted in %.1f s", len(wfs), res.StartSeconds)

	// Until all are open (visibility says trialing), or the timeout.
	query := api.SASubscriptionStatus + " = '" + api.StatusTrialing + "'"
	deadline := time.Now().Add(o.timeout)
	lastLog := time.Now()
	for {
		n, err := b.stack.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: b.stack.Server.Namespace, Query: query})
		if err != nil && ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err == nil && int(n.GetCount()) >= len(wfs) {
			break
		}
		if time.Now().After(deadline) {
			o.logf("sleeping: timed out after %s with %d/%d open; reporting what was measured", o.timeout, n.GetCount(), len(wfs))
			res.TimedOut = true
			break
		}
		if time.Since(lastLog) >= 10*time.Second {
			o.logf("sleeping: %d/%d open (%.0f s)", n.GetCount(), len(wfs), time.Since(first).Seconds())
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if m, err := readMemory(p.pid); err == nil {
		res.RSSOpenMiB = mib(m.RSS)
	}
	if cpu1, err := cpuTime(p.pid); err == nil {
		res.WorkerCPUSeconds = round((cpu1 - cpu0).Seconds(), 2)
	}
	if busy1, total1 := machineCPU(); total1 > total0 {
		res.MachineBusyPercent = round(100*float64(busy1-busy0)/float64(total1-total0), 1)
	}
	if !res.TimedOut {
		o.logf("sleeping: all open; settling %s", o.settle)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(o.settle):
		}
	}
	mem, err := readMemory(p.pid)
	if err != nil {
		return res, fmt.Errorf("worker: %v\n%s", err, tail(p.log, 3000))
	}
	res.RSSAsleepMiB, res.RSSPeakMiB = mib(mem.RSS), mib(mem.Peak)
	res.RSSPerSubscriptionKiB = round(float64(mem.RSS-base.RSS)/1024/float64(len(wfs)), 2)
	p.stop()

	// The openings, from the histories.
	o.logf("sleeping: reading %d histories for the opening times", len(wfs))
	opened := make([]time.Time, len(wfs))
	if err := forEach(ctx, len(wfs), 32, func(ctx context.Context, i int) error {
		h, err := readHistory(ctx, b.stack.Client, wfs[i].id, wfs[i].runID, true)
		opened[i] = h.opened
		return err
	}); err != nil {
		return res, err
	}
	var lastOpened time.Time
	var delays []time.Duration
	for i, at := range opened {
		if at.IsZero() {
			continue
		}
		res.Opened++
		if at.After(lastOpened) {
			lastOpened = at
		}
		delays = append(delays, at.Sub(wfs[i].accepted))
	}
	if res.Opened > 0 {
		res.OpenSeconds = round(lastOpened.Sub(first).Seconds(), 2)
		res.OpenedPerSecond = round(float64(res.Opened)/lastOpened.Sub(first).Seconds(), 1)
	}
	sorted := sortedDurations(delays)
	res.OpenP50Ms, res.OpenP99Ms = ms(percentile(sorted, 0.5)), ms(percentile(sorted, 0.99))
	return res, nil
}

// tail is the end of a file, at most n bytes.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}
