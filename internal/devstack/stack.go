package devstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/gotool"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// Stack is a Temporal server, the Stripe and SendGrid stand-ins, and a
// worker using them: the system under test of the integration tests. The
// server is a dev server of the stack's own, or, when ExternalServerVar is
// set, a namespace of its own on that server (see ExternalServer). Payloads are
// encrypted (Payload): the worker writes them through the codec's data
// converter, as the worker command does, and Client reads and writes them
// through the codec at the gRPC level (DialWithCodec), so that tests see
// them as an authorized operator does.
type Stack struct {
	Server *Server
	Client client.Client
	Stripe *stripefake.Server
	Mail   *mailsink.Server
	// WorkerConfig points a worker at the stand-ins.
	WorkerConfig config.Worker
	// Payload is the key ring of the stack's worker, worker processes and
	// Client (see StackOptions.Payload).
	Payload config.Payload

	mu           sync.Mutex
	worker       worker.Worker // the in-process worker; nil when stopped
	workerClient client.Client // the in-process worker's, with the codec's converters
	stop         []func()
}

// StackOptions configure StartStackWith. The zero value brings up what
// StartStack does.
type StackOptions struct {
	// NoWorker starts no in-process worker: StartWorker starts one later,
	// or a WorkerProcess runs the worker command instead.
	NoWorker bool
	// DBFile persists the dev server to this SQLite file, so that the
	// workflows outlive Server.Restart. Empty: in memory.
	DBFile string
	// ServerLog receives the dev server's output; nil discards it.
	ServerLog io.Writer
	// Payload encrypts the stack's payloads. Zero: SUBSCRIPTIONS_PAYLOAD_KEYS
	// (or SUBSCRIPTIONS_PAYLOAD_ENCRYPTION) from this process's environment
	// if set; else a random key for this stack, which is also put in this
	// process's environment so that clients configured from it (the
	// starter's dial) use it, and later stacks of the process share it.
	Payload config.Payload
}

// StartStack brings up a headless dev server (the CLI built on first use),
// the stand-ins on loopback, and a worker. progress gets the build's line.
func StartStack(ctx context.Context, progress io.Writer) (*Stack, error) {
	return StartStackWith(ctx, progress, StackOptions{})
}

// StartStackWith is StartStack with options.
func StartStackWith(ctx context.Context, progress io.Writer, opts StackOptions) (*Stack, error) {
	s := &Stack{Stripe: stripefake.New(), Mail: mailsink.New()}
	var err error
	if s.Payload, err = RunPayload(opts.Payload, true); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	bin, err := gotool.BinDir()
	if err != nil {
		return nil, err
	}
	if address := os.Getenv(ExternalServerVar); address != "" {
		if s.Server, err = ExternalServer(ctx, address); err != nil {
			return nil, err
		}
	} else {
		cli, err := TemporalCLI(ctx, bin, progress)
		if err != nil {
			return nil, err
		}
		if s.Server, err = StartServer(ctx, cli, ServerOptions{Headless: true, DBFile: opts.DBFile, Log: opts.ServerLog}); err != nil {
			return nil, err
		}
		s.stop = append(s.stop, s.Server.Stop)
	}
	stripeURL, err := s.serve(s.Stripe)
	if err != nil {
		return nil, err
	}
	mailURL, err := s.serve(s.Mail)
	if err != nil {
		return nil, err
	}
	s.WorkerConfig = config.Worker{
		StripeSecretKey: "sk_test_stand_in", StripeAPIURL: stripeURL,
		SendGridAPIKey: "SG.stand-in", SendGridAPIURL: mailURL,
		EmailFrom: config.DefaultEmailFrom,
	}
	if s.Client, err = DialWithCodec(s.Server.Address, s.Server.Namespace, s.Payload); err != nil {
		return nil, err
	}
	s.stop = append(s.stop, s.Client.Close)
	if s.workerClient, err = DialWorkerClient(s.Server.Address, s.Server.Namespace, s.Payload); err != nil {
		return nil, err
	}
	s.stop = append(s.stop, s.workerClient.Close, s.StopWorker)
	if !opts.NoWorker {
		if err := s.StartWorker(); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// StartWorker starts an in-process worker using the stand-ins, unless one
// runs.
func (s *Stack) StartWorker() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		return nil
	}
	w, err := StartWorker(s.workerClient, s.WorkerConfig)
	if err != nil {
		return err
	}
	s.worker = w
	return nil
}

// StopWorker stops the in-process worker, if one runs; what it was running
// is left to the server's timeouts and to the next worker.
func (s *Stack) StopWorker() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		s.worker.Stop()
		s.worker = nil
	}
}

// NewWorkerProcess returns the worker command at path (see BuildWorker),
// not yet started, set to use the stack's server and stand-ins, and writing
// its output to log. Stop stops it first.
func (s *Stack) NewWorkerProcess(path string, log io.Writer) *WorkerProcess {
	p := &WorkerProcess{Path: path, Env: WorkerEnv(s.Server.Address, s.Server.Namespace, s.WorkerConfig, s.Payload), Log: log}
	s.mu.Lock()
	s.stop = append(s.stop, p.Stop)
	s.mu.Unlock()
	return p
}

// Env is the environment a process needs to reach the stack's server and
// read its payloads (it holds the keys: never print it).
func (s *Stack) Env() []string {
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+s.Server.Address, "TEMPORAL_NAMESPACE="+s.Server.Namespace)
	return append(env, s.Payload.Env()...)
}

// Stop stops the worker processes, the in-process worker, the stand-ins and
// the server, in that order.
func (s *Stack) Stop() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	for i := len(stop) - 1; i >= 0; i-- {
		stop[i]()
	}
}

// ServeLoopback serves h on a free loopback port and returns its URL and its stop function.
func ServeLoopback(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func() { srv.Close() }, nil
}

func (s *Stack) serve(h http.Handler) (string, error) {
	url, stop, err := ServeLoopback(h)
	if err == nil {
		s.stop = append(s.stop, stop)
	}
	return url, err
}
