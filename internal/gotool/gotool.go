// Package gotool builds the tools the project runs beside its code (the
// Temporal CLI, stripe-mock) once, with go install from the Go module proxy,
// into a cache directory.
package gotool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

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

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// FreePorts returns n distinct free TCP ports on loopback.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
