package billing

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/withings-plus/subscriptions/api"
)

// Bounds on what one subscription keeps in its state.
const (
	maxPayments = 240
	maxRejected = 50
)

// CurrentRules is the version of the rules a subscription opened today
// follows. Rules 0 is what subscriptions recorded before these rules did:
// the workflow replays their histories with it (see workflow.GetVersion).
// Rules 1: dunning retries spaced from the declined attempt, a late decline
// never reopens an ended subscription, and cancelling keeps a paid period.
// Rules 2: an attempt whose outcome Stripe left indeterminate, or that
// Stripe refused as a mistake of ours, is held, looked up and made again
// under a new key, never taken for a decline (see Hold), and the charge
// issue is published for ops.
// Rules 3: these rules are unchanged; the workflow sends its emails as local
// activities, within the workflow task that decides them, and publishes a
// change of the next charge date or of the amount outstanding alone once
// nothing more is due.
const CurrentRules = 3

// ErrEnded is returned for any request to a subscription that has ended.
var ErrEnded = errors.New("the subscription has ended")

// Subscription is the billing state of one subscription and its state
// machine. Its methods take the subscription clock's time and never perform
// I/O: the workflow performs the charges and emails they ask for and reports
// back. It is carried whole, as JSON, across continue-as-new.
type Subscription struct {
	Rules           int    `json:"rules,omitempty"` // version of the rules followed (CurrentRules)
	ID              string `json:"id"`              // the workflow ID
	KeyPrefix       string `json:"keyPrefix"`       // idempotency-key prefix, unique per subscription
	AccountID       string `json:"accountId"`
	Plan            string `json:"plan"`
	Currency        string `json:"currency"`
	Offer           string `json:"offer"`
	PaymentMethodID string `json:"paymentMethodId"`
	Dunning         []int  `json:"dunning"`

	ContractStart         time.Time `json:"contractStart"`
	TrialGranted          bool      `json:"trialGranted"`
	TrialIneligibleReason string    `json:"trialIneligibleReason"`
	TrialEnd              time.Time `json:"trialEnd"`
	TrialEndingSent       bool      `json:"trialEndingSent"`

	// Billing dates are BillingDate(Anchor, Plan, Index + k); Index is the next one's.
	Anchor       time.Time         `json:"anchor"`
	Index        int               `json:"index"`
	Cycle        int               `json:"cycle"` // cycles that have fallen due
	PendingPlan  string            `json:"pendingPlan"`
	PriceChanges []api.PriceChange `json:"priceChanges"`
	Open         []Due             `json:"open"` // unpaid cycles
	// Suspension is set when a cycle runs out of retries and cleared when
	// nothing is outstanding any more.
	Suspension bool `json:"suspension,omitempty"`

	Canceled     bool   `json:"canceled"`
	CancelReason string `json:"cancelReason"`
	// CancelAnswer is the first cancel's answer, returned to every later one.
	CancelAnswer    *api.CancelResult `json:"cancelAnswer,omitempty"`
	AccessUntil     time.Time         `json:"accessUntil"`
	Ended           bool              `json:"ended"`
	EndReason       string            `json:"endReason"`
	EndedAt         time.Time         `json:"endedAt"`
	TerminateReason string            `json:"terminateReason"`
	// HandedToOps is set when what an ended subscription still had to
	// settle was not settled within SettlementWindow: ops take it over.
	HandedToOps bool `json:"handedToOps,omitempty"`

	Payments []api.Payment  `json:"payments"`
	Rejected []api.Rejected `json:"rejected"`
}

