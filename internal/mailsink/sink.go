// Package mailsink is a test double for SendGrid's v3 mail send endpoint
// (POST /v3/mail/send). It checks the Bearer key is present, validates the
// JSON body the way SendGrid does for the fields the worker uses, records
// each accepted message and answers 202 like SendGrid. For tests and local
// demos only: nothing is delivered.
package mailsink

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Message is one accepted send request, flattened.
type Message struct {
	From        string
	To          []string // every to address of every personalization
	Subject     string   // the top-level subject, else the first personalization's
	Categories  []string
	CustomArgs  map[string]string // top-level merged with the first personalization's
	TemplateID  string
	Text, HTML  string
	DynamicData map[string]any // the first personalization's dynamic_template_data
}

// Server is the fake SendGrid API. Create it with New; it is safe for
// concurrent use.
type Server struct {
	mu         sync.Mutex
	messages   []Message
	failLeft   int
	failStatus int
	failTo     map[string]failure // by recipient (FailNextTo)
	printer    io.Writer
}

// failure is a run of injected failures: the next left requests answer status.
type failure struct{ left, status int }

// Option configures a Server.
type Option func(*Server)

// Printer makes the server print one line per accepted message to w (for a
// local demo).
func Printer(w io.Writer) Option {
	return func(s *Server) { s.printer = w }
}

// New returns an empty fake SendGrid API.
func New(opts ...Option) *Server {
	s := &Server{}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.To = append([]string(nil), m.To...)
		m.Categories = append([]string(nil), m.Categories...)
		m.CustomArgs = maps.Clone(m.CustomArgs)
		m.DynamicData = maps.Clone(m.DynamicData)
		out[i] = m
	}
	return out
}

// FailNext makes the next n requests answer status (e.g. 500 or 429) before
// anything else is checked.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failStatus = n, status
}

// FailNextTo makes the next n valid requests to the address to answer
// status, and leaves other recipients' mail alone (for one test among
// others running in parallel).
func (s *Server) FailNextTo(to string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTo == nil {
		s.failTo = map[string]failure{}
	}
	s.failTo[to] = failure{left: n, status: status}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLeft > 0 {
		s.failLeft--
		writeErrors(w, s.failStatus, fieldError{Message: fmt.Sprintf("injected failure (HTTP %d) from the SendGrid stand-in", s.failStatus)})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v3/mail/send" {
		writeErrors(w, http.StatusNotFound, fieldError{Message: "not found: this stand-in only serves POST /v3/mail/send"})
		return
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		writeErrors(w, http.StatusUnauthorized, fieldError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}
	var body sendRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		writeErrors(w, http.StatusBadRequest, fieldError{Message: "Bad Request: the body is not a valid mail send request: " + err.Error()})
		return
	}
	if errs := body.validate(); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	m := body.message()
	for _, to := range m.To {
		if f := s.failTo[to]; f.left > 0 {
			f.left--
			s.failTo[to] = f
			writeErrors(w, f.status, fieldError{Message: fmt.Sprintf("injected failure (HTTP %d) from the SendGrid stand-in for %s", f.status, to)})
			return
		}
	}
	s.messages = append(s.messages, m)
	if s.printer != nil {
		fmt.Fprintf(s.printer, "mail: %s to=%s subject=%q template=%s subscription=%s\n",
			strings.Join(m.Categories, ","), strings.Join(m.To, ","), m.Subject, m.TemplateID, m.CustomArgs["subscription_id"])
	}
	w.WriteHeader(http.StatusAccepted)
}

// fieldError is one entry of SendGrid's error body {"errors": [...]}.
type fieldError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...fieldError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Errors []fieldError `json:"errors"`
	}{errs})
}
