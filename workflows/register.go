package workflows

import (
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
)

// Register registers the Subscription workflow, under the contract's
// workflow type, and the activities it calls on a worker.
func Register(r worker.Registry, a *activities.Activities) {
	r.RegisterWorkflowWithOptions(WithWallClock(time.Now), workflow.RegisterOptions{Name: api.WorkflowType})
	r.RegisterActivity(a)
}
