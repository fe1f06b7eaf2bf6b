package recommend

import (
	"fmt"
	"math"
	"slices"
	"time"

	units "github.com/docker/go-units"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
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
	// NoLimitYet says the history cannot carry a limit yet (too few
	// samples, or a peak still doubling): Memory is then 0 and the
	// renderers set no limit.
	NoLimitYet bool          `json:"no_limit_yet,omitempty"`
	Samples    int64         `json:"samples"`
	History    time.Duration `json:"history_ns"`
}

func mibs(b float64) string { return units.BytesSize(b) }

// roundUp rounds up as settings are written (afterkill.RoundUp).
func roundUp(b float64) cgroup.Bytes { return afterkill.RoundUp(b) }

// Recommend returns the recommendation for the history so far. It returns
// ErrNoData before the first sample. While the history cannot carry a limit
// (fewer than Tuning.ColdSamples samples, or a peak still doubling over the
// growth window) it recommends no limit yet: Memory.Bytes is 0, NoLimitYet
// is true and a warning says why. With little history it answers with a
// wider margin and a low Confidence, and says how little it rests on.
func (r *Recommender) Recommend() (Recommendation, error) {
	if r.n == 0 {
		return Recommendation{}, ErrNoData
	}
	o := r.opt
	tu := o.tune
	spec := profiles[o.profile]
	span := r.last - r.first
	rec := Recommendation{Profile: o.profile, Samples: r.n, History: time.Duration(span), Warnings: []string{}}
	why := func(format string, a ...any) { rec.Rationale = append(rec.Rationale, fmt.Sprintf(format, a...)) }

	// The open interval's peak counts too.
	h := r.hist
	c := r.clockAt(r.last)
	if !math.IsInf(r.ivNRMin, 1) {
		h.add(r.ivPeak, 1, c)
	}
	var p float64
	var src string
	if o.percentile > 0 {
		p = h.quantile(o.percentile)
		src = fmt.Sprintf("p%g of interval peaks (%s)", 100*o.percentile, mibs(p))
	} else {
		// The largest peak not yet forgotten; its bucket's upper bound is at
		// most 5% above it, and never above the largest sample seen.
		p = math.Min(h.top(math.Exp2(-tu.Forget), c), r.maxWS)
		src = fmt.Sprintf("largest peak remembered %s", mibs(p))
		if p < r.maxWS {
			src += fmt.Sprintf(" (the %s peak is forgotten: peaks fade after %.0f half-lives, the half-life now %s)", mibs(r.maxWS), tu.Forget, time.Duration(r.halfLife(span)).Round(time.Millisecond))
		}
	}
	gs := r.growth()
	grow, window := gs.ratio, gs.window
	grown := "peak" // what the growth test read
	if r.hasNR {
		grown = "non-reclaimable peak"
	}
	margin := tu.Margin + tu.Confidence/math.Sqrt(float64(r.n))
	limit := p * (1 + margin)
	src += fmt.Sprintf(" + %.0f%% margin (%.0f%% + %.0f%% for %d samples)", 100*margin, 100*tu.Margin, 100*(margin-tu.Margin), r.n)

	// A leak is provisioned for a horizon, not chased.
	rec.Leak = r.leak()
	if rec.Leak != nil {
		hz := o.leakHorizon
		if hz == 0 {
			hz = min(time.Duration(float64(span)*tu.LeakHorizon), time.Hour)
		}
		limit = math.Max(limit, r.maxWS*(1+margin)+rec.Leak.BytesPerHour*hz.Hours())
		src += fmt.Sprintf("; leak of %s/h provisioned for %s, no longer", mibs(rec.Leak.BytesPerHour), hz.Round(time.Millisecond))
	} else if full, fade := growthRise(p, grow, gs.rise), gs.fade(r.halfLife(span)); grow > 1 && p*(1+tu.Margin)+full*fade > limit {
		// The rise of the peak over the growth window is provisioned once
		// more, added (not multiplied: a step from 40 to 100 MiB asks for
		// 160, not 250). It takes the place of the short-history widening,
		// which covers the same unknown. The margin is headroom over the
		// peak seen, as in the leak's provision above: the rise is added
		// to it, not margined again as if it were a peak seen. A level
		// that has held since it was reached is a level, not a ramp: the
		// provision halves with each half-life it has held, as old peaks
		// and kills fade.
		rise := full * fade
		limit = p*(1+tu.Margin) + rise
		src += fmt.Sprintf("; +%s: the %s rose x%.2f over the last %s, provisioned once more", mibs(rise), grown, grow, window.Round(time.Millisecond))
		if fade < 1 {
			src += fmt.Sprintf(" (%.0f%% of the %s rise: the level has held for %s, %.1f half-lives)", 100*fade, mibs(full), gs.held.Round(time.Millisecond), float64(gs.held)/r.halfLife(span))
		}
	}

	// An OOM says the need exceeded the limit by an unknown amount: the
	// kill's floor (see afterOOM) holds until the kill is forgotten.
	killed := false
	for i := range r.oomLen {
		k := r.ooms[i]
		age := max(0, c-float64(k.clock))
		if age >= tu.Forget {
			continue
		}
		killed = true
		// The need shown decays towards what was seen since (at least the
		// limit at the kill) with the history's half-life.
		// With swap off, p holds each sample's swap too, and the need the
		// swap held at the kill (see AddOOM).
		base := math.Max(k.limit, p)
		need := base + math.Max(0, k.need-base)*math.Exp2(-age)
		if g := need * (1 + tu.Margin); g > limit {
			swapped := ""
			if r.swapOff && r.maxSwap > 0 {
				swapped = fmt.Sprintf(", with up to %s in swap that must fit in memory once memory-swap = memory", mibs(r.maxSwap))
			}
			limit, src = g, fmt.Sprintf("OOM kill at %s with limit %s: the need is above it by %s (decaying with the history's half-life)%s, plus the margin", time.Unix(0, k.t).UTC().Format(time.RFC3339), mibs(k.limit), mibs(need-k.limit), swapped)
			if k.ancestor {
				src = fmt.Sprintf("OOM kill at %s with no limit of its own (an ancestor's limit or the host's memory) at usage %s: the need is above it by %s (decaying with the history's half-life)%s, plus the margin", time.Unix(0, k.t).UTC().Format(time.RFC3339), mibs(k.limit), mibs(need-k.limit), swapped)
			}
		}
	}
	cold := ""
	switch {
	case r.n < int64(tu.ColdSamples):
		cold = fmt.Sprintf("only %d samples", r.n)
	case grow >= tu.ColdGrowth && rec.Leak == nil && r.oomLen == 0:
		cold = fmt.Sprintf("the %s grew x%.1f over the last %s: still starting", grown, grow, window.Round(time.Millisecond))
	}
	if cold != "" && !killed {
		rec.NoLimitYet = true
		rec.Memory = Value{Rationale: "no limit yet: " + cold}
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("no limit recommended yet (%s): sample longer; a limit now would be a guess", cold))
		why("memory: no limit yet (%s)", cold)
		limit = 0
	}
	if f := float64(o.floor); limit > 0 && limit < f {
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
	if !rec.NoLimitYet {
		rec.Memory = Value{Bytes: mem, Rationale: src}
		why("memory %s: %s", mem, src)
	}

	if rec.Leak != nil && mem > 0 {
		rec.Leak.HoursToLimit = math.Max(0, (float64(mem)-r.lastNR)/rec.Leak.BytesPerHour)
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("non-reclaimable memory grows %s/h: the limit is reached in %s; a limit 50%% larger only delays the kill by %s: fix the leak",
			mibs(rec.Leak.BytesPerHour), hoursString(rec.Leak.HoursToLimit), hoursString(0.5*float64(mem)/rec.Leak.BytesPerHour)))
	}

	// Reservation: typical use (the median interval peak), never above
	// the limit.
	res := h.quantile(0.5)
	if mem > 0 {
		res = math.Min(res, float64(mem))
	}
	rec.MemoryReservation = Value{Bytes: roundUp(res), Rationale: "median interval peak: typical use"}
	if mem > 0 && rec.MemoryReservation.Bytes > mem {
		rec.MemoryReservation.Bytes = mem
	}

	if mem > 0 {
		swap := mem + roundUp(float64(mem)*spec.swapFactor)
		rec.MemorySwap = Value{Bytes: swap, Rationale: fmt.Sprintf("profile %s: %s", o.profile, spec.why)}
	}
	if r.maxSwap > 0 && spec.swapFactor == 0 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("the container used up to %s of swap; memory-swap = memory stops that: the limit must hold it all (each sample's swap counts in its peak)", mibs(r.maxSwap)))
	}
	rec.OOMScoreAdj = spec.oomScoreAdj
	if mem > 0 {
		rec.Runtime, rec.Warnings = runtimeSettings(o.profile, mem, o.runtime, rec.Warnings)
	}

	// Confidence grows with the number of samples and how settled the
	// peak is.
	rec.Confidence = math.Round(100*(1-margin+tu.Margin)*(1-math.Exp(-float64(r.n)/100))/grow) / 100
	if r.n < 100 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("only %d samples over %s: the recommendation rests on little (margin widened to %.0f%%)", r.n, rec.History.Round(time.Millisecond), 100*margin))
	}
	if !r.hasNR {
		rec.Warnings = append(rec.Warnings, "no non-reclaimable (anon) figures in the samples: leaks are judged on the working set, page cache included")
	}
	return rec, nil
}

