package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// The variables of the codec server (CodecServerFromEnv), besides
// PayloadKeysVar.
const (
	// CodecAddrVar is the address it listens on, default DefaultCodecAddr.
	CodecAddrVar = "SUBSCRIPTIONS_CODEC_ADDR"
	// CodecTokenVar is the bearer token a request must carry; required, at
	// least 16 characters, no '/' nor white space.
	CodecTokenVar = "SUBSCRIPTIONS_CODEC_TOKEN"
	// CodecOriginsVar lists the web origins of the Temporal UI allowed to
	// call it (CORS), comma-separated, e.g. https://temporal-ui.example.com.
	CodecOriginsVar = "SUBSCRIPTIONS_CODEC_ORIGINS"
	// CodecTLSCertVar and CodecTLSKeyVar are the files of its TLS
	// certificate and key; both or neither (plain HTTP).
	CodecTLSCertVar = "SUBSCRIPTIONS_CODEC_TLS_CERT"
	CodecTLSKeyVar  = "SUBSCRIPTIONS_CODEC_TLS_KEY"
)

// DefaultCodecAddr is where the codec server listens by default.
const DefaultCodecAddr = "127.0.0.1:8234"

// MinCodecTokenLen is the shortest codec token accepted.
const MinCodecTokenLen = 16

// CodecServer is the codec server's configuration. The token and keys are
// secrets: String redacts them and JSON omits them.
type CodecServer struct {
	Addr        string
	Token       string `json:"-"`
	Origins     []string
	TLSCertFile string
	TLSKeyFile  string
	Payload     Payload `json:"-"`
}

// CodecServerFromEnv reads a CodecServer through lookup (os.LookupEnv in
// production). It needs the payload keys (PayloadFromEnv) and a token.
// Errors name the variables, never a secret.
func CodecServerFromEnv(lookup func(string) (string, bool)) (CodecServer, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	s := CodecServer{Addr: get(CodecAddrVar), Token: get(CodecTokenVar), TLSCertFile: get(CodecTLSCertVar), TLSKeyFile: get(CodecTLSKeyVar)}
	var errs []error
	p, err := PayloadFromEnv(lookup)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(p.Keys) == 0:
		errs = append(errs, fmt.Errorf("%s is not set: the codec server decrypts with its keys", PayloadKeysVar))
	}
	s.Payload = p
	if s.Addr == "" {
		s.Addr = DefaultCodecAddr
	} else if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		errs = append(errs, fmt.Errorf("%s must be host:port or :port, not %q", CodecAddrVar, s.Addr))
	}
	switch {
	case s.Token == "":
		errs = append(errs, fmt.Errorf("%s is not set: the bearer token that authorizes a request (e.g. $(openssl rand -hex 32))", CodecTokenVar))
	case len(s.Token) < MinCodecTokenLen:
		errs = append(errs, fmt.Errorf("%s must be at least %d characters (e.g. $(openssl rand -hex 32))", CodecTokenVar, MinCodecTokenLen))
	case strings.ContainsAny(s.Token, "/ \t\r\n"):
		errs = append(errs, fmt.Errorf("%s must not contain '/' or white space", CodecTokenVar))
	}
	if raw := get(CodecOriginsVar); raw != "" {
		for _, o := range strings.Split(raw, ",") {
			origin, err := CheckOrigin(strings.TrimSpace(o))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", CodecOriginsVar, err))
				continue
			}
			s.Origins = append(s.Origins, origin)
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("%s and %s go together: set both, or neither for plain HTTP", CodecTLSCertVar, CodecTLSKeyVar))
	}
	if err := errors.Join(errs...); err != nil {
		return CodecServer{}, fmt.Errorf("codec server configuration: %w", err)
	}
	return s, nil
}

// CheckOrigin returns a web origin (scheme://host[:port]) as browsers send
// it in the Origin header, or says why o is none.
func CheckOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("%q is not an origin such as https://temporal-ui.example.com or http://localhost:8233", o)
	}
	return u.Scheme + "://" + u.Host, nil
}

// String describes s with its secrets redacted.
func (s CodecServer) String() string {
	tls := "off"
	if s.TLSCertFile != "" {
		tls = s.TLSCertFile
	}
	return fmt.Sprintf("config.CodecServer{Addr:%q Token:%s Origins:%q TLS:%s Payload:%s}", s.Addr, redact(s.Token), s.Origins, tls, s.Payload)
}

// GoString is String, so %#v redacts the secrets too.
func (s CodecServer) GoString() string { return s.String() }
