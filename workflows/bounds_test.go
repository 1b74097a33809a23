package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// Bounds the longest paths of a subscription must keep (issue 9).
const (
	// maxEventsPerRun bounds the history of every run.
	maxEventsPerRun = 2000
	// maxCarriedBytes bounds the state a run hands to the next one. What
	// grows in billing.Subscription with time is capped by billing: the
	// last 240 payments (maxPayments; 160 to 185 bytes each in JSON with
	// Stripe's 27-character IDs, with or without a decline code: at most
	// about 44 KB) and the last 50 rejected signals (maxRejected; about
	// 200 bytes each with their error: 10 KB, none on these paths). The
	// rest (identity, plan, anchor, dunning schedule, the open cycles of a
	// subscription that pays) is under 1 KB. 64 KB is that, with room; it
	// is far below what Temporal takes as a payload (2 MB).
	maxCarriedBytes = 64 << 10
	// maxCarriedGrowth is how much the carried state may still grow from a
	// run to the next once billing's caps are reached: a plateau.
	maxCarriedGrowth = 0.03
	// capPayments mirrors billing's maxPayments (unexported there).
	capPayments = 240
	// boundYears is how long each path runs on the simulated clock.
	boundYears = 10
	// maxBoundRuns stops a chain that would never end.
	maxBoundRuns = 40
)

// historyCount estimates the events the server would record for one run. The
// SDK's test environment keeps no history (TestWorkflowEnvironment offers
// SetCurrentHistoryLength to fake GetInfo's count, nothing that counts), so
// the estimate is built from what the environment reports, and it errs on
// the side of more events (TestHistoryBoundEstimateAgainstARecording checks
// it against a history a real server recorded: 438 estimated, 437 recorded):
//
//   - 2: WorkflowExecutionStarted, and ContinuedAsNew or Completed;
//   - 3 per activity (Scheduled, Started, Completed/Failed/TimedOut; the
//     server records one Started for all the attempts of a retried activity),
//     counted in SetOnActivityStartedListener at the first attempt;
//   - 1 per local activity (rules 3's emails: the MarkerRecorded of its
//     outcome, in the completion of the workflow task that ran it), counted
//     in SetOnLocalActivityStartedListener at the first attempt;
//   - 2 per timer (Started, then Fired or Canceled; a timer still pending
//     when the run continues as new gets neither), counted in
//     SetOnTimerScheduledListener;
//   - 1 per search-attribute upsert (UpsertWorkflowSearchAttributes), counted
//     by a mock of UpsertTypedSearchAttributes that only counts;
//   - 2 per version marker (MarkerRecorded and the TemporalChangeVersion
//     upsert GetVersion makes the first time a change is met), counted by a
//     mock of UpsertSearchAttributes, which only GetVersion calls;
//   - 1 for a SideEffect marker (the workflow's only one: the live-key
//     check at the start of a test-clock input), counted for every run;
//   - 1 per signal and 2 per update (Accepted and Completed) the test sends;
//   - 3 per workflow task (Scheduled, Started, Completed), with one task for
//     the start and one for every event that wakes the workflow: each
//     activity's end, each timer fired, signal and update. The server
//     batches what arrives while a task runs into the next one, so there
//     are at most that many.
type historyCount struct {
	mu                                                                           sync.Mutex
	activities, locals, timers, timersFired, upserts, versions, updates, signals int
}

func (c *historyCount) add(n *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*n++
}

// events is the estimated length of the run's history.
func (c *historyCount) events() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	const sideEffect = 1
	tasks := 1 + c.activities + c.timersFired + c.signals + c.updates
	return 2 + 3*tasks + 3*c.activities + c.locals + 2*c.timers + c.upserts + 2*c.versions + sideEffect + c.signals + 2*c.updates
}

func (c *historyCount) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d activities, %d local activities, %d timers (%d fired), %d upserts, %d versions, %d updates, %d signals",
		c.activities, c.locals, c.timers, c.timersFired, c.upserts, c.versions, c.updates, c.signals)
}

