package config

import (
	"errors"
	"fmt"
	"strings"
)

// StripeModeVar is the environment variable that tells a process holding no
// Stripe key (a backend using the typed client, the starter command) whether
// the deployment charges with a live Stripe key: "live" or "test".
const StripeModeVar = "STRIPE_MODE"

// Values of StripeModeVar.
const (
	StripeModeLive = "live"
	StripeModeTest = "test"
)

// LiveStripeKey reports whether key is a live Stripe key: a secret key
// (sk_live_…) or a restricted key (rk_live_…). Any other key, test or mock,
// is not live.
func LiveStripeKey(key string) bool {
	key = strings.TrimSpace(key)
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}

// StripeLiveMode reports, through lookup (os.LookupEnv in production),
// whether the deployment charges with a live Stripe key, for a process that
// is not the worker: the typed client refuses test clocks in live mode
// (client.LiveStripe).
//
// STRIPE_MODE says it: "live" or "test"; any other value is an error naming
// the variable. Without it, the mode is inferred from STRIPE_SECRET_KEY when
// that is set (sk_live_… and rk_live_… are live, any other key is test), and
// is test when neither is set. Both set and disagreeing is an error. Blank
// values count as unset; the error never shows a value.
func StripeLiveMode(lookup func(string) (string, bool)) (bool, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	mode, key := get(StripeModeVar), get("STRIPE_SECRET_KEY")
	var live bool
	switch mode {
	case "":
		return key != "" && LiveStripeKey(key), nil
	case StripeModeLive:
		live = true
	case StripeModeTest:
		live = false
	default:
		return false, fmt.Errorf("%s must be %q or %q", StripeModeVar, StripeModeLive, StripeModeTest)
	}
	if key != "" && LiveStripeKey(key) != live {
		if live {
			return false, errors.New("STRIPE_MODE is live but STRIPE_SECRET_KEY is not a live key (sk_live_… or rk_live_…); set the two to agree")
		}
		return false, errors.New("STRIPE_MODE is test but STRIPE_SECRET_KEY is a live key; set the two to agree")
	}
	return live, nil
}
