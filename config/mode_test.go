package config

import (
	"strings"
	"testing"
)

func TestStripeLiveMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		live    bool
		wantErr []string // substrings; nil means success
	}{
		{name: "nothing set", env: map[string]string{}},
		{name: "blank", env: map[string]string{"STRIPE_MODE": " ", "STRIPE_SECRET_KEY": ""}},
		{name: "live", env: map[string]string{"STRIPE_MODE": "live"}, live: true},
		{name: "test", env: map[string]string{"STRIPE_MODE": "test"}},
		{name: "live, spaces", env: map[string]string{"STRIPE_MODE": " live\n"}, live: true},
		{name: "live key", env: map[string]string{"STRIPE_SECRET_KEY": "sk_live_abc"}, live: true},
		{name: "live restricted key", env: map[string]string{"STRIPE_SECRET_KEY": "rk_live_abc"}, live: true},
		{name: "test key", env: map[string]string{"STRIPE_SECRET_KEY": "sk_test_abc"}},
		{name: "mock key", env: map[string]string{"STRIPE_SECRET_KEY": "whatever"}},
		{name: "live agrees", env: map[string]string{"STRIPE_MODE": "live", "STRIPE_SECRET_KEY": "rk_live_abc"}, live: true},
		{name: "test agrees", env: map[string]string{"STRIPE_MODE": "test", "STRIPE_SECRET_KEY": "sk_test_abc"}},
		{name: "test with a live key", env: map[string]string{"STRIPE_MODE": "test", "STRIPE_SECRET_KEY": "sk_live_topsecret"},
			wantErr: []string{"STRIPE_MODE is test", "STRIPE_SECRET_KEY is a live key"}},
		{name: "live with a test key", env: map[string]string{"STRIPE_MODE": "live", "STRIPE_SECRET_KEY": "sk_test_topsecret"},
			wantErr: []string{"STRIPE_MODE is live", "STRIPE_SECRET_KEY is not a live key"}},
		{name: "unknown mode", env: map[string]string{"STRIPE_MODE": "production"}, wantErr: []string{`STRIPE_MODE must be "live" or "test"`}},
		{name: "upper case", env: map[string]string{"STRIPE_MODE": "LIVE"}, wantErr: []string{"STRIPE_MODE must be"}},
		{name: "a key in the mode", env: map[string]string{"STRIPE_MODE": "sk_live_topsecret"}, wantErr: []string{"STRIPE_MODE must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, err := StripeLiveMode(env(tc.env))
			if tc.wantErr == nil {
				if err != nil || live != tc.live {
					t.Fatalf("StripeLiveMode = %v, %v; want %v, nil", live, err, tc.live)
				}
				return
			}
			if err == nil {
				t.Fatalf("StripeLiveMode = %v, nil; want an error containing %q", live, tc.wantErr)
			}
			if live {
				t.Errorf("StripeLiveMode says live with an error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, leak := range []string{"topsecret", "production", "LIVE"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q shows %q", err, leak)
				}
			}
		})
	}
}
