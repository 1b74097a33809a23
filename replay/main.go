// Command replay replays recorded histories of the Subscription workflow
// against the code it is built from, and says whether the code would carry
// each run on: the check to make before deploying a change of the workflow.
//
//	go run ./replay workflows/testdata/histories/*.json
//	go run ./replay --workflow-id subscription-acc-1 [--run-id …]
//
// Files are histories as `temporal workflow show --output json` writes them.
// With --workflow-id the history is read from the server named by the SDK's
// environment variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …). Encrypted
// payloads are decoded with the keys of SUBSCRIPTIONS_PAYLOAD_KEYS. It exits
// 0 when every history replays, 1 when one does not, 2 on a usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/workflows"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// source is one history to replay.
type source struct {
	name string
	load func() (*historypb.History, error)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workflowID := fs.String("workflow-id", "", "read the history of this workflow from the Temporal server")
	runID := fs.String("run-id", "", "with --workflow-id: this run (default: the latest)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: replay HISTORY.json ...  |  replay --workflow-id ID [--run-id RUN]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var sources []source
	for _, f := range fs.Args() {
		sources = append(sources, source{name: f, load: func() (*historypb.History, error) { return fromFile(f) }})
	}
	if *workflowID != "" {
		sources = append(sources, source{name: *workflowID, load: func() (*historypb.History, error) { return fromServer(*workflowID, *runID) }})
	}
	if len(sources) == 0 {
		fs.Usage()
		return 2
	}
	dc, err := dataConverter()
	if err != nil {
		fmt.Fprintln(stderr, "replay:", err)
		return 2
	}
	failed := 0
	for _, s := range sources {
		h, err := s.load()
		if err == nil {
			err = workflows.Replay(h, dc, quiet) // the verdict below says what failed
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %v\n", s.name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s (%d events)\n", s.name, len(h.GetEvents()))
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d histories do not replay: the change is not safe to deploy as it is (guard it with workflow.GetVersion)\n", failed, len(sources))
		return 1
	}
	fmt.Fprintf(stdout, "all %d histories replay\n", len(sources))
	return 0
}

// quiet discards the replayer's own logging (a stack trace per failure).
var quiet = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// dataConverter decodes encrypted payloads with the keys of
// SUBSCRIPTIONS_PAYLOAD_KEYS; without keys, histories must be in clear.
func dataConverter() (converter.DataConverter, error) {
	raw := os.Getenv(config.PayloadKeysVar)
	if raw == "" {
		return nil, nil
	}
	keys, err := config.ParsePayloadKeys(raw)
	if err != nil {
		return nil, err
	}
	c, err := codec.NewDecryptOnly(keys...)
	if err != nil {
		return nil, err
	}
	return codec.NewDataConverter(c), nil
}

func fromFile(name string) (*historypb.History, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return nil, fmt.Errorf("read history %s: %w", name, err)
	}
	return h, nil
}

func fromServer(workflowID, runID string) (*historypb.History, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("temporal client options: %w", err)
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %q: %w", opts.HostPort, err)
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &historypb.History{}
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}
