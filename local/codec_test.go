package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/internal/devstack"
)

// inspectCodec checks, on the running local stack, that the UI is pointed
// at the codec server, that what the worker wrote is encrypted at the
// server, and that the codec server decrypts it for the UI's origin and
// refuses a request without its token.
func inspectCodec(ctx context.Context, s runningStack) error {
	if s.Codec == nil {
		return fmt.Errorf("no codec server")
	}
	var settings struct{ Codec struct{ Endpoint string } }
	if err := getJSON(s.UIURL+"/api/v1/settings", &settings); err != nil {
		return err
	}
	if settings.Codec.Endpoint != s.Codec.Endpoint || !strings.HasPrefix(s.Codec.Endpoint, s.Codec.URL+codec.TokenPathPrefix) {
		return fmt.Errorf("the UI's codec endpoint is %q, want the codec server's %q", settings.Codec.Endpoint, s.Codec.URL)
	}
	if info, err := os.Stat(s.Codec.EnvFile); err != nil || info.Mode().Perm() != 0o600 {
		return fmt.Errorf("the codec env file: %v %v", info, err)
	}

	// The history as stored: read with the SDK's default converters.
	plain, err := tclient.Dial(tclient.Options{HostPort: s.Address, Logger: devstack.QuietLogger{}})
	if err != nil {
		return err
	}
	defer plain.Close()
	it := plain.GetWorkflowHistory(ctx, api.WorkflowID("demo-renewal"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		return err
	}
	input := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	raw, _ := protojson.Marshal(first)
	if len(input) != 1 || !codec.Encrypted(input[0]) || bytes.Contains(raw, []byte("demo-renewal@example.com")) {
		return fmt.Errorf("the workflow input is stored in clear: %s", raw)
	}

	// Through the codec server, as the UI asks it.
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: input})
	uiOrigin := strings.Replace(s.UIURL, "127.0.0.1", "localhost", 1)
	post := func(url string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		req.Header.Set("Origin", uiOrigin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, b, err := post(settings.Codec.Endpoint + "/decode")
	if err != nil {
		return err
	}
	var decoded commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal(b, &decoded) != nil || len(decoded.Payloads) != 1 ||
		!bytes.Contains(decoded.Payloads[0].GetData(), []byte(`"email":"demo-renewal@example.com"`)) {
		return fmt.Errorf("decode through the codec server: %d %s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		return fmt.Errorf("codec server CORS: Access-Control-Allow-Origin %q, want %q", got, uiOrigin)
	}
	if resp, b, err := post(s.Codec.URL + "/decode"); err != nil || resp.StatusCode != http.StatusUnauthorized || bytes.Contains(b, []byte("example.com")) {
		return fmt.Errorf("a request without the token: %v %s %v", resp.StatusCode, b, err)
	}
	return nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
