package devstack

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/internal/gotool"
)

// ServerOptions configure a dev server. Zero ports are chosen free.
type ServerOptions struct {
	Port     int
	UIPort   int
	Headless bool // no web UI
	// UICodecEndpoint points the web UI at a codec server
	// (--ui-codec-endpoint): the UI posts payloads to it to show them
	// decoded. Empty: none.
	UICodecEndpoint string
	DBFile          string    // persist to this SQLite file; empty: in memory
	Log             io.Writer // the server's own output; nil discards it
}

// Server is a running Temporal dev server. It can be stopped and started
// again on the same ports (and, with ServerOptions.DBFile, the same
// workflows): the SDK's clients reconnect by themselves.
type Server struct {
	Address   string // host:port of the frontend
	Namespace string // the namespace to use: "default" on a dev server
	UIURL     string // empty when headless
	// External is set for a server the stack did not start (see
	// ExternalServer): Stop, Start and Restart are refused.
	External bool

	cli  string
	args []string
	log  io.Writer

	mu   sync.Mutex // serializes Start, Stop and Restart
	proc *child
}

// StartServer starts `temporal server start-dev` with the contract's search
// attributes registered, and waits until it serves the default namespace.
func StartServer(ctx context.Context, cli string, opts ServerOptions) (*Server, error) {
	ports, err := gotool.FreePorts(4)
	if err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		opts.Port = ports[0]
	}
	if opts.UIPort == 0 {
		opts.UIPort = ports[1]
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(opts.Port),
		"--http-port", strconv.Itoa(ports[2]),
		"--metrics-port", strconv.Itoa(ports[3]),
		"--log-level", "error"}
	if opts.Headless {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
		if opts.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", opts.UICodecEndpoint)
		}
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	types := api.SearchAttributeTypes()
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		args = append(args, "--search-attribute", n+"="+types[n])
	}
	s := &Server{Address: fmt.Sprintf("127.0.0.1:%d", opts.Port), Namespace: "default", cli: cli, args: args, log: opts.Log}
	if !opts.Headless {
		s.UIURL = fmt.Sprintf("http://localhost:%d", opts.UIPort)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the server again after Stop, with the same ports and
// database file, and waits until it is ready. It does nothing if the server
// runs. A server kept in memory starts again empty.
func (s *Server) Start(ctx context.Context) error {
	if s.External {
		return fmt.Errorf("the Temporal server at %s was not started by this stack: it cannot start it", s.Address)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return nil
	}
	p, err := startChild(exec.Command(s.cli, s.args...), nil, s.log)
	if err != nil {
		return err
	}
	s.proc = p
	if err := s.waitReady(ctx, p, 90*time.Second); err != nil {
		p.stop(10 * time.Second)
		return err
	}
	return nil
}

// Restart stops the server and starts it again on the same ports and
// database file. Clients connected to it reconnect by themselves.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	return s.Start(ctx)
}

func (s *Server) waitReady(ctx context.Context, p *child, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if p.exited() {
			return fmt.Errorf("temporal dev server exited: %v", p.err)
		}
		c, err := client.Dial(client.Options{HostPort: s.Address, Logger: QuietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server at %s not ready after %s: %v", s.Address, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop stops the server: an interrupt, then a kill after 10 seconds. It
// does nothing if the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(10 * time.Second)
	}
}

// QuietLogger is a Temporal SDK logger that discards everything.
type QuietLogger struct{}

func (QuietLogger) Debug(string, ...any) {} // Debug discards.
func (QuietLogger) Info(string, ...any)  {} // Info discards.
func (QuietLogger) Warn(string, ...any)  {} // Warn discards.
func (QuietLogger) Error(string, ...any) {} // Error discards.
