package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

func TestCodecServerCommand(t *testing.T) {
	key, err := codec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := codec.New(key)
	env := map[string]string{
		config.PayloadKeysVar:  config.FormatPayloadKeys([]codec.Key{key}),
		config.CodecTokenVar:   "token-0123456789abcdef",
		config.CodecOriginsVar: "http://localhost:8233",
		config.CodecAddrVar:    "127.0.0.1:0",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, lookup, slog.New(slog.NewTextHandler(&logs, nil)), func(u string) { urls <- u })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	written, _ := codec.NewDataConverter(c).ToPayload(map[string]string{"email": "ada@example.com"})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{written}})
	send := func(auth string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, url+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://localhost:8233")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, out := send("Bearer token-0123456789abcdef")
	var decoded commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal([]byte(out), &decoded) != nil {
		t.Fatalf("decode: %d %s", resp.StatusCode, out)
	}
	var got map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(decoded.Payloads[0], &got); err != nil || got["email"] != "ada@example.com" {
		t.Fatalf("decoded %v %v", got, err)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Errorf("CORS headers %v", resp.Header)
	}
	if resp, out := send(""); resp.StatusCode != http.StatusUnauthorized || strings.Contains(out, "ada@") {
		t.Errorf("no token: %d %s", resp.StatusCode, out)
	}
	if resp, out := send("Bearer token-0123456789abcdeX"); resp.StatusCode != http.StatusForbidden || strings.Contains(out, "ada@") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, out)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if s := logs.String(); !strings.Contains(s, "codec server listening") || strings.Contains(s, "token-0123") || strings.Contains(s, env[config.PayloadKeysVar][3:]) {
		t.Errorf("log: %s", s)
	}
}

func TestCodecServerCommandRefusesBadConfig(t *testing.T) {
	err := run(context.Background(), func(string) (string, bool) { return "", false }, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), config.PayloadKeysVar) || !strings.Contains(err.Error(), config.CodecTokenVar) {
		t.Fatalf("error %v", err)
	}
}