// countHistory starts counting the history of h's run.
//
// The environment keeps no history: the workflow reads its length
// (workflow.GetInfo's GetCurrentHistoryLength, which HistoryBudget
// checks) as this estimate, set after every event counted.
func countHistory(h *harness) *historyCount {
	c := &historyCount{}
	add := func(n *int) {
		c.add(n)
		h.env.SetCurrentHistoryLength(c.events())
	}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.Attempt <= 1 {
			add(&c.activities)
		}
	})
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.Attempt <= 1 {
			add(&c.locals)
		}
	})
	h.env.SetOnTimerScheduledListener(func(string, time.Duration) { add(&c.timers) })
	h.env.SetOnTimerFiredListener(func(string) { add(&c.timersFired) })
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(mock.Arguments) { add(&c.upserts) })
	h.env.OnUpsertSearchAttributes(mock.Anything).Return(nil).Run(func(mock.Arguments) { add(&c.versions) })
	return c
}

// scriptedStripe is the fake Stripe whose card declines the attempts
// declines names, and whose PaymentIntent IDs have Stripe's length (27
// characters), so that the carried state is measured at its real size.
type scriptedStripe struct {
	*fakeStripe
	declines func(cycle, attempt int) bool
}

func (s *scriptedStripe) Charge(ctx context.Context, req activities.ChargeRequest) (activities.ChargeResult, error) {
	if s.declines != nil && s.declines(req.Cycle, req.Attempt) {
		req.PaymentMethodID = "pm_card_chargeDeclined"
	}
	res, err := s.fakeStripe.Charge(ctx, req)
	res.PaymentIntentID = stripeID(res.PaymentIntentID)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypePaymentDeclined && appErr.HasDetails() {
		var d activities.ChargeResult
		if appErr.Details(&d) == nil {
			d.PaymentIntentID = stripeID(d.PaymentIntentID)
			err = temporal.NewNonRetryableApplicationError(appErr.Message(), appErr.Type(), nil, d)
		}
	}
	return res, err
}

// stripeID pads the fake's "pi_17" to Stripe's 27 characters.
func stripeID(id string) string {
	n, ok := strings.CutPrefix(id, "pi_")
	if !ok || len(n) >= 24 {
		return id
	}
	return "pi_" + strings.Repeat("0", 24-len(n)) + n
}

// quietHarness is newHarness whose workflow logs nothing, also with -v: ten
// years of debug logs are no help here, and the declines, failed refunds and
// hand-over to ops logged as errors are expected.
func quietHarness(t *testing.T, t0 time.Time, fake *scriptedStripe) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	// The environment's default run timeout is 10 years; an annual
	// subscription's run lasts 23 (the client sets none).
	env.SetWorkflowRunTimeout(day(50 * 365))
	env.RegisterWorkflow(Subscription)
	env.RegisterActivity(fake)
	return &harness{t: t, env: env, fake: fake.fakeStripe, t0: t0}
}

// boundPath is one of the longest paths a subscription takes.
type boundPath struct {
	name  string
	plan  string
	trial bool
	// declines makes the card decline these attempts (nil: never).
	declines func(cycle, attempt int) bool
	// withdrawAt, if set, withdraws the subscription then; refundFailures
	// makes its refunds fail (the fake's refundFailures).
	withdrawAt     time.Duration
	refundFailures int
	// endsUnpaid says the path ends a year after its first unpaid cycle
	// (billing.UnpaidReason): suspended for good.
	endsUnpaid bool
}

// runFigures is what one run of a path measured.
type runFigures struct {
	start, end time.Time
	events     int
	count      string
	cycles     int // cycles that fell due in the run
	carried    int // bytes of state handed to the next run; 0 if it completed
	payments   int // payments in the carried state
	open       int // unpaid cycles in the carried state
}

