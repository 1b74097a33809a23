// Package stripefake is a test double for the Stripe endpoints the
// subscription worker calls: POST /v1/payment_intents (a charge),
// POST /v1/refunds, GET /v1/payment_methods/{id}, and the look-ups that
// settle edge cases: GET /v1/payment_intents/{id},
// GET /v1/payment_intents?customer= and GET /v1/refunds?payment_intent=.
// POST /v1/payment_methods/{id}/attach lets a test give a customer its cards.
//
// GET /v1/customers/{id} answers for any cus_… id.
//
// It speaks Stripe's wire format (form-encoded requests, JSON objects and
// error bodies, list objects paged with limit, starting_after and
// ending_before), honours Stripe's test payment methods (pm_card_visa,
// pm_card_chargeDeclined, …) and Idempotency-Key replays, and records what it
// received. It is for tests and local demos only: it keeps everything in
// memory and checks only that a key is present.
//
// # Payment methods and customers
//
// Like Stripe in test mode, a test shortcut (any pm_card_… id) belongs to no
// customer: GET /v1/payment_methods/pm_card_visa answers "customer": null,
// and a charge with it works for any customer, because Stripe makes a fresh
// copy of the card for each use. Attaching a shortcut to a customer (with
// POST /v1/payment_methods/pm_card_visa/attach or AttachPaymentMethod) makes
// such a copy: a new payment method, with a new id, that behaves like the
// shortcut (declines included) and belongs to that customer. Any other
// existing id is attached in place, and a payment method belongs to at most
// one customer. A charge for a customer with a payment method attached to
// another one is refused with HTTP 400, as Stripe refuses it.
//
// Ids the stand-in knows without being told: pm_card_… shortcuts (see
// cardFor), pm_sepa_debit…, pm_us_bank_account…, pm_bacs…, pm_paypal… (not
// cards), ids holding "missing" (no such payment method), and any other pm_…
// id, which is a Visa that succeeds.
//
// # Failures
//
// FailNext fails the next requests, whatever they are. For charges (POST
// /v1/payment_intents) Faults draws failures at random from a seed, and
// FailNextCharges forces them: answered 500 before anything is done,
// answered late, answered 500 after the charge was made, or answered with a
// 500 saved under the Idempotency-Key (with or without the charge made);
// HoldChargeAnswersUntil answers 500 to every charge, each made and stored,
// until a time.
//
// # Idempotency
//
// Like Stripe, the stand-in saves the answer to a POST under its
// Idempotency-Key once the endpoint has started executing, server errors
// included, and replays it (with Idempotent-Replayed: true) to every request
// under that key with the same parameters; a key reused with other
// parameters is refused with an idempotency_error. A 500 raised before the
// endpoint ran is not saved. Server errors carry Stripe's
// Stripe-Should-Retry header: false for a 500 saved under the key (a retry
// would get it again), true for one that was not. SetKeyRetention makes the
// server forget keys as Stripe does after about 24 hours, on the clock given
// to SetClock.
//
// # Accounts
//
// SetAccountKey makes the stand-in one Stripe account: a request made with
// another secret key (another account, or the other mode) finds nothing it
// names, as Stripe answers it: "No such customer", "No such PaymentMethod".
package stripefake

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request is one request the server received.
type Request struct {
	Method         string
	Path           string
	Form           url.Values // body of a POST, query of a GET
	IdempotencyKey string
	Replayed       bool // answered from the idempotency store
	// Fault is the failure injected into this charge by Faults or
	// HoldChargeAnswersUntil: FaultBefore, FaultLate, FaultAfter, FaultHeld,
	// or "" (none).
	Fault string
}

