// Package metrics exports the worker's metrics to Prometheus and answers an
// orchestrator's health checks.
//
// Handler is the Temporal SDK's metrics handler (client.Options.MetricsHandler)
// recording into a Prometheus registry: the SDK's own worker, workflow and
// activity metrics, and whatever a workflow records through
// workflow.GetMetricsHandler(ctx) or an activity through
// activity.GetMetricsHandler(ctx), come out of one /metrics endpoint with the
// Go runtime's and the process's metrics. Server serves it with /healthz and
// /livez.
//
// Names follow Prometheus conventions, as the SDK's tally contrib names them
// (so Temporal's published SDK dashboards apply): a counter gets the suffix
// _total unless it has it (temporal_request becomes temporal_request_total,
// subscriptions_charges_total stays), a timer is a histogram in seconds with
// the suffix _seconds (temporal_activity_execution_latency_seconds_bucket,
// _sum, _count), a gauge keeps its name. Tags become labels. A character a
// Prometheus name cannot hold becomes '_'.
package metrics

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
)

// TimerBuckets are the histogram buckets, in seconds, of every timer: from a
// millisecond (a workflow task) to ten minutes (an activity's retries, a long
// poll is about a minute).
var TimerBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// MaxSeries bounds the number of series a Handler keeps, against a tag that
// would take unbounded values; past it new series are dropped and logged once.
const MaxSeries = 10000

// Handler records the SDK's metrics into a Prometheus registry. Every handler
// derived from one by WithTags records into the same registry. It is safe for
// concurrent use.
type Handler struct {
	store  *store
	tags   map[string]string // as given, merged
	labels prometheus.Labels // tags as labels
	key    string            // labels, canonical
	// derived holds the handlers WithTags derived from this one, by tagsKey.
	derived *sync.Map
}

var _ client.MetricsHandler = (*Handler)(nil)

// NewHandler returns a handler with its own registry, which also holds the
// Go runtime's and the process's collectors. logger (nil: discard) hears of
// dropped series and name clashes.
func NewHandler(logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &store{
		reg:      prometheus.NewRegistry(),
		series:   map[string]prometheus.Metric{},
		families: map[string]family{},
		log:      logger,
	}
	s.reg.MustRegister(s, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Handler{store: s, tags: map[string]string{}, labels: prometheus.Labels{}, derived: new(sync.Map)}
}

// Registry is the registry the handler records into, for the HTTP handler
// and for collectors of the application's own (Register).
func (h *Handler) Registry() *prometheus.Registry { return h.store.reg }

// WithTags returns a handler adding tags to what h has (a tag h has is
// overwritten).
//
// The SDK calls it for every task it runs, with the same few tags: the
// handler derived is kept (up to MaxSeries of them), so that a task costs a
// map look-up rather than building the labels again.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	id := tagsKey(tags)
	if d, ok := h.derived.Load(id); ok {
		return d.(*Handler)
	}
	d := h.withTags(tags)
	if h.store.derived.Add(1) <= MaxSeries {
		h.derived.Store(id, d)
	}
	return d
}

// tagsKey is tags, canonical: each key and value prefixed by its length,
// so that no two maps share a key.
func tagsKey(tags map[string]string) string {
	var kbuf [8]string // the SDK's tags are a few: sorted without allocating
	keys := kbuf[:0]
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 128)
	for _, k := range keys {
		b = strconv.AppendInt(b, int64(len(k)), 10)
		b = append(b, ':')
		b = append(b, k...)
		b = strconv.AppendInt(b, int64(len(tags[k])), 10)
		b = append(b, ':')
		b = append(b, tags[k]...)
	}
	return string(b)
}

func (h *Handler) withTags(tags map[string]string) *Handler {
	merged := maps.Clone(h.tags)
	maps.Copy(merged, tags)
	labels := prometheus.Labels{}
	for _, k := range slices.Sorted(maps.Keys(merged)) { // sorted: two keys sanitized alike resolve alike
		labels[LabelName(k)] = strings.ToValidUTF8(merged[k], "\uFFFD")
	}
	var key strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&key, "%s=%q,", k, labels[k])
	}
	return &Handler{store: h.store, tags: merged, labels: labels, key: key.String(), derived: new(sync.Map)}
}

// Counter is the counter name (exported as name_total) with h's tags.
func (h *Handler) Counter(name string) client.MetricsCounter {
	m := h.store.get(kindCounter, name, h)
	c, ok := m.(prometheus.Counter)
	if !ok {
		return nopMetric{}
	}
	return counter{c}
}

// Gauge is the gauge name with h's tags.
func (h *Handler) Gauge(name string) client.MetricsGauge {
	g, ok := h.store.get(kindGauge, name, h).(prometheus.Gauge)
	if !ok {
		return nopMetric{}
	}
	return gauge{g}
}

// Timer is the histogram name_seconds with h's tags.
func (h *Handler) Timer(name string) client.MetricsTimer {
	o, ok := h.store.get(kindTimer, name, h).(prometheus.Histogram)
	if !ok {
		return nopMetric{}
	}
	return timer{o}
}

