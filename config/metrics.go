package config

import (
	"fmt"
	"net"
	"strings"
)

// MetricsAddressVar is the address of the worker's metrics and health
// server (/metrics, /healthz, /livez): host:port or :port. Unset: the
// default, DefaultMetricsAddress; set to "off" or to nothing: no server.
const MetricsAddressVar = "SUBSCRIPTIONS_METRICS_ADDRESS"

// DefaultMetricsAddress is where the metrics server listens by default:
// loopback only. In a container, set ":9464" to let Prometheus and the
// orchestrator's probes in.
const DefaultMetricsAddress = "127.0.0.1:9464"

// Metrics is the metrics server's configuration.
type Metrics struct {
	// Address is host:port; empty means no metrics server.
	Address string
}

// Enabled says whether the metrics server runs.
func (m Metrics) Enabled() bool { return m.Address != "" }

// MetricsFromEnv reads Metrics through lookup (os.LookupEnv in production).
// Unlike the other variables, a blank MetricsAddressVar is not unset: it
// turns the server off, as "off" does.
func MetricsFromEnv(lookup func(string) (string, bool)) (Metrics, error) {
	raw, set := lookup(MetricsAddressVar)
	addr := strings.TrimSpace(raw)
	switch {
	case !set:
		return Metrics{Address: DefaultMetricsAddress}, nil
	case addr == "" || strings.EqualFold(addr, "off"):
		return Metrics{}, nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return Metrics{}, fmt.Errorf("metrics configuration: %s must be host:port or :port (or off), not %q", MetricsAddressVar, addr)
	}
	return Metrics{Address: addr}, nil
}