// The values of Request.Fault.
const (
	FaultBefore = "before" // answered 500, nothing done
	FaultLate   = "late"   // made, answered after Faults.LateBy
	FaultAfter  = "after"  // made, answered 500
	FaultHeld   = "held"   // made, answered 500 (HoldChargeAnswersUntil)
	// FaultSaved: the charge is made, and a 500 is saved under its key in
	// place of the outcome (Stripe-Should-Retry: false): every retry under
	// the key gets that 500.
	FaultSaved = "saved"
	// FaultSavedEmpty: the endpoint started and failed before charging;
	// the 500 is saved under the key, and nothing was made.
	FaultSavedEmpty = "saved-empty"
)

// Faults injects failures into charges (POST /v1/payment_intents) at random.
// Each charge request, a replay under a known key included, draws one number
// u in [0, 1) and the probabilities are taken in the order of the fields:
// u < Before is a Before fault, else u < Before+Late a Late one, and so on
// through After, Saved and SavedEmpty; else none. A charge that was made is
// stored under its Idempotency-Key before it is answered, so a retry under
// the same key gets the real outcome (unless it draws a fault itself),
// except a Saved or SavedEmpty one, whose 500 is what is stored. A Saved or
// SavedEmpty fault drawn by a replay of a stored key is no fault: Stripe
// replays what it saved.
type Faults struct {
	Before float64 // probability: answered HTTP 500 before anything is done (nothing recorded, key not stored)
	Late   float64 // probability: the charge is made (and stored under its key), the answer is sent only after LateBy
	After  float64 // probability: the charge is made (and stored under its key), then answered HTTP 500
	// Saved: the charge is made, and HTTP 500 is saved under its key.
	Saved float64
	// SavedEmpty: nothing is made, and HTTP 500 is saved under the key.
	SavedEmpty float64
	// LateBy is how long a Late answer is held back, in real time (the HTTP
	// client's timeout may run out first); the wait ends if the client goes.
	LateBy time.Duration
	Seed   uint64 // deterministic sequence for a given seed
}

// Server is the fake Stripe API. Create it with New; it is safe for
// concurrent use (requests are handled one at a time; only a late answer is
// waited for outside the lock).
type Server struct {
	mu         sync.Mutex
	seq        int
	requests   []Request
	intents    []*PaymentIntent
	refunds    []*Refund
	methods    map[string]*storedMethod // attached payment methods, by id
	idem       map[string]stored
	failLeft   int
	failStatus int
	failAdvice string   // Stripe-Should-Retry of the failed answers
	forced     []string // faults of the next charges (FailNextCharges)
	accountKey string   // the account's secret key; "" accepts every sk_ key

	now       func() time.Time
	retention time.Duration
	holdUntil time.Time
	faults    Faults
	rng       *rand.Rand // nil when no fault is configured
}

// stored is a response kept for an Idempotency-Key.
type stored struct {
	method, path, body string
	status             int
	response           []byte
	shouldRetry        string    // its Stripe-Should-Retry header, if any
	at                 time.Time // when it was stored, on the server's clock
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
	// shouldRetry is the Stripe-Should-Retry header ("true", "false" or "").
	shouldRetry string
}

// New returns an empty fake Stripe API reading time.Now.
func New() *Server {
	return &Server{idem: map[string]stored{}, methods: map[string]*storedMethod{}, now: time.Now}
}

// FailNext makes the next n requests answer status (e.g. 500 or 429) with a
// Stripe-shaped error before doing anything else, without Stripe's
// Stripe-Should-Retry header.
func (s *Server) FailNext(n, status int) { s.FailNextAdvising(n, status, "") }

// FailNextAdvising is FailNext whose answers carry Stripe-Should-Retry:
// shouldRetry ("true" or "false"; "" for none).
func (s *Server) FailNextAdvising(n, status int, shouldRetry string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failStatus, s.failAdvice = n, status, shouldRetry
}

