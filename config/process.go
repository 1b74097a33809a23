package config

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// WorkerProcess is what a worker process reads from its environment: the
// worker's configuration, its payload keys and tuning, and the options of
// its Temporal client (TEMPORAL_* variables, with the payload codec).
type WorkerProcess struct {
	Worker  Worker
	Payload Payload
	Tuning  Tuning
	Client  client.Options
}

// WorkerProcessFromEnv reads a WorkerProcess: the worker, payload and
// tuning through lookup (os.LookupEnv in production; the error names every
// invalid variable), the client options through envconfig from the
// process's environment.
func WorkerProcessFromEnv(lookup func(string) (string, bool)) (WorkerProcess, error) {
	var p WorkerProcess
	var err, perr, terr error
	p.Worker, err = WorkerFromEnv(lookup)
	p.Payload, perr = PayloadFromEnv(lookup)
	p.Tuning, terr = TuningFromEnv(lookup)
	if err := errors.Join(err, perr, terr); err != nil {
		return WorkerProcess{}, err
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return WorkerProcess{}, fmt.Errorf("temporal client options: %w", err)
	}
	if p.Client, err = p.Payload.ClientOptions(opts); err != nil {
		return WorkerProcess{}, err
	}
	return p, nil
}
