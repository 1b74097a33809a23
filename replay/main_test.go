package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/withings-plus/subscriptions/config"
	"github.com/withings-plus/subscriptions/internal/testkeys"
)

func TestReplayVerdicts(t *testing.T) {
	good, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", "histories", "*.json"))
	if err != nil || len(good) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	// A history whose first activity is one the code never schedules there.
	raw, err := os.ReadFile(good[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "tampered.json")
	activity := regexp.MustCompile(`"activityType":\s*\{\s*"name":\s*"[A-Za-z]+"`)
	tampered := activity.ReplaceAllString(string(raw), `"activityType": {"name": "SendFax"`)
	if tampered == string(raw) {
		t.Fatal("could not tamper with the history")
	}
	if err := os.WriteFile(bad, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"recorded histories replay", good, 0, "all"},
		{"a tampered history does not", append([]string{good[0]}, bad), 1, "FAIL " + bad},
		{"no history", nil, 2, "usage"},
		{"a missing file", []string{"nope.json"}, 1, "FAIL nope.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.PayloadKeysVar, "")
			var out, errOut bytes.Buffer
			if code := run(tc.args, &out, &errOut); code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
				t.Fatalf("exit %d, want %d; output %q %q", code, tc.code, out.String(), errOut.String())
			}
		})
	}
}

func TestReplayEncryptedWithTheKeysFromTheEnvironment(t *testing.T) {
	ring, err := testkeys.Ring()
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) < 2 {
		t.Fatalf("the test ring holds %d keys, want the rotated pair", len(ring))
	}
	file := filepath.Join(testkeys.Dir(), "withdrawal-rotated.json")
	for _, tc := range []struct {
		name string
		keys string
		code int
	}{
		{"with the key ring", strings.Join(ring, ","), 0},
		{"without keys", "", 1},
		{"with the newest key only", ring[0], 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(config.PayloadKeysVar, tc.keys)
			var out, errOut bytes.Buffer
			if code := run([]string{file}, &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; output %q %q", code, tc.code, out.String(), errOut.String())
			}
		})
	}
}