// SetFaults injects f into the charges from now on, starting the random
// sequence of f.Seed afresh; the zero Faults turns them off. It panics if a
// probability is outside [0, 1] or they add up to more than 1.
func (s *Server) SetFaults(f Faults) {
	for _, p := range []float64{f.Before, f.Late, f.After, f.Saved, f.SavedEmpty} {
		if p < 0 || p > 1 {
			panic(fmt.Sprintf("stripefake: fault probability %v is outside [0, 1]", p))
		}
	}
	if sum := f.Before + f.Late + f.After + f.Saved + f.SavedEmpty; sum > 1 {
		panic(fmt.Sprintf("stripefake: fault probabilities add up to %v, more than 1", sum))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.rng = f, nil
	if f.Before > 0 || f.Late > 0 || f.After > 0 || f.Saved > 0 || f.SavedEmpty > 0 {
		s.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	}
}

// FailNextCharges injects the fault (FaultBefore, FaultAfter, FaultSaved or
// FaultSavedEmpty) into each of the next n charge requests that are not
// replays of a stored key, before any fault Faults would draw.
func (s *Server) FailNextCharges(n int, fault string) {
	switch fault {
	case FaultBefore, FaultAfter, FaultSaved, FaultSavedEmpty:
	default:
		panic(fmt.Sprintf("stripefake: FailNextCharges takes before, after, saved or saved-empty, not %q", fault))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.forced = append(s.forced, fault)
	}
}

// SetAccountKey makes the stand-in the Stripe account of secret key: a
// request made with any other key is answered as Stripe answers a key of
// another account or mode, resource_missing for what it names. "" (the
// default) accepts every sk_ key as the account's.
func (s *Server) SetAccountKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accountKey = key
}

// SetClock sets the clock the stand-in reads for key retention and held
// answers (default time.Now); tests pass a subscription's test clock. The
// created times of new objects are read on it too. now is called with the
// server's lock held: it must not call the server.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// SetKeyRetention makes the server forget an Idempotency-Key once it is d
// old on its clock (Stripe keeps keys about 24 hours): a request under a
// forgotten key is executed again, like a new one. 0 keeps them forever.
func (s *Server) SetKeyRetention(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retention = d
}

// HoldChargeAnswersUntil makes every charge be made (and stored under its
// key) but answered HTTP 500 until the clock reaches t: Stripe answering
// late. A replay of a stored key is answered 500 too until then, and the
// stored answer from then on. No fault of SetFaults is drawn while answers
// are held.
func (s *Server) HoldChargeAnswersUntil(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdUntil = t
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

// response is an answer ready to be written.
type response struct {
	status int
	raw    []byte
	header http.Header
	delay  time.Duration // held back this long before it is written
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := s.handle(r)
	if res.delay > 0 {
		t := time.NewTimer(res.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up waiting: nobody to answer
		}
	}
	for k, v := range res.header {
		w.Header()[k] = v
	}
	writeRaw(w, res.status, res.raw)
}

// handle executes a request under the lock and returns its answer.
func (s *Server) handle(r *http.Request) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	parseErr := r.ParseForm()
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	rec := s.record(r, form)
	isCharge := r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents"
	var rep reply
	switch {
	case parseErr != nil:
		rep = invalid(http.StatusBadRequest, "", "", "Could not parse the request body.")
	case s.failLeft > 0:
		s.failLeft--
		rep = injected(s.failStatus)
		rep.shouldRetry = s.failAdvice
	case !authorized(r):
		rep = reply{status: http.StatusUnauthorized, body: errorBody{Error: APIError{Type: "invalid_request_error",
			Message: "Invalid API Key provided. Send it as Authorization: Bearer sk_..."}}}
	case s.accountKey != "" && secretKey(r) != s.accountKey:
		rep = otherAccount(r.Method, r.URL.Path, form)
	default:
		if isCharge {
			rec.Fault = s.drawFault(s.known(rec))
		}
		switch {
		case rec.Fault == FaultBefore:
			rep = injected(http.StatusInternalServerError)
			rep.shouldRetry = "true" // nothing saved: a retry runs afresh
		case rec.Fault == FaultSavedEmpty:
			rep = injected(http.StatusInternalServerError)
			rep.keep, rep.shouldRetry = true, "false"
		case rec.IdempotencyKey == "" || r.Method != http.MethodPost:
			rep = s.route(r.Method, r.URL.Path, form)
		default:
			rep = s.idempotent(rec)
		}
		if rec.Fault == FaultSaved && rep.keep {
			// Made, but what is saved under the key is a server error.
			rep = injected(http.StatusInternalServerError)
			rep.keep, rep.shouldRetry = true, "false"
		}
	}
	raw := encode(&rep)
	if rep.keep && rec.IdempotencyKey != "" && r.Method == http.MethodPost {
		s.idem[rec.IdempotencyKey] = stored{method: rec.Method, path: rec.Path, body: form.Encode(),
			status: rep.status, response: raw, shouldRetry: rep.shouldRetry, at: s.now()}
	}
	res := response{status: rep.status, raw: raw, header: http.Header{}}
	if rep.shouldRetry != "" {
		res.header.Set("Stripe-Should-Retry", rep.shouldRetry)
	}
	switch rec.Fault {
	case FaultAfter, FaultHeld:
		// Made and stored, but the caller hears only a server error.
		rep = injected(http.StatusInternalServerError)
		res.raw = encode(&rep)
		res.status = rep.status
		if rec.Fault == FaultHeld { // Stripe answering late: the same key will be answered
			res.header.Set("Stripe-Should-Retry", "true")
		}
	case FaultLate:
		res.delay = s.faults.LateBy
		fallthrough
	default:
		if rep.replayed {
			rec.Replayed = true
			res.header.Set("Idempotent-Replayed", "true")
		}
	}
	s.seq++
	res.header.Set("Request-Id", fmt.Sprintf("req_fake%06d", s.seq))
	return res
}

