package activities

import (
	"net/http"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/mail"
	stripeclient "github.com/stripe/stripe-go/v76/client"
	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/config"
)

// Activities holds the worker's connections to Stripe, SendGrid and Temporal.
// Register it with w.RegisterActivity(acts): each exported method is an
// activity of the same name (Charge, Refund, CheckPaymentMethod, FindCharge,
// SendEmail, PriorSubscriptions).
type Activities struct {
	cfg      config.Worker
	stripe   *stripeclient.API
	temporal client.Client
	http     *http.Client
	from     *mail.Email
	fromErr  error
	bodies   map[string]*bodyTemplate
	// visibility paces the eligibility look-ups (cfg.VisibilityRequestsPerSecond).
	visibility *pacer
}

// New builds the activities. tc is used only by PriorSubscriptions and may be
// nil where that activity is not run; httpClient nil means a client with a
// 30 s timeout. No request goes out before an activity runs.
func New(cfg config.Worker, tc client.Client, httpClient *http.Client) *Activities {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	a := &Activities{cfg: cfg, temporal: tc, http: httpClient, bodies: parseBodies(),
		visibility: newPacer("visibility", cfg.VisibilityRequestsPerSecond)}
	a.stripe = NewStripeAPI(cfg, pacedClient(httpClient, newPacer("Stripe", cfg.StripeRequestsPerSecond)))
	a.from, a.fromErr = mail.ParseEmail(cfg.EmailFrom)
	return a
}

// LiveMode reports whether a charges with a live Stripe key: the worker
// then refuses subscriptions on a test clock. (A function, not a method:
// every method of Activities is registered as an activity.)
func LiveMode(a *Activities) bool { return a.cfg.LiveMode() }
