package config

import (
	"strings"
	"testing"
)

func TestMetricsFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    string // address; "" is off
		wantErr string
	}{
		{name: "unset", env: map[string]string{}, want: DefaultMetricsAddress},
		{name: "all interfaces", env: map[string]string{MetricsAddressVar: " :9464 "}, want: ":9464"},
		{name: "host and port", env: map[string]string{MetricsAddressVar: "0.0.0.0:9100"}, want: "0.0.0.0:9100"},
		{name: "free port", env: map[string]string{MetricsAddressVar: "127.0.0.1:0"}, want: "127.0.0.1:0"},
		{name: "off", env: map[string]string{MetricsAddressVar: "OFF"}, want: ""},
		{name: "blank", env: map[string]string{MetricsAddressVar: " "}, want: ""},
		{name: "no port", env: map[string]string{MetricsAddressVar: "localhost"}, wantErr: MetricsAddressVar},
		{name: "empty port", env: map[string]string{MetricsAddressVar: "localhost:"}, wantErr: "host:port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MetricsFromEnv(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want an error containing %q", m, err, tt.wantErr)
				}
				return
			}
			if err != nil || m.Address != tt.want || m.Enabled() != (tt.want != "") {
				t.Fatalf("got %+v (enabled %v), %v; want %q", m, m.Enabled(), err, tt.want)
			}
		})
	}
}
