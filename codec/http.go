package codec

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds the body of an encode or decode request.
const MaxRequestBytes = 8 << 20

// TokenPathPrefix is the path under which the token may be given in the
// URL instead of a header: POST /ui/<token>/decode. The Temporal UI sends
// an Authorization header only when it signs users in through an identity
// provider (its codec option passAccessToken); a UI without one, such as
// the dev server's, is pointed at http://codec-host/ui/<token> instead.
const TokenPathPrefix = "/ui/"

// HandlerOptions configure NewHTTPHandler.
type HandlerOptions struct {
	// Token authorizes a request: sent as "Authorization: Bearer <token>",
	// or in the path (TokenPathPrefix). Required.
	Token string
	// Origins are the web origins (scheme://host[:port]) of the Temporal UI
	// allowed to call the codec from a browser (CORS).
	Origins []string
}

// NewHTTPHandler serves c as a remote codec for the Temporal UI and CLI
// (the SDK's converter.NewPayloadCodecHTTPHandler):
//
//	POST /encode, POST /decode            Authorization: Bearer <token>
//	POST /ui/<token>/encode, …/decode     the token in the path
//	OPTIONS on those paths                CORS preflight, no token needed
//	GET /healthz                          200 "ok", no token needed
//
// A request without a token is refused with 401, one with a wrong token
// with 403, both before its body is read. Responses carry CORS headers
// for the allowed origins; a request from another origin is refused (403).
func NewHTTPHandler(c *Codec, o HandlerOptions) (http.Handler, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("codec server: no authorization token")
	}
	if strings.ContainsAny(o.Token, "/ \t\r\n") {
		return nil, errors.New("codec server: the authorization token must not contain '/' or white space")
	}
	sum := sha256.Sum256([]byte(o.Token))
	return &handler{token: sum, origins: o.Origins, codec: converter.NewPayloadCodecHTTPHandler(c)}, nil
}

type handler struct {
	token   [sha256.Size]byte
	origins []string
	codec   http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	pathToken, op, ok := route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !slices.Contains(h.origins, origin) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
	}
	switch r.Method {
	case http.MethodOptions: // the browser's preflight: no credentials in it
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization, Authorization-Extras")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token := pathToken
	if token == "" {
		scheme, value, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(value)
		}
	}
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="payload codec"`)
		http.Error(w, "authorization required", http.StatusUnauthorized)
		return
	}
	if sum := sha256.Sum256([]byte(token)); subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
		http.Error(w, "not authorized", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + op
	h.codec.ServeHTTP(w, r2)
}

// route splits a codec path into its token (if in the path) and operation.
func route(path string) (token, op string, ok bool) {
	switch path {
	case "/encode", "/decode":
		return "", path[1:], true
	}
	rest, found := strings.CutPrefix(path, TokenPathPrefix)
	if !found {
		return "", "", false
	}
	token, op, found = strings.Cut(rest, "/")
	if !found || token == "" || (op != "encode" && op != "decode") {
		return "", "", false
	}
	return token, op, true
}