// Due is an unpaid billing cycle.
type Due struct {
	Cycle       int       `json:"cycle"`
	AmountMinor int64     `json:"amountMinor"`
	DueAt       time.Time `json:"dueAt"`
	Attempts    int       `json:"attempts"` // attempts that got an answer; the next attempt's number
	Retries     int       `json:"retries"`  // dunning retries made
	// DeclinedAt is when the last attempt was declined: the next dunning
	// retry is spaced from it (rules 1; absent: from DueAt).
	DeclinedAt *time.Time `json:"declinedAt,omitempty"`
	// RetryErrorAt is set when the last attempt got no answer (Stripe
	// unreachable): the same attempt, under the same idempotency key, is made
	// again then.
	RetryErrorAt         *time.Time `json:"retryErrorAt,omitempty"`
	ErrorWasRetry        bool       `json:"errorWasRetry,omitempty"`
	ErrorPaymentMethodID string     `json:"errorPaymentMethodId,omitempty"`
	// SentAt is when the unanswered attempt was first sent: once Stripe may
	// have forgotten its idempotency key, it is looked up before it is sent again.
	SentAt *time.Time `json:"sentAt,omitempty"`
	// Recheck, Keys, Issue and UnknownSince describe an attempt held by
	// Hold (rules 2): see outcome.go.
	Recheck      bool       `json:"recheck,omitempty"`
	Keys         int        `json:"keys,omitempty"`
	Issue        string     `json:"issue,omitempty"`
	UnknownSince *time.Time `json:"unknownSince,omitempty"`
}

// Start describes a new subscription.
type Start struct {
	ID, KeyPrefix, AccountID    string
	Plan, Currency, Offer, PMID string
	Dunning                     []int
	InstalledAt                 time.Time
	Prior                       []Period
}

// New opens a subscription whose contract starts at InstalledAt. A launch
// offer gives a trial to a new subscriber; the first billing date (the
// anchor) is the trial end, or InstalledAt without a trial.
func New(s Start) *Subscription {
	sub := &Subscription{
		ID: s.ID, KeyPrefix: s.KeyPrefix, AccountID: s.AccountID,
		Plan: s.Plan, Currency: s.Currency, Offer: s.Offer, PaymentMethodID: s.PMID,
		Dunning:       s.Dunning,
		Rules:         CurrentRules,
		ContractStart: s.InstalledAt.UTC(),
		Anchor:        s.InstalledAt.UTC(),
	}
	if sub.Dunning == nil {
		sub.Dunning = DefaultDunningDays()
	}
	sub.TrialGranted, sub.TrialIneligibleReason = Eligibility(s.Offer, s.InstalledAt, s.Prior)
	if sub.TrialGranted {
		sub.TrialEnd = TrialEnd(sub.ContractStart)
		sub.Anchor = sub.TrialEnd
	}
	return sub
}

// NextDue is the next billing date.
func (s *Subscription) NextDue() time.Time { return BillingDate(s.Anchor, s.Plan, s.Index) }

// InTrial reports whether no cycle has fallen due yet under a granted trial.
func (s *Subscription) InTrial() bool { return s.TrialGranted && s.Cycle == 0 }

// Suspended reports whether access is suspended: a cycle is still unpaid
// after its last dunning retry, or was, and something is still outstanding
// (access returns only when nothing is). A cycle whose first attempt has not
// been answered yet has not failed.
func (s *Subscription) Suspended() bool {
	for _, d := range s.Open {
		if d.Attempts > 0 && d.Retries >= len(s.Dunning) {
			return true
		}
	}
	return s.Suspension && s.Outstanding() > 0
}

// AccessActive reports whether the customer has access to the service.
func (s *Subscription) AccessActive() bool { return !s.Ended && !s.Suspended() }

// Status is the contract's status of the subscription.
func (s *Subscription) Status() string {
	switch {
	case s.Ended:
		return api.StatusEnded
	case s.Canceled:
		return api.StatusCanceling
	case s.Suspended():
		return api.StatusSuspended
	case s.declined():
		return api.StatusPastDue
	case s.InTrial():
		return api.StatusTrialing
	default:
		return api.StatusActive
	}
}

// declined reports whether an open cycle has had a declined attempt. A cycle
// whose charge is in flight, or was never answered, is not past due yet.
func (s *Subscription) declined() bool {
	return slices.ContainsFunc(s.Open, func(d Due) bool { return d.Attempts > 0 })
}

