// Package codec encrypts Temporal payloads with AES-256-GCM, so that the
// personal data the workflow carries (emails, names, Stripe customer and
// payment method IDs) never reaches Temporal's database, its UI or a
// downloaded history in clear.
//
// A Codec holds a key ring: the current key encrypts, every key of the ring
// decrypts, and each encrypted payload names its key in its metadata
// (MetadataKeyID), so keys can rotate: put a new key first and keep the old
// ones for as long as histories written under them must stay readable.
// Payloads that are not encrypted (histories written before encryption was
// turned on) pass through Decode unchanged.
//
// An encrypted payload is
//
//	metadata: encoding = "binary/encrypted", encryption-key-id = <key ID>
//	data:     nonce (12 bytes) || AES-256-GCM(key, nonce, original payload
//	          serialized as protobuf, additional data = key ID)
//
// Search attributes are not payloads the SDK passes through a codec: they
// stay in clear, so that visibility queries keep working.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

const (
	// EncodingEncrypted is the encoding of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID is the metadata entry naming the key of an encrypted payload.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the size of a key: AES-256.
	KeySize = 32
)

// keyID is what a key ID may be: short, printable, safe in an environment
// variable and in payload metadata.
var keyID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Key is one key of a ring. Its String, GoString and Format never show the
// secret.
type Key struct {
	ID     string // named in every payload it encrypts; never reuse an ID for another secret
	Secret []byte // KeySize bytes
}

// String names the key without its secret.
func (k Key) String() string { return fmt.Sprintf("codec.Key{ID:%q Secret:[REDACTED]}", k.ID) }

// GoString is String, so that %#v hides the secret too.
func (k Key) GoString() string { return k.String() }

// Format is String for every verb, so that no verb prints the secret.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalText names the key without its secret (encoding/json and others).
func (k Key) MarshalText() ([]byte, error) { return []byte(k.ID), nil }

// GenerateKey returns a new random key named id.
func GenerateKey(id string) (Key, error) {
	if err := CheckKeyID(id); err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		return Key{}, fmt.Errorf("generate key %q: %w", id, err)
	}
	return k, nil
}

// CheckKeyID says whether id can name a key: 1 to 64 letters, digits, '.',
// '_' or '-', starting with a letter or digit.
func CheckKeyID(id string) error {
	if !keyID.MatchString(id) {
		return fmt.Errorf("key ID %q must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// Codec is an AES-256-GCM converter.PayloadCodec over a key ring. It is
// safe for concurrent use.
type Codec struct {
	current string // the key that encrypts; empty: Encode leaves payloads in clear
	aeads   map[string]cipher.AEAD
	ids     []string
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a Codec over keys: the first encrypts, all decrypt. It needs
// at least one key; IDs must be valid (CheckKeyID) and distinct, secrets
// KeySize bytes. Errors name keys by position and ID, never their secret.
func New(keys ...Key) (*Codec, error) {
	c, err := newRing(keys)
	if err != nil {
		return nil, err
	}
	c.current = keys[0].ID
	return c, nil
}

// NewDecryptOnly returns a Codec that decrypts with keys and encrypts
// nothing: for turning encryption off while histories written under it
// must stay readable.
func NewDecryptOnly(keys ...Key) (*Codec, error) {
	return newRing(keys)
}

func newRing(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key")
	}
	c := &Codec{aeads: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if err := CheckKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("key %d: key ID %q appears twice", i+1, k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("key %d (ID %q): must be %d bytes (AES-256), is %d", i+1, k.ID, KeySize, len(k.Secret))
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %d (ID %q): %w", i+1, k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %d (ID %q): %w", i+1, k.ID, err)
		}
		c.aeads[k.ID] = aead
		c.ids = append(c.ids, k.ID)
	}
	return c, nil
}

// CurrentKeyID is the ID of the key that encrypts ("" for a decrypt-only codec).
func (c *Codec) CurrentKeyID() string { return c.current }

// KeyIDs lists the IDs of the ring, the current one first.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// Encode encrypts each payload with the current key. A payload that is
// already encrypted is kept as it is (so the codec never wraps itself), and
// so is every payload of a decrypt-only codec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.current == "" {
		return payloads, nil
	}
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || Encrypted(p) {
			out[i] = p
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: serialize: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload with the key it names, and keeps
// every other payload as it is. A payload under a key the ring lacks, or
// that does not authenticate, is an error naming the key ID.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || !Encrypted(p) {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return payloads, fmt.Errorf("decrypt payload: it was encrypted with key %q, which is not in the key ring %q", id, c.ids)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return payloads, fmt.Errorf("decrypt payload: %d bytes is too short for an encrypted payload", len(data))
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("decrypt payload with key %q: not authentic (wrong key, or altered)", id)
		}
		dec := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, dec); err != nil {
			return payloads, fmt.Errorf("decrypt payload with key %q: not a payload: %w", id, err)
		}
		out[i] = dec
	}
	return out, nil
}

// Encrypted reports whether p is a payload this package encrypted.
func Encrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

// NewDataConverter is the SDK's default data converter with c applied to
// every payload it writes and reads:
// converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c).
func NewDataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// NewFailureConverter is the SDK's default failure converter with its
// common attributes (message and stack trace) encoded through dc, so that
// what an error says (a payment method not attached to a customer, …) is
// encrypted like the payloads. The SDK decodes them again for the workflow,
// the activities and the clients that use the same converters.
func NewFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}

// ClientOptions returns opts with c's data converter and failure converter:
// what the worker and every client of the subscriptions use.
func ClientOptions(c *Codec, opts client.Options) client.Options {
	dc := NewDataConverter(c)
	opts.DataConverter = dc
	opts.FailureConverter = NewFailureConverter(dc)
	return opts
}

// GRPCInterceptors encode and decode, at the gRPC level, what ClientOptions'
// converters would: a client dialed with them writes encrypted payloads and
// failures and reads them decrypted, whatever its converters (the SDK's
// defaults included). For tools that look at raw payloads, such as tests
// reading what the Temporal UI shows. Search attributes are left alone.
func GRPCInterceptors(c *Codec) ([]grpc.UnaryClientInterceptor, error) {
	failures, err := converter.NewFailureGRPCClientInterceptor(converter.NewFailureGRPCClientInterceptorOptions{
		DataConverter: NewDataConverter(c), EncodeCommonAttributes: true})
	if err != nil {
		return nil, err
	}
	payloads, err := converter.NewPayloadCodecGRPCClientInterceptor(converter.PayloadCodecGRPCClientInterceptorOptions{
		Codecs: []converter.PayloadCodec{c}})
	if err != nil {
		return nil, err
	}
	return []grpc.UnaryClientInterceptor{failures, payloads}, nil
}
