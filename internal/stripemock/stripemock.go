// Package stripemock runs Stripe's official mock server, stripe-mock, built
// once from the Go module proxy, for tests that check requests against
// Stripe's API.
package stripemock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/withings-plus/subscriptions/internal/gotool"
)

// Module is Stripe's official mock server: stateless, it validates
// requests against Stripe's OpenAPI spec and never declines.
const Module = "github.com/stripe/stripe-mock@v0.203.0"

// Start starts stripe-mock on a free loopback port, building it once into
// the project's tool directory (gotool.BinDir), and returns its base URL and
// a stop function.
func Start(ctx context.Context, progress io.Writer) (string, func(), error) {
	binDir, err := gotool.BinDir()
	if err != nil {
		return "", nil, err
	}
	bin, err := gotool.Tool(ctx, binDir, "stripe-mock", Module, progress)
	if err != nil {
		return "", nil, err
	}
	ports, err := gotool.FreePorts(2)
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	var out bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:"+strconv.Itoa(ports[1]))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("stripe-mock did not listen on %s: %s", addr, out.String())
		}
	}
}