// carriedState is what the test reads of a run's carried state.
type carriedState struct {
	Sub struct {
		Cycle    int               `json:"cycle"`
		Open     []json.RawMessage `json:"open"`
		Payments []json.RawMessage `json:"payments"`
	} `json:"subscription"`
	Runs int `json:"runs"`
}

// chain runs the path from t0, each run continuing as new into a fresh test
// environment started when the last one stopped, until a run ends at or
// after horizon and more (see more) is not asked for, or a run completes.
func (p boundPath) chain(t *testing.T, t0, horizon time.Time, more func([]runFigures) bool) ([]runFigures, *api.State) {
	t.Helper()
	in := input(noOffer)
	if p.trial {
		in = input()
	}
	in.Plan = p.plan
	fake := &scriptedStripe{fakeStripe: newFake(), declines: p.declines} // one Stripe for every run
	fake.refundFailures = p.refundFailures
	var runs []runFigures
	start, cycles := t0, 0
	for len(runs) < maxBoundRuns {
		h := quietHarness(t, start, fake)
		count := countHistory(h)
		if len(runs) > 0 {
			h.env.SetContinuedExecutionRunID(fmt.Sprintf("run-%d", len(runs)))
		}
		if p.withdrawAt > 0 && len(runs) == 0 {
			count.add(&count.updates)
			h.update(p.withdrawAt, api.UpdateWithdraw, api.WithdrawRequest{})
		}
		final, err := h.run(in, day(40*365)) // never reached: every run continues as new or completes first
		r := runFigures{start: start, end: h.env.Now(), events: count.events(), count: count.String()}
		if err == nil {
			r.cycles = final.Cycle - cycles
			return append(runs, r), final
		}
		in = continued(t, err)
		var c carriedState
		if err := json.Unmarshal(in.Continued, &c); err != nil {
			t.Fatalf("run %d: decode carried state: %v", len(runs)+1, err)
		}
		if c.Runs != len(runs)+1 {
			t.Fatalf("run %d carried runs=%d", len(runs)+1, c.Runs)
		}
		r.cycles, r.carried, r.payments, r.open = c.Sub.Cycle-cycles, len(in.Continued), len(c.Sub.Payments), len(c.Sub.Open)
		runs = append(runs, r)
		start, cycles = r.end, c.Sub.Cycle
		if !r.end.Before(horizon) && (more == nil || !more(runs)) {
			return runs, nil
		}
	}
	t.Fatalf("%s: still running after %d runs", p.name, maxBoundRuns)
	return nil, nil
}

// dueBefore counts the billing dates of the path before horizon.
func (p boundPath) dueBefore(t0, horizon time.Time) int {
	anchor := t0
	if p.trial {
		anchor = billing.TrialEnd(t0)
	}
	n := 0
	for billing.BillingDate(anchor, p.plan, n).Before(horizon) {
		n++
	}
	return n
}

// budgeted says a run continued as new on its history's length before its
// cycles: the runs are then more than the cycles imply.
func budgeted(runs []runFigures) bool {
	for _, r := range runs {
		if r.carried > 0 && r.cycles < MaxCyclesPerRun {
			return true
		}
	}
	return false
}

// atCap says the last three runs carried billing's cap of payments: what
// the state keeps has stopped growing, if the rest is bounded.
func atCap(runs []runFigures) bool {
	n := len(runs)
	return n >= 3 && runs[n-3].payments == capPayments
}

