// Package exporter publishes what oomkit learns as Prometheus metrics, on
// its own registry (client_golang), for a /metrics endpoint:
//
//	oomkit_oom_kills_total{namespace,pod,container,cause}
//	oomkit_memory_warnings_total{namespace,pod,container,threshold}
//	oomkit_recommended_memory_bytes{namespace,pod,container,setting}
//
// or, on a Docker host (New(Docker)), {container,compose_project,compose_service,...}:
// a label that would always be empty costs every series on every scrape.
//
// No existing metric says why a container was OOM-killed
// (container_oom_events_total has no cause, and kube-state-metrics keeps
// only the last termination reason): oomkit_oom_kills_total does. Every
// cause oom.Diagnose knows is initialised to 0 as soon as a container is
// known, so rate() and increase() see the first kill. Labels name
// containers, never processes (no pid label: PIDs would make a new series
// per kill).
package exporter

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// Target is a container as the metrics label it.
type Target struct {
	Namespace, Pod, Container      string
	ComposeProject, ComposeService string
}

// Host is the kind of host whose containers an Exporter labels.
type Host int

// The hosts.
const (
	// Kubernetes labels containers by namespace, pod and container.
	Kubernetes Host = iota
	// Docker labels containers by name and Compose project and service
	// (empty for a container Compose did not start).
	Docker
)

func (e *Exporter) labels(t Target) []string {
	if e.host == Docker {
		return []string{t.Container, t.ComposeProject, t.ComposeService}
	}
	return []string{t.Namespace, t.Pod, t.Container}
}

func targetLabels(h Host, extra string) []string {
	if h == Docker {
		return []string{"container", "compose_project", "compose_service", extra}
	}
	return []string{"namespace", "pod", "container", extra}
}

// Causes are the causes every target's kill counter starts with at 0: all
// that oom.Diagnose tells apart.
var Causes = []oom.Cause{
	oom.CauseContainerLimit, oom.CauseAncestorLimit, oom.CauseHostPressure, oom.CauseLeak, oom.CauseNotOOM,
	oom.CauseChildKilled, oom.CauseNoLimit, oom.CauseSwap, oom.CauseUnknown,
}

// Settings are the values of the setting label of
// oomkit_recommended_memory_bytes.
var Settings = []string{"memory", "memory_swap", "memory_reservation"}

// Exporter holds the metrics. Its methods are safe for concurrent use.
type Exporter struct {
	host        Host
	reg         *prometheus.Registry
	kills       *prometheus.CounterVec
	warnings    *prometheus.CounterVec
	recommended *prometheus.GaugeVec

	mu    sync.Mutex
	known map[Target]bool
}

// New returns an Exporter for a host's containers with its own registry
// (nothing else registered: not even the Go runtime's collectors).
func New(h Host) *Exporter {
	e := &Exporter{
		host: h,
		reg:  prometheus.NewRegistry(),
		kills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomkit_oom_kills_total",
			Help: "OOM kills of the container's processes, by the cause oomkit diagnosed.",
		}, targetLabels(h, "cause")),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomkit_memory_warnings_total",
			Help: "Times the container's memory use crossed a warning threshold (a fraction of its limit).",
		}, targetLabels(h, "threshold")),
		recommended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "oomkit_recommended_memory_bytes",
			Help: "The memory setting oomkit recommends for the container, in bytes (memory_swap -1: unlimited swap).",
		}, targetLabels(h, "setting")),
		known: map[Target]bool{},
	}
	e.reg.MustRegister(e.kills, e.warnings, e.recommended)
	return e
}

// Registry returns the Exporter's registry, to gather or to serve with
// other collectors.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler returns the /metrics handler.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})
}

// Add makes a target known: its kill counters appear, at 0 for every
// cause.
func (e *Exporter) Add(t Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.add(t)
}

func (e *Exporter) add(t Target) {
	if e.known[t] {
		return
	}
	e.known[t] = true
	l := e.labels(t)
	for _, c := range Causes {
		e.kills.WithLabelValues(append(l, string(c))...)
	}
}

// Kill counts n OOM kills of the target with their cause ("" counts as
// unknown).
func (e *Exporter) Kill(t Target, c oom.Cause, n int) {
	if n <= 0 {
		return
	}
	if c == "" {
		c = oom.CauseUnknown
	}
	e.mu.Lock()
	e.add(t)
	e.mu.Unlock()
	e.kills.WithLabelValues(append(e.labels(t), string(c))...).Add(float64(n))
}

// Warning counts one crossing of a warning threshold (a fraction of the
// limit, such as 0.9).
func (e *Exporter) Warning(t Target, threshold float64) {
	e.mu.Lock()
	e.add(t)
	e.mu.Unlock()
	e.warnings.WithLabelValues(append(e.labels(t), strconv.FormatFloat(threshold, 'f', -1, 64))...).Inc()
}

// Recommend publishes the target's recommended settings (a
// recommend.Recommendation's Memory, MemorySwap and MemoryReservation
// bytes; the package does not import recommend, which links Docker's
// types).
func (e *Exporter) Recommend(t Target, memory, memorySwap, memoryReservation cgroup.Bytes) {
	e.mu.Lock()
	e.add(t)
	e.mu.Unlock()
	l := e.labels(t)
	for i, v := range []float64{float64(memory), float64(memorySwap), float64(memoryReservation)} {
		e.recommended.WithLabelValues(append(l, Settings[i])...).Set(v)
	}
}

// Forget removes every series of a target (a container that is gone).
func (e *Exporter) Forget(t Target) {
	e.mu.Lock()
	delete(e.known, t)
	e.mu.Unlock()
	m := prometheus.Labels{}
	names := targetLabels(e.host, "")
	for i, v := range e.labels(t) {
		m[names[i]] = v
	}
	e.kills.DeletePartialMatch(m)
	e.warnings.DeletePartialMatch(m)
	e.recommended.DeletePartialMatch(m)
}

// Describe implements prometheus.Collector, so that an Exporter can also
// join another registry.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	e.kills.Describe(ch)
	e.warnings.Describe(ch)
	e.recommended.Describe(ch)
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.kills.Collect(ch)
	e.warnings.Collect(ch)
	e.recommended.Collect(ch)
}
