package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/withings-plus/subscriptions/api"
)

// readInput reads a start input as JSON from a file, or from stdin for "-".
func readInput(path string, stdin io.Reader, in *api.Input) error {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("%w: --input: %v", errUsage, err)
	}
	if err := json.Unmarshal(b, in); err != nil {
		return fmt.Errorf("%w: --input: %v", errUsage, err)
	}
	return nil
}