func hoursString(h float64) string {
	return time.Duration(h * float64(time.Hour)).Round(time.Second).String()
}

// growthSeen is what the growth test saw: the peak of the last
// GrowthWindow of the history against the peak before it.
type growthSeen struct {
	ratio  float64       // later over earlier, at least 1 (+Inf with no earlier peak)
	window time.Duration // the window
	rise   float64       // the later peak less the earlier, bytes, at least 0
	// held is how long the later level has held: since the start of the
	// latest unbroken run of the window's intervals within
	// Tuning.GrowthHeld of the rise of it (0 while only the open interval
	// reaches it, or with no earlier peak).
	held time.Duration
}

// fade is the share of the rise still provisioned once the level has held
// for g.held: half for each half-life (hl, ns).
func (g growthSeen) fade(hl float64) float64 {
	if g.held <= 0 || hl <= 0 {
		return 1
	}
	return math.Exp2(-float64(g.held) / hl)
}

// growth is the growth test, the open interval included.
func (r *Recommender) growth() growthSeen { return r.growthOf(true) }

// growthRise is the rise the growth test provisions once more above p, the
// largest remembered peak: the rise in bytes of the peaks the test reads
// (non-reclaimable memory when known), not their ratio applied to p. The
// two agree when p is the level the test saw; when p stands above it (a
// spike that is over, or page cache above the non-reclaimable level)
// scaling the ratio onto p would provision growth that was never seen: a
// level that rose from 8 to 40 MiB under 60 MiB spikes rose 32 MiB, not
// 48. It is never more than the ratio applied to p, and with no earlier
// peak (an infinite ratio) it is p.
func growthRise(p, grow, rose float64) float64 {
	rise := p * (1 - 1/grow)
	if math.IsInf(grow, 1) {
		return rise
	}
	return math.Min(rise, rose)
}

