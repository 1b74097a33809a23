package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/billing"
)

// SettlementsWaitingName is the gauge of the ended subscriptions still
// settling (refunds or charges retried hourly, at most 7 days, before they
// are handed to ops): subscriptions whose SettlementStatus is pending.
const SettlementsWaitingName = "subscriptions_settlements_waiting"

// SettlementsQuery is the visibility query the gauge counts.
var SettlementsQuery = fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = '%s'",
	api.WorkflowType, api.SASettlementStatus, billing.SettlementPending)

// DefaultSettlementsEvery is how often at most the gauge is counted.
const DefaultSettlementsEvery = time.Minute

// settlements is a collector counting, at most once per every and only
// when scraped, the subscriptions SettlementsQuery matches, in the client's
// namespace. A count that fails leaves the gauge out of the scrape (an
// alert on its absence tells), and is tried again after every.
type settlements struct {
	tc      client.Client
	every   time.Duration
	timeout time.Duration
	log     *slog.Logger
	desc    *prometheus.Desc

	mu      sync.Mutex
	at      time.Time // of the last attempt
	count   int64
	countOK bool // count is the last attempt's answer
	failing bool // the last attempt failed (and was logged)
}

func newSettlements(tc client.Client, every, timeout time.Duration, log *slog.Logger) *settlements {
	return &settlements{tc: tc, every: every, timeout: timeout, log: log,
		desc: prometheus.NewDesc(SettlementsWaitingName,
			"Ended subscriptions still settling refunds or charges (SettlementStatus pending), counted in visibility at most once per "+every.String()+".",
			nil, nil)}
}

func (s *settlements) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *settlements) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || time.Since(s.at) >= s.every {
		s.at = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		res, err := s.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: SettlementsQuery})
		cancel()
		if err != nil {
			if !s.failing {
				s.log.Warn("cannot count the settlements waiting; "+SettlementsWaitingName+" left out", "error", err)
			}
			s.countOK, s.failing = false, true
		} else {
			s.count, s.countOK, s.failing = res.GetCount(), true, false
		}
	}
	if s.countOK {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(s.count))
	}
}
