package fault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// The suite runs subscriptions on two test clocks. On the fast clock a
// monthly cycle falls due every 30 seconds or so, and a charge attempt left
// unanswered by its retry window (5 s, the floor on fast clocks) is, when it
// is made again an hour later, older than the idempotency-key retention the
// workflow counts on: it is looked up at the stand-in first. On the hour
// clock the retry window and the hour after it are a few hours of
// subscription time: the attempt is sent again under its own key. An hour-
// clock subscription only reaches its first cycle within the suite, so they
// start one after another through the storm, two of them while the
// stand-in holds every answer back.
const (
	fastSpeedup       = 86400 // a day a second
	hourSpeedup       = 3600  // an hour a second
	fastSubscriptions = 36
	hourSubscriptions = 16
	minFastCycles     = 3 // what each fast one must have been charged at least
	startsAt          = "2026-01-31T09:00:00Z"

	stormFor     = 100 * time.Second // random Stripe failures and worker kills
	restartAt    = 45 * time.Second  // the server is stopped then
	serverDown   = 2 * time.Second   // for this long, then started again
	holdAt       = 70 * time.Second  // the stand-in answers every charge 500 (made and stored)
	holdFor      = 8 * time.Second   // for this long: longer than a retry window
	settleWithin = 75 * time.Second  // for everything to be charged after the storm
)

// faults are the stand-in's random failures during the storm. A late
// answer comes after the attempt's retry window has run out.
func faults(seed uint64) stripefake.Faults {
	return stripefake.Faults{Before: 0.1, Late: 0.1, After: 0.1, Saved: 0.1, SavedEmpty: 0.05, LateBy: 7 * time.Second, Seed: seed}
}

// subscription is one subscription of the suite.
type subscription struct {
	account   string
	id        string // the workflow ID, the stand-in's metadata[subscription_id]
	speedup   float64
	minCycles int
	startAt   time.Duration // into the storm
	started   bool
}