// Outstanding is the sum of the cycles left unpaid by a declined attempt.
// A charge in flight, or never answered, is pending, not outstanding.
func (s *Subscription) Outstanding() int64 {
	var sum int64
	for _, d := range s.Open {
		if d.Attempts > 0 {
			sum += d.AmountMinor
		}
	}
	return sum
}

// PriceAt is the price of plan for a charge due at: the latest price change
// of that plan applying by then, else the list price.
func (s *Subscription) PriceAt(plan string, at time.Time) int64 {
	price := ListPrice(plan)
	var from time.Time
	for _, c := range s.PriceChanges {
		if c.Plan == plan && !c.AppliesFrom.After(at) && !c.AppliesFrom.Before(from) {
			price, from = c.PriceMinor, c.AppliesFrom
		}
	}
	return price
}

// EventKind says what falls due at an Event.
type EventKind int

// Kinds of events, in the order they are handled when they fall at the same time.
const (
	EventRetry       EventKind = iota // a dunning retry, or an unanswered attempt made again
	EventCharge                       // the next billing date
	EventTrialEnding                  // the trial_ending email
	EventEnd                          // the end of a canceled subscription's access
)

// Event is the next thing that falls due.
type Event struct {
	Kind  EventKind
	At    time.Time
	Cycle int // for EventRetry
}

// NextEvent is the earliest pending event, false once the subscription has ended.
func (s *Subscription) NextEvent() (Event, bool) {
	if s.Ended {
		return Event{}, false
	}
	var events []Event
	for _, d := range s.Open {
		if at, ok := s.retryTime(d); ok {
			events = append(events, Event{Kind: EventRetry, At: at, Cycle: d.Cycle})
		}
	}
	if s.Canceled {
		events = append(events, Event{Kind: EventEnd, At: s.AccessUntil})
	} else {
		events = append(events, Event{Kind: EventCharge, At: s.NextDue()})
		if s.TrialGranted && !s.TrialEndingSent && s.Cycle == 0 {
			events = append(events, Event{Kind: EventTrialEnding, At: TrialEndingNotice(s.TrialEnd)})
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].At.Equal(events[j].At) {
			return events[i].At.Before(events[j].At)
		}
		return events[i].Kind < events[j].Kind
	})
	return events[0], true
}

// retryTime is when the open cycle d is next attempted automatically. A
// canceled subscription makes no attempt once its access has ended.
func (s *Subscription) retryTime(d Due) (time.Time, bool) {
	at, ok := RetryAt(d.DueAt, s.Dunning, d.Retries+1)
	if d.DeclinedAt != nil {
		at, ok = RetryAfter(*d.DeclinedAt, s.Dunning, d.Retries+1)
	}
	if d.RetryErrorAt != nil {
		at, ok = *d.RetryErrorAt, true
	}
	if ok && s.Canceled && !at.Before(s.AccessUntil) {
		return time.Time{}, false
	}
	return at, ok
}

// NextChargeAt is when money is next asked for: a retry or the next billing
// date. An ended subscription asks for nothing more.
func (s *Subscription) NextChargeAt() (time.Time, bool) {
	var next time.Time
	found := false
	if s.Ended {
		return next, false
	}
	for _, d := range s.Open {
		if at, ok := s.retryTime(d); ok && (!found || at.Before(next)) {
			next, found = at, true
		}
	}
	if !s.Ended && !s.Canceled && (!found || s.NextDue().Before(next)) {
		next, found = s.NextDue(), true
	}
	return next, found
}

// Charge is one attempt to collect a cycle, for the workflow to perform.
type Charge struct {
	Cycle           int
	Attempt         int
	AmountMinor     int64
	DueAt           time.Time
	PaymentMethodID string
	Retry           bool // a scheduled dunning retry
	// Resend is set when the attempt was sent before and got no answer: it
	// is made again under the same key. SentAt is when it was first sent
	// (zero if that is not known).
	Resend bool
	SentAt time.Time
	// Recheck is set when the attempt must be looked up at Stripe before it
	// is made again, and made under a new key (RenewKey) if Stripe holds
	// nothing of it. Key counts the keys renewed for the attempt.
	Recheck bool
	Key     int
}

