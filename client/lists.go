package client

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/withings-plus/subscriptions/api"
)

// A subscription is one chain of runs of the workflow subscription-<accountId>:
// the run started by Start and the runs it continued as new into. Only the
// last run of a chain is not closed as ContinuedAsNew: the running one while
// the subscription lives (also while an ended subscription settles), the
// closed one once it is over. A run closed by continue-as-new keeps its last
// search attributes (SubscriptionStatus = 'active', …), so every list below
// leaves those runs out, and counts each subscription once, by its last run.
// An account that subscribed again has one workflow ID but several
// subscriptions: each of its past ones is listed once under ended (one row
// per subscription, not per account), its live one once under its status.
// Runs that failed (an invalid input the client would have refused) were
// never subscriptions and are never listed.
const (
	isSubscription = "WorkflowType = '" + api.WorkflowType + "'"
	// lastRun is each subscription's last run: the live one, or the closed
	// run that ended it.
	lastRun = isSubscription + " AND ExecutionStatus != 'ContinuedAsNew' AND ExecutionStatus != 'Failed'"
	running = isSubscription + " AND ExecutionStatus = 'Running'"
)

// SavedQuery is a visibility query the project offers: `starter list` runs
// it, and the README quotes it for the Temporal UI and `temporal workflow
// list --query`.
type SavedQuery struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Query       string `json:"query"`
}

// The names of the saved queries that are not statuses.
const (
	QueryAll            = "all"
	QueryLive           = "live"
	QueryNeedsAttention = "needs_attention"
	QuerySettling       = "settling"
	QueryHandedToOps    = "handed_to_ops"
)

func statusQuery(status string) string {
	return running + " AND " + api.SASubscriptionStatus + " = '" + status + "'"
}

// Queries lists the saved queries, each counting a subscription at most
// once: one per status (trialing, active, past_due, suspended, canceling,
// ended), then all, live, needs_attention, settling and handed_to_ops.
func Queries() []SavedQuery {
	status, outstanding, settlement := api.SASubscriptionStatus, api.SAOutstandingMinor, api.SASettlementStatus
	return []SavedQuery{
		{api.StatusTrialing, "live subscriptions in their free trial", statusQuery(api.StatusTrialing)},
		{api.StatusActive, "live subscriptions paid up", statusQuery(api.StatusActive)},
		{api.StatusPastDue, "live subscriptions with a declined charge being retried, access on", statusQuery(api.StatusPastDue)},
		{api.StatusSuspended, "live subscriptions whose retries all failed, access suspended", statusQuery(api.StatusSuspended)},
		{api.StatusCanceling, "live subscriptions canceled, running to the end of the paid period", statusQuery(api.StatusCanceling)},
		{api.StatusEnded, "subscriptions that have ended, each once (an account that subscribed again has a row per past subscription): " +
			"those still settling, those completed, and those stopped through Temporal (terminated, timed out, canceled) whatever status they had",
			lastRun + " AND (ExecutionStatus != 'Running' OR " + status + " = '" + api.StatusEnded + "')"},
		{QueryAll, "every subscription once: live ones by their running run, ended ones by the run that ended them", lastRun},
		{QueryLive, "every subscription that has not ended (also one still opening)",
			running + " AND (" + status + " IS NULL OR " + status + " != '" + api.StatusEnded + "')"},
		{QueryNeedsAttention, "for ops: past due or suspended, money outstanding (also after the end), a settlement handed to ops, " +
			"charging held by a charge issue (Stripe refusing our charges, an outcome unknown for a day), " +
			"or a run stopped through Temporal without the business's end",
			lastRun + " AND (" + status + " IN ('" + api.StatusPastDue + "', '" + api.StatusSuspended + "') OR " +
				outstanding + " > 0 OR " + settlement + " = 'handed_to_ops' OR " + api.SAChargeIssue + " IS NOT NULL OR " +
				"ExecutionStatus IN ('Terminated', 'TimedOut', 'Canceled'))"},
		{QuerySettling, "ended subscriptions still retrying a refund or an unanswered charge (hourly, for at most 7 days)",
			running + " AND " + settlement + " = 'pending'"},
		{QueryHandedToOps, "ended subscriptions whose refunds or charges could not be settled in 7 days: ops take over",
			lastRun + " AND " + settlement + " = 'handed_to_ops'"},
	}
}

// QueryNames lists the names of the saved queries, in the order of Queries.
func QueryNames() []string {
	var names []string
	for _, q := range Queries() {
		names = append(names, q.Name)
	}
	return names
}

// ListQuery is the visibility query of the saved query name (a status, or
// one of all, live, needs_attention, settling, handed_to_ops); "" is all.
func ListQuery(name string) (string, error) {
	if name == "" {
		name = QueryAll
	}
	for _, q := range Queries() {
		if q.Name == name {
			return q.Query, nil
		}
	}
	return "", fmt.Errorf("unknown list %q (%s)", name, strings.Join(QueryNames(), ", "))
}

// Summary is one subscription as Temporal visibility lists it, by its last
// run.
type Summary struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Execution  string `json:"execution"` // Running, Completed, Terminated, …
	// Status is the subscription's status; "ended" for a closed run, also
	// one stopped through Temporal, which keeps the SubscriptionStatus it had.
	Status           string     `json:"status"`
	AccountID        string     `json:"accountId"`
	Plan             string     `json:"plan"`
	AccessActive     bool       `json:"accessActive"`
	NextChargeAt     *time.Time `json:"nextChargeAt"`
	OutstandingMinor int64      `json:"outstandingMinor"`
	// Additions: the settlement of an ended subscription ("pending",
	// "handed_to_ops"), and when its last run closed.
	Settlement string     `json:"settlement,omitempty"`
	ClosedAt   *time.Time `json:"closedAt,omitempty"`
	// ChargeIssue (an addition) is the ChargeIssue search attribute:
	// "stripe_refused", "unknown_outcome", or "" (none).
	ChargeIssue string `json:"chargeIssue,omitempty"`
}

// List runs the saved query name (see ListQuery; "" is all) and returns
// at most limit subscriptions (0: all), newest first, each once. Visibility
// lags the workflows by a moment: a subscription that has just continued
// as new may be missing from a list for that moment, never listed twice.
func (c *Client) List(ctx context.Context, name string, limit int) ([]Summary, error) {
	query, err := ListQuery(name)
	if err != nil {
		return nil, &Error{Kind: KindRefused, Op: "list", Message: err.Error(), Err: err}
	}
	out := []Summary{}
	live := map[string]bool{} // workflow IDs listed by a running run
	var token []byte
	for {
		resp, err := c.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, classify(ctx, "list", "", err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				// While visibility records a continue-as-new, the closed
				// run may still show as running next to the new one: at
				// most one run of a workflow ID runs, the newest (listed
				// first).
				id := e.GetExecution().GetWorkflowId()
				if live[id] {
					continue
				}
				live[id] = true
			}
			out = append(out, summarize(e))
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
