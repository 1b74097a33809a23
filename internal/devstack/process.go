package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/withings-plus/subscriptions/config"
)

// WorkerPackage is the import path of the worker command.
const WorkerPackage = "github.com/withings-plus/subscriptions/worker"

// BuildWorker builds the worker command with go build into dir and returns
// the path of the binary. It builds with -race when this program was built
// with -race, so that a test binary and the worker share the build cache
// and the worker's races are caught too. It must run inside the module, as
// tests do; build once per test binary (in TestMain, or once in the test).
func BuildWorker(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "worker")
	args := []string{"build", "-buildvcs=false", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, WorkerPackage)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", WorkerPackage, err, msg)
	}
	return out, nil
}

// BuildWorkerMeanwhile starts BuildWorker and returns what waits for its
// result, so that the build overlaps starting the server.
func BuildWorkerMeanwhile(ctx context.Context, dir string) (wait func() (string, error)) {
	type build struct {
		path string
		err  error
	}
	built := make(chan build, 1)
	go func() {
		path, err := BuildWorker(ctx, dir)
		built <- build{path, err}
	}()
	return func() (string, error) {
		b := <-built
		return b.path, b.err
	}
}

// WorkerEnv is the environment of a worker command that reaches the
// Temporal frontend at address (in namespace), Stripe and SendGrid
// as cfg says, and encrypts payloads as payload says. It is this process's
// environment without its Temporal, Stripe, SendGrid, email and payload
// encryption variables, which could point the worker elsewhere, plus the
// worker's own; the Temporal config file is none, and the metrics server
// listens on a free loopback port.
func WorkerEnv(address, namespace string, cfg config.Worker, payload config.Payload) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "TEMPORAL_") && !strings.HasPrefix(name, "STRIPE_") &&
			!strings.HasPrefix(name, "SENDGRID_") && name != "EMAIL_FROM" && name != config.MetricsAddressVar &&
			name != config.PayloadKeysVar && name != config.PayloadEncryptionVar {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TEMPORAL_ADDRESS="+address,
		"TEMPORAL_NAMESPACE="+namespace,
		"TEMPORAL_CONFIG_FILE="+os.DevNull,
		"STRIPE_SECRET_KEY="+cfg.StripeSecretKey,
		"STRIPE_API_URL="+cfg.StripeAPIURL,
		"SENDGRID_API_KEY="+cfg.SendGridAPIKey,
		"SENDGRID_API_URL="+cfg.SendGridAPIURL,
		"EMAIL_FROM="+cfg.EmailFrom,
		"SENDGRID_SANDBOX="+strconv.FormatBool(cfg.SendGridSandbox),
		// A free port: workers of tests running side by side never clash.
		config.MetricsAddressVar+"=127.0.0.1:0",
	)
	for _, kind := range config.EmailKinds() {
		if id := cfg.Templates[kind]; id != "" {
			env = append(env, config.TemplateVar(kind)+"="+id)
		}
	}
	return append(env, payload.Env()...)
}

// ErrExited is returned by WorkerProcess.Kill when the worker was no longer
// running: it had exited by itself, or was never started.
var ErrExited = errors.New("worker process is not running")

// WorkerProcess runs the worker command (see BuildWorker) as a child
// process that can be killed and started again, as a crashing worker
// machine would be. Its methods may be called from several goroutines.
type WorkerProcess struct {
	Path string    // the worker binary
	Env  []string  // its environment (see WorkerEnv)
	Log  io.Writer // its output; nil discards it

	mu     sync.Mutex
	proc   *child
	starts int
}

// Start starts the worker. It is an error if it is running.
func (p *WorkerProcess) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && !p.proc.exited() {
		return fmt.Errorf("worker process %d is already running", p.proc.cmd.Process.Pid)
	}
	c, err := startChild(exec.Command(p.Path), p.Env, p.Log)
	if err != nil {
		return err
	}
	p.proc = c
	p.starts++
	return nil
}

// Kill kills the worker with SIGKILL, leaving no chance to finish anything,
// and waits for it to be gone. If it was not running, Kill returns an error
// wrapping ErrExited that says how it had exited.
func (p *WorkerProcess) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return fmt.Errorf("%w: never started", ErrExited)
	}
	if p.proc.exited() {
		return fmt.Errorf("%w: it exited by itself: %v", ErrExited, p.proc.err)
	}
	p.proc.kill()
	return nil
}

// Stop stops the worker as an operator would: an interrupt, on which it
// finishes what it runs, then a kill after 10 seconds. It does nothing if
// the worker is not running.
func (p *WorkerProcess) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.stop(10 * time.Second)
	}
}

// Running reports whether the worker runs.
func (p *WorkerProcess) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc != nil && !p.proc.exited()
}

// Pid is the process ID of the worker last started, 0 if none was.
func (p *WorkerProcess) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.cmd.Process.Pid
}

// Starts is how many times the worker was started.
func (p *WorkerProcess) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}