// TestHistoryAndCarriedStateBounded runs the longest paths of a subscription
// for ten simulated years, run after run, and checks that no run's history
// passes maxEventsPerRun events (estimated as historyCount says, an
// over-count, which the workflow also reads as its history length, so that
// HistoryBudget applies), that the runs are those MaxCyclesPerRun implies
// (or that a run that continued as new earlier had reached HistoryBudget),
// that a subscription suspended for good ends unpaid after a year, and that the
// state carried from run to run stays under maxCarriedBytes and stops
// growing once billing's caps are reached (monthly plans run on past ten
// years until then: 240 payments take up to 20 years; an annual plan never
// gets there, its one run in ten years is only held to the bound).
func TestHistoryAndCarriedStateBounded(t *testing.T) {
	t0 := date("2026-01-31T09:00:00Z") // month ends: the dates are clamped
	horizon := t0.AddDate(boundYears, 0, 0)
	firstAttemptDeclines := func(_, attempt int) bool { return attempt == 0 }
	lastRetryPays := func(_, attempt int) bool { return attempt < len(billing.DefaultDunningDays()) }
	declinesFrom := func(from int) func(int, int) bool {
		return func(cycle, _ int) bool { return cycle >= from }
	}
	paths := []boundPath{
		{name: "renewals/monthly", plan: api.PlanMonthly},
		{name: "renewals/monthly-trial", plan: api.PlanMonthly, trial: true},
		{name: "renewals/annual", plan: api.PlanAnnual},
		{name: "renewals/annual-trial", plan: api.PlanAnnual, trial: true},
		// Every cycle declined first, then paid by its first retry: a
		// decline, its payment_failed email, the retry, the receipt.
		{name: "dunning/first-retry-pays/monthly", plan: api.PlanMonthly, declines: firstAttemptDeclines},
		{name: "dunning/first-retry-pays/annual", plan: api.PlanAnnual, declines: firstAttemptDeclines},
		// Every cycle declined until its last retry pays it: the most
		// attempts a paid cycle takes.
		// They cost about 90 events a cycle: the run continues as new on its
		// history's length (HistoryBudget) before its 24 cycles.
		{name: "dunning/last-retry-pays/monthly", plan: api.PlanMonthly, declines: lastRetryPays},
		// A card that declines for good from the second year: suspended
		// after the 13th cycle's last retry, and every later cycle still
		// falls due with its attempt and retries, each declined, until a
		// year after the first unpaid cycle the subscription ends unpaid.
		{name: "suspended/monthly", plan: api.PlanMonthly, declines: declinesFrom(13), endsUnpaid: true},
		{name: "suspended/annual", plan: api.PlanAnnual, declines: declinesFrom(2), endsUnpaid: true},
		// Withdrawn on day 5 with refunds that always fail: settlement is
		// retried hourly for 7 days, then handed to ops, and the run completes.
		{name: "settlement/monthly", plan: api.PlanMonthly, withdrawAt: day(5), refundFailures: 1 << 20},
		{name: "settlement/annual", plan: api.PlanAnnual, withdrawAt: day(5), refundFailures: 1 << 20},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			var more func([]runFigures) bool
			if p.plan == api.PlanMonthly {
				more = func(runs []runFigures) bool { return !atCap(runs) }
			}
			runs, final := p.chain(t, t0, horizon, more)
			var broken []string // the bounds this path breaks
			exceeds := func(format string, args ...any) { broken = append(broken, fmt.Sprintf(format, args...)) }
			maxEvents, maxAt := 0, 0
			sizes := make([]string, 0, len(runs))
			for i, r := range runs {
				if r.events > maxEvents {
					maxEvents, maxAt = r.events, i
				}
				if r.events > maxEventsPerRun {
					exceeds("run %d (%s to %s): about %d events (%s), more than %d",
						i+1, r.start.Format(time.DateOnly), r.end.Format(time.DateOnly), r.events, r.count, maxEventsPerRun)
				}
				if r.carried > maxCarriedBytes {
					exceeds("run %d carried %d bytes (%d payments, %d open cycles), more than %d",
						i+1, r.carried, r.payments, r.open, maxCarriedBytes)
				}
				if r.carried > 0 && (r.cycles > MaxCyclesPerRun || (r.cycles < MaxCyclesPerRun && r.events < HistoryBudget)) {
					t.Errorf("run %d continued as new after %d cycles and about %d events, want %d cycles or %d events",
						i+1, r.cycles, r.events, MaxCyclesPerRun, HistoryBudget)
				}
				sizes = append(sizes, fmt.Sprint(r.carried))
			}
			last := runs[len(runs)-1]
			t.Logf("%d runs to %s; max about %d events per run (run %d: %s); carried bytes per run: %s (last: %d payments, %d open cycles)",
				len(runs), last.end.Format(time.DateOnly), maxEvents, maxAt+1, runs[maxAt].count,
				strings.Join(sizes, ", "), last.payments, last.open)
			switch {
			case p.withdrawAt > 0:
				// The settlement's hourly retries continue as new on the
				// history budget; the last run completes, handed to ops.
				if final == nil || final.Settlement != billing.SettlementHandedToOps ||
					last.end.Before(t0.Add(p.withdrawAt+billing.SettlementWindow)) {
					t.Errorf("want the runs to complete handed to ops after the settlement window; %d runs, final %+v", len(runs), final)
				}
			case p.endsUnpaid:
				if final == nil || final.EndReason != api.EndTerminated || final.TerminateReason != billing.UnpaidReason || final.OutstandingMinor == 0 {
					t.Errorf("want the subscription ended unpaid, with what it owes recorded; final %+v", final)
				}
			case final != nil:
				t.Errorf("completed: %+v", final)
			default:
				// The runs to ten years: one per MaxCyclesPerRun cycles due
				// before then, and the one that passes it.
				within := 1
				for within < len(runs) && runs[within-1].end.Before(horizon) {
					within++
				}
				if want := p.dueBefore(t0, horizon)/MaxCyclesPerRun + 1; within != want && !budgeted(runs) {
					t.Errorf("%d runs to pass %d years, want %d", within, boundYears, want)
				}
				t.Logf("%d runs to pass %d years, carrying %d bytes then", within, boundYears, runs[within-1].carried)
				if more == nil {
					break
				}
				// A plateau: the last runs carry the same state, give or take.
				n := len(runs)
				for _, r := range runs[n-2:] {
					if grow := float64(r.carried-runs[n-3].carried) / float64(runs[n-3].carried); grow > maxCarriedGrowth || grow < -maxCarriedGrowth {
						exceeds("carried state still changes after billing's caps: %d, %d, %d bytes over the last runs (%d, %d, %d open cycles)",
							runs[n-3].carried, runs[n-2].carried, runs[n-1].carried, runs[n-3].open, runs[n-2].open, runs[n-1].open)
						break
					}
				}
			}
			for _, b := range broken {
				t.Error(b)
			}
		})
	}
}

