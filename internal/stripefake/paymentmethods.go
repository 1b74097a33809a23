package stripefake

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// paymentMethod is what an id means, following Stripe's test payment methods.
type paymentMethod struct {
	id, typ, brand, last4 string
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

func noSuchPaymentMethod(status int, id string) reply {
	return invalid(status, "resource_missing", "payment_method", fmt.Sprintf("No such PaymentMethod: '%s'", id))
}

func getPaymentMethod(id string) reply {
	pm := lookupPaymentMethod(id)
	if pm.missing {
		return noSuchPaymentMethod(http.StatusNotFound, id)
	}
	obj := map[string]any{
		"id": pm.id, "object": "payment_method", "type": pm.typ, "customer": nil,
		"created": time.Now().Unix(), "livemode": false, "metadata": map[string]string{},
		"billing_details": map[string]any{"email": nil, "name": nil},
	}
	if pm.typ == "card" {
		obj["card"] = map[string]any{"brand": pm.brand, "last4": pm.last4, "exp_month": 12,
			"exp_year": time.Now().Year() + 3, "funding": "credit", "country": "US"}
	} else {
		obj[pm.typ] = map[string]any{}
	}
	return reply{status: http.StatusOK, body: obj}
}
