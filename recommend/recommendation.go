package recommend

import (
	"fmt"
	"math"
	"time"

	units "github.com/docker/go-units"

	"github.com/oomkit/oomkit/cgroup"
)

// Profile is a kind of workload; it decides swap, the OOM score and the
// runtime settings that must follow the limit.
type Profile string

// The profiles.
const (
	// Generic: no swap (memory-swap = memory) so a limit means what it
	// says; no runtime setting.
	Generic Profile = "generic"
	// JVM: the heap must leave room below the limit for metaspace, thread
	// stacks, code cache and native memory: -XX:MaxRAMPercentage (and the
	// equivalent -Xmx).
	JVM Profile = "jvm"
	// Go: GOMEMLIMIT at 90% of the limit makes the collector work harder
	// before the kernel kills.
	Go Profile = "go"
	// Node: --max-old-space-size at 75% of the limit leaves room for
	// buffers, code and the new space outside V8's old space.
	Node Profile = "node"
	// Database: latency-sensitive, never swaps (memory-swap = memory), and
	// is the last the kernel should pick in a global OOM (oom-score-adj
	// -500); its reservation is its typical use.
	Database Profile = "database"
	// Batch: throughput over latency; may swap half its limit again, and
	// volunteers to die first in a global OOM (oom-score-adj 500).
	Batch Profile = "batch"
)

type profileSpec struct {
	swapFactor  float64 // memory-swap = memory * (1 + swapFactor)
	oomScoreAdj int
	why         string
}

var profiles = map[Profile]profileSpec{
	Generic:  {0, 0, "no swap, so the limit is the memory the container really gets"},
	JVM:      {0, 0, "no swap (a swapping JVM heap stalls every collection); the heap is sized to leave native memory room"},
	Go:       {0, 0, "no swap; GOMEMLIMIT below the limit"},
	Node:     {0, 0, "no swap; V8's old space below the limit"},
	Database: {0, -500, "never swap (latency), protected in a global OOM"},
	Batch:    {0.5, 500, "may swap half its limit again rather than die; first to go in a global OOM"},
}

// Profiles returns the known profiles.
func Profiles() []Profile { return []Profile{Generic, JVM, Go, Node, Database, Batch} }

// Value is one recommended setting with how it was reached.
type Value struct {
	Bytes     cgroup.Bytes `json:"bytes"`
	Rationale string       `json:"rationale"`
}

// Leak is a steady growth of non-reclaimable memory.
type Leak struct {
	BytesPerHour float64 `json:"bytes_per_hour"`
	// HoursToLimit is the time from the last sample to the recommended
	// limit at that rate.
	HoursToLimit float64 `json:"hours_to_limit"`
}

// Recommendation is what a container's memory settings should be.
type Recommendation struct {
	Memory            Value `json:"memory"`
	MemorySwap        Value `json:"memory_swap"` // Docker semantics: memory+swap; = Memory disables swap; -1 unlimited
	MemoryReservation Value `json:"memory_reservation"`
	OOMScoreAdj       int   `json:"oom_score_adj"`
	// Runtime holds the settings that must follow the limit, such as
	// JAVA_TOOL_OPTIONS, GOMEMLIMIT or NODE_OPTIONS, by environment name.
	Runtime    map[string]string `json:"runtime,omitempty"`
	Profile    Profile           `json:"profile"`
	Confidence float64           `json:"confidence"`
	Rationale  []string          `json:"rationale"`
	Warnings   []string          `json:"warnings"`
	Leak       *Leak             `json:"leak"`
	Samples    int64             `json:"samples"`
	History    time.Duration     `json:"history_ns"`
}

func mibs(b float64) string { return units.BytesSize(b) }

// roundUp rounds up to a whole MiB, as settings are written.
func roundUp(b float64) cgroup.Bytes { return cgroup.Bytes(math.Ceil(b/(1<<20)) * (1 << 20)) }

