package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/codec"
)

var (
	secret1 = bytes.Repeat([]byte{0xA1}, 32)
	secret0 = bytes.Repeat([]byte{0xB0}, 32)
	b64_1   = base64.StdEncoding.EncodeToString(secret1)
	b64_0   = base64.StdEncoding.EncodeToString(secret0)
)

func TestPayloadFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    func(*testing.T, Payload)
		wantErr []string
	}{
		{name: "ring, current first", env: map[string]string{PayloadKeysVar: " k1=" + b64_1 + " , k0=" + strings.TrimRight(base64.URLEncoding.EncodeToString(secret0), "=")},
			want: func(t *testing.T, p Payload) {
				if p.Off || len(p.Keys) != 2 || p.Keys[0].ID != "k1" || !bytes.Equal(p.Keys[0].Secret, secret1) || p.Keys[1].ID != "k0" || !bytes.Equal(p.Keys[1].Secret, secret0) {
					t.Errorf("got %v", p)
				}
				c, err := p.Codec()
				if err != nil || c.CurrentKeyID() != "k1" {
					t.Errorf("codec %v %v", c, err)
				}
			}},
		{name: "off explicitly", env: map[string]string{PayloadEncryptionVar: "OFF"}, want: func(t *testing.T, p Payload) {
			if c, err := p.Codec(); !p.Off || c != nil || err != nil {
				t.Errorf("got %v, codec %v %v", p, c, err)
			}
		}},
		{name: "off with keys decrypts only", env: map[string]string{PayloadEncryptionVar: "off", PayloadKeysVar: "k1=" + b64_1}, want: func(t *testing.T, p Payload) {
			if c, err := p.Codec(); !p.Off || err != nil || c.CurrentKeyID() != "" || c.KeyIDs()[0] != "k1" {
				t.Errorf("got %v, codec %v %v", p, c, err)
			}
		}},
		{name: "nothing set", env: map[string]string{}, wantErr: []string{PayloadKeysVar + " is not set", PayloadEncryptionVar + "=off"}},
		{name: "on without keys", env: map[string]string{PayloadEncryptionVar: "on"}, wantErr: []string{PayloadKeysVar + " is not set"}},
		{name: "bad mode", env: map[string]string{PayloadEncryptionVar: "maybe", PayloadKeysVar: "k1=" + b64_1}, wantErr: []string{PayloadEncryptionVar + " must be on or off"}},
		{name: "no id", env: map[string]string{PayloadKeysVar: b64_1}, wantErr: []string{PayloadKeysVar + ": entry 1 is not <id>=<base64 key>"}},
		{name: "trailing comma", env: map[string]string{PayloadKeysVar: "k1=" + b64_1 + ","}, wantErr: []string{"entry 2 is not"}},
		{name: "bad id", env: map[string]string{PayloadKeysVar: "k 1=" + b64_1}, wantErr: []string{"entry 1: key ID \"k 1\""}},
		{name: "not base64", env: map[string]string{PayloadKeysVar: "k1=" + b64_1 + ",k0=not*base64!"}, wantErr: []string{`entry 2 (ID "k0"): the key is not base64`}},
		{name: "short key", env: map[string]string{PayloadKeysVar: "k1=" + base64.StdEncoding.EncodeToString(secret1[:16])}, wantErr: []string{`entry 1 (ID "k1"): the key is 16 bytes, must be 32`}},
		{name: "duplicate id", env: map[string]string{PayloadKeysVar: "k1=" + b64_1 + ",k1=" + b64_0}, wantErr: []string{PayloadKeysVar, `"k1" appears twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PayloadFromEnv(env(tc.env))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				tc.want(t, p)
				return
			}
			if err == nil {
				t.Fatalf("no error, got %v", p)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			for _, secret := range []string{b64_1, b64_0, "not*base64"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a key", err)
				}
			}
		})
	}
}

func TestPayloadEnvRoundTrip(t *testing.T) {
	p := Payload{Keys: []codec.Key{{ID: "k1", Secret: secret1}, {ID: "k0", Secret: secret0}}}
	for _, want := range []Payload{p, {Off: true}, {Keys: p.Keys, Off: true}} {
		m := map[string]string{}
		for _, kv := range want.Env() {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		got, err := PayloadFromEnv(env(m))
		if err != nil || got.String() != want.String() || FormatPayloadKeys(got.Keys) != FormatPayloadKeys(want.Keys) {
			t.Errorf("%v read back as %v, %v", want, got, err)
		}
	}
}

func TestPayloadNeverPrintsKeys(t *testing.T) {
	p := Payload{Keys: []codec.Key{{ID: "k1", Secret: secret1}, {ID: "k0", Secret: secret0}}}
	js, _ := json.Marshal(p)
	s := CodecServer{Addr: DefaultCodecAddr, Token: "token-0123456789abcdef", Payload: p}
	js2, _ := json.Marshal(s)
	for _, out := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p), string(js),
		fmt.Sprint(s), fmt.Sprintf("%+v %#v", s, s), string(js2)} {
		if strings.Contains(out, b64_1) || strings.Contains(out, "a1a1a1") || strings.Contains(out, "161 161") || strings.Contains(out, "token-0123") {
			t.Errorf("printed a secret: %s", out)
		}
	}
	if got := p.String(); got != "payloads encrypted with key k1 (AES-256-GCM), keys k1,k0 decrypt" {
		t.Errorf("String() = %s", got)
	}
}

func TestPayloadClientOptions(t *testing.T) {
	p := Payload{Keys: []codec.Key{{ID: "k1", Secret: secret1}}}
	opts, err := p.ClientOptions(client.Options{HostPort: "h:1"})
	if err != nil || opts.HostPort != "h:1" || opts.DataConverter == nil || opts.FailureConverter == nil {
		t.Fatalf("options %+v %v", opts, err)
	}
	pl, err := opts.DataConverter.ToPayload("ada@example.com")
	if err != nil || !codec.Encrypted(pl) {
		t.Fatalf("payload %v %v", pl, err)
	}
	if opts, err := (Payload{Off: true}).ClientOptions(client.Options{}); err != nil || opts.DataConverter != nil {
		t.Fatalf("off: %+v %v", opts, err)
	}
}

func TestCodecServerFromEnv(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{PayloadKeysVar: "k1=" + b64_1, CodecTokenVar: "token-0123456789abcdef"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	s, err := CodecServerFromEnv(env(base(CodecOriginsVar, "http://localhost:8233/, https://ui.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != DefaultCodecAddr || strings.Join(s.Origins, " ") != "http://localhost:8233 https://ui.example.com" || s.Payload.Keys[0].ID != "k1" {
		t.Errorf("got %v", s)
	}
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{}, []string{PayloadKeysVar + " is not set", CodecTokenVar + " is not set"}},
		{base(PayloadEncryptionVar, "off", PayloadKeysVar, ""), []string{PayloadKeysVar + " is not set: the codec server decrypts"}},
		{base(CodecTokenVar, "short"), []string{CodecTokenVar + " must be at least 16"}},
		{base(CodecTokenVar, "token/0123456789abcdef"), []string{CodecTokenVar + " must not contain"}},
		{base(CodecAddrVar, "8234"), []string{CodecAddrVar + " must be host:port"}},
		{base(CodecOriginsVar, "localhost:8233,http://ok.example/path"), []string{`"localhost:8233" is not an origin`, `"http://ok.example/path" is not an origin`}},
		{base(CodecTLSCertVar, "cert.pem"), []string{CodecTLSCertVar + " and " + CodecTLSKeyVar + " go together"}},
	} {
		_, err := CodecServerFromEnv(env(tc.env))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: error %v, want %q", tc.env, err, w)
			}
		}
		if err != nil && (strings.Contains(err.Error(), "token-0123") || strings.Contains(err.Error(), b64_1)) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}