// drawFault decides the fault injected into one charge; replay says the
// request is a replay of a stored key, which Stripe answers from what it
// saved (a Saved fault drawn for it is none).
func (s *Server) drawFault(replay bool) string {
	if s.now().Before(s.holdUntil) {
		return FaultHeld
	}
	if !replay && len(s.forced) > 0 {
		f := s.forced[0]
		s.forced = s.forced[1:]
		return f
	}
	if s.rng == nil {
		return ""
	}
	f, u := s.faults, s.rng.Float64()
	fault := ""
	switch {
	case u < f.Before:
		fault = FaultBefore
	case u < f.Before+f.Late:
		fault = FaultLate
	case u < f.Before+f.Late+f.After:
		fault = FaultAfter
	case u < f.Before+f.Late+f.After+f.Saved:
		fault = FaultSaved
	case u < f.Before+f.Late+f.After+f.Saved+f.SavedEmpty:
		fault = FaultSavedEmpty
	}
	if replay && (fault == FaultSaved || fault == FaultSavedEmpty) {
		return ""
	}
	return fault
}

// known reports whether rec is under a key the server still holds.
func (s *Server) known(rec *Request) bool {
	prev, ok := s.idem[rec.IdempotencyKey]
	return ok && rec.IdempotencyKey != "" && (s.retention == 0 || s.now().Before(prev.at.Add(s.retention)))
}

// idempotent replays the response stored under rec's key, refuses a key
// reused with other parameters, or executes a first request (or one whose
// key the server has forgotten).
func (s *Server) idempotent(rec *Request) reply {
	prev, ok := s.idem[rec.IdempotencyKey]
	if ok && s.retention > 0 && !s.now().Before(prev.at.Add(s.retention)) {
		delete(s.idem, rec.IdempotencyKey)
		ok = false
	}
	if !ok {
		return s.route(rec.Method, rec.Path, rec.Form)
	}
	if prev.method != rec.Method || prev.path != rec.Path || prev.body != rec.Form.Encode() {
		return invalid(http.StatusBadRequest, "", "", fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.",
			rec.IdempotencyKey)).withType("idempotency_error")
	}
	return reply{status: prev.status, raw: prev.response, replayed: true, shouldRetry: prev.shouldRetry}
}

