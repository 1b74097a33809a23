package stripefake

import (
	"fmt"
	"maps"
	"net/http"
)

// PaymentIntent is the fake's PaymentIntent, serialized like Stripe's object.
type PaymentIntent struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	Amount             int64             `json:"amount"`
	AmountReceived     int64             `json:"amount_received"`
	Currency           string            `json:"currency"`
	Customer           string            `json:"customer"`
	PaymentMethod      string            `json:"payment_method"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	CaptureMethod      string            `json:"capture_method"`
	ConfirmationMethod string            `json:"confirmation_method"`
	Status             string            `json:"status"`
	LatestCharge       *string           `json:"latest_charge"`
	LastPaymentError   *APIError         `json:"last_payment_error"`
	Metadata           map[string]string `json:"metadata"`
	Created            int64             `json:"created"`
	Livemode           bool              `json:"livemode"`
	// OffSession is the off_session flag the PaymentIntent was confirmed with
	// (not part of Stripe's object).
	OffSession bool `json:"-"`

	refunded int64 // amount refunded so far
}

func (pi *PaymentIntent) clone() PaymentIntent {
	c := *pi
	c.Metadata = maps.Clone(pi.Metadata)
	c.PaymentMethodTypes = append([]string(nil), pi.PaymentMethodTypes...)
	return c
}

// Refund is the fake's Refund, serialized like Stripe's object.
type Refund struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Currency      string            `json:"currency"`
	PaymentIntent string            `json:"payment_intent"`
	Charge        string            `json:"charge"`
	Status        string            `json:"status"`
	Metadata      map[string]string `json:"metadata"`
	Created       int64             `json:"created"`
}

// APIError is Stripe's error object (the value of "error" in an error body,
// and a PaymentIntent's last_payment_error).
type APIError struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Message       string         `json:"message"`
	Param         string         `json:"param,omitempty"`
	Charge        string         `json:"charge,omitempty"`
	DocURL        string         `json:"doc_url,omitempty"`
	PaymentIntent *PaymentIntent `json:"payment_intent,omitempty"`
}

type errorBody struct {
	Error APIError `json:"error"`
}

type list struct {
	Object  string `json:"object"`
	Data    any    `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

// invalid is an invalid_request_error reply, never kept for idempotency.
func invalid(status int, code, param, msg string) reply {
	e := APIError{Type: "invalid_request_error", Code: code, Param: param, Message: msg}
	if code != "" {
		e.DocURL = "https://stripe.com/docs/error-codes/" + code
	}
	return reply{status: status, body: errorBody{Error: e}}
}

func (r reply) withType(t string) reply {
	b := r.body.(errorBody)
	b.Error.Type = t
	r.body = b
	return r
}

func missingParam(param string) reply {
	return invalid(http.StatusBadRequest, "parameter_missing", param, fmt.Sprintf("Missing required param: %s.", param))
}

// injected is the answer of a request failed by FailNext.
func injected(status int) reply {
	if status == http.StatusTooManyRequests {
		return invalid(status, "rate_limit", "", "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.")
	}
	return reply{status: status, body: errorBody{Error: APIError{Type: "api_error",
		Message: fmt.Sprintf("Injected failure (HTTP %d) from the Stripe stand-in.", status)}}}
}
