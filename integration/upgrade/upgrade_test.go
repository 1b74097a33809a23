// Package upgrade proves the project's deploy strategy on a real server:
// subscriptions started by the worker of an earlier release (built from the
// repository's history) go on, on the same server, under the worker of this
// code, replaying what the old one recorded and charging every cycle
// exactly once; the upgrade signal then moves them to the current rules.
package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// oldRelease is the commit whose worker starts the subscriptions: the last
// one of rules 1 (billing.CurrentRules was 1), before this code's rules 2.
const (
	oldRelease = "7ededbc"
	oldRules   = 1
	speedup    = 4 * 86400 // four days a second: a monthly cycle every 7.5 s
	accounts   = 6
)

func TestSubscriptionsStartedOnTheOldReleaseGoOnOnThisCode(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	if testing.Short() {
		t.Skip("a run of a minute: not in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	oldWorker := buildOld(ctx, t, dir)
	newWorker, err := devstack.BuildWorker(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	stack, err := devstack.StartStackWith(ctx, os.Stderr, devstack.StackOptions{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	var oldLog, newLog lockedBuffer // written by the processes' copiers
	old := stack.NewWorkerProcess(oldWorker, &oldLog)
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("old worker:\n%.3000s\nnew worker:\n%.3000s", oldLog.String(), newLog.String())
		}
	})

	c := client.New(stack.Client)
	var accs []string
	for i := range accounts {
		acc := fmt.Sprintf("upgrade-%06d-%d", time.Now().UnixNano()%1_000_000, i)
		in := api.Input{
			AccountID: acc, Email: acc + "@example.com", StripeCustomerID: "cus_" + strings.ReplaceAll(acc, "-", "_"),
			PaymentMethodID: "pm_card_visa", Plan: api.PlanMonthly, Currency: api.CurrencyEUR,
			TestClock: &api.TestClock{StartsAt: "2026-01-31T09:00:00Z", Speedup: speedup},
		}
		if i%2 == 1 {
			in.Offer = api.OfferBodyScan // a trial that ends under the new worker
		}
		if _, err := c.Start(ctx, in); err != nil {
			t.Fatalf("start %s on the old worker: %v", acc, err)
		}
		accs = append(accs, acc)
	}
	waitPaid(ctx, t, c, stack.Stripe, accs[:1], 2) // the old worker charges
	// The deploy: the old worker stops as an operator stops it, the new one starts.
	old.Stop()
	newProc := stack.NewWorkerProcess(newWorker, &newLog)
	if err := newProc.Start(); err != nil {
		t.Fatal(err)
	}
	for _, acc := range accs {
		if v := rulesOf(ctx, t, stack, acc); v != oldRules {
			t.Fatalf("%s runs rules %d after the deploy, want %d until it is upgraded", acc, v, oldRules)
		}
	}
	waitPaid(ctx, t, c, stack.Stripe, accs, 4)

	// The upgrade signal moves each run to the current rules at its next idle point.
	for _, acc := range accs {
		if err := stack.Client.SignalWorkflow(ctx, api.WorkflowID(acc), "", api.SignalUpgrade, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, acc := range accs {
		for rulesOf(ctx, t, stack, acc) != billing.CurrentRules {
			if time.Now().After(deadline) {
				t.Fatalf("%s not on rules %d a minute after the upgrade signal", acc, billing.CurrentRules)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitPaid(ctx, t, c, stack.Stripe, accs, 6)
	for _, acc := range accs {
		if n := failedTasks(ctx, t, stack, acc); n > 0 {
			t.Errorf("%s: %d workflow tasks failed by the code (a replay that did not match, or a panic)", acc, n)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildOld builds the worker command of oldRelease from the repository's
// history into dir.
func buildOld(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "old")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "git", "cat-file", "-e", oldRelease+"^{commit}").CombinedOutput(); err != nil {
		// A clone without history cannot build the old release: the test
		// says so rather than failing the build.
		t.Skipf("the repository's history does not hold %s (a shallow clone?): %v %s", oldRelease, err, out)
	}
	top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("find the repository: %v", err)
	}
	archive := exec.CommandContext(ctx, "sh", "-c", `git archive "$0" | tar -x -C "$1"`, oldRelease, src)
	archive.Dir = strings.TrimSpace(string(top))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", oldRelease, err, out)
	}
	path := filepath.Join(dir, "worker-"+oldRelease)
	build := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", path, "./worker")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the worker of %s: %v\n%s", oldRelease, err, out)
	}
	return path
}

// waitPaid waits until each account has at least cycles cycles charged,
// and checks that each was charged exactly once at the stand-in, as the
// state records it.
func waitPaid(ctx context.Context, t *testing.T, c *client.Client, stripe *stripefake.Server, accs []string, cycles int) {
	t.Helper()
	for _, acc := range accs {
		var last string
		for {
			st, err := c.State(ctx, acc)
			if err == nil && st.Cycle >= cycles && st.OutstandingMinor == 0 && countSucceeded(st) == st.Cycle {
				if problem := audit(st, stripe.PaymentIntents(), api.WorkflowID(acc)); problem != "" {
					t.Fatalf("%s: %s", acc, problem)
				}
				break
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("status %s cycle %d outstanding %d", st.Status, st.Cycle, st.OutstandingMinor)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %d cycles not paid: %s", acc, cycles, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func countSucceeded(st api.State) int {
	n := 0
	for _, p := range st.Payments {
		if p.Status == api.PaymentSucceeded {
			n++
		}
	}
	return n
}

// audit says what is wrong with the charges of a subscription: every cycle
// of the state charged by exactly one succeeded PaymentIntent, the one the
// state records.
func audit(st api.State, pis []stripefake.PaymentIntent, id string) string {
	byCycle := map[string][]string{}
	for _, pi := range pis {
		if pi.Metadata["subscription_id"] == id && pi.Status == "succeeded" {
			byCycle[pi.Metadata["cycle"]] = append(byCycle[pi.Metadata["cycle"]], pi.ID)
		}
	}
	for _, p := range st.Payments {
		got := byCycle[fmt.Sprint(p.Cycle)]
		if len(got) != 1 || got[0] != p.PaymentIntentID {
			return fmt.Sprintf("cycle %d: Stripe holds %v, the state %s", p.Cycle, got, p.PaymentIntentID)
		}
	}
	if len(byCycle) != st.Cycle {
		return fmt.Sprintf("Stripe charged %d cycles, the state is at cycle %d", len(byCycle), st.Cycle)
	}
	return ""
}

// rulesOf is the rules version the subscription's running run recorded
// (its workflow.GetVersion marker).
func rulesOf(ctx context.Context, t *testing.T, stack *devstack.Stack, acc string) int {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	it := stack.Client.GetWorkflowHistory(ctx, api.WorkflowID(acc), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", acc, err)
		}
		m := e.GetMarkerRecordedEventAttributes()
		if m.GetMarkerName() != "Version" {
			continue
		}
		var change string
		var version int
		if dc.FromPayloads(m.GetDetails()["change-id"], &change) == nil && change == "time-slips" &&
			dc.FromPayloads(m.GetDetails()["version"], &version) == nil {
			return version
		}
	}
	return 0
}

// failedTasks counts the workflow tasks of all the account's runs that the
// code failed: a replay that did not match, or a panic.
func failedTasks(ctx context.Context, t *testing.T, stack *devstack.Stack, acc string) int {
	t.Helper()
	runs, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: stack.Server.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", api.WorkflowID(acc))})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs.GetExecutions() {
		it := stack.Client.GetWorkflowHistory(ctx, api.WorkflowID(acc), r.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
				// A task failed by a worker's shutdown or a sticky queue reset
				// is retried elsewhere; one that code failed is not benign.
				t.Logf("%s: workflow task failed at event %d by %s: %s: %s", acc, e.GetEventId(), a.GetIdentity(), a.GetCause(), a.GetFailure().GetMessage())
				switch a.GetCause() {
				case enumspb.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR, enumspb.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE:
					n++
				}
			}
		}
	}
	return n
}
