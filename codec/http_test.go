package codec

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	testToken = "s3cret-token"
	uiOrigin  = "http://localhost:8233"
)

func codecServer(t *testing.T, c *Codec) *httptest.Server {
	t.Helper()
	h, err := NewHTTPHandler(c, HandlerOptions{Token: testToken, Origins: []string{uiOrigin, "http://127.0.0.1:8233"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// post sends payloads as the Temporal UI does, with the given extra headers.
func post(t *testing.T, url string, payloads []*commonpb.Payload, header ...string) (*http.Response, []*commonpb.Payload) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(b, &out); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	return resp, out.Payloads
}

func TestCodecServerRoundTrip(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	srv := codecServer(t, c)
	bearer := []string{"Authorization", "Bearer " + testToken}

	resp, enc := post(t, srv.URL+"/encode", []*commonpb.Payload{payload(t, ada)}, bearer...)
	if resp.StatusCode != http.StatusOK || len(enc) != 1 || !Encrypted(enc[0]) || bytes.Contains(enc[0].Data, []byte("ada@example.com")) {
		t.Fatalf("encode: %d %v", resp.StatusCode, enc)
	}
	// What the server wrote decodes with the codec in process…
	if got, err := c.Decode(enc); err != nil || decodeJSON(t, got[0]) != ada {
		t.Fatalf("the codec cannot read what the server encoded: %v", err)
	}
	// …and a payload the worker wrote decodes through the server, with the
	// token in a header (the CLI, a UI signed in through an identity
	// provider) or in the path (the dev server's UI).
	written, _ := NewDataConverter(c).ToPayload(ada)
	for _, tc := range []struct {
		url    string
		header []string
	}{
		{srv.URL + "/decode", bearer},
		{srv.URL + "/decode", []string{"Authorization", "bearer  " + testToken}},
		{srv.URL + TokenPathPrefix + testToken + "/decode", nil},
	} {
		resp, dec := post(t, tc.url, []*commonpb.Payload{written, payload(t, "clear")}, append(tc.header, "Origin", uiOrigin)...)
		if resp.StatusCode != http.StatusOK || len(dec) != 2 || decodeJSON(t, dec[0]) != ada {
			t.Fatalf("decode at %s: %d %v", strings.Replace(tc.url, testToken, "…", 1), resp.StatusCode, dec)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
		var s string
		if err := converter.GetDefaultDataConverter().FromPayload(dec[1], &s); err != nil || s != "clear" {
			t.Errorf("a clear payload through the server: %q %v", s, err)
		}
	}

	// The SDK's own remote codec (what `temporal --codec-endpoint` uses).
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL,
		ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+testToken); return nil }})
	var got person
	if err := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), remote).FromPayload(written, &got); err != nil || got != ada {
		t.Fatalf("the SDK's remote codec reads %+v, %v", got, err)
	}
}

func TestCodecServerRefusesUnauthorizedRequests(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	srv := codecServer(t, c)
	written, _ := NewDataConverter(c).ToPayload(ada)
	for _, tc := range []struct {
		name   string
		url    string
		header []string
		code   int
	}{
		{"no token", srv.URL + "/decode", nil, http.StatusUnauthorized},
		{"not bearer", srv.URL + "/decode", []string{"Authorization", "Basic " + testToken}, http.StatusUnauthorized},
		{"empty bearer", srv.URL + "/decode", []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"wrong token", srv.URL + "/decode", []string{"Authorization", "Bearer " + testToken + "x"}, http.StatusForbidden},
		{"prefix of the token", srv.URL + "/decode", []string{"Authorization", "Bearer s3cret"}, http.StatusForbidden},
		{"wrong token in path", srv.URL + TokenPathPrefix + "guess/decode", nil, http.StatusForbidden},
		{"wrong token on encode", srv.URL + "/encode", []string{"Authorization", "Bearer nope"}, http.StatusForbidden},
		{"right token, other origin", srv.URL + "/decode", []string{"Authorization", "Bearer " + testToken, "Origin", "https://evil.example"}, http.StatusForbidden},
		{"unknown path", srv.URL + "/decrypt", []string{"Authorization", "Bearer " + testToken}, http.StatusNotFound},
		{"token path without operation", srv.URL + TokenPathPrefix + testToken, nil, http.StatusNotFound},
	} {
		resp, dec := post(t, tc.url, []*commonpb.Payload{written}, tc.header...)
		if resp.StatusCode != tc.code || dec != nil {
			t.Errorf("%s: %d %v, want %d and nothing decoded", tc.name, resp.StatusCode, dec, tc.code)
		}
		if tc.code == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, err := http.Get(srv.URL + "/decode")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /decode: %v %v", resp.StatusCode, err)
	}
	if _, err := NewHTTPHandler(c, HandlerOptions{Token: " "}); err == nil {
		t.Error("a codec server without a token")
	}
	if _, err := NewHTTPHandler(c, HandlerOptions{Token: "a/b"}); err == nil {
		t.Error("a token that cannot be put in a path")
	}
}

func TestCodecServerCORS(t *testing.T) {
	srv := codecServer(t, mustCodec(t, mustKey(t, "k1")))
	preflight := func(path, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/decode", "/encode", TokenPathPrefix + "anything/decode"} {
		resp := preflight(path, uiOrigin) // a preflight carries no credentials: answered without a token
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != uiOrigin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, h)
		}
		for _, want := range []string{"Content-Type", "X-Namespace", "Authorization"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("preflight %s: allowed headers %q lack %s", path, h.Get("Access-Control-Allow-Headers"), want)
			}
		}
	}
	if resp := preflight("/decode", "http://localhost:9999"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
	}
	// A refusal still carries the CORS headers, so that the UI can read it.
	resp, _ := post(t, srv.URL+"/decode", nil, "Origin", uiOrigin)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
		t.Errorf("unauthorized from the UI: %d %v", resp.StatusCode, resp.Header)
	}
	health, err := http.Get(srv.URL + "/healthz")
	if err != nil || health.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", health, err)
	}
	health.Body.Close()
}
