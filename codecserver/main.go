// Command codecserver serves the payload codec over HTTP, so that the
// Temporal UI (and `temporal --codec-endpoint`) shows authorized operators
// the workflow's payloads decrypted. It is the SDK's
// converter.NewPayloadCodecHTTPHandler over the subscriptions' codec, with
// CORS for the UI and a bearer token (see codec.NewHTTPHandler).
//
// Its environment:
//
//	SUBSCRIPTIONS_PAYLOAD_KEYS    the key ring, as the worker's (required)
//	SUBSCRIPTIONS_CODEC_TOKEN     the bearer token (required, ≥ 16 characters)
//	SUBSCRIPTIONS_CODEC_ORIGINS   the UI's origins, comma-separated (CORS)
//	SUBSCRIPTIONS_CODEC_ADDR      listen address (default 127.0.0.1:8234)
//	SUBSCRIPTIONS_CODEC_TLS_CERT, SUBSCRIPTIONS_CODEC_TLS_KEY   TLS files (optional)
//
// Point the UI at it with its codec endpoint setting (the UI server's
// codec.endpoint, with passAccessToken when users sign in through an
// identity provider), or, for a UI that cannot send a header, at
// http(s)://<addr>/ui/<token>.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.LookupEnv, logger, nil); err != nil {
		fmt.Fprintln(os.Stderr, "codecserver:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. listening, if set, gets the server's base URL
// once it accepts connections.
func run(ctx context.Context, lookup func(string) (string, bool), logger *slog.Logger, listening func(url string)) error {
	cfg, err := config.CodecServerFromEnv(lookup)
	if err != nil {
		return err
	}
	c, err := cfg.Payload.Codec()
	if err != nil {
		return err
	}
	h, err := codec.NewHTTPHandler(c, codec.HandlerOptions{Token: cfg.Token, Origins: cfg.Origins})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.Addr, config.CodecAddrVar, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	url := scheme + "://" + l.Addr().String()
	if len(cfg.Origins) == 0 {
		logger.Warn("no UI origin allowed: browsers cannot call this codec server", "variable", config.CodecOriginsVar)
	}
	logger.Info("codec server listening", "url", url, "origins", cfg.Origins, "payloads", cfg.Payload.String())
	served := make(chan error, 1)
	go func() {
		if cfg.TLSCertFile != "" {
			served <- srv.ServeTLS(l, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			served <- srv.Serve(l)
		}
	}()
	if listening != nil {
		listening(url)
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