// route dispatches an authorized request to its handler.
func (s *Server) route(method, path string, form url.Values) reply {
	switch {
	case method == http.MethodPost && path == "/v1/payment_intents":
		return s.createPaymentIntent(form)
	case method == http.MethodGet && path == "/v1/payment_intents":
		return s.listPaymentIntents(form)
	case method == http.MethodGet && strings.HasPrefix(path, "/v1/payment_intents/"):
		return s.getPaymentIntent(strings.TrimPrefix(path, "/v1/payment_intents/"))
	case method == http.MethodPost && path == "/v1/refunds":
		return s.createRefund(form)
	case method == http.MethodGet && path == "/v1/refunds":
		return s.listRefunds(form.Get("payment_intent"))
	case method == http.MethodPost && strings.HasPrefix(path, "/v1/payment_methods/") && strings.HasSuffix(path, "/attach"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/payment_methods/"), "/attach")
		_, rep := s.attach(id, form.Get("customer"))
		return rep
	case method == http.MethodGet && strings.HasPrefix(path, "/v1/payment_methods/"):
		return s.getPaymentMethod(strings.TrimPrefix(path, "/v1/payment_methods/"))
	case method == http.MethodGet && strings.HasPrefix(path, "/v1/customers/"):
		return getCustomer(strings.TrimPrefix(path, "/v1/customers/"))
	}
	return invalid(http.StatusNotFound, "", "", fmt.Sprintf("Unrecognized request URL (%s: %s).", method, path))
}

// record appends r to the log and returns the entry (valid until the next record).
func (s *Server) record(r *http.Request, form url.Values) *Request {
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Form: cloneValues(form),
		IdempotencyKey: r.Header.Get("Idempotency-Key")})
	return &s.requests[len(s.requests)-1]
}

// encode returns rep's body as JSON; a body it cannot encode becomes an
// HTTP 500 api_error.
func encode(rep *reply) []byte {
	if rep.raw != nil {
		return rep.raw
	}
	raw, err := json.MarshalIndent(rep.body, "", "  ")
	if err != nil {
		rep.status = http.StatusInternalServerError
		return []byte(`{"error":{"type":"api_error","message":"fake could not encode its answer"}}`)
	}
	return raw
}

func writeRaw(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// getCustomer answers GET /v1/customers/{id}: every cus_… id exists in
// the account (the stand-in keeps no customers of its own).
func getCustomer(id string) reply {
	if !strings.HasPrefix(id, "cus_") {
		return invalid(http.StatusNotFound, "resource_missing", "id", fmt.Sprintf("No such customer: '%s'", id))
	}
	return reply{status: http.StatusOK, body: map[string]any{"id": id, "object": "customer", "livemode": false}}
}

// secretKey is the secret key a request is made with.
func secretKey(r *http.Request) string {
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// otherAccount answers a request made with the key of another account: the
// customer, payment method or payment intent it names does not exist there.
func otherAccount(method, path string, form url.Values) reply {
	if id := form.Get("customer"); id != "" {
		return invalid(http.StatusBadRequest, "resource_missing", "customer", fmt.Sprintf("No such customer: '%s'", id))
	}
	if id := form.Get("payment_intent"); id != "" {
		return invalid(http.StatusBadRequest, "resource_missing", "payment_intent", fmt.Sprintf("No such payment_intent: '%s'", id))
	}
	for prefix, kind := range map[string]string{"/v1/payment_methods/": "PaymentMethod", "/v1/payment_intents/": "payment_intent", "/v1/customers/": "customer"} {
		if id, ok := strings.CutPrefix(path, prefix); ok {
			id, _, _ = strings.Cut(id, "/")
			return invalid(http.StatusNotFound, "resource_missing", "id", fmt.Sprintf("No such %s: '%s'", kind, id))
		}
	}
	return invalid(http.StatusNotFound, "", "", fmt.Sprintf("Unrecognized request URL (%s: %s).", method, path))
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
