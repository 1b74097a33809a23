package stripefake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

func (s *Server) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_fake%06d", prefix, s.seq)
}

// createPaymentIntent handles a confirmed PaymentIntent: it succeeds, or is
// declined with 402 card_error (the PaymentIntent is still created, with
// status requires_payment_method, and returned in error.payment_intent).
func (s *Server) createPaymentIntent(form url.Values) reply {
	for _, p := range []string{"amount", "currency", "customer", "payment_method"} {
		if form.Get(p) == "" {
			return missingParam(p)
		}
	}
	amount, err := strconv.ParseInt(form.Get("amount"), 10, 64)
	if err != nil || amount <= 0 {
		return invalid(http.StatusBadRequest, "parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	currency := form.Get("currency")
	if len(currency) != 3 {
		return invalid(http.StatusBadRequest, "parameter_invalid_string", "currency", fmt.Sprintf("Invalid currency: %s.", currency))
	}
	customer := form.Get("customer")
	if !strings.HasPrefix(customer, "cus_") {
		return invalid(http.StatusBadRequest, "resource_missing", "customer", fmt.Sprintf("No such customer: '%s'", customer))
	}
	if form.Get("confirm") != "true" {
		return invalid(http.StatusBadRequest, "parameter_invalid_empty", "confirm", "confirm must be true: this stand-in only handles confirmed charges.")
	}
	offSession := form.Get("off_session") == "true"
	pm := s.paymentMethod(form.Get("payment_method"))
	if pm.missing {
		return noSuchPaymentMethod(http.StatusBadRequest, pm.id)
	}
	if pm.customer != "" && pm.customer != customer {
		return invalid(http.StatusBadRequest, "", "payment_method", fmt.Sprintf(
			"The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", pm.id))
	}
	if pm.typ != "card" {
		return invalid(http.StatusBadRequest, "payment_intent_incompatible_payment_method", "payment_method", fmt.Sprintf(
			"The PaymentMethod provided (%s) is not allowed for this PaymentIntent. Please attach a PaymentMethod of one of the following types: card.", pm.typ))
	}

	pi := &PaymentIntent{
		ID: s.newID("pi"), Object: "payment_intent", Amount: amount, Currency: strings.ToLower(currency),
		Customer: customer, PaymentMethod: pm.id, PaymentMethodTypes: []string{"card"}, CaptureMethod: "automatic",
		ConfirmationMethod: "automatic", Metadata: metadata(form), Created: s.now().Unix(), OffSession: offSession,
	}
	s.intents = append(s.intents, pi)
	decline := pm.decline
	if pm.authRequired {
		if !offSession {
			pi.Status = "requires_action"
			return reply{status: http.StatusOK, body: pi, keep: true}
		}
		decline = &APIError{Type: "card_error", Code: "authentication_required", DeclineCode: "authentication_required",
			Message: "Your card was declined. This transaction requires authentication."}
	}
	charge := s.newID("ch")
	pi.LatestCharge = &charge
	if decline != nil {
		e := *decline
		e.Charge = charge
		e.DocURL = "https://stripe.com/docs/error-codes/" + e.Code
		pi.Status = "requires_payment_method"
		pi.LastPaymentError = &e
		withPI := e
		snapshot := pi.clone()
		withPI.PaymentIntent = &snapshot
		return reply{status: http.StatusPaymentRequired, body: errorBody{Error: withPI}, keep: true}
	}
	pi.Status, pi.AmountReceived = "succeeded", amount
	return reply{status: http.StatusOK, body: pi.clone(), keep: true}
}

func metadata(form url.Values) map[string]string {
	md := map[string]string{}
	for k := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") {
			md[strings.TrimSuffix(name, "]")] = form.Get(k)
		}
	}
	return md
}

func (s *Server) findIntent(id string) *PaymentIntent {
	for _, pi := range s.intents {
		if pi.ID == id {
			return pi
		}
	}
	return nil
}