// Recommend returns the recommendation for the history so far. It returns
// ErrNoData before the first sample; with little history it still answers
// and says how little it rests on (a low Confidence and a warning).
func (r *Recommender) Recommend() (Recommendation, error) {
	if r.n == 0 {
		return Recommendation{}, ErrNoData
	}
	o := r.opt
	spec := profiles[o.profile]
	rec := Recommendation{Profile: o.profile, Samples: r.n, History: time.Duration(r.last - r.first), Warnings: []string{}}
	why := func(format string, a ...any) { rec.Rationale = append(rec.Rationale, fmt.Sprintf(format, a...)) }

	// The open interval's peak counts too.
	h := r.hist
	if !math.IsInf(r.ivNRMin, 1) {
		h.add(r.ivPeak, r.ivStart/int64(time.Second), o.halfLife.Seconds())
	}
	p := h.quantile(o.percentile)
	limit := p * (1 + o.margin)
	src := fmt.Sprintf("p%g of %s peaks (%s) + %.0f%% margin", 100*o.percentile, o.interval, mibs(p), 100*o.margin)
	if g := r.maxNR * 1.10; g > limit {
		limit, src = g, fmt.Sprintf("peak non-reclaimable memory %s + 10%% (never below it)", mibs(r.maxNR))
	}
	if g := r.maxWS * 1.02; g > limit {
		limit, src = g, fmt.Sprintf("largest working set seen %s + 2%%", mibs(r.maxWS))
	}
	// An OOM says the need exceeded the limit by an unknown amount: back
	// off exponentially, with an additive step for small containers.
	for i := range r.oomLen {
		k := r.ooms[i]
		at := k.Limit.Bytes
		if !k.Limit.Set() {
			at = k.Usage // killed by an ancestor or the host: it had what it used
		}
		bump := afterOOM(float64(at), float64(k.Usage))
		if bump > limit {
			limit, src = bump, fmt.Sprintf("OOM kill at %s with limit %s: doubled (at least +256MiB)", k.Time.UTC().Format(time.RFC3339), k.Limit)
			if !k.Limit.Set() {
				src = fmt.Sprintf("OOM kill at %s with no limit of its own (an ancestor's limit or the host's memory) at usage %s: doubled (at least +256MiB)", k.Time.UTC().Format(time.RFC3339), k.Usage)
			}
		}
	}
	// A leak is provisioned for a horizon, not chased.
	slope, pts := r.leakTrend()
	if slope > 0 && pts >= 6 {
		first := r.trend[0]
		lastv := r.lastNR
		span := time.Duration(r.last-first.t*int64(time.Second)) * 1
		if grown := slope * span.Hours(); grown > 0.1*math.Max(lastv, 1) {
			// Provision the horizon's growth, but never more than double
			// what was seen: past that the limit would only chase the leak.
			ahead := math.Min(lastv+slope*o.leakHorizon.Hours(), 2*math.Max(r.maxWS, lastv))
			if g := ahead * 1.05; g > limit {
				limit, src = g, fmt.Sprintf("leak of %s/h provisioned for %s (at most twice the peak seen)", mibs(slope), o.leakHorizon)
			}
			rec.Leak = &Leak{BytesPerHour: slope}
		}
	}
	if f := float64(o.floor); limit < f {
		why("computed limit %s is below the floor %s: floor used", mibs(limit), o.floor)
		limit, src = f, "floor"
	}
	if o.hostTotal > 0 {
		capB := float64(o.hostTotal - o.hostReserve - o.otherReserve)
		if limit > capB {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("the need (%s) exceeds what the host can give (%s after the system reserve and other containers' reservations): capped; expect OOM kills or move the container", mibs(limit), mibs(capB)))
			limit, src = capB, "host capacity cap"
		}
	}
	mem := roundUp(limit)
	rec.Memory = Value{Bytes: mem, Rationale: src}
	why("memory %s: %s", mem, src)

	if rec.Leak != nil {
		rec.Leak.HoursToLimit = math.Max(0, (float64(mem)-r.lastNR)/rec.Leak.BytesPerHour)
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("non-reclaimable memory grows %s/h: the limit is reached in %.1f h; a limit 50%% larger only delays the kill by %.1f h: fix the leak",
			mibs(rec.Leak.BytesPerHour), rec.Leak.HoursToLimit, 0.5*float64(mem)/rec.Leak.BytesPerHour))
	}

	// Reservation: typical use (the median interval peak), never above
	// the limit.
	res := math.Min(h.quantile(0.5), float64(mem))
	rec.MemoryReservation = Value{Bytes: roundUp(res), Rationale: fmt.Sprintf("median %s peak: typical use", o.interval)}
	if rec.MemoryReservation.Bytes > mem {
		rec.MemoryReservation.Bytes = mem
	}

	swap := mem + roundUp(float64(mem)*spec.swapFactor)
	rec.MemorySwap = Value{Bytes: swap, Rationale: fmt.Sprintf("profile %s: %s", o.profile, spec.why)}
	if r.maxSwap > 0 && spec.swapFactor == 0 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("the container used up to %s of swap; memory-swap = memory stops that: the limit must hold it all", mibs(r.maxSwap)))
	}
	rec.OOMScoreAdj = spec.oomScoreAdj
	rec.Runtime = runtimeSettings(o.profile, mem)

	// Confidence grows with the history: a day of intervals is full.
	hours := rec.History.Hours()
	rec.Confidence = math.Round(100*(1-math.Exp(-hours/8))*(1-math.Exp(-float64(r.n)/100))) / 100
	if hours < 1 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("only %s of history (%d samples): the recommendation rests on little; sample for a day or more", rec.History.Round(time.Second), r.n))
	}
	if !r.hasNR {
		rec.Warnings = append(rec.Warnings, "no non-reclaimable (anon) figures in the samples: leaks are judged on the working set, page cache included")
	}
	return rec, nil
}

func runtimeSettings(p Profile, mem cgroup.Bytes) map[string]string {
	mib := float64(mem) / (1 << 20)
	switch p {
	case JVM:
		// Heap share: small containers need proportionally more native room
		// (metaspace ~64 MiB, code cache ~48 MiB, stacks 1 MiB a thread).
		pct := 75.0
		if mib < 1024 {
			pct = 60
		}
		if mib < 384 {
			pct = 50
		}
		xmx := int(mib * pct / 100)
		return map[string]string{
			"JAVA_TOOL_OPTIONS": fmt.Sprintf("-XX:MaxRAMPercentage=%.0f", pct),
			"JVM_XMX":           fmt.Sprintf("-Xmx%dm", xmx),
		}
	case Go:
		return map[string]string{"GOMEMLIMIT": fmt.Sprintf("%dMiB", int(mib*0.9))}
	case Node:
		return map[string]string{"NODE_OPTIONS": fmt.Sprintf("--max-old-space-size=%d", int(mib*0.75))}
	}
	return nil
}
