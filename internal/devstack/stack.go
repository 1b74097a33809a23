package devstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/gotool"
	"github.com/withings-plus/subscriptions/internal/mailsink"
	"github.com/withings-plus/subscriptions/internal/stripefake"
)

// Stack is a dev server, the Stripe and SendGrid stand-ins, and a worker
// using them: the system under test of the integration tests.
type Stack struct {
	Server *Server
	Client client.Client
	Stripe *stripefake.Server
	Mail   *mailsink.Server
	stop   []func()
}

// StartStack brings up a headless dev server (the CLI built on first use),
// the stand-ins on loopback, and a worker. progress gets the build's line.
func StartStack(ctx context.Context, progress io.Writer) (*Stack, error) {
	s := &Stack{Stripe: stripefake.New(), Mail: mailsink.New()}
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
	cli, err := TemporalCLI(ctx, bin, progress)
	if err != nil {
		return nil, err
	}
	if s.Server, err = StartServer(ctx, cli, ServerOptions{Headless: true}); err != nil {
		return nil, err
	}
	s.stop = append(s.stop, s.Server.Stop)
	stripeURL, err := s.serve(s.Stripe)
	if err != nil {
		return nil, err
	}
	mailURL, err := s.serve(s.Mail)
	if err != nil {
		return nil, err
	}
	if s.Client, err = client.Dial(client.Options{HostPort: s.Server.Address, Logger: QuietLogger{}}); err != nil {
		return nil, fmt.Errorf("connect to the dev server: %w", err)
	}
	s.stop = append(s.stop, s.Client.Close)
	w, err := StartWorker(s.Client, config.Worker{
		StripeSecretKey: "sk_test_stand_in", StripeAPIURL: stripeURL,
		SendGridAPIKey: "SG.stand-in", SendGridAPIURL: mailURL,
		EmailFrom: config.DefaultEmailFrom,
	})
	if err != nil {
		return nil, err
	}
	s.stop = append(s.stop, w.Stop)
	ok = true
	return s, nil
}

// Env is the environment a process needs to reach the stack's server.
func (s *Stack) Env() []string {
	return append(os.Environ(), "TEMPORAL_ADDRESS="+s.Server.Address, "TEMPORAL_NAMESPACE=default")
}

// Stop stops the worker, the stand-ins and the server, in that order.
func (s *Stack) Stop() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
	s.stop = nil
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
