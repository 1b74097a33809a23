package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// person is a payload with personal data in it.
type person struct {
	Email    string `json:"email"`
	Customer string `json:"customer"`
}

var ada = person{Email: "ada@example.com", Customer: "cus_ada"}

func mustKey(t *testing.T, id string) Key {
	t.Helper()
	k, err := GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t *testing.T, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTripThroughTheDataConverter(t *testing.T) {
	k := mustKey(t, "k1")
	dc := NewDataConverter(mustCodec(t, k))
	p, err := dc.ToPayload(ada)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[converter.MetadataEncoding]); got != EncodingEncrypted {
		t.Errorf("encoding %q", got)
	}
	if got := string(p.Metadata[MetadataKeyID]); got != "k1" {
		t.Errorf("key ID %q", got)
	}
	if len(p.Metadata) != 2 {
		t.Errorf("metadata %v: the original encoding must be inside the ciphertext", p.Metadata)
	}
	for _, clear := range []string{"ada@example.com", "cus_ada", "json/plain"} {
		if bytes.Contains(p.Data, []byte(clear)) {
			t.Errorf("payload data holds %q in clear", clear)
		}
	}
	var plain person
	if err := converter.GetDefaultDataConverter().FromPayload(p, &plain); err == nil {
		t.Errorf("the default converter read an encrypted payload: %+v", plain)
	}
	var got person
	if err := dc.FromPayload(p, &got); err != nil || got != ada {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	again, _ := dc.ToPayload(ada)
	if bytes.Equal(again.Data, p.Data) {
		t.Error("two encryptions of the same value are equal: the nonce is not fresh")
	}
}

func TestClearPayloadsPassThroughDecode(t *testing.T) {
	plain, err := converter.GetDefaultDataConverter().ToPayload(ada)
	if err != nil {
		t.Fatal(err)
	}
	var got person
	if err := NewDataConverter(mustCodec(t, mustKey(t, "k1"))).FromPayload(plain, &got); err != nil || got != ada {
		t.Fatalf("a payload written before encryption reads %+v, %v", got, err)
	}
	out, err := mustCodec(t, mustKey(t, "k1")).Decode([]*commonpb.Payload{plain, nil})
	if err != nil || out[0] != plain || out[1] != nil {
		t.Fatalf("Decode changed clear payloads: %v %v", out, err)
	}
}

func TestKeyRotation(t *testing.T) {
	old, current := mustKey(t, "2026-01"), mustKey(t, "2026-07")
	before := mustCodec(t, old)
	written, err := before.Encode([]*commonpb.Payload{payload(t, ada)})
	if err != nil {
		t.Fatal(err)
	}

	after := mustCodec(t, current, old) // the new key first, the old one kept
	if after.CurrentKeyID() != "2026-07" || strings.Join(after.KeyIDs(), ",") != "2026-07,2026-01" {
		t.Fatalf("ring %s %v", after.CurrentKeyID(), after.KeyIDs())
	}
	read, err := after.Decode(written)
	if err != nil || decodeJSON(t, read[0]) != ada {
		t.Fatalf("an old payload after rotation: %v", err)
	}
	fresh, err := after.Encode([]*commonpb.Payload{payload(t, ada)})
	if err != nil || string(fresh[0].Metadata[MetadataKeyID]) != "2026-07" {
		t.Fatalf("a new payload after rotation is under %q, %v", fresh[0].Metadata[MetadataKeyID], err)
	}

	dropped := mustCodec(t, current) // the old key removed: its payloads are lost
	if _, err := dropped.Decode(written); err == nil || !strings.Contains(err.Error(), `"2026-01"`) {
		t.Fatalf("decoding without the old key: %v", err)
	}
}

func TestDecryptOnly(t *testing.T) {
	k := mustKey(t, "k1")
	written, _ := mustCodec(t, k).Encode([]*commonpb.Payload{payload(t, ada)})
	off, err := NewDecryptOnly(k)
	if err != nil {
		t.Fatal(err)
	}
	if off.CurrentKeyID() != "" {
		t.Fatal("a decrypt-only codec has a current key")
	}
	clear := payload(t, ada)
	out, err := off.Encode([]*commonpb.Payload{clear})
	if err != nil || out[0] != clear {
		t.Fatalf("a decrypt-only codec encrypted: %v", err)
	}
	if read, err := off.Decode(written); err != nil || decodeJSON(t, read[0]) != ada {
		t.Fatalf("a decrypt-only codec cannot read: %v", err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	c := mustCodec(t, k1, k2)
	enc := func() *commonpb.Payload {
		out, err := c.Encode([]*commonpb.Payload{payload(t, ada)})
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	flipped := enc()
	flipped.Data[len(flipped.Data)-1] ^= 1
	relabeled := enc() // the key ID is authenticated: naming another key of the ring fails
	relabeled.Metadata[MetadataKeyID] = []byte("k2")
	short := enc()
	short.Data = short.Data[:10]
	for name, p := range map[string]*commonpb.Payload{"flipped": flipped, "relabeled": relabeled, "short": short} {
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
			t.Errorf("%s payload decoded", name)
		}
	}
	// Encode never wraps an encrypted payload again.
	p := enc()
	again, err := c.Encode([]*commonpb.Payload{p})
	if err != nil || again[0] != p {
		t.Errorf("Encode re-encrypted an encrypted payload: %v", err)
	}
}

func TestNewRefusesBadKeysWithoutShowingThem(t *testing.T) {
	secret := bytes.Repeat([]byte{'S'}, 31)
	good := mustKey(t, "good")
	for _, tc := range []struct {
		name string
		keys []Key
		want string
	}{
		{"none", nil, "no encryption key"},
		{"short", []Key{good, {ID: "short", Secret: secret}}, `key 2 (ID "short"): must be 32 bytes (AES-256), is 31`},
		{"blank id", []Key{{ID: "", Secret: good.Secret}}, "key 1: key ID"},
		{"bad id", []Key{{ID: "a=b", Secret: good.Secret}}, `key ID "a=b" must be`},
		{"duplicate", []Key{good, {ID: "good", Secret: make([]byte, KeySize)}}, `key 2: key ID "good" appears twice`},
	} {
		_, err := New(tc.keys...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SSS") {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
	if _, err := GenerateKey("no spaces"); err == nil {
		t.Error("GenerateKey took a bad ID")
	}
}

func TestKeysNeverPrint(t *testing.T) {
	k := Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	js, _ := json.Marshal(map[string]any{"key": k, "keys": []Key{k}})
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x %X", k, k, k, k, k, k, k),
		fmt.Sprintf("%v", []Key{k}), fmt.Sprintf("%+v", struct{ K Key }{k}), string(js)} {
		if strings.Contains(out, "0123456789abcdef") || strings.Contains(out, "30313233") || !strings.Contains(out, "k1") {
			t.Errorf("printed key: %s", out)
		}
	}
}

// TestFailuresAreEncrypted: the failure converter of ClientOptions carries
// an error's message encrypted, and gives it back to those holding the key.
func TestFailuresAreEncrypted(t *testing.T) {
	c := mustCodec(t, mustKey(t, "k1"))
	opts := ClientOptions(c, client.Options{HostPort: "127.0.0.1:1"})
	f := opts.FailureConverter.ErrorToFailure(temporal.NewApplicationError("payment method pm_1 is not attached to customer cus_ada", "PaymentMethodRefused"))
	if strings.Contains(f.String(), "cus_ada") || f.GetEncodedAttributes() == nil {
		t.Fatalf("failure in clear: %v", f)
	}
	err := opts.FailureConverter.FailureToError(f)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !strings.Contains(app.Error(), "cus_ada") || app.Type() != "PaymentMethodRefused" {
		t.Fatalf("decoded failure %v", err)
	}
	if _, err := opts.DataConverter.ToPayload(ada); err != nil {
		t.Fatal(err)
	}
}

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeJSON(t *testing.T, p *commonpb.Payload) person {
	t.Helper()
	var v person
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
