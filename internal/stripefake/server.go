// Package stripefake is a test double for the three Stripe endpoints the
// subscription worker calls: POST /v1/payment_intents, POST /v1/refunds and
// GET /v1/payment_methods/{id} (plus GET /v1/payment_intents/{id} and
// GET /v1/refunds?payment_intent=, which the worker uses to settle edge cases).
//
// It speaks Stripe's wire format (form-encoded requests, JSON objects and
// error bodies), honours Stripe's test payment methods (pm_card_visa,
// pm_card_chargeDeclined, …) and Idempotency-Key replays, records what it
// received, and can inject 5xx/429 failures. It is for tests and local demos
// only: it keeps everything in memory and checks only that a key is present.
package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Request is one request the server received.
type Request struct {
	Method         string
	Path           string
	Form           url.Values // body of a POST, query of a GET
	IdempotencyKey string
	Replayed       bool // answered from the idempotency store
}

// Server is the fake Stripe API. Create it with New; it is safe for
// concurrent use (requests are handled one at a time).
type Server struct {
	mu         sync.Mutex
	seq        int
	requests   []Request
	intents    []*PaymentIntent
	refunds    []*Refund
	idem       map[string]stored
	failLeft   int
	failStatus int
}

// stored is a response kept for an Idempotency-Key.
type stored struct {
	method, path, body string
	status             int
	response           []byte
}

// reply is what a handler produced; keep says whether Stripe would save it
// under the request's Idempotency-Key (it does once the request executed:
// successes and declines, not validation errors).
type reply struct {
	status   int
	body     any
	keep     bool
	raw      []byte // already encoded body (a replay)
	replayed bool
}

// New returns an empty fake Stripe API.
func New() *Server {
	return &Server{idem: map[string]stored{}}
}

// FailNext makes the next n requests answer status (e.g. 500 or 429) with a
// Stripe-shaped error before doing anything else.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failStatus = n, status
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Form = cloneValues(r.Form)
		out[i] = r
	}
	return out
}

// PaymentIntents returns a copy of every PaymentIntent created, in order.
func (s *Server) PaymentIntents() []PaymentIntent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PaymentIntent, len(s.intents))
	for i, pi := range s.intents {
		out[i] = pi.clone()
	}
	return out
}

// Refunds returns a copy of every refund created, in order.
func (s *Server) Refunds() []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Refund, len(s.refunds))
	for i, r := range s.refunds {
		out[i] = *r
	}
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parseErr := r.ParseForm()
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	rec := s.record(r, form)
	var rep reply
	switch {
	case parseErr != nil:
		rep = invalid(http.StatusBadRequest, "", "", "Could not parse the request body.")
	case s.failLeft > 0:
		s.failLeft--
		rep = injected(s.failStatus)
	case !authorized(r):
		rep = reply{status: http.StatusUnauthorized, body: errorBody{Error: APIError{Type: "invalid_request_error",
			Message: "Invalid API Key provided. Send it as Authorization: Bearer sk_..."}}}
	case rec.IdempotencyKey == "" || r.Method != http.MethodPost:
		rep = s.route(r.Method, r.URL.Path, form)
	default:
		rep = s.idempotent(rec)
	}
	if rep.replayed {
		rec.Replayed = true
		w.Header().Set("Idempotent-Replayed", "true")
	}
	raw := s.write(w, rep)
	if rep.keep && rec.IdempotencyKey != "" && r.Method == http.MethodPost {
		s.idem[rec.IdempotencyKey] = stored{method: rec.Method, path: rec.Path, body: form.Encode(), status: rep.status, response: raw}
	}
}

// idempotent replays the response stored under rec's key, refuses a key
// reused with other parameters, or executes a first request.
func (s *Server) idempotent(rec *Request) reply {
	prev, ok := s.idem[rec.IdempotencyKey]
	if !ok {
		return s.route(rec.Method, rec.Path, rec.Form)
	}
	if prev.method != rec.Method || prev.path != rec.Path || prev.body != rec.Form.Encode() {
		return invalid(http.StatusBadRequest, "", "", fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.",
			rec.IdempotencyKey)).withType("idempotency_error")
	}
	return reply{status: prev.status, raw: prev.response, replayed: true}
}

// route dispatches an authorized request to its handler.
func (s *Server) route(method, path string, form url.Values) reply {
	switch {
	case method == http.MethodPost && path == "/v1/payment_intents":
		return s.createPaymentIntent(form)
	case method == http.MethodGet && strings.HasPrefix(path, "/v1/payment_intents/"):
		return s.getPaymentIntent(strings.TrimPrefix(path, "/v1/payment_intents/"))
	case method == http.MethodPost && path == "/v1/refunds":
		return s.createRefund(form)
	case method == http.MethodGet && path == "/v1/refunds":
		return s.listRefunds(form.Get("payment_intent"))
	case method == http.MethodGet && strings.HasPrefix(path, "/v1/payment_methods/"):
		return getPaymentMethod(strings.TrimPrefix(path, "/v1/payment_methods/"))
	}
	return invalid(http.StatusNotFound, "", "", fmt.Sprintf("Unrecognized request URL (%s: %s).", method, path))
}

// record appends r to the log and returns the entry (valid until the next record).
func (s *Server) record(r *http.Request, form url.Values) *Request {
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Form: cloneValues(form),
		IdempotencyKey: r.Header.Get("Idempotency-Key")})
	return &s.requests[len(s.requests)-1]
}

// write sends rep as JSON and returns the bytes sent.
func (s *Server) write(w http.ResponseWriter, rep reply) []byte {
	raw, err := rep.raw, error(nil)
	if raw == nil {
		raw, err = json.MarshalIndent(rep.body, "", "  ")
	}
	if err != nil {
		rep.status, raw = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"fake could not encode its answer"}}`)
	}
	s.seq++
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake%06d", s.seq))
	writeRaw(w, rep.status, raw)
	return raw
}

func writeRaw(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// authorized accepts "Bearer sk_…" and, like Stripe, HTTP Basic with sk_… as user.
func authorized(r *http.Request) bool {
	if user, _, ok := r.BasicAuth(); ok {
		return strings.HasPrefix(user, "sk_")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && strings.HasPrefix(tok, "sk_")
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
