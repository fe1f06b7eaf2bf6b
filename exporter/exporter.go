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
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

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

	mu      sync.Mutex
	entries map[Target]*entry
	gen     atomic.Uint64 // bumped by every change: the handler's cache key
}

// entry holds a target's series, so that Collect hands them to the
// registry already in the order it sorts them into: sorting 10,000 series
// that arrive in map order was 40% of a scrape, checking them most of the
// rest.
type entry struct {
	key         []string // label values, in label-name order
	kills       map[string]prometheus.Counter
	warnings    map[string]prometheus.Counter
	recommended map[string]prometheus.Gauge
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
		entries: map[Target]*entry{},
	}
	e.reg.MustRegister(e)
	return e
}

// Registry returns the Exporter's registry, to gather or to serve with
// other collectors.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler returns the /metrics handler. A scrape renders the series only
// when something changed since the last one (kills are rare; Prometheus
// scrapes every few seconds): otherwise it writes the bytes it wrote then,
// for the same Accept and Accept-Encoding.
func (e *Exporter) Handler() http.Handler {
	h := promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})
	type cached struct {
		gen    uint64
		header http.Header
		code   int
		body   []byte
	}
	var mu sync.Mutex
	cache := map[string]*cached{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Accept") + "\x00" + r.Header.Get("Accept-Encoding")
		gen := e.gen.Load()
		mu.Lock()
		c := cache[key]
		mu.Unlock()
		if c == nil || c.gen != gen {
			rec := &recorder{header: http.Header{}, code: http.StatusOK}
			h.ServeHTTP(rec, r)
			c = &cached{gen: gen, header: rec.header, code: rec.code, body: rec.body.Bytes()}
			if c.code == http.StatusOK {
				mu.Lock()
				if len(cache) > 16 {
					clear(cache)
				}
				cache[key] = c
				mu.Unlock()
			}
		}
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.code)
		_, _ = w.Write(c.body)
	})
}

// recorder keeps a response to replay it.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// Add makes a target known: its kill counters appear, at 0 for every
// cause.
func (e *Exporter) Add(t Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.add(t)
}

// add returns the target's entry, made with every cause at 0. Call with
// e.mu held.
func (e *Exporter) add(t Target) *entry {
	if en, ok := e.entries[t]; ok {
		return en
	}
	l := e.labels(t)
	e.gen.Add(1)
	en := &entry{key: l, kills: map[string]prometheus.Counter{}, warnings: map[string]prometheus.Counter{}, recommended: map[string]prometheus.Gauge{}}
	for _, c := range Causes {
		en.kills[string(c)] = e.kills.WithLabelValues(append(l, string(c))...)
	}
	e.entries[t] = en
	return en
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
	en := e.add(t)
	k, ok := en.kills[string(c)]
	if !ok {
		k = e.kills.WithLabelValues(append(e.labels(t), string(c))...)
		en.kills[string(c)] = k
	}
	e.mu.Unlock()
	k.Add(float64(n))
	e.gen.Add(1)
}

// Warning counts one crossing of a warning threshold (a fraction of the
// limit, such as 0.9).
func (e *Exporter) Warning(t Target, threshold float64) {
	th := strconv.FormatFloat(threshold, 'f', -1, 64)
	e.mu.Lock()
	en := e.add(t)
	w, ok := en.warnings[th]
	if !ok {
		w = e.warnings.WithLabelValues(append(e.labels(t), th)...)
		en.warnings[th] = w
	}
	e.mu.Unlock()
	w.Inc()
	e.gen.Add(1)
}

// Recommend publishes the target's recommended settings (a
// recommend.Recommendation's Memory, MemorySwap and MemoryReservation
// bytes; the package does not import recommend, which links Docker's
// types).
func (e *Exporter) Recommend(t Target, memory, memorySwap, memoryReservation cgroup.Bytes) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.add(t)
	for i, v := range []float64{float64(memory), float64(memorySwap), float64(memoryReservation)} {
		g, ok := en.recommended[Settings[i]]
		if !ok {
			g = e.recommended.WithLabelValues(append(e.labels(t), Settings[i])...)
			en.recommended[Settings[i]] = g
		}
		g.Set(v)
	}
	e.gen.Add(1)
}

// Forget removes every series of a target (a container that is gone).
func (e *Exporter) Forget(t Target) {
	e.mu.Lock()
	delete(e.entries, t)
	e.mu.Unlock()
	m := prometheus.Labels{}
	names := targetLabels(e.host, "")
	for i, v := range e.labels(t) {
		m[names[i]] = v
	}
	e.kills.DeletePartialMatch(m)
	e.warnings.DeletePartialMatch(m)
	e.recommended.DeletePartialMatch(m)
	e.gen.Add(1)
}

// Describe implements prometheus.Collector, so that an Exporter can also
// join another registry.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	e.kills.Describe(ch)
	e.warnings.Describe(ch)
	e.recommended.Describe(ch)
}

// Collect implements prometheus.Collector. It sends each family's series
// in the order the registry sorts them (by label values, labels in name
// order: the cause comes first, the threshold and setting last).
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	ents := make([]*entry, 0, len(e.entries))
	for _, en := range e.entries {
		ents = append(ents, en)
	}
	causes := map[string]bool{}
	for _, en := range ents {
		for c := range en.kills {
			causes[c] = true
		}
	}
	e.mu.Unlock()
	slices.SortFunc(ents, func(a, b *entry) int { return slices.Compare(a.key, b.key) })
	for _, c := range sortedKeys(causes) {
		for _, en := range ents {
			e.mu.Lock()
			k := en.kills[c]
			e.mu.Unlock()
			if k != nil {
				ch <- k
			}
		}
	}
	for _, en := range ents {
		e.mu.Lock()
		ws := make([]string, 0, len(en.warnings))
		for th := range en.warnings {
			ws = append(ws, th)
		}
		slices.Sort(ws)
		ms := make([]prometheus.Metric, 0, len(ws)+len(en.recommended))
		for _, th := range ws {
			ms = append(ms, en.warnings[th])
		}
		e.mu.Unlock()
		for _, m := range ms {
			ch <- m
		}
	}
	for _, en := range ents {
		e.mu.Lock()
		ms := make([]prometheus.Metric, 0, len(en.recommended))
		for _, st := range sortedSettings {
			if g, ok := en.recommended[st]; ok {
				ms = append(ms, g)
			}
		}
		e.mu.Unlock()
		for _, m := range ms {
			ch <- m
		}
	}
}

var sortedSettings = func() []string { s := slices.Clone(Settings); slices.Sort(s); return s }()

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
