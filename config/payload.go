package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/codec"
)

// The variables of payload encryption, read by the worker, the starter and
// the codec server (PayloadFromEnv).
const (
	// PayloadKeysVar holds the key ring: comma-separated <id>=<key>, the key
	// 32 bytes in base64 (e.g. from `openssl rand -base64 32`). The first
	// key encrypts what is written; every key decrypts. To rotate, put a new
	// key first and keep the old ones while their histories must be read.
	PayloadKeysVar = "SUBSCRIPTIONS_PAYLOAD_KEYS"
	// PayloadEncryptionVar is "on" (the default) or "off". Off writes
	// payloads in clear (keys still set keep decrypting old ones); it must
	// be set explicitly to run without keys.
	PayloadEncryptionVar = "SUBSCRIPTIONS_PAYLOAD_ENCRYPTION"
)

// Payload is how the workflow's payloads are encrypted: with Keys (the
// first encrypts), unless Off. Printing it shows key IDs, never keys.
type Payload struct {
	Keys []codec.Key
	Off  bool // PayloadEncryptionVar=off: write in clear
}

// PayloadFromEnv reads the payload encryption settings through lookup
// (os.LookupEnv in production). Without keys it is an error unless
// encryption is explicitly off. Errors name the variable and the key's
// position and ID, never a key.
func PayloadFromEnv(lookup func(string) (string, bool)) (Payload, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var p Payload
	switch mode := strings.ToLower(get(PayloadEncryptionVar)); mode {
	case "", "on":
	case "off":
		p.Off = true
	default:
		return Payload{}, fmt.Errorf("%s must be on or off, not %q", PayloadEncryptionVar, mode)
	}
	raw := get(PayloadKeysVar)
	if raw == "" {
		if p.Off {
			return p, nil
		}
		return Payload{}, fmt.Errorf("%s is not set: the workflow's payloads carry personal data and are encrypted with its keys; "+
			"set it to <id>=<32 random bytes in base64>[,<older id>=<key>…], the first key encrypting "+
			"(e.g. %s=k1=$(openssl rand -base64 32)), or set %s=off to write payloads in clear",
			PayloadKeysVar, PayloadKeysVar, PayloadEncryptionVar)
	}
	keys, err := ParsePayloadKeys(raw)
	if err != nil {
		return Payload{}, err
	}
	p.Keys = keys
	if _, err := p.Codec(); err != nil {
		return Payload{}, fmt.Errorf("%s: %w", PayloadKeysVar, err)
	}
	return p, nil
}

// ParsePayloadKeys reads a key ring written as PayloadKeysVar holds it.
func ParsePayloadKeys(raw string) ([]codec.Key, error) {
	var keys []codec.Key
	for i, entry := range strings.Split(raw, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), "=")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("%s: entry %d is not <id>=<base64 key> (entries are separated by commas)", PayloadKeysVar, i+1)
		}
		if err := codec.CheckKeyID(id); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", PayloadKeysVar, i+1, err)
		}
		secret, ok := decodeBase64(b64)
		if !ok {
			return nil, fmt.Errorf("%s: entry %d (ID %q): the key is not base64", PayloadKeysVar, i+1, id)
		}
		if len(secret) != codec.KeySize {
			return nil, fmt.Errorf("%s: entry %d (ID %q): the key is %d bytes, must be %d (AES-256; e.g. openssl rand -base64 32)",
				PayloadKeysVar, i+1, id, len(secret), codec.KeySize)
		}
		keys = append(keys, codec.Key{ID: id, Secret: secret})
	}
	return keys, nil
}

// decodeBase64 takes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// FormatPayloadKeys writes keys as PayloadKeysVar holds them: for handing
// a key ring to a child process, never for printing.
func FormatPayloadKeys(keys []codec.Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + "=" + base64.StdEncoding.EncodeToString(k.Secret)
	}
	return strings.Join(parts, ",")
}

// Env is p as environment variables, for a child process (it holds the
// keys: never print it).
func (p Payload) Env() []string {
	var env []string
	if len(p.Keys) > 0 {
		env = append(env, PayloadKeysVar+"="+FormatPayloadKeys(p.Keys))
	}
	if p.Off {
		env = append(env, PayloadEncryptionVar+"=off")
	}
	return env
}

// Codec is p's codec: nil when encryption is off and no key is set, a
// decrypt-only codec when it is off with keys.
func (p Payload) Codec() (*codec.Codec, error) {
	switch {
	case len(p.Keys) == 0 && p.Off:
		return nil, nil
	case len(p.Keys) == 0:
		return nil, errors.New("payload encryption is on but no key is set")
	case p.Off:
		return codec.NewDecryptOnly(p.Keys...)
	default:
		return codec.New(p.Keys...)
	}
}

// ClientOptions returns opts with p's converters (codec.ClientOptions), or
// opts as they are when encryption is off without keys.
func (p Payload) ClientOptions(opts client.Options) (client.Options, error) {
	c, err := p.Codec()
	if err != nil || c == nil {
		return opts, err
	}
	return codec.ClientOptions(c, opts), nil
}

// String describes p by key IDs.
func (p Payload) String() string {
	ids := make([]string, len(p.Keys))
	for i, k := range p.Keys {
		ids[i] = k.ID
	}
	switch {
	case p.Off && len(ids) == 0:
		return "payload encryption OFF: payloads written in clear"
	case p.Off:
		return fmt.Sprintf("payload encryption OFF: payloads written in clear, keys %s still decrypt", strings.Join(ids, ","))
	default:
		return fmt.Sprintf("payloads encrypted with key %s (AES-256-GCM), keys %s decrypt", ids[0], strings.Join(ids, ","))
	}
}

// GoString is String, so that %#v shows no key either.
func (p Payload) GoString() string { return p.String() }
