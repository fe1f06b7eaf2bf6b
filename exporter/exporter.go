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
	"compress/gzip"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

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
// that oom.Diagnose tells apart (TestCausesComplete fails when package oom
// gains one that is missing here).
var Causes = []oom.Cause{
	oom.CauseContainerLimit, oom.CauseAncestorLimit, oom.CauseHostPressure, oom.CauseLeak, oom.CauseDescendantKill,
	oom.CauseNotOOM, oom.CauseChildKilled, oom.CauseNoLimit, oom.CauseSwap, oom.CauseUnknown,
}

// Settings are the values of the setting label of
// oomkit_recommended_memory_bytes.
var Settings = []string{"memory", "memory_swap", "memory_reservation"}

// The families, in the order the registry sorts them (by name).
const (
	famWarnings = iota
	famKills
	famRecommended
	nFams
)

type family struct {
	name, help, extra string
	typ               prometheus.ValueType
}

var families = [nFams]family{
	famWarnings: {"oomkit_memory_warnings_total", "Times the container's memory use crossed a warning threshold (a fraction of its limit).", "threshold", prometheus.CounterValue},
	famKills:    {"oomkit_oom_kills_total", "OOM kills of the container's processes, by the cause oomkit diagnosed.", "cause", prometheus.CounterValue},
	famRecommended: {"oomkit_recommended_memory_bytes", "The memory setting oomkit recommends for the container, in bytes (memory_swap -1: unlimited swap).",
		"setting", prometheus.GaugeValue},
}

// Exporter holds the metrics. Its methods are safe for concurrent use.
//
// Each target keeps its series rendered in the text exposition format; a
// scrape re-renders only the targets that changed since the last one and
// joins the rest as they are (1,000 containers, 13,000 series: the
// registry's Gather alone took 30-40 ms CPU per scrape). The registry
// (Collect) still serves Gather, testutil and the protobuf format.
type Exporter struct {
	host  Host
	reg   *prometheus.Registry
	descs [nFams]*prometheus.Desc

	mu      sync.Mutex
	entries map[Target]*entry
	sorted  []*entry      // entries in exposition order; nil after Add or Forget
	gen     atomic.Uint64 // bumped by every change: the handler's cache key
}

// entry holds a target's values and their rendered lines.
type entry struct {
	values      []string // label values, in label-name order (targetLabels)
	sortKey     []string // label values, in the order of their sorted names
	kills       map[oom.Cause]float64
	warnings    map[string]float64 // by threshold
	recommended []float64          // by Settings; nil before Recommend
	text        [nFams][]byte      // rendered series; stale when dirty
	dirty       bool
}

// New returns an Exporter for a host's containers with its own registry
// (nothing else registered: not even the Go runtime's collectors).
func New(h Host) *Exporter {
	e := &Exporter{host: h, reg: prometheus.NewRegistry(), entries: map[Target]*entry{}}
	for i, f := range families {
		e.descs[i] = prometheus.NewDesc(f.name, f.help, targetLabels(h, f.extra), nil)
	}
	e.reg.MustRegister(e)
	return e
}

// Registry returns the Exporter's registry, to gather or to serve with
// other collectors.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler returns the /metrics handler. It serves the formats promhttp
// serves by default (text, or protobuf when asked), gzipped when the
// scraper accepts it. Text is joined from each target's rendered series,
// re-rendering only those that changed; the response is kept until
// something changes (kills are rare; Prometheus scrapes every few
// seconds), per Accept, Accept-Encoding and query.
func (e *Exporter) Handler() http.Handler {
	slow := promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})
	type cached struct {
		gen    uint64
		header http.Header
		code   int
		body   []byte
	}
	var mu sync.Mutex
	cache := map[string]*cached{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.Join(r.Header.Values("Accept"), ",") + "\x00" + strings.Join(r.Header.Values("Accept-Encoding"), ",")
		if r.URL != nil {
			key += "\x00" + r.URL.RawQuery
		}
		gen := e.gen.Load()
		mu.Lock()
		c := cache[key]
		mu.Unlock()
		if c == nil || c.gen != gen {
			rec := &recorder{header: http.Header{}, code: http.StatusOK}
			format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
			if format.FormatType() == expfmt.TypeTextPlain && (r.URL == nil || r.URL.Query()["name[]"] == nil) {
				gen = e.writeText(rec, format, gzipWanted(r.Header))
			} else {
				slow.ServeHTTP(rec, r)
			}
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

// gzipWanted tells whether promhttp would gzip for these headers: when
// Accept-Encoding gives gzip (or *) a weight above 0 and above identity's.
func gzipWanted(h http.Header) bool {
	qi, qg := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if (name == "identity" || name == "*") && q > qi {
				qi = q
			}
			if (name == "gzip" || name == "*") && q > qg {
				qg = q
			}
		}
	}
	return qg > qi && qg > 0
}

