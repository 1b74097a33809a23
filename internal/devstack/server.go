package devstack

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/internal/gotool"
)

// ServerOptions configure a dev server. Zero ports are chosen free.
type ServerOptions struct {
	Port     int
	UIPort   int
	Headless bool      // no web UI
	DBFile   string    // persist to this SQLite file; empty: in memory
	Log      io.Writer // the server's own output; nil discards it
}

// Server is a running Temporal dev server.
type Server struct {
	Address string // host:port of the frontend
	UIURL   string // empty when headless
	cmd     *exec.Cmd
	done    chan error
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
	cmd := exec.Command(cli, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // stopped by us, after the worker
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cli, err)
	}
	s := &Server{Address: fmt.Sprintf("127.0.0.1:%d", opts.Port), cmd: cmd, done: make(chan error, 1)}
	if !opts.Headless {
		s.UIURL = fmt.Sprintf("http://localhost:%d", opts.UIPort)
	}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx, 90*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case err := <-s.done:
			return fmt.Errorf("temporal dev server exited: %v", err)
		default:
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

// Stop stops the server: an interrupt, then a kill after 10 seconds.
func (s *Server) Stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// QuietLogger is a Temporal SDK logger that discards everything.
type QuietLogger struct{}

func (QuietLogger) Debug(string, ...any) {} // Debug discards.
func (QuietLogger) Info(string, ...any)  {} // Info discards.
func (QuietLogger) Warn(string, ...any)  {} // Warn discards.
func (QuietLogger) Error(string, ...any) {} // Error discards.