// IdempotencyKey is the Stripe Idempotency-Key of a charge attempt: stable
// for one attempt, different for each attempt and for each key renewed.
func (s *Subscription) IdempotencyKey(c Charge) string {
	key := fmt.Sprintf("%s/cycle-%d/attempt-%d", s.KeyPrefix, c.Cycle, c.Attempt)
	if c.Key > 0 {
		key += fmt.Sprintf("/key-%d", c.Key)
	}
	return key
}

// StartCycle makes the next billing date fall due. A pending plan change
// takes effect here and the date becomes the new anchor. It returns the
// charge to attempt.
func (s *Subscription) StartCycle() Charge {
	due := s.NextDue()
	if s.PendingPlan != "" {
		s.Plan, s.PendingPlan = s.PendingPlan, ""
		s.Anchor, s.Index = due, 0
	}
	s.Index++
	s.Cycle++
	d := Due{Cycle: s.Cycle, AmountMinor: s.PriceAt(s.Plan, due), DueAt: due}
	s.Open = append(s.Open, d)
	return Charge{Cycle: d.Cycle, Attempt: 0, AmountMinor: d.AmountMinor, DueAt: due, PaymentMethodID: s.PaymentMethodID}
}

// RetryCharge is the charge of the retry of the open cycle.
func (s *Subscription) RetryCharge(cycle int) (Charge, bool) {
	i := s.openIndex(cycle)
	if i < 0 {
		return Charge{}, false
	}
	d := s.Open[i]
	c := Charge{Cycle: cycle, Attempt: d.Attempts, AmountMinor: d.AmountMinor, DueAt: d.DueAt, PaymentMethodID: s.PaymentMethodID, Retry: true}
	if d.RetryErrorAt != nil { // the unanswered attempt again, exactly as it was sent
		c.Retry, c.PaymentMethodID, c.Resend = d.ErrorWasRetry, d.ErrorPaymentMethodID, true
		c.Recheck, c.Key = d.Recheck, d.Keys
		if d.SentAt != nil {
			c.SentAt = *d.SentAt
		}
	}
	return c, true
}

// Collectable lists a charge for every open cycle, oldest first: what a new
// payment method is asked for at once. A cycle whose last attempt was never
// answered is left to be made again under its own key, so that it cannot be
// charged twice.
func (s *Subscription) Collectable() []Charge {
	out := make([]Charge, 0, len(s.Open))
	for _, d := range s.Open {
		if d.RetryErrorAt == nil {
			out = append(out, Charge{Cycle: d.Cycle, Attempt: d.Attempts, AmountMinor: d.AmountMinor, DueAt: d.DueAt, PaymentMethodID: s.PaymentMethodID})
		}
	}
	return out
}

func (s *Subscription) openIndex(cycle int) int {
	return slices.IndexFunc(s.Open, func(d Due) bool { return d.Cycle == cycle })
}

// Paid records a successful charge: the cycle is no longer due. An answer
// for a cycle that is not open is ignored, so it is never recorded twice.
func (s *Subscription) Paid(c Charge, paymentIntentID string, now time.Time) {
	i := s.openIndex(c.Cycle)
	if i < 0 {
		return
	}
	s.Open = slices.Delete(s.Open, i, i+1)
	if s.Outstanding() == 0 {
		s.Suspension = false
	}
	s.addPayment(api.Payment{Cycle: c.Cycle, AmountMinor: c.AmountMinor, Currency: s.Currency,
		Status: api.PaymentSucceeded, PaymentIntentID: paymentIntentID, At: now, Attempt: c.Attempt})
}

