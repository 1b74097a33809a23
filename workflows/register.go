package workflows

import (
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
)

// Register registers the Subscription workflow, under the contract's
// workflow type, and the activities it calls on a worker. A worker whose
// activities charge with a live Stripe key refuses to start a subscription
// on a test clock.
func Register(r worker.Registry, a *activities.Activities) {
	r.RegisterWorkflowWithOptions(Options{Wall: time.Now, LiveStripe: activities.LiveMode(a)}.Workflow(), workflow.RegisterOptions{Name: api.WorkflowType})
	r.RegisterActivity(a)
}
