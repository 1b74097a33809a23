package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/withings-plus/subscriptions/codec"
	"github.com/withings-plus/subscriptions/config"
)

// codecServer is the local codec server: it decrypts payloads for the
// dev server's UI.
type codecServer struct {
	URL      string // its base URL, for `temporal --codec-endpoint` with the token in a header
	Endpoint string // the UI's codec endpoint: the URL with the token in the path
	EnvFile  string // the token (and generated keys) for the starter and the CLI
	stop     func()
}

// startCodecServer serves c on 127.0.0.1:port (0: a free port) for the UI
// at uiPort, with a random token. The UI of the dev server sends no
// Authorization header, so it is given the token in its endpoint's path
// (codec.TokenPathPrefix). The token, and the keys if this run generated
// them, are written to a file only the user can read, removed by stop.
func startCodecServer(c *codec.Codec, payload config.Payload, keysGenerated bool, port, uiPort int) (*codecServer, error) {
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tok)
	h, err := codec.NewHTTPHandler(c, codec.HandlerOptions{Token: token,
		Origins: []string{fmt.Sprintf("http://localhost:%d", uiPort), fmt.Sprintf("http://127.0.0.1:%d", uiPort)}})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("codec server: %w (choose another port with -codec-port)", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	dir, err := os.MkdirTemp("", "withings-plus-local-*")
	if err != nil {
		srv.Close()
		return nil, err
	}
	stop := func() {
		srv.Close()
		os.RemoveAll(dir)
	}
	var env strings.Builder
	fmt.Fprintf(&env, "# go run ./local (pid %d): source this file to use the starter or the temporal CLI against its stack.\n", os.Getpid())
	fmt.Fprintf(&env, "export %s='%s'\n", config.CodecTokenVar, token)
	if keysGenerated {
		fmt.Fprintf(&env, "export %s='%s'\n", config.PayloadKeysVar, config.FormatPayloadKeys(payload.Keys))
	}
	file := filepath.Join(dir, "codec.env")
	if err := os.WriteFile(file, []byte(env.String()), 0o600); err != nil {
		stop()
		return nil, err
	}
	url := "http://" + l.Addr().String()
	return &codecServer{URL: url, Endpoint: url + codec.TokenPathPrefix + token, EnvFile: file, stop: stop}, nil
}
