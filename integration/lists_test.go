package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/client"
)

// upgrades is how many times each live subscription continues as new
// before the lists are read: each leaves a closed ContinuedAsNew run that
// keeps its last search attributes.
const upgrades = 3

// TestListsCountEachSubscriptionOnce runs every saved query of the client
// (the ones `starter list` runs and the README quotes) over subscriptions
// in every status, each live one continued as new several times (by the
// upgrade signal), an account with a past and a live subscription under
// one workflow ID, a run terminated through Temporal, and a run that
// failed on its input: each subscription is listed once, in the lists it
// belongs to, and in no other.
func TestListsCountEachSubscriptionOnce(t *testing.T) {
	t.Parallel()
	base := account(t)
	began := time.Now()
	phase := func(what string) { t.Logf("%s after %s", what, time.Since(began).Round(time.Millisecond)) }
	// An hour a second: every live subscription stays in its status for
	// minutes (the declined one retries on days 1, 3, 5, 7: past due for
	// 168 s; a month is 720 s), the test takes seconds.
	input := func(name, pm, offer string) api.Input {
		in := startInput(base+"-"+name, pm, offer)
		in.TestClock.Speedup = 3600
		return in
	}
	trialing := input("trialing", "pm_card_visa", api.OfferBodyScan)
	active := input("active", "pm_card_visa", "")
	pastDue := input("pastdue", "pm_card_chargeDeclined", "")
	suspended := input("suspended", "pm_card_chargeDeclined", "")
	suspended.DunningDays = []int{} // no retry: suspended at the first decline
	canceling := input("canceling", "pm_card_visa", "")
	ended := input("ended", "pm_card_visa", api.OfferBodyScan)
	again := input("again", "pm_card_visa", api.OfferBodyScan) // a past and a live subscription
	killed := input("killed", "pm_card_visa", api.OfferBodyScan)
	failed := input("failed", "pm_card_visa", "")
	failed.Currency = "CHF"

	live := []api.Input{trialing, active, pastDue, suspended, canceling, again, killed}
	t.Cleanup(func() {
		for _, in := range live {
			sys.client.Terminate(context.Background(), in.AccountID, api.TerminateRequest{Reason: "integration cleanup"})
		}
	})
	for _, in := range []api.Input{trialing, active, pastDue, suspended, canceling, ended, again, killed} {
		if _, err := sys.client.Start(ctx(t), in); err != nil {
			t.Fatal(err)
		}
	}
	// Started around the client, a run that fails on its input: never a
	// subscription.
	run, err := sys.tc.ExecuteWorkflow(ctx(t), tclient.StartWorkflowOptions{ID: api.WorkflowID(failed.AccountID), TaskQueue: api.TaskQueue}, api.WorkflowType, failed)
	if err != nil {
		t.Fatal(err)
	}
	var appErr *temporal.ApplicationError
	if err := run.Get(ctx(t), nil); !errors.As(err, &appErr) || appErr.Type() != api.ErrTypeInvalidInput {
		t.Fatalf("invalid input: %v", err)
	}

	for _, in := range []api.Input{ended, again} {
		waitState(t, in.AccountID, "trialing", func(s api.State) bool { return s.Status == api.StatusTrialing })
		if _, err := sys.client.Withdraw(ctx(t), in.AccountID); err != nil {
			t.Fatal(err)
		}
		var final api.State
		if err := sys.tc.GetWorkflow(ctx(t), api.WorkflowID(in.AccountID), "").Get(ctx(t), &final); err != nil || final.Status != api.StatusEnded {
			t.Fatalf("%s: %+v %v", in.AccountID, final.Status, err)
		}
	}
	phase("two subscriptions ended")
	// The account subscribes again: no trial (it was subscribed within the
	// month), charged at once.
	if _, err := sys.client.Start(ctx(t), again); err != nil {
		t.Fatal(err)
	}
	waitState(t, canceling.AccountID, "first charge", func(s api.State) bool { return s.Cycle == 1 && s.OutstandingMinor == 0 })
	if _, err := sys.client.Cancel(ctx(t), canceling.AccountID, api.CancelRequest{Reason: "lists"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // account: status once settled
		trialing.AccountID: api.StatusTrialing, active.AccountID: api.StatusActive, pastDue.AccountID: api.StatusPastDue,
		suspended.AccountID: api.StatusSuspended, canceling.AccountID: api.StatusCanceling, again.AccountID: api.StatusActive,
		killed.AccountID: api.StatusTrialing,
	}
	for acc, status := range want {
		waitState(t, acc, status, func(s api.State) bool {
			return s.Status == status && (status != api.StatusActive || s.OutstandingMinor == 0)
		})
	}

	phase("every subscription in its status")
	// Every live subscription continues as new, several times. Two ways
	// of the platform set the pace: the server delays the first workflow
	// task of a run continued from a run younger than a second (to slow
	// continue-as-new loops down), and the SDK's pollers all poll the
	// sticky queue while it reports a backlog, so that the first task of a
	// continued run (on the normal queue) may wait for a long poll to end,
	// up to a minute, after a burst of tasks. So each run is left to live
	// a second and a half, the upgrades go one at a time, and they are
	// watched through the server rather than by queries.
	for i := 1; i <= upgrades; i++ {
		for _, in := range live {
			id := api.WorkflowID(in.AccountID)
			d, err := sys.tc.DescribeWorkflowExecution(ctx(t), id, "")
			if err != nil {
				t.Fatal(err)
			}
			before := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			time.Sleep(1500*time.Millisecond - time.Since(d.GetWorkflowExecutionInfo().GetStartTime().AsTime()))
			if err := sys.tc.SignalWorkflow(ctx(t), id, "", api.SignalUpgrade, nil); err != nil {
				t.Fatal(err)
			}
			eventually(t, 90*time.Second, fmt.Sprintf("%s upgrade %d", in.AccountID, i), func() (bool, string) {
				d, err := sys.tc.DescribeWorkflowExecution(ctx(t), id, "")
				if err != nil {
					return false, err.Error()
				}
				info := d.GetWorkflowExecutionInfo()
				return info.GetExecution().GetRunId() != before && info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
					fmt.Sprintf("run %s %s", info.GetExecution().GetRunId(), info.GetStatus())
			})
		}
	}
	for _, in := range live {
		st := waitState(t, in.AccountID, "continued", func(s api.State) bool { return s.ContinuedAsNewTimes == upgrades })
		if st.Status != want[in.AccountID] {
			t.Errorf("%s is %s after continue-as-new, want %s", in.AccountID, st.Status, want[in.AccountID])
		}
	}
	phase("upgraded")
	// A run stopped through Temporal (which ops must not do) keeps the
	// search attributes it had.
	if err := sys.tc.TerminateWorkflow(ctx(t), api.WorkflowID(killed.AccountID), "", "lists test"); err != nil {
		t.Fatal(err)
	}

	// The closed ContinuedAsNew runs are there, still with the status they
	// had: a list on SubscriptionStatus alone counts each live subscription
	// upgrades+1 times.
	eventually(t, 60*time.Second, "continued runs in visibility", func() (bool, string) {
		for _, in := range live {
			q := fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'ContinuedAsNew' AND SubscriptionStatus = '%s'", api.WorkflowID(in.AccountID), want[in.AccountID])
			n, err := sys.tc.CountWorkflow(ctx(t), &workflowservice.CountWorkflowExecutionsRequest{Query: q})
			if err != nil {
				return false, err.Error()
			}
			if n.GetCount() < upgrades {
				return false, fmt.Sprintf("%d runs of %s", n.GetCount(), q)
			}
		}
		return true, ""
	})

	phase("continued runs visible")
	// What each list holds of this test's subscriptions: the workflow ID,
	// and whether the row is the live run or a closed one.
	liveRow := func(in api.Input) string { return api.WorkflowID(in.AccountID) + " running" }
	closedRow := func(in api.Input) string { return api.WorkflowID(in.AccountID) + " closed" }
	expected := map[string][]string{
		api.StatusTrialing:         {liveRow(trialing)},
		api.StatusActive:           {liveRow(active), liveRow(again)},
		api.StatusPastDue:          {liveRow(pastDue)},
		api.StatusSuspended:        {liveRow(suspended)},
		api.StatusCanceling:        {liveRow(canceling)},
		api.StatusEnded:            {closedRow(ended), closedRow(again), closedRow(killed)},
		client.QueryAll:            {liveRow(trialing), liveRow(active), liveRow(pastDue), liveRow(suspended), liveRow(canceling), closedRow(ended), liveRow(again), closedRow(again), closedRow(killed)},
		client.QueryLive:           {liveRow(trialing), liveRow(active), liveRow(pastDue), liveRow(suspended), liveRow(canceling), liveRow(again)},
		client.QueryNeedsAttention: {liveRow(pastDue), liveRow(suspended), closedRow(killed)},
		client.QuerySettling:       nil,
		client.QueryHandedToOps:    nil,
	}
	mine := map[string]bool{}
	var ids []string
	for _, in := range []api.Input{trialing, active, pastDue, suspended, canceling, ended, again, killed, failed} {
		mine[api.WorkflowID(in.AccountID)] = true
		ids = append(ids, "'"+api.WorkflowID(in.AccountID)+"'")
	}
	onlyMine := " AND WorkflowId IN (" + strings.Join(ids, ", ") + ")"
	queries := client.Queries()
	if len(queries) != len(expected) {
		t.Fatalf("%d saved queries, %d expected here: a new query needs its expectations", len(queries), len(expected))
	}
	for _, q := range queries {
		want, ok := expected[q.Name]
		if !ok {
			t.Fatalf("saved query %s has no expectations", q.Name)
		}
		slices.Sort(want)
		eventually(t, 60*time.Second, "list "+q.Name, func() (bool, string) {
			list, err := sys.client.List(ctx(t), q.Name, 0)
			if err != nil {
				return false, err.Error()
			}
			var got []string
			for _, s := range list {
				if !mine[s.WorkflowID] {
					continue
				}
				row := s.WorkflowID + " closed"
				if s.Execution == "Running" {
					row = s.WorkflowID + " running"
					if slices.Contains([]string{api.StatusTrialing, api.StatusActive, api.StatusPastDue, api.StatusSuspended, api.StatusCanceling}, q.Name) && s.Status != q.Name {
						return false, fmt.Sprintf("%s listed as %s", s.WorkflowID, s.Status)
					}
				} else if s.Status != api.StatusEnded || s.AccessActive || s.NextChargeAt != nil || s.ClosedAt == nil {
					return false, fmt.Sprintf("closed run listed as %+v", s)
				}
				got = append(got, row)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false, fmt.Sprintf("listed %v, want %v", got, want)
			}
			// The query itself counts each subscription once, as the UI
			// and the CLI run it (without List's guard against a lagging
			// continue-as-new).
			n, err := sys.tc.CountWorkflow(ctx(t), &workflowservice.CountWorkflowExecutionsRequest{Query: "(" + q.Query + ")" + onlyMine})
			if err != nil {
				return false, err.Error()
			}
			return n.GetCount() == int64(len(want)), fmt.Sprintf("counted %d, want %d", n.GetCount(), len(want))
		})
		phase("list " + q.Name)
	}
	// An ended subscription is listed by its end: the killed run as
	// Terminated, the account that subscribed again once for its past
	// subscription.
	list, err := sys.client.List(ctx(t), api.StatusEnded, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.WorkflowID == api.WorkflowID(killed.AccountID) && s.Execution != "Terminated" ||
			s.WorkflowID == api.WorkflowID(again.AccountID) && s.Execution != "Completed" {
			t.Errorf("ended: %+v", s)
		}
	}
}