func (r *Recommender) growthOf(open bool) growthSeen {
	span := float64(r.last-r.first) / 1e9
	w := span * r.opt.tune.GrowthWindow
	var buf [17]point
	pts := r.peaks.points(&buf)
	cut := float32(span - w)
	var before, after float64
	for _, p := range pts {
		if p.t < cut {
			before = math.Max(before, float64(p.v))
		} else {
			after = math.Max(after, float64(p.v))
		}
	}
	cur := r.prevNRPeak
	if open {
		cur = math.Max(cur, r.ivNRPeak)
		after = math.Max(after, r.ivNRPeak)
	}
	// Growth that is still going on: a spike that is over is no ramp.
	after = math.Min(after, cur)
	d := time.Duration(w * 1e9)
	if before <= 0 {
		if r.n >= 2 && after > 0 {
			return growthSeen{ratio: math.Inf(1), window: d, rise: after}
		}
		return growthSeen{ratio: 1, window: d}
	}
	g := growthSeen{ratio: math.Max(1, after/before), window: d, rise: math.Max(0, after-before)}
	// How long the level has held: the latest run of points within
	// GrowthHeld of the rise of it, dated by the first of them.
	reached := after - r.opt.tune.GrowthHeld*g.rise
	for i := len(pts) - 1; i >= 0 && pts[i].t >= cut && float64(pts[i].v) >= reached; i-- {
		g.held = time.Duration((span - float64(pts[i].t)) * 1e9)
	}
	return g
}

// leak returns the leak in the interval minima of non-reclaimable memory
// (the working set when that is unknown), or nil. A leak is a rise that is
// steady (at least LeakConsistency of all pairs of minima rise), large (at
// least LeakGrowth of its level over the history) and still going on (the
// slope of the last third is at least a third of the whole's): a ramp that
// stopped and a one-off step are no leak.
func (r *Recommender) leak() *Leak {
	var buf [17]point
	pts := r.trend.points(&buf)
	n := len(pts)
	if n < 8 {
		return nil
	}
	slope, up := theilSen(pts)
	if slope <= 0 || up < r.opt.tune.LeakConsistency {
		return nil
	}
	span := float64(pts[n-1].t - pts[0].t)
	level := math.Max(float64(pts[n-1].v), 1)
	if slope*span < r.opt.tune.LeakGrowth*level {
		return nil
	}
	tail, _ := theilSen(pts[n-n/3:])
	if tail < slope/3 {
		return nil
	}
	return &Leak{BytesPerHour: slope * 3600}
}

// theilSen returns the median of pairwise slopes (bytes per second) and
// the share of pairs that rise.
func theilSen(pts []point) (float64, float64) {
	var sl [300]float64
	k, up := 0, 0
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			dt := float64(pts[j].t - pts[i].t)
			if dt <= 0 || k == len(sl) {
				continue
			}
			d := float64(pts[j].v - pts[i].v)
			if d > 0 {
				up++
			}
			sl[k] = d / dt
			k++
		}
	}
	if k == 0 {
		return 0, 0
	}
	s := sl[:k]
	slices.Sort(s)
	return s[k/2], float64(up) / float64(k)
}
