package workflows

import (
	"fmt"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/api"
)

// Replay replays a recorded history of the Subscription workflow against
// this code, registered as the worker registers it. dc decodes its payloads
// (nil: the SDK's default); logger nil is the SDK's default. A nil error
// means the code would carry the recorded run on; an error names the first
// event it would not.
func Replay(h *historypb.History, dc converter.DataConverter, logger log.Logger) error {
	return ReplayWith(h, dc, logger, Options{Wall: time.Now})
}

// ReplayWith is Replay with the workflow registered with opts, as a worker
// of another kind (a live Stripe key) would register it.
func ReplayWith(h *historypb.History, dc converter.DataConverter, logger log.Logger, opts Options) error {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc})
	if err != nil {
		return fmt.Errorf("replayer: %w", err)
	}
	r.RegisterWorkflowWithOptions(opts.Workflow(), workflow.RegisterOptions{Name: api.WorkflowType})
	return r.ReplayWorkflowHistory(logger, h)
}