type counter struct{ c prometheus.Counter }

// Inc adds n; a Prometheus counter never goes down, so n <= 0 adds nothing.
func (c counter) Inc(n int64) {
	if n > 0 {
		c.c.Add(float64(n))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ h prometheus.Histogram }

func (t timer) Record(d time.Duration) { t.h.Observe(d.Seconds()) }

type nopMetric struct{}

func (nopMetric) Inc(int64)            {}
func (nopMetric) Update(float64)       {}
func (nopMetric) Record(time.Duration) {}

// ExportedName is the Prometheus name of an SDK metric of the given kind
// ("counter", "gauge" or "timer"); a histogram's series add _bucket, _sum
// and _count to it.
func ExportedName(kind, name string) string {
	n := sanitize(name, true)
	switch kind {
	case kindCounter:
		if !strings.HasSuffix(n, "_total") {
			n += "_total"
		}
	case kindTimer:
		if !strings.HasSuffix(n, "_seconds") {
			n += "_seconds"
		}
	}
	return n
}

// LabelName is the Prometheus label of an SDK tag. The histograms' le and
// the reserved __ prefix are renamed with a tag_ prefix.
func LabelName(tag string) string {
	n := sanitize(tag, false)
	if n == "le" || n == "quantile" || strings.HasPrefix(n, "__") {
		n = "tag_" + n
	}
	return n
}

// sanitize maps a name onto [a-zA-Z_][a-zA-Z0-9_]* (with ':' too for a
// metric name).
func sanitize(name string, metric bool) string {
	if name == "" {
		return "_"
	}
	out := make([]byte, 0, len(name)+1)
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || metric && c == ':'
		if !ok {
			c = '_'
		}
		out = append(out, c)
	}
	if out[0] >= '0' && out[0] <= '9' {
		out = append([]byte{'_'}, out...)
	}
	return string(out)
}

const (
	kindCounter = "counter"
	kindGauge   = "gauge"
	kindTimer   = "timer"
)

type family struct {
	kind, help string
}

// store holds every series of a handler and its derived handlers; it is the
// registry's collector of them. It registers as an unchecked collector
// (Describe sends nothing), so that one name may carry different label sets
// (the SDK adds status_code to failed requests, for one).
type store struct {
	reg *prometheus.Registry
	log *slog.Logger

	mu       sync.RWMutex
	series   map[string]prometheus.Metric // by kind, SDK name and labels
	families map[string]family            // by exported name
	order    []prometheus.Metric          // creation order, for Collect
	dropped  bool
	clashed  map[string]bool

	derived atomic.Int64 // handlers kept by WithTags, or tried to
}

func (s *store) get(kind, name string, h *Handler) prometheus.Metric {
	key := kind + "\x00" + name + "\x00" + h.key
	s.mu.RLock()
	m, ok := s.series[key]
	s.mu.RUnlock()
	if ok {
		return m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.series[key]; ok {
		return m
	}
	exported := ExportedName(kind, name)
	f, known := s.families[exported]
	switch {
	case known && f.kind != kind:
		if !s.clashed[exported] {
			if s.clashed == nil {
				s.clashed = map[string]bool{}
			}
			s.clashed[exported] = true
			s.log.Warn("metric dropped: its Prometheus name is already a metric of another kind", "name", name, "kind", kind, "exported", exported, "existing", f.kind)
		}
		s.series[key] = nil
		return nil
	case len(s.order) >= MaxSeries:
		if !s.dropped {
			s.dropped = true
			s.log.Warn("metric series dropped: too many series (a tag with unbounded values?)", "max", MaxSeries, "name", name, "labels", h.labels)
		}
		return nil // not kept: a later call may still be dropped, and logs nothing more
	case !known:
		f = family{kind: kind, help: fmt.Sprintf("Temporal SDK %s %s.", kind, name)}
		if !strings.HasPrefix(name, "temporal_") {
			f.help = fmt.Sprintf("%s %s, recorded through the Temporal SDK metrics handler.", kind, name)
		}
		s.families[exported] = f
	}
	switch kind {
	case kindCounter:
		m = prometheus.NewCounter(prometheus.CounterOpts{Name: exported, Help: f.help, ConstLabels: h.labels})
	case kindGauge:
		m = prometheus.NewGauge(prometheus.GaugeOpts{Name: exported, Help: f.help, ConstLabels: h.labels})
	default:
		m = prometheus.NewHistogram(prometheus.HistogramOpts{Name: exported, Help: f.help, ConstLabels: h.labels, Buckets: TimerBuckets})
	}
	s.series[key] = m
	s.order = append(s.order, m)
	return m
}

// Describe sends nothing: the store is an unchecked collector.
func (s *store) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series.
func (s *store) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	all := slices.Clone(s.order)
	s.mu.RUnlock()
	for _, m := range all {
		ch <- m
	}
}
