package devstack

import (
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/withings-plus/subscriptions/activities"
	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/workflows"
)

// StartWorker starts an in-process worker on the subscriptions task queue,
// registered exactly as the worker command registers it. Stop it with Stop().
func StartWorker(tc client.Client, cfg config.Worker) (worker.Worker, error) {
	w := worker.New(tc, api.TaskQueue, worker.Options{})
	workflows.Register(w, activities.New(cfg, tc, nil))
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return w, nil
}