var gzipPool = sync.Pool{New: func() any {
	z, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // 5 ms for 1.3 MB; the default level 13 ms, 10% smaller
	return z
}}

// writeText writes the text exposition as promhttp would (same headers,
// same families and series), and returns the generation it shows.
func (e *Exporter) writeText(rec *recorder, format expfmt.Format, gz bool) uint64 {
	rec.header.Add("Vary", "Accept")
	rec.header.Add("Vary", "Accept-Encoding")
	rec.header.Set("Content-Type", string(format))
	body, gen := e.render()
	if !gz {
		rec.body.Write(body)
		return gen
	}
	rec.header.Set("Content-Encoding", "gzip")
	z := gzipPool.Get().(*gzip.Writer)
	z.Reset(&rec.body)
	_, _ = z.Write(body)
	_ = z.Close()
	gzipPool.Put(z)
	return gen
}

// render joins every target's rendered series, re-rendering the changed
// ones, family by family.
func (e *Exporter) render() ([]byte, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	gen := e.gen.Load() // under e.mu: every change bumps it with e.mu held
	e.sort()
	var sizes [nFams]int
	for _, en := range e.sorted {
		if en.dirty {
			e.renderEntry(en)
		}
		for f := range nFams {
			sizes[f] += len(en.text[f])
		}
	}
	var buf bytes.Buffer
	buf.Grow(sizes[0] + sizes[1] + sizes[2] + 1024)
	for f, fam := range families {
		if sizes[f] == 0 {
			continue // the registry leaves out a family with no series
		}
		buf.WriteString("# HELP " + fam.name + " ")
		buf.WriteString(strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(fam.help))
		buf.WriteString("\n# TYPE " + fam.name + " " + typeName(fam.typ) + "\n")
		for _, en := range e.sorted {
			buf.Write(en.text[f])
		}
	}
	return buf.Bytes(), gen
}

// sort puts the entries in exposition order (the registry's: by label
// values, labels in name order). Call with e.mu held.
func (e *Exporter) sort() {
	if e.sorted != nil {
		return
	}
	e.sorted = make([]*entry, 0, len(e.entries))
	for _, en := range e.entries {
		e.sorted = append(e.sorted, en)
	}
	slices.SortFunc(e.sorted, func(a, b *entry) int { return slices.Compare(a.sortKey, b.sortKey) })
}

func typeName(t prometheus.ValueType) string {
	if t == prometheus.GaugeValue {
		return "gauge"
	}
	return "counter"
}

// renderEntry renders a target's series. Call with e.mu held.
func (e *Exporter) renderEntry(en *entry) {
	names := targetLabels(e.host, "")
	names = names[:len(names)-1]
	for f, fam := range families {
		// The labels in name order, the family's own label among them:
		// the target's part is rendered once, around it.
		type pair struct{ n, v string }
		ps := make([]pair, 0, len(names)+1)
		for i, n := range names {
			ps = append(ps, pair{n, en.values[i]})
		}
		ps = append(ps, pair{fam.extra, ""})
		slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.n, b.n) })
		before := []byte(fam.name + "{")
		var after []byte
		seen := false
		for _, p := range ps {
			switch {
			case p.n == fam.extra:
				if len(before) > len(fam.name)+1 {
					before = append(before, ',')
				}
				before = append(before, p.n...)
				before = append(before, '=', '"')
				seen = true
			case seen:
				after = append(after, ',')
				after = appendPair(after, p.n, p.v)
			default:
				if len(before) > len(fam.name)+1 {
					before = append(before, ',')
				}
				before = appendPair(before, p.n, p.v)
			}
		}
		after = append(after, '}', ' ')
		line := func(b []byte, extra string, v float64) []byte {
			b = append(b, before...)
			b = appendLabelValue(b, extra)
			b = append(b, '"')
			b = append(b, after...)
			b = appendFloat(b, v)
			return append(b, '\n')
		}
		var b []byte
		switch f {
		case famKills:
			for _, c := range sortedKeys(en.kills) {
				b = line(b, string(c), en.kills[c])
			}
		case famWarnings:
			for _, th := range sortedKeys(en.warnings) {
				b = line(b, th, en.warnings[th])
			}
		case famRecommended:
			if en.recommended != nil {
				for _, st := range sortedSettings {
					b = line(b, st, en.recommended[slices.Index(Settings, st)])
				}
			}
		}
		en.text[f] = b
	}
	en.dirty = false
}

