package stripefake

import (
	"fmt"
	"net/http"
	"strings"
)

// paymentMethod is what an id means, following Stripe's test payment methods.
type paymentMethod struct {
	id, typ, brand, last4 string
	customer              string // the customer it is attached to, or ""
	missing               bool
	decline               *APIError // a charge with it is declined
	authRequired          bool      // needs 3-D Secure: declined off-session
}

type testCard struct {
	brand, last4, code, declineCode, message string
	authRequired                             bool
}

// cardFor gives Stripe's test payment methods their meaning. Any other
// pm_card_* and any other pm_ id is a Visa that succeeds.
func cardFor(id string) testCard {
	declined := func(last4, code, declineCode, msg string) testCard {
		return testCard{brand: "visa", last4: last4, code: code, declineCode: declineCode, message: msg}
	}
	switch id {
	case "pm_card_mastercard":
		return testCard{brand: "mastercard", last4: "4444"}
	case "pm_card_amex":
		return testCard{brand: "amex", last4: "8431"}
	case "pm_card_chargeDeclined":
		return declined("0002", "card_declined", "generic_decline", "Your card was declined.")
	case "pm_card_chargeDeclinedInsufficientFunds":
		return declined("9995", "card_declined", "insufficient_funds", "Your card has insufficient funds.")
	case "pm_card_chargeDeclinedExpiredCard":
		return declined("0069", "expired_card", "expired_card", "Your card has expired.")
	case "pm_card_chargeDeclinedFraudulent":
		return declined("0019", "card_declined", "fraudulent", "Your card was declined.")
	case "pm_card_chargeDeclinedIncorrectCvc":
		return declined("0127", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
	case "pm_card_authenticationRequired":
		return testCard{brand: "visa", last4: "3184", authRequired: true}
	}
	return testCard{brand: "visa", last4: "4242"}
}

// nonCardType is the non-card type an id stands for, or "".
func nonCardType(id string) string {
	for _, nc := range [...]struct{ prefix, typ string }{
		{"pm_sepa_debit", "sepa_debit"},
		{"pm_us_bank_account", "us_bank_account"},
		{"pm_bacs", "bacs_debit"},
		{"pm_paypal", "paypal"},
	} {
		if strings.HasPrefix(id, nc.prefix) {
			return nc.typ
		}
	}
	return ""
}

func lookupPaymentMethod(id string) paymentMethod {
	pm := paymentMethod{id: id, typ: "card"}
	if !strings.HasPrefix(id, "pm_") || strings.Contains(id, "missing") {
		pm.missing = true
		return pm
	}
	if typ := nonCardType(id); typ != "" {
		pm.typ, pm.brand, pm.last4 = typ, "", ""
		return pm
	}
	c := cardFor(id)
	pm.brand, pm.last4, pm.authRequired = c.brand, c.last4, c.authRequired
	if c.code != "" {
		pm.decline = &APIError{Type: "card_error", Code: c.code, DeclineCode: c.declineCode, Message: c.message}
	}
	return pm
}

// isShortcut tells whether id is one of Stripe's test shortcuts
// (pm_card_visa, …), which Stripe copies afresh for each use.
func isShortcut(id string) bool {
	return strings.HasPrefix(id, "pm_card_")
}

// storedMethod is a payment method attached to a customer: a copy of a
// shortcut (origin is the shortcut) or an id attached in place (origin is
// the id itself).
type storedMethod struct {
	origin, customer string
	created          int64
}

// paymentMethod resolves id, with the customer it is attached to.
func (s *Server) paymentMethod(id string) paymentMethod {
	sm, ok := s.methods[id]
	if !ok {
		return lookupPaymentMethod(id)
	}
	pm := lookupPaymentMethod(sm.origin)
	pm.id, pm.customer = id, sm.customer
	return pm
}

func noSuchPaymentMethod(status int, id string) reply {
	return invalid(status, "resource_missing", "payment_method", fmt.Sprintf("No such PaymentMethod: '%s'", id))
}

func (s *Server) getPaymentMethod(id string) reply {
	pm := s.paymentMethod(id)
	if pm.missing {
		return noSuchPaymentMethod(http.StatusNotFound, id)
	}
	return reply{status: http.StatusOK, body: s.paymentMethodObject(pm)}
}

// paymentMethodObject is pm as Stripe serializes a PaymentMethod.
func (s *Server) paymentMethodObject(pm paymentMethod) map[string]any {
	created := s.now().Unix()
	if sm, ok := s.methods[pm.id]; ok {
		created = sm.created
	}
	var customer any // JSON null when attached to no customer
	if pm.customer != "" {
		customer = pm.customer
	}
	obj := map[string]any{
		"id": pm.id, "object": "payment_method", "type": pm.typ, "customer": customer,
		"created": created, "livemode": false, "metadata": map[string]string{},
		"billing_details": map[string]any{"email": nil, "name": nil},
	}
	if pm.typ == "card" {
		obj["card"] = map[string]any{"brand": pm.brand, "last4": pm.last4, "exp_month": 12,
			"exp_year": s.now().Year() + 3, "funding": "credit", "country": "US"}
	} else {
		obj[pm.typ] = map[string]any{}
	}
	return obj
}

// attach attaches payment method id to customer, as
// POST /v1/payment_methods/{id}/attach does, and returns the id of the
// attached payment method: a new one for a shortcut, else id.
func (s *Server) attach(id, customer string) (string, reply) {
	if customer == "" {
		return "", missingParam("customer")
	}
	if !strings.HasPrefix(customer, "cus_") {
		return "", invalid(http.StatusBadRequest, "resource_missing", "customer", fmt.Sprintf("No such customer: '%s'", customer))
	}
	pm := s.paymentMethod(id)
	if pm.missing {
		return "", noSuchPaymentMethod(http.StatusNotFound, id)
	}
	switch {
	case pm.customer == customer:
	case pm.customer != "":
		return "", invalid(http.StatusBadRequest, "", "", "The payment method you provided has already been attached to a customer.")
	case isShortcut(id):
		origin := id
		id = s.newID("pm")
		s.methods[id] = &storedMethod{origin: origin, customer: customer, created: s.now().Unix()}
	default:
		s.methods[id] = &storedMethod{origin: id, customer: customer, created: s.now().Unix()}
	}
	return id, reply{status: http.StatusOK, body: s.paymentMethodObject(s.paymentMethod(id)), keep: true}
}

// AttachPaymentMethod attaches payment method id to customer (cus_…) as
// POST /v1/payment_methods/{id}/attach does and returns the id of the
// attached payment method. A test shortcut (pm_card_visa, …) is copied, as
// Stripe does: the copy has a new id, behaves like the shortcut and belongs
// to customer. Any other id is attached in place. It fails if id does not
// exist or belongs to another customer.
func (s *Server) AttachPaymentMethod(id, customer string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	attached, rep := s.attach(id, customer)
	if rep.status != http.StatusOK {
		return "", fmt.Errorf("stripefake: attach %s to %s: HTTP %d: %s", id, customer, rep.status, rep.body.(errorBody).Error.Message)
	}
	return attached, nil
}
