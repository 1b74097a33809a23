package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recorder stands in front of the Stripe stand-in and notes, to the
// nanosecond on this machine's clock, when each PaymentIntent was first
// answered as succeeded (the stand-in's own `created` is in whole
// seconds), and counts the requests. It watches one phase at a time: the
// workflows whose IDs start with its prefix, and tells done when they have
// paid the number of cycles the phase wants.
type recorder struct {
	next http.Handler

	mu      sync.Mutex
	charges []charge        // in the order answered
	seen    map[string]bool // PaymentIntent IDs answered succeeded
	posts   int             // POST /v1/payment_intents (charges, retries and replays)
	gets    int             // GET /v1/payment_intents… (look-ups)
	others  int             // anything else
	prefix  string          // the phase's workflows
	paid    int             // cycles they paid
	want    int             // cycles the phase wants
	done    chan struct{}   // closed when paid reaches want
}

// charge is a PaymentIntent answered succeeded.
type charge struct {
	workflow string
	cycle    int
	at       time.Time
}

func newRecorder(next http.Handler) *recorder {
	return &recorder{next: next, seen: map[string]bool{}}
}

// watch starts a phase: the workflows whose IDs start with prefix, to pay
// want cycles in all. The returned channel is closed when they have.
func (r *recorder) watch(prefix string, want int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prefix, r.want, r.paid = prefix, want, 0
	r.done = make(chan struct{})
	return r.done
}

// counts are the requests seen so far.
func (r *recorder) counts() (posts, gets, others int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts, r.gets, r.others
}

// progress is how many cycles the phase's workflows have paid.
func (r *recorder) progress() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paid
}

// snapshot is a copy of the charges recorded so far.
func (r *recorder) snapshot() []charge {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]charge(nil), r.charges...)
}

// captured buffers a response on its way to the client.
type captured struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captured) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *captured) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	charging := req.Method == http.MethodPost && req.URL.Path == "/v1/payment_intents"
	r.mu.Lock()
	switch {
	case charging:
		r.posts++
	case req.Method == http.MethodGet && len(req.URL.Path) >= len("/v1/payment_intents") && req.URL.Path[:len("/v1/payment_intents")] == "/v1/payment_intents":
		r.gets++
	default:
		r.others++
	}
	r.mu.Unlock()
	if !charging {
		r.next.ServeHTTP(w, req)
		return
	}
	c := &captured{ResponseWriter: w}
	r.next.ServeHTTP(c, req)
	at := time.Now()
	if c.status != http.StatusOK {
		return
	}
	var pi struct {
		ID       string            `json:"id"`
		Status   string            `json:"status"`
		Metadata map[string]string `json:"metadata"`
	}
	if json.Unmarshal(c.body.Bytes(), &pi) != nil || pi.Status != "succeeded" {
		return
	}
	cycle, _ := strconv.Atoi(pi.Metadata["cycle"])
	wf := pi.Metadata["subscription_id"]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[pi.ID] { // a replay under its key
		return
	}
	r.seen[pi.ID] = true
	r.charges = append(r.charges, charge{workflow: wf, cycle: cycle, at: at})
	if r.done == nil || !strings.HasPrefix(wf, r.prefix) {
		return
	}
	r.paid++
	if r.paid == r.want {
		close(r.done)
	}
}
