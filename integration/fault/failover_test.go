package fault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
	"github.com/withings-plus/subscriptions/internal/devstack"
)

// The failover run: two workers on the task queue, one killed mid-run.
const (
	failoverSubscriptions = 16
	failoverKillAt        = 20 * time.Second // after the first cycles, while charges run
	failoverFor           = 60 * time.Second // from the start to the audit
	failoverMinCycles     = 3
)

// TestTwoWorkersOneKilled runs subscriptions on two worker commands
// polling the same task queue, kills one with SIGKILL while cycles are
// being charged, and leaves the survivor alone with them: every cycle due
// must be charged exactly once, with no gap, and subscriptions the killed
// worker was running must have moved to the survivor. This is how the
// engine runs on several machines, and what a machine lost costs.
func TestTwoWorkersOneKilled(t *testing.T) {
	if os.Getenv("SUBSCRIPTIONS_SKIP_INTEGRATION") != "" {
		t.Skip("SUBSCRIPTIONS_SKIP_INTEGRATION is set")
	}
	if testing.Short() {
		t.Skip("a run of a minute: not in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	path, err := devstack.BuildWorker(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	stack, err := devstack.StartStackWith(ctx, os.Stderr, devstack.StackOptions{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	logs := [2]*os.File{createLog(t, filepath.Join(dir, "worker-a.log")), createLog(t, filepath.Join(dir, "worker-b.log"))}
	a, b := stack.NewWorkerProcess(path, logs[0]), stack.NewWorkerProcess(path, logs[1])
	for _, w := range []*devstack.WorkerProcess{a, b} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("killed worker's output, last lines:\n%s", tail(logs[0].Name(), 3000))
			t.Logf("survivor's output, last lines:\n%s", tail(logs[1].Name(), 3000))
		}
	})
	killed, survivor := fmt.Sprintf("%d@", a.Pid()), fmt.Sprintf("%d@", b.Pid())

	c := client.New(stack.Client)
	var subs []*subscription
	for i := range failoverSubscriptions {
		acc := fmt.Sprintf("failover-%06d-%02d", time.Now().UnixNano()%1_000_000, i)
		s := &subscription{account: acc, id: api.WorkflowID(acc), speedup: fastSpeedup, minCycles: failoverMinCycles}
		if err := start(ctx, c, s); err != nil {
			t.Fatalf("start %s: %v", acc, err)
		}
		subs = append(subs, s)
	}
	began := time.Now()
	time.Sleep(failoverKillAt)
	if err := a.Kill(); err != nil {
		t.Fatalf("kill worker a: %v", err)
	}
	killedAt := time.Now()
	time.Sleep(failoverFor - time.Since(began))

	verdicts := map[string]verdict{}
	pending := subs
	for calm := time.Now(); len(pending) > 0 && time.Since(calm) < settleWithin; time.Sleep(500 * time.Millisecond) {
		var left []*subscription
		for id, v := range check(ctx, c, stack.Stripe, pending) {
			verdicts[id] = v
		}
		for _, s := range pending {
			if !verdicts[s.id].ok() {
				left = append(left, s)
			}
		}
		pending = left
	}
	for _, s := range subs {
		if v := verdicts[s.id]; !v.ok() {
			t.Errorf("%s (cycle %d): %v", s.id, v.cycle, v.problems)
		}
	}
	if twice := duplicates(stack.Stripe.PaymentIntents()); len(twice) > 0 {
		t.Errorf("cycles charged twice: %v", twice)
	}

	// Who ran what: the identity of the worker that completed each
	// workflow task is in the history.
	moved, byKilled, bySurvivor := 0, 0, 0
	for _, s := range subs {
		k, sv := identities(ctx, t, stack, s.id, killed, survivor, killedAt)
		if k > 0 {
			byKilled++
		}
		if sv > 0 {
			bySurvivor++
		}
		if k > 0 && sv > 0 {
			moved++
		}
	}
	t.Logf("failover: %d subscriptions on 2 workers, worker %s killed after %s; %d ran tasks on the killed worker, %d on the survivor, %d moved from one to the other; every cycle charged once",
		len(subs), strings.TrimSuffix(killed, "@"), failoverKillAt, byKilled, bySurvivor, moved)
	if byKilled == 0 || moved == 0 {
		t.Errorf("the killed worker ran %d subscriptions and %d moved to the survivor: the run proves nothing", byKilled, moved)
	}
}

// identities counts the workflow tasks of a subscription's runs completed
// by the killed worker and, after the kill, by the survivor.
func identities(ctx context.Context, t *testing.T, stack *devstack.Stack, id, killed, survivor string, killedAt time.Time) (byKilled, bySurvivorAfter int) {
	t.Helper()
	runs, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: stack.Server.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	if err != nil {
		t.Fatalf("runs of %s: %v", id, err)
	}
	for _, r := range runs.GetExecutions() {
		it := stack.Client.GetWorkflowHistory(ctx, id, r.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
				switch {
				case strings.HasPrefix(a.GetIdentity(), killed):
					byKilled++
				case strings.HasPrefix(a.GetIdentity(), survivor) && e.GetEventTime().AsTime().After(killedAt):
					bySurvivorAfter++
				}
			}
		}
	}
	return byKilled, bySurvivorAfter
}
