package workflows

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/internal/testkeys"
)

// TestReplayRecordedHistories replays every history recorded under
// testdata/histories (by the integration package's TestRecordHistories):
// a change to the workflow that alters the command sequence of existing
// histories without a workflow.GetVersion guard fails here. They were
// recorded before payloads were encrypted, and replay through the codec's
// converter, which leaves clear payloads as they are: histories written
// before encryption stay readable.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/histories")
	}
	dc := codec.NewDataConverter(testCodec(t))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := replay(readHistory(t, file), dc, nil); err != nil {
				t.Fatalf("%s no longer replays: %v", file, err)
			}
		})
	}
}

// TestReplayEncryptedHistories replays the histories under
// testdata/encrypted, recorded on a dev server with encrypted payloads
// (internal/devstack's TestPayloadsEncryptedAtRestAndKeyRotation, with
// SUBSCRIPTIONS_RECORD=1) across a key rotation: the run started under key
// replay-1 and ended under replay-2. They hold no personal data in clear,
// replay with the ring of both keys, and not without the keys.
func TestReplayEncryptedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "encrypted", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/encrypted")
	}
	dc := codec.NewDataConverter(testCodec(t))
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, personal := range []string{"example.com", "cus_", "pm_card", "Lovelace"} {
				if bytes.Contains(raw, []byte(personal)) {
					t.Errorf("%s holds %q in clear", file, personal)
				}
			}
			h := readHistory(t, file)
			if err := replay(h, dc, nil); err != nil {
				t.Fatalf("%s no longer replays: %v", file, err)
			}
			if err := replay(h, converter.GetDefaultDataConverter(), quiet); err == nil {
				t.Fatalf("%s replays without its keys: it is not encrypted", file)
			}
		})
	}
}

// testCodec is the codec of the committed test keys of testdata/encrypted.
func testCodec(t *testing.T) *codec.Codec {
	t.Helper()
	keys, err := testkeys.Keys()
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// replay replays h as the worker registers the workflow, decoding with dc;
// logger nil is the SDK's default.
func replay(h *historypb.History, dc converter.DataConverter, logger tlog.Logger) error {
	return Replay(h, dc, logger)
}
