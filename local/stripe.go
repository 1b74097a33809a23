package main

import (
	"fmt"
	"strings"

	"github.com/stripe/stripe-go/v76"
	stripeclient "github.com/stripe/stripe-go/v76/client"
)

// createCustomers makes the demo real in Stripe's test mode: one customer
// per scenario, with the Stripe test cards the scenario uses attached to it
// (Stripe only charges a customer's own payment methods).
func createCustomers(api *stripeclient.API, scenarios []*scenario, log *eventLog) error {
	for _, s := range scenarios {
		cus, err := api.Customers.New(&stripe.CustomerParams{
			Email:    stripe.String(s.in.Email),
			Name:     stripe.String(s.in.Name),
			Metadata: map[string]string{"withings_plus_demo": s.acc},
		})
		if err != nil {
			return fmt.Errorf("create the Stripe test customer of %s: %w", s.acc, err)
		}
		s.in.StripeCustomerID = cus.ID
		s.cards = map[string]string{}
		for _, pm := range append([]string{s.in.PaymentMethodID}, s.testCards()...) {
			attached, err := api.PaymentMethods.Attach(pm, &stripe.PaymentMethodAttachParams{Customer: stripe.String(cus.ID)})
			if err != nil {
				return fmt.Errorf("attach %s to the Stripe test customer of %s: %w", pm, s.acc, err)
			}
			s.cards[pm] = attached.ID
		}
		s.in.PaymentMethodID = s.cards[s.in.PaymentMethodID]
		log.add("%s: Stripe test customer %s, card %s", s.acc, cus.ID, s.in.PaymentMethodID)
	}
	return nil
}

// testCards lists the Stripe test cards a scenario's steps switch to.
func (s *scenario) testCards() []string {
	var cards []string
	for _, st := range s.steps {
		if pm, ok := strings.CutPrefix(st.what, "update-payment-method "); ok && strings.HasPrefix(pm, "pm_card_") {
			cards = append(cards, pm)
		}
	}
	return cards
}
