package config

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
)

func TestTuningFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Tuning
		wantErr []string
	}{
		{name: "defaults", env: nil, want: DefaultTuning},
		{name: "all set", env: map[string]string{
			"SUBSCRIPTIONS_STICKY_CACHE_SIZE": "500", "SUBSCRIPTIONS_WORKFLOW_POLLERS": "4", "SUBSCRIPTIONS_ACTIVITY_POLLERS": " 16 ",
			"SUBSCRIPTIONS_WORKFLOW_TASK_SLOTS": "200", "SUBSCRIPTIONS_ACTIVITY_SLOTS": "300",
			"SUBSCRIPTIONS_ACTIVITIES_PER_SECOND": "50.5", "SUBSCRIPTIONS_TASK_QUEUE_ACTIVITIES_PER_SECOND": "90"},
			want: Tuning{StickyCacheSize: 500, WorkflowPollers: 4, ActivityPollers: 16, WorkflowTaskSlots: 200, ActivitySlots: 300,
				ActivitiesPerSecond: 50.5, TaskQueueActivitiesPerSecond: 90}},
		{name: "invalid", env: map[string]string{"SUBSCRIPTIONS_STICKY_CACHE_SIZE": "0", "SUBSCRIPTIONS_WORKFLOW_POLLERS": "many",
			"SUBSCRIPTIONS_ACTIVITIES_PER_SECOND": "-2"},
			wantErr: []string{"SUBSCRIPTIONS_STICKY_CACHE_SIZE must be a whole number, 1 or more",
				"SUBSCRIPTIONS_WORKFLOW_POLLERS must be a whole number", "SUBSCRIPTIONS_ACTIVITIES_PER_SECOND must be a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TuningFromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.wantErr) > 0 {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v, want it to say %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTuningWorkerOptions(t *testing.T) {
	tun := Tuning{WorkflowPollers: 4, ActivityPollers: 6, WorkflowTaskSlots: 7, ActivitySlots: 9, ActivitiesPerSecond: 3, TaskQueueActivitiesPerSecond: 5}
	o := tun.WorkerOptions(worker.Options{Identity: "kept"})
	if o.Identity != "kept" || o.MaxConcurrentWorkflowTaskPollers != 4 || o.MaxConcurrentActivityTaskPollers != 6 ||
		o.MaxConcurrentWorkflowTaskExecutionSize != 7 || o.MaxConcurrentActivityExecutionSize != 9 ||
		o.WorkerActivitiesPerSecond != 3 || o.TaskQueueActivitiesPerSecond != 5 {
		t.Fatalf("options %+v", o)
	}
	if o := (Tuning{}).WorkerOptions(worker.Options{}); o.MaxConcurrentWorkflowTaskPollers != 0 || o.MaxConcurrentActivityExecutionSize != 0 {
		t.Fatalf("zero tuning changed the SDK's defaults: %+v", o)
	}
}
