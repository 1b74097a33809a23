package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Defaults of ServerOptions.
const (
	DefaultHealthTimeout  = 2 * time.Second
	DefaultHealthCacheFor = 5 * time.Second
)

// ServerOptions configure Listen.
type ServerOptions struct {
	// Handler is what /metrics exports. Required.
	Handler *Handler
	// Client is the worker's Temporal client: /healthz checks that the
	// service answers through it. Nil: /healthz checks only the worker.
	Client client.Client
	// HealthTimeout bounds one check of Temporal (default
	// DefaultHealthTimeout); its answer, good or bad, is kept HealthCacheFor
	// (default DefaultHealthCacheFor), so that probes never add load.
	HealthTimeout, HealthCacheFor time.Duration
	// SettlementsEvery is how often at most a scrape counts the
	// subscriptions waiting for their settlement in visibility (the gauge
	// subscriptions_settlements_waiting; default DefaultSettlementsEvery;
	// negative: not counted). Needs Client.
	SettlementsEvery time.Duration
	// Logger hears of failed checks and serving errors; nil discards.
	Logger *slog.Logger
}

// Server serves /metrics, /healthz and /livez on one address:
//
//   - /metrics: the Prometheus exposition of the handler's registry (text
//     or OpenMetrics as the scraper asks, gzip when accepted);
//   - /healthz: 200 when the worker runs (WorkerStarted was called, and no
//     WorkerStopped since) and Temporal answers its health check; 503 with
//     the reason otherwise;
//   - /livez: 200 unless the worker stopped (before it starts, too): a
//     liveness probe that does not restart the worker while Temporal is
//     down, which a restart would not mend.
type Server struct {
	opts ServerOptions
	srv  *http.Server
	addr net.Addr
	// settlements is the gauge's collector, registered while the server runs.
	settlements *settlements

	mu        sync.Mutex
	started   bool
	stopped   error // why the worker stopped; nil while it runs or before it starts
	checkMu   sync.Mutex
	checked   time.Time
	checkErr  error
	closeOnce sync.Once
}

// ErrWorkerStopped is the reason WorkerStopped(nil) gives.
var ErrWorkerStopped = errors.New("worker stopped")

// Listen listens on address (host:port; port 0 picks a free one) and serves
// in the background until Close.
func Listen(address string, opts ServerOptions) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("metrics server: no handler")
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = DefaultHealthTimeout
	}
	if opts.HealthCacheFor <= 0 {
		opts.HealthCacheFor = DefaultHealthCacheFor
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SettlementsEvery == 0 {
		opts.SettlementsEvery = DefaultSettlementsEvery
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("metrics server: listen on %s: %w", address, err)
	}
	s := &Server{opts: opts, addr: l.Addr()}
	reg := opts.Handler.Registry()
	if opts.Client != nil && opts.SettlementsEvery > 0 {
		s.settlements = newSettlements(opts.Client, opts.SettlementsEvery, 5*time.Second, opts.Logger)
		if err := reg.Register(s.settlements); err != nil {
			l.Close()
			return nil, fmt.Errorf("metrics server: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError, // a bad series never hides the others
		EnableOpenMetrics: true,
		Registry:          reg, // promhttp_metric_handler_errors_total
		Timeout:           30 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /livez", s.livez)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("metrics server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// URL is the server's base URL (http://host:port), with localhost for an
// address that listens on every interface.
func (s *Server) URL() string {
	host, port, err := net.SplitHostPort(s.addr.String())
	if err != nil {
		return "http://" + s.addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// MetricsURL is the URL Prometheus scrapes.
func (s *Server) MetricsURL() string { return s.URL() + "/metrics" }

// WorkerStarted tells the server the worker runs. On a nil Server (no
// metrics server configured) it does nothing, as WorkerStopped.
func (s *Server) WorkerStarted() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started, s.stopped = true, nil
}

// WorkerStopped tells the server the worker stopped, and why (nil: it was
// asked to). Fit for worker.Options.OnFatalError.
func (s *Server) WorkerStopped(err error) {
	if s == nil {
		return
	}
	if err == nil {
		err = ErrWorkerStopped
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started, s.stopped = false, err
}

// Close stops serving, waiting up to 5 s for requests in flight.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		if s.settlements != nil {
			s.opts.Handler.Registry().Unregister(s.settlements)
		}
	})
	return err
}

// Healthy is what /healthz answers: nil when the worker runs and Temporal
// answers (as last checked, at most HealthCacheFor ago).
func (s *Server) Healthy(ctx context.Context) error {
	s.mu.Lock()
	started, stopped := s.started, s.stopped
	s.mu.Unlock()
	switch {
	case stopped != nil:
		return fmt.Errorf("worker not running: %w", stopped)
	case !started:
		return errors.New("worker not started")
	}
	return s.checkTemporal(ctx)
}

func (s *Server) checkTemporal(ctx context.Context) error {
	if s.opts.Client == nil {
		return nil
	}
	s.checkMu.Lock() // one check at a time; the others wait for its answer
	defer s.checkMu.Unlock()
	if !s.checked.IsZero() && time.Since(s.checked) < s.opts.HealthCacheFor {
		return s.checkErr
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.HealthTimeout)
	defer cancel()
	_, err := s.opts.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	if err != nil {
		err = fmt.Errorf("temporal unreachable: %w", err)
		if s.checkErr == nil {
			s.opts.Logger.Warn("health check: temporal unreachable", "error", err)
		}
	} else if s.checkErr != nil {
		s.opts.Logger.Info("health check: temporal reachable again")
	}
	s.checked, s.checkErr = time.Now(), err
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	// The check runs apart from the request's context, so that a probe
	// giving up early does not cache a failure for the others.
	if err := s.Healthy(context.WithoutCancel(r.Context())); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped != nil {
		http.Error(w, "worker not running: "+stopped.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}
