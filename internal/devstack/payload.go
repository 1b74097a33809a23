package devstack

import (
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

// RunPayload is the payload encryption of a local run: p if it is set
// (keys, or encryption off), else what this process's environment says
// (config.PayloadFromEnv) if either payload variable is set (not blank), else a fresh
// random key for this run only. With export, a fresh key is also put in
// this process's environment (config.PayloadKeysVar), so that clients
// configured from it in this process (the starter's dial in its tests)
// read and write what the stack does.
func RunPayload(p config.Payload, export bool) (config.Payload, error) {
	if len(p.Keys) > 0 || p.Off {
		return p, nil
	}
	if os.Getenv(config.PayloadKeysVar) != "" || os.Getenv(config.PayloadEncryptionVar) != "" {
		return config.PayloadFromEnv(os.LookupEnv)
	}
	k, err := codec.GenerateKey("run-" + time.Now().UTC().Format("20060102T150405"))
	if err != nil {
		return config.Payload{}, err
	}
	p = config.Payload{Keys: []codec.Key{k}}
	if export {
		if err := os.Setenv(config.PayloadKeysVar, config.FormatPayloadKeys(p.Keys)); err != nil {
			return config.Payload{}, err
		}
	}
	return p, nil
}

// DialWithCodec dials namespace at the frontend at address with p's codec applied at
// the gRPC level (codec.GRPCInterceptors): what the client writes is
// encrypted, what it reads is decrypted, whatever converters it uses (the
// SDK's defaults). It sees what an authorized operator sees through the
// codec server; search attributes are in clear either way.
func DialWithCodec(address, namespace string, p config.Payload) (client.Client, error) {
	opts := client.Options{HostPort: address, Namespace: namespace, Logger: QuietLogger{}}
	c, err := p.Codec()
	if err != nil {
		return nil, err
	}
	if c != nil {
		interceptors, err := codec.GRPCInterceptors(c)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(interceptors...))
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to the Temporal server: %w", err)
	}
	return tc, nil
}

// DialWorkerClient dials namespace at the frontend at address with p's converters
// (config.Payload.ClientOptions), as the worker command does: the client a
// worker runs on.
func DialWorkerClient(address, namespace string, p config.Payload) (client.Client, error) {
	opts, err := p.ClientOptions(client.Options{HostPort: address, Namespace: namespace, Logger: QuietLogger{}})
	if err != nil {
		return nil, err
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to the Temporal server: %w", err)
	}
	return tc, nil
}
