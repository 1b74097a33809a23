package workflows

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/withings-plus/subscriptions/api"
)

// TestRunsStartedBeforeNamesWereCheckedReplay: a run started before names
// were checked (rules 1) with a name the check now refuses replays as it
// ran; the same name is refused at the start of a new run.
func TestRunsStartedBeforeNamesWereCheckedReplay(t *testing.T) {
	h := readHistory(t, filepath.Join("testdata", "histories", "withdrawal-rules1.json"))
	started := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
	p := started.GetInput().GetPayloads()[0]
	var in map[string]any
	if err := json.Unmarshal(p.GetData(), &in); err != nil {
		t.Fatal(err)
	}
	in["name"] = "Ada\nLovelace"
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	p.Data = raw
	if err := replay(h, converter.GetDefaultDataConverter(), nil); err != nil {
		t.Fatalf("a rules-1 run with a name now refused no longer replays: %v", err)
	}
	var typed api.Input
	if err := json.Unmarshal(raw, &typed); err != nil {
		t.Fatal(err)
	}
	if err := typed.Validate(time.Now()); err == nil {
		t.Fatal("the name is not refused for a new subscription: the test proves nothing")
	}
}

// TestTestClockRunsReplayOnALiveWorker: a run on a test clock recorded by
// a test-mode worker replays on a worker holding a live key (the decision
// to refuse is recorded at the start), which then refuses to charge it.
func TestTestClockRunsReplayOnALiveWorker(t *testing.T) {
	for _, name := range []string{"withdrawal-rules2.json", "saved-500-rules2.json"} {
		h := readHistory(t, filepath.Join("testdata", "histories", name))
		if err := ReplayWith(h, converter.GetDefaultDataConverter(), nil, Options{LiveStripe: true}); err != nil {
			t.Fatalf("%s does not replay on a live worker: %v", name, err)
		}
	}
}
