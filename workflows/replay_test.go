package workflows

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/withings-plus/subscriptions/api"
)

// TestReplayRecordedHistories replays every history recorded under
// testdata/histories (by the integration package's TestRecordHistories):
// a change to the workflow that alters the command sequence of existing
// histories without a workflow.GetVersion guard fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/histories")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(WithWallClock(time.Now), workflow.RegisterOptions{Name: api.WorkflowType})
			if err := replayer.ReplayWorkflowHistory(nil, history); err != nil {
				t.Fatalf("%s no longer replays: %v", file, err)
			}
		})
	}
}
