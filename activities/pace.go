package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/time/rate"
)

// maxPaceWait is the longest an activity waits in place for its turn at a
// paced service; beyond it, it hands its slot back and asks to be retried
// when its turn comes (temporal.ApplicationErrorOptions.NextRetryDelay), so
// that a backlog queues in Temporal, not in the worker's slots.
const maxPaceWait = time.Second

// ErrTypePaced is a call the worker held back to keep a service under its
// configured rate (Stripe, or Temporal's visibility): retryable, with the
// delay after which its turn comes. Nothing was sent.
const ErrTypePaced = "Paced"

// pacer keeps calls to a service under a rate. A nil pacer lets everything
// through.
type pacer struct {
	service string
	limit   *rate.Limiter
}

// newPacer paces service to perSecond calls a second (bursts of a second's
// worth); perSecond <= 0 is unlimited (nil).
func newPacer(service string, perSecond float64) *pacer {
	if perSecond <= 0 {
		return nil
	}
	return &pacer{service: service, limit: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))}
}

// pacedError says a call was not made: its turn comes after Delay.
type pacedError struct {
	service string
	delay   time.Duration
}

func (e *pacedError) Error() string {
	return fmt.Sprintf("%s calls paced by the worker: next turn in %s", e.service, e.delay.Round(time.Millisecond))
}

// wait takes the call's turn: it waits for it if it comes within
// maxPaceWait, else it gives it back and returns a *pacedError.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	r := p.limit.Reserve()
	d := r.Delay()
	if d > maxPaceWait {
		r.Cancel()
		return &pacedError{service: p.service, delay: d}
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// pacedTransport paces every request of an HTTP client.
type pacedTransport struct {
	next http.RoundTripper
	p    *pacer
}

func (t pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.p.wait(req.Context()); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// pacedClient is hc whose requests go through p (hc itself if p is nil).
func pacedClient(hc *http.Client, p *pacer) *http.Client {
	if p == nil {
		return hc
	}
	c := *hc
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = pacedTransport{next: next, p: p}
	return &c
}

// paced turns a *pacedError anywhere in err into a retryable ErrTypePaced
// error retried when the call's turn comes; ok is false for other errors.
func (a *Activities) paced(op string, err error) (_ error, ok bool) {
	var pe *pacedError
	if !errors.As(err, &pe) {
		return nil, false
	}
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf("%s: %v", op, pe), ErrTypePaced,
		temporal.ApplicationErrorOptions{NextRetryDelay: pe.delay}), true
}