func appendPair(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendLabelValue(b, value)
	return append(b, '"')
}

// appendLabelValue escapes a label value as the text format does
// (backslash, double quote, line feed).
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes a sample value as the text format does.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, '-', '1')
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
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

// add returns the target's entry, made with every cause at 0, marked
// changed. Call with e.mu held.
func (e *Exporter) add(t Target) *entry {
	if en, ok := e.entries[t]; ok {
		en.dirty = true
		return en
	}
	en := &entry{values: e.labels(t), kills: map[oom.Cause]float64{}, warnings: map[string]float64{}, dirty: true}
	names := targetLabels(e.host, "")
	idx := make([]int, len(names)-1)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	for _, i := range idx {
		en.sortKey = append(en.sortKey, en.values[i])
	}
	for _, c := range Causes {
		en.kills[c] = 0
	}
	e.entries[t] = en
	e.sorted = nil
	e.gen.Add(1)
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
	defer e.mu.Unlock()
	e.add(t).kills[c] += float64(n)
	e.gen.Add(1)
}

// Warning counts one crossing of a warning threshold (a fraction of the
// limit, such as 0.9).
func (e *Exporter) Warning(t Target, threshold float64) {
	th := strconv.FormatFloat(threshold, 'f', -1, 64)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.add(t).warnings[th]++
	e.gen.Add(1)
}

// Recommend publishes the target's recommended settings (a
// recommend.Recommendation's Memory, MemorySwap and MemoryReservation
// bytes; the package does not import recommend, which links Docker's
// types).
func (e *Exporter) Recommend(t Target, memory, memorySwap, memoryReservation cgroup.Bytes) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.add(t).recommended = []float64{float64(memory), float64(memorySwap), float64(memoryReservation)}
	e.gen.Add(1)
}

// Forget removes every series of a target (a container that is gone).
func (e *Exporter) Forget(t Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.entries[t]; !ok {
		return
	}
	delete(e.entries, t)
	e.sorted = nil
	e.gen.Add(1)
}

// Describe implements prometheus.Collector, so that an Exporter can also
// join another registry.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the same series the handler
// writes as text, sent in the order the registry sorts them into (the
// cause label sorts before the target's, the threshold and setting after):
// sorting 14,000 series that arrive in map order doubles a Gather.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	e.sort()
	causes := map[oom.Cause]bool{}
	n := 0
	for _, en := range e.sorted {
		for c := range en.kills {
			causes[c] = true
		}
		n += len(en.kills) + len(en.warnings) + len(en.recommended)
	}
	ms := make([]prometheus.Metric, 0, n)
	for _, c := range sortedKeys(causes) {
		for _, en := range e.sorted {
			if v, ok := en.kills[c]; ok {
				ms = append(ms, e.metric(famKills, v, en.values, string(c)))
			}
		}
	}
	for _, en := range e.sorted {
		for _, th := range sortedKeys(en.warnings) {
			ms = append(ms, e.metric(famWarnings, en.warnings[th], en.values, th))
		}
	}
	for _, en := range e.sorted {
		if en.recommended != nil {
			for _, st := range sortedSettings {
				ms = append(ms, e.metric(famRecommended, en.recommended[slices.Index(Settings, st)], en.values, st))
			}
		}
	}
	e.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

func (e *Exporter) metric(f int, v float64, values []string, extra string) prometheus.Metric {
	return prometheus.MustNewConstMetric(e.descs[f], families[f].typ, v, append(slices.Clip(values), extra)...)
}

var sortedSettings = func() []string { s := slices.Clone(Settings); slices.Sort(s); return s }()

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
