// Package devstack brings up the local Temporal stack for the demo and the
// integration tests: the Temporal CLI, built once from the Go module proxy,
// its dev server with the contract's search attributes, and a worker.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// TemporalCLIModule is the Temporal CLI release that builds with go install
// (newer tags carry a replace directive that go install refuses).
const TemporalCLIModule = "github.com/temporalio/cli/cmd/temporal@v1.5.1"

// BinDir is where the project keeps the tools it builds: $SUBSCRIPTIONS_BIN_DIR,
// else a folder of the user's cache directory.
func BinDir() (string, error) {
	if dir := os.Getenv("SUBSCRIPTIONS_BIN_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the tools (set SUBSCRIPTIONS_BIN_DIR): %w", err)
	}
	return filepath.Join(cache, "withings-plus-subscriptions", "bin"), nil
}

// Tool returns the path of a Go-installable tool in binDir, building it with
// go install the first time. progress gets one line when it builds.
func Tool(ctx context.Context, binDir, name, module string, progress io.Writer) (string, error) {
	path := filepath.Join(binDir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", binDir, err)
	}
	fmt.Fprintf(progress, "building %s with go install (once; a few minutes)…\n", module)
	cmd := exec.CommandContext(ctx, "go", "install", module)
	cmd.Env = append(os.Environ(), "GOBIN="+binDir, "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", module, err, tail(out, 2000))
	}
	if _, err := os.Stat(path); err != nil {
		return "", errors.New("go install " + module + " did not produce " + path)
	}
	return path, nil
}

// TemporalCLI returns the Temporal CLI: $TEMPORAL_CLI if set, else the one
// in binDir, built on first use.
func TemporalCLI(ctx context.Context, binDir string, progress io.Writer) (string, error) {
	if path := os.Getenv("TEMPORAL_CLI"); path != "" {
		return path, nil
	}
	return Tool(ctx, binDir, "temporal", TemporalCLIModule, progress)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