// TestChargedExactlyOnceUnderFaults runs subscriptions on the worker
// command through a storm of worker kills, a server restart and Stripe
// failures, then checks that every cycle due was charged exactly once at
// the stand-in and that each subscription's state records exactly those
// charges.
func TestChargedExactlyOnceUnderFaults(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	if testing.Short() {
		t.Skip("a storm of minutes: not in -short mode")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	seed := uint64(time.Now().UnixNano())

	// The stack with no in-process worker, and the worker command, built meanwhile.
	dir := t.TempDir()
	built := devstack.BuildWorkerMeanwhile(ctx, dir)
	serverLog := createLog(t, filepath.Join(dir, "server.log"))
	workerLog := createLog(t, filepath.Join(dir, "worker.log"))
	stack, err := devstack.StartStackWith(ctx, os.Stderr, devstack.StackOptions{
		NoWorker: true, DBFile: filepath.Join(dir, "temporal.db"), ServerLog: serverLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	workerPath, err := built()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker output, last lines:\n%s", tail(workerLog.Name(), 6000))
			t.Logf("server output, last lines:\n%s", tail(serverLog.Name(), 3000))
		}
	})
	worker := stack.NewWorkerProcess(workerPath, workerLog)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	c := client.New(stack.Client)
	subs := plan(seed)

	// The storm.
	stack.Stripe.SetFaults(faults(seed))
	rng := rand.New(rand.NewPCG(seed, 1))
	storm := time.Now()
	kills, restarts, held := 0, 0, false
	nextKill := 2*time.Second + jitter(rng, 3*time.Second)
	for at := time.Duration(0); at < stormFor; at = time.Since(storm) {
		for _, s := range subs {
			if !s.started && at >= s.startAt {
				s.started = start(ctx, c, s) == nil // else again on the next round
			}
		}
		if restarts == 0 && at >= restartAt && stack.Server.External {
			// A server shared with other suites is not restarted under them.
			t.Logf("the Temporal server at %s is shared: not restarted", stack.Server.Address)
			restarts = -1
		}
		if restarts == 0 && at >= restartAt {
			stack.Server.Stop()
			time.Sleep(serverDown)
			if err := stack.Server.Start(ctx); err != nil {
				t.Fatalf("the dev server does not start again on its database: %v", err)
			}
			restarts++
		}
		if !held && at >= holdAt {
			stack.Stripe.HoldChargeAnswersUntil(time.Now().Add(holdFor))
			held = true
		}
		if at >= nextKill {
			if err := worker.Kill(); err != nil {
				t.Errorf("worker before kill %d: %v", kills+1, err)
			} else {
				kills++
			}
			time.Sleep(jitter(rng, time.Second)) // down a moment, as after a crash
			if err := worker.Start(); err != nil {
				t.Fatal(err)
			}
			nextKill = time.Since(storm) + 3*time.Second + jitter(rng, 4*time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range subs {
		if !s.started {
			t.Fatalf("%s could not be started during the storm", s.id)
		}
	}

	// Calm: no fault, the worker up. Each subscription must settle to the
	// audit's satisfaction; one that did is not audited again.
	stack.Stripe.SetFaults(stripefake.Faults{})
	if !worker.Running() {
		t.Errorf("worker not running after the storm")
		if err := worker.Start(); err != nil {
			t.Fatal(err)
		}
	}
	calm := time.Now()
	verdicts := map[string]verdict{}
	pending := subs
	for {
		fatal := false
		for id, v := range check(ctx, c, stack.Stripe, pending) {
			verdicts[id] = v
			fatal = fatal || v.fatal()
		}
		var left []*subscription
		for _, s := range pending {
			if !verdicts[s.id].ok() {
				left = append(left, s)
			}
		}
		pending = left
		if len(pending) == 0 || fatal || time.Since(calm) > settleWithin {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	settled := time.Since(calm)
	// Whatever any state says, no cycle may have been charged twice, not
	// even after its subscription passed the audit.
	twice := duplicates(stack.Stripe.PaymentIntents())

	// The figures, then the verdict.
	f := figures{subs: len(subs), seed: seed, kills: kills, starts: worker.Starts(), restarts: restarts,
		settled: settled, cycles: map[float64][2]int{}, injected: map[string]int{}}
	f.count(subs, verdicts, twice, stack.Stripe.Requests(), workerLog.Name())
	f.total = time.Since(began)
	t.Log(f)
	anyFatal := false
	for _, v := range verdicts {
		anyFatal = anyFatal || v.fatal()
	}
	for _, s := range subs {
		for _, p := range verdicts[s.id].problems {
			// After a problem no wait can repair the check stopped: what
			// was still settling then is not reported.
			if p.fatal || !anyFatal {
				t.Errorf("%s (%g×): %s", s.id, s.speedup, p.text)
			}
		}
		if v := verdicts[s.id]; !v.fatal() {
			for cycle, pis := range twice[s.id] {
				t.Errorf("%s (%g×): cycle %s charged %d times at the stand-in: %s", s.id, s.speedup, cycle, len(pis), describeAll(pis))
			}
		}
	}
	if len(pending) > 0 && !anyFatal {
		t.Errorf("%d subscriptions still wrong %s after the storm", len(pending), settled.Round(time.Second))
	}
	// A worker built with -race reports its races in its output.
	if log := tail(workerLog.Name(), 1<<30); strings.Contains(log, "WARNING: DATA RACE") {
		_, race, _ := strings.Cut(log, "WARNING: DATA RACE")
		t.Errorf("the worker raced:\n%.4000s", race)
	}
	// The storm must have happened, or the suite proves nothing.
	if kills == 0 || (restarts != 1 && !stack.Server.External) || f.injected[stripefake.FaultBefore] == 0 || f.injected[stripefake.FaultLate] == 0 ||
		f.injected[stripefake.FaultAfter] == 0 || f.injected[stripefake.FaultHeld] == 0 ||
		f.injected[stripefake.FaultSaved] == 0 || f.injected[stripefake.FaultSavedEmpty] == 0 {
		t.Errorf("the storm was too mild: %d kills, %d restarts, injected %v", kills, restarts, f.injected)
	}
}

// plan lays out the subscriptions: the fast ones start with the storm, the
// hour-clock ones one after another through it, so that their first charge
// meets it at different moments, two of them while answers are held back.
func plan(seed uint64) []*subscription {
	var subs []*subscription
	add := func(speedup float64, minCycles int, startAt time.Duration) {
		acc := fmt.Sprintf("fault-%06d-%02d", seed%1_000_000, len(subs))
		subs = append(subs, &subscription{account: acc, id: api.WorkflowID(acc), speedup: speedup, minCycles: minCycles, startAt: startAt})
	}
	for range fastSubscriptions {
		add(fastSpeedup, minFastCycles, 0)
	}
	spread := hourSubscriptions - 2
	for i := range spread {
		add(hourSpeedup, 1, stormFor*time.Duration(i+1)/time.Duration(spread+1))
	}
	add(hourSpeedup, 1, holdAt+time.Second)
	add(hourSpeedup, 1, holdAt+2*time.Second)
	return subs
}

// start starts s's subscription: monthly, no offer (charged at once), a card
// that is never declined. A start tried again after its answer was lost
// finds the subscription started.
func start(ctx context.Context, c *client.Client, s *subscription) error {
	in := api.Input{
		AccountID: s.account, Email: s.account + "@example.com",
		StripeCustomerID: "cus_" + strings.ReplaceAll(s.account, "-", "_"), PaymentMethodID: "pm_card_visa",
		Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
		TestClock: &api.TestClock{StartsAt: startsAt, Speedup: s.speedup},
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.Start(ctx, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return nil
	}
	return err
}

// check audits subs. It reads their states, then what the stand-in holds,
// then their states again, and audits each subscription whose state did not
// change meanwhile: whatever the stand-in held of it was charged by a
// workflow that had started the cycle, so the second state shows the cycle.
func check(ctx context.Context, c *client.Client, stripe *stripefake.Server, subs []*subscription) map[string]verdict {
	states := func() (map[string]api.State, map[string]error) {
		sts, errs := map[string]api.State{}, map[string]error{}
		for _, s := range subs {
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			sts[s.id], errs[s.id] = c.State(qctx, s.account)
			cancel()
		}
		return sts, errs
	}
	before, errsBefore := states()
	byID := map[string][]stripefake.PaymentIntent{}
	for _, pi := range stripe.PaymentIntents() {
		byID[pi.Metadata["subscription_id"]] = append(byID[pi.Metadata["subscription_id"]], pi)
	}
	after, errsAfter := states()
	out := map[string]verdict{}
	for _, s := range subs {
		st, prev := after[s.id], before[s.id]
		switch err := cmp.Or(errsBefore[s.id], errsAfter[s.id]); {
		case err != nil:
			out[s.id] = verdict{cycle: st.Cycle, problems: []problem{{text: "state query: " + err.Error()}}}
		case st.Cycle != prev.Cycle || !reflect.DeepEqual(st.Payments, prev.Payments):
			out[s.id] = verdict{cycle: st.Cycle, problems: []problem{{text: fmt.Sprintf("still charging: cycle %d, then %d", prev.Cycle, st.Cycle)}}}
		default:
			out[s.id] = audit(st, byID[s.id], s.minCycles)
		}
	}
	return out
}

// figures sum a run up in one line.
type figures struct {
	subs, kills, starts, restarts int
	seed                          uint64
	paid, duplicates, gaps        int
	cycles                        map[float64][2]int // by clock speed: fewest and most
	charges, resent, replayed     int
	injected                      map[string]int // by Request.Fault
	unanswered                    map[float64]int
	lookups                       int
	settled, total                time.Duration
}

func (f *figures) count(subs []*subscription, verdicts map[string]verdict, twice map[string]map[string][]stripefake.PaymentIntent,
	reqs []stripefake.Request, workerLog string) {
	for _, s := range subs {
		v := verdicts[s.id]
		f.paid += v.paid
		f.gaps += v.gaps
		span, ok := f.cycles[s.speedup]
		if !ok {
			span = [2]int{v.cycle, v.cycle}
		}
		f.cycles[s.speedup] = [2]int{min(span[0], v.cycle), max(span[1], v.cycle)}
	}
	for _, cycles := range twice {
		for _, pis := range cycles {
			f.duplicates += len(pis) - 1
		}
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		switch {
		case r.Method == "POST" && r.Path == "/v1/payment_intents":
			f.charges++
			if r.Fault != "" {
				f.injected[r.Fault]++
			}
			if r.Replayed {
				f.replayed++
			}
			if seen[r.IdempotencyKey] {
				f.resent++
			}
			seen[r.IdempotencyKey] = true
		case r.Method == "GET" && r.Path == "/v1/payment_intents":
			f.lookups++
		}
	}
	f.unanswered = unansweredBySpeed(workerLog, subs)
}

func (f figures) String() string {
	return fmt.Sprintf("fault suite: %d subscriptions (%d at %d×, %d at %d×), seed %d; "+
		"%d worker kills (%d starts), %d server restart, answers held %s; "+
		"%d cycles paid (%d–%d each on the fast clock, %d–%d on the hour clock), %d duplicates, %d gaps; "+
		"%d charge requests, injected: %d before, %d late, %d after, %d held, %d 500s saved under the key (%d of them with nothing charged); "+
		"%d sent again under a used key, %d answered by replay; "+
		"attempts left unanswered by their retry window: %d on the fast clock, %d on the hour clock; %d look-ups; "+
		"settled %.1fs after the storm, %.0fs in all",
		f.subs, fastSubscriptions, fastSpeedup, hourSubscriptions, hourSpeedup, f.seed,
		f.kills, f.starts, f.restarts, holdFor,
		f.paid, f.cycles[fastSpeedup][0], f.cycles[fastSpeedup][1], f.cycles[hourSpeedup][0], f.cycles[hourSpeedup][1], f.duplicates, f.gaps,
		f.charges, f.injected[stripefake.FaultBefore], f.injected[stripefake.FaultLate], f.injected[stripefake.FaultAfter], f.injected[stripefake.FaultHeld],
		f.injected[stripefake.FaultSaved]+f.injected[stripefake.FaultSavedEmpty], f.injected[stripefake.FaultSavedEmpty],
		f.resent, f.replayed,
		f.unanswered[fastSpeedup], f.unanswered[hourSpeedup], f.lookups,
		f.settled.Seconds(), f.total.Seconds())
}

// unansweredBySpeed counts, by clock speed, the worker's warnings of a
// charge attempt left unanswered by its retry window (made again, or
// looked up, an hour later). A warning logged by a workflow task whose
// worker was killed before the task completed is counted again when the
// task runs again.
func unansweredBySpeed(workerLog string, subs []*subscription) map[float64]int {
	speed := map[string]float64{}
	for _, s := range subs {
		speed[s.id] = s.speedup
	}
	b, _ := os.ReadFile(workerLog)
	n := map[float64]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "charge attempt got no answer") {
			continue
		}
		_, rest, _ := strings.Cut(line, "WorkflowID=")
		id, _, _ := strings.Cut(rest, " ")
		n[speed[id]]++
	}
	return n
}

// jitter is a random duration in [0, d).
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}

func createLog(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tail is the end of a file, at most n bytes.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}
