package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.temporal.io/sdk/worker"
)

// Tuning is how a worker runs at scale, read from SUBSCRIPTIONS_* variables
// (see TuningFromEnv). The zero value of a field means the SDK's default.
type Tuning struct {
	// StickyCacheSize (SUBSCRIPTIONS_STICKY_CACHE_SIZE) is how many running
	// workflows the worker process keeps in memory between their tasks
	// (the SDK's sticky cache, process-wide). A subscription sleeps for
	// weeks between tasks: one evicted is replayed from its history (a few
	// dozen events) when it wakes, so memory is bounded by this size, not
	// by the number of subscriptions.
	StickyCacheSize int
	// WorkflowPollers and ActivityPollers (SUBSCRIPTIONS_WORKFLOW_POLLERS,
	// SUBSCRIPTIONS_ACTIVITY_POLLERS) are the concurrent long polls on the
	// task queue for each kind of task.
	WorkflowPollers, ActivityPollers int
	// WorkflowTaskSlots and ActivitySlots (SUBSCRIPTIONS_WORKFLOW_TASK_SLOTS,
	// SUBSCRIPTIONS_ACTIVITY_SLOTS) bound the tasks run at once.
	WorkflowTaskSlots, ActivitySlots int
	// ActivitiesPerSecond (SUBSCRIPTIONS_ACTIVITIES_PER_SECOND) bounds the
	// activities this worker starts a second; TaskQueueActivitiesPerSecond
	// (SUBSCRIPTIONS_TASK_QUEUE_ACTIVITIES_PER_SECOND) bounds them for the
	// whole task queue, enforced by the server. 0: unbounded. Stripe and
	// visibility have their own pacing (Worker.StripeRequestsPerSecond,
	// Worker.VisibilityRequestsPerSecond).
	ActivitiesPerSecond, TaskQueueActivitiesPerSecond float64
}

// DefaultTuning is the tuning of a worker that sets none: measured with
// `go run ./bench` to keep a worker's memory flat as sleeping
// subscriptions grow (see the README), with the SDK's defaults elsewhere.
var DefaultTuning = Tuning{StickyCacheSize: 2000, WorkflowPollers: 8, ActivityPollers: 8}

// TuningFromEnv reads a Tuning through lookup (os.LookupEnv in
// production), starting from DefaultTuning. The error names every invalid
// variable.
func TuningFromEnv(lookup func(string) (string, bool)) (Tuning, error) {
	t := DefaultTuning
	var errs []error
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{"SUBSCRIPTIONS_STICKY_CACHE_SIZE", &t.StickyCacheSize},
		{"SUBSCRIPTIONS_WORKFLOW_POLLERS", &t.WorkflowPollers},
		{"SUBSCRIPTIONS_ACTIVITY_POLLERS", &t.ActivityPollers},
		{"SUBSCRIPTIONS_WORKFLOW_TASK_SLOTS", &t.WorkflowTaskSlots},
		{"SUBSCRIPTIONS_ACTIVITY_SLOTS", &t.ActivitySlots},
	} {
		raw, _ := lookup(v.name)
		if raw = strings.TrimSpace(raw); raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s must be a whole number, 1 or more", v.name))
			continue
		}
		*v.dst = n
	}
	for _, v := range []struct {
		name string
		dst  *float64
	}{
		{"SUBSCRIPTIONS_ACTIVITIES_PER_SECOND", &t.ActivitiesPerSecond},
		{"SUBSCRIPTIONS_TASK_QUEUE_ACTIVITIES_PER_SECOND", &t.TaskQueueActivitiesPerSecond},
	} {
		raw, _ := lookup(v.name)
		if raw = strings.TrimSpace(raw); raw == "" {
			continue
		}
		f, ok := parseRate(raw)
		if !ok {
			errs = append(errs, fmt.Errorf("%s must be a number of activities a second, 0 or more (0: unbounded)", v.name))
			continue
		}
		*v.dst = f
	}
	if err := errors.Join(errs...); err != nil {
		return Tuning{}, fmt.Errorf("worker tuning: %w", err)
	}
	return t, nil
}

// parseRate reads a rate a second: a finite number, 0 or more.
func parseRate(raw string) (float64, bool) {
	f, err := strconv.ParseFloat(raw, 64)
	return f, err == nil && f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// WorkerOptions applies t to opts, and the sticky cache size to the
// process (the SDK keeps one cache per process: call it before the worker
// starts).
func (t Tuning) WorkerOptions(opts worker.Options) worker.Options {
	if t.StickyCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(t.StickyCacheSize)
	}
	if t.WorkflowPollers > 0 {
		opts.MaxConcurrentWorkflowTaskPollers = t.WorkflowPollers
	}
	if t.ActivityPollers > 0 {
		opts.MaxConcurrentActivityTaskPollers = t.ActivityPollers
	}
	if t.WorkflowTaskSlots > 0 {
		opts.MaxConcurrentWorkflowTaskExecutionSize = t.WorkflowTaskSlots
	}
	if t.ActivitySlots > 0 {
		opts.MaxConcurrentActivityExecutionSize = t.ActivitySlots
	}
	opts.WorkerActivitiesPerSecond = t.ActivitiesPerSecond
	opts.TaskQueueActivitiesPerSecond = t.TaskQueueActivitiesPerSecond
	return opts
}

// LogAttrs describes t as key, value pairs for the worker's log.
func (t Tuning) LogAttrs() []any {
	return []any{"stickyCacheSize", t.StickyCacheSize, "workflowPollers", t.WorkflowPollers, "activityPollers", t.ActivityPollers,
		"workflowTaskSlots", t.WorkflowTaskSlots, "activitySlots", t.ActivitySlots,
		"activitiesPerSecond", t.ActivitiesPerSecond, "taskQueueActivitiesPerSecond", t.TaskQueueActivitiesPerSecond}
}
