package webhooks

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts deliveries by provider and outcome and times each acknowledgement.
type metrics struct {
	accepted  *prometheus.CounterVec
	unsigned  *prometheus.CounterVec
	duplicate *prometheus.CounterVec
	ignored   *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	ack       *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "slipway", Subsystem: "webhook", Name: name, Help: help,
		}, labels)
	}
	m := &metrics{
		accepted:  counter("deliveries_accepted_total", "Deliveries recorded and answered 202.", "provider"),
		unsigned:  counter("deliveries_unsigned_accepted_total", "Deliveries accepted without a signature because their Application allows it; also counted as accepted.", "provider"),
		duplicate: counter("deliveries_duplicate_total", "Redeliveries of recorded deliveries, answered 200.", "provider"),
		ignored:   counter("deliveries_ignored_total", "Deliveries of events Slipway does not act on, answered 200 and not recorded.", "provider"),
		rejected:  counter("deliveries_rejected_total", "Deliveries answered 4xx or 5xx, by reason.", "provider", "reason"),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "slipway", Subsystem: "webhook", Name: "ack_duration_seconds",
			Help:    "Time from reading a delivery's headers to answering it, by status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "code"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.accepted, m.unsigned, m.duplicate, m.ignored, m.rejected, m.ack} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register webhook metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(provider string, out outcome, elapsed time.Duration) {
	switch {
	case out.reason != "":
		m.rejected.WithLabelValues(provider, out.reason).Inc()
	case out.key == "accepted":
		m.accepted.WithLabelValues(provider).Inc()
		if out.unsigned {
			m.unsigned.WithLabelValues(provider).Inc()
		}
	case out.key == "duplicate":
		m.duplicate.WithLabelValues(provider).Inc()
	case out.key == "ignored":
		m.ignored.WithLabelValues(provider).Inc()
	}
	m.ack.WithLabelValues(provider, strconv.Itoa(out.status)).Observe(elapsed.Seconds())
}