// TestHistoryBoundEstimateAgainstARecording checks historyCount against a
// history a real server recorded (testdata/histories, by the integration
// package's TestRecordHistories): the run of 24 renewals that continues as
// new, its input run again here. The estimate must not be below what the
// server recorded, nor far above it.
func TestHistoryBoundEstimateAgainstARecording(t *testing.T) {
	rec := readHistory(t, filepath.Join("testdata", "histories", fmt.Sprintf("renewals-continue-as-new-rules%d.json", billing.CurrentRules)))
	events := rec.GetEvents()
	if len(events) == 0 || events[len(events)-1].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
		t.Fatal("the recording is not a run that continued as new")
	}
	var in api.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(events[0].GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil {
		t.Fatalf("decode the recorded input: %v", err)
	}
	h := quietHarness(t, events[0].GetEventTime().AsTime(), &scriptedStripe{fakeStripe: newFake()})
	count := countHistory(h)
	_, err := h.run(in, day(365))
	continued(t, err)
	estimated, recorded := count.events(), len(events)
	t.Logf("recorded %d events, estimated %d (%s)", recorded, estimated, count)
	if estimated < recorded || estimated > recorded+recorded/20 {
		t.Errorf("estimated %d events for a run whose history holds %d: want at least as many, at most 5%% more", estimated, recorded)
	}
}