// Declined records a declined charge. A scheduled attempt moves the cycle
// along the dunning schedule, whose next retry is spaced from now; after the
// last retry the subscription is suspended, and a canceled one with no paid
// period left ends at once.
//
// On an ended subscription (a charge whose answer came after the end) the
// end never changes: after a withdrawal nothing is owed, so the cycle is
// dropped; otherwise it stays outstanding, as it fell due before the end.
func (s *Subscription) Declined(c Charge, paymentIntentID, code string, now time.Time) {
	i := s.openIndex(c.Cycle)
	if i < 0 {
		return
	}
	s.addPayment(api.Payment{Cycle: c.Cycle, AmountMinor: c.AmountMinor, Currency: s.Currency,
		Status: api.PaymentFailed, PaymentIntentID: paymentIntentID, At: now, Attempt: c.Attempt, DeclineCode: code})
	d := &s.Open[i]
	d.Attempts = c.Attempt + 1
	d.RetryErrorAt, d.ErrorWasRetry, d.ErrorPaymentMethodID, d.SentAt = nil, false, "", nil
	d.clearHold()
	if s.Rules >= 1 && s.Ended {
		if s.EndReason == api.EndWithdrawn {
			s.Open = slices.Delete(s.Open, i, i+1)
		}
		return
	}
	if c.Retry {
		d.Retries++
	}
	if s.Rules >= 1 {
		d.DeclinedAt = &now
	}
	if d.Retries >= len(s.Dunning) {
		s.Suspension = true
	}
	if s.Canceled && s.Suspended() && (s.Rules < 1 || s.currentPeriodUnpaid()) {
		s.end(now, api.EndCanceled)
	}
}

// currentPeriodUnpaid reports whether the last cycle that fell due is known
// to be unpaid: declined, with no attempt awaiting an answer (a pending
// charge may still pay the period).
func (s *Subscription) currentPeriodUnpaid() bool {
	i := s.openIndex(s.Cycle)
	return s.Cycle > 0 && i >= 0 && s.Open[i].Attempts > 0 && s.Open[i].RetryErrorAt == nil
}

// Unanswered records an attempt sent at sentAt that got no answer from
// Stripe: it is made again at retryAt under the same idempotency key, so that
// it can never be charged twice. For an attempt sent again (c.Resend), the
// first sending's time is kept; a zero time means unknown.
//
// Under rules 2 the outcome is unknown from sentAt on (see ChargeIssue);
// an attempt held for a recheck stays held, with no issue.
func (s *Subscription) Unanswered(c Charge, sentAt, retryAt time.Time) {
	if i := s.openIndex(c.Cycle); i >= 0 {
		d := &s.Open[i]
		unknownFrom := sentAt
		if c.Resend {
			sentAt = c.SentAt // sent again: the first sending counts, unknown stays unknown
		}
		d.SentAt = nil
		if !sentAt.IsZero() {
			d.SentAt = &sentAt
		}
		d.Attempts = c.Attempt
		d.RetryErrorAt = &retryAt
		d.ErrorWasRetry = c.Retry
		d.ErrorPaymentMethodID = c.PaymentMethodID
		if s.Rules >= 2 {
			d.Recheck, d.Keys, d.Issue = c.Recheck, c.Key, ""
			if d.UnknownSince == nil && !unknownFrom.IsZero() {
				d.UnknownSince = &unknownFrom
			}
		}
	}
}

func (s *Subscription) addPayment(p api.Payment) {
	s.Payments = append(s.Payments, p)
	if n := len(s.Payments); n > maxPayments {
		s.Payments = slices.Delete(s.Payments, 0, n-maxPayments)
	}
}

// Reject records a refused signal.
func (s *Subscription) Reject(now time.Time, signal string, err error) {
	s.Rejected = append(s.Rejected, api.Rejected{At: now, Signal: signal, Error: err.Error()})
	if n := len(s.Rejected); n > maxRejected {
		s.Rejected = slices.Delete(s.Rejected, 0, n-maxRejected)
	}
}

func (s *Subscription) end(now time.Time, reason string) {
	s.Ended, s.EndReason, s.EndedAt = true, reason, now
	if !s.Canceled || now.Before(s.AccessUntil) {
		s.AccessUntil = now
	}
}
