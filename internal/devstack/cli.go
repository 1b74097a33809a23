// Package devstack brings up the local Temporal stack for the demo and the
// integration tests: the Temporal CLI, built once from the Go module proxy,
// its dev server with the contract's search attributes, and a worker.
package devstack

import (
	"context"
	"io"
	"os"

	"github.com/withings-plus/subscriptions/internal/gotool"
)

// TemporalCLIModule is the Temporal CLI release that builds with go install
// (newer tags carry a replace directive that go install refuses).
const TemporalCLIModule = "github.com/temporalio/cli/cmd/temporal@v1.5.1"

// TemporalCLI returns the Temporal CLI: $TEMPORAL_CLI if set, else the one
// in binDir, built on first use.
func TemporalCLI(ctx context.Context, binDir string, progress io.Writer) (string, error) {
	if path := os.Getenv("TEMPORAL_CLI"); path != "" {
		return path, nil
	}
	return gotool.Tool(ctx, binDir, "temporal", TemporalCLIModule, progress)
}