// listPaymentIntents lists PaymentIntents newest first, of one customer if
// customer is given, a page of limit (1 to 100, default 10) after the
// starting_after cursor or before the ending_before one, as Stripe does.
func (s *Server) listPaymentIntents(form url.Values) reply {
	limit := 10
	if l := form.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return invalid(http.StatusBadRequest, "parameter_invalid_integer", "limit", "This value must be between 1 and 100.")
		}
		limit = n
	}
	after, before := form.Get("starting_after"), form.Get("ending_before")
	if after != "" && before != "" {
		return invalid(http.StatusBadRequest, "", "ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	customer := form.Get("customer")
	var all []*PaymentIntent // newest first
	for i := len(s.intents) - 1; i >= 0; i-- {
		if pi := s.intents[i]; customer == "" || pi.Customer == customer {
			all = append(all, pi)
		}
	}
	cursor := func(param, id string) (int, *reply) {
		i := slices.IndexFunc(all, func(pi *PaymentIntent) bool { return pi.ID == id })
		if i < 0 {
			r := invalid(http.StatusBadRequest, "resource_missing", param, fmt.Sprintf("No such payment_intent: '%s'", id))
			return 0, &r
		}
		return i, nil
	}
	from, to := 0, len(all)
	switch {
	case after != "":
		i, bad := cursor("starting_after", after)
		if bad != nil {
			return *bad
		}
		from = i + 1
	case before != "":
		i, bad := cursor("ending_before", before)
		if bad != nil {
			return *bad
		}
		from, to = max(0, i-limit), i
	}
	to = min(to, from+limit)
	hasMore := to < len(all)
	if before != "" {
		hasMore = from > 0
	}
	data := make([]PaymentIntent, 0, to-from)
	for _, pi := range all[from:to] {
		data = append(data, pi.clone())
	}
	return reply{status: http.StatusOK, body: list{Object: "list", Data: data, HasMore: hasMore, URL: "/v1/payment_intents"}}
}

func (s *Server) getPaymentIntent(id string) reply {
	pi := s.findIntent(id)
	if pi == nil {
		return invalid(http.StatusNotFound, "resource_missing", "intent", fmt.Sprintf("No such payment_intent: '%s'", id))
	}
	return reply{status: http.StatusOK, body: pi.clone()}
}

// createRefund refunds a succeeded PaymentIntent, in full unless amount is given.
func (s *Server) createRefund(form url.Values) reply {
	id := form.Get("payment_intent")
	if id == "" {
		return missingParam("payment_intent")
	}
	pi := s.findIntent(id)
	if pi == nil {
		return invalid(http.StatusNotFound, "resource_missing", "payment_intent", fmt.Sprintf("No such payment_intent: '%s'", id))
	}
	if pi.Status != "succeeded" {
		return invalid(http.StatusBadRequest, "payment_intent_unexpected_state", "payment_intent",
			fmt.Sprintf("This PaymentIntent (%s) does not have a successful charge to refund.", id))
	}
	remaining := pi.Amount - pi.refunded
	if remaining <= 0 {
		return invalid(http.StatusBadRequest, "charge_already_refunded", "", fmt.Sprintf("Charge %s has already been refunded.", *pi.LatestCharge))
	}
	amount := remaining
	if a := form.Get("amount"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n <= 0 || n > remaining {
			return invalid(http.StatusBadRequest, "amount_too_large", "amount",
				fmt.Sprintf("Refund amount must be between 1 and the unrefunded amount on the charge (%d).", remaining))
		}
		amount = n
	}
	pi.refunded += amount
	r := &Refund{ID: s.newID("re"), Object: "refund", Amount: amount, Currency: pi.Currency, PaymentIntent: pi.ID,
		Charge: *pi.LatestCharge, Status: "succeeded", Metadata: metadata(form), Created: s.now().Unix()}
	s.refunds = append(s.refunds, r)
	return reply{status: http.StatusOK, body: *r, keep: true}
}

// listRefunds lists the refunds of one PaymentIntent (all refunds if id is empty).
func (s *Server) listRefunds(id string) reply {
	data := []Refund{}
	for _, r := range s.refunds {
		if id == "" || r.PaymentIntent == id {
			data = append(data, *r)
		}
	}
	return reply{status: http.StatusOK, body: list{Object: "list", Data: data, URL: "/v1/refunds"}}
}
