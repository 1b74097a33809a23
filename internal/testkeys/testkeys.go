// Package testkeys reads the payload key ring committed for tests, with the
// encrypted histories recorded under it (workflows/testdata/encrypted):
// replay-2, the current key, then replay-1, rotated out. Those keys protect
// nothing but test data.
package testkeys

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

// Dir is the folder of the encrypted test histories and their key ring.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "workflows", "testdata", "encrypted")
}

// Ring is the key ring, one `<id>=<key>` entry per key, the current first:
// joined with commas, it is what SUBSCRIPTIONS_PAYLOAD_KEYS holds.
func Ring() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(Dir(), "payload-keys"))
	if err != nil {
		return nil, fmt.Errorf("read the test key ring: %w", err)
	}
	var ring []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ring = append(ring, strings.Split(line, ",")...)
	}
	return ring, nil
}

// Keys is the parsed key ring.
func Keys() ([]codec.Key, error) {
	ring, err := Ring()
	if err != nil {
		return nil, err
	}
	return config.ParsePayloadKeys(strings.Join(ring, ","))
}
