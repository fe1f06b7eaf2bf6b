package recommend

import (
	"math"
	"slices"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Strategy is a way of choosing a memory limit from the past, replayed by
// Backtest.
type Strategy interface {
	Name() string
	// Observe shows the strategy one sample.
	Observe(cgroup.Sample)
	// OOM tells it the container was killed at limit.
	OOM(t time.Time, limit cgroup.Bytes)
	// Limit returns the limit it would set now; 0 for none yet.
	Limit() cgroup.Bytes
}

// BacktestConfig sets how a trace is replayed.
type BacktestConfig struct {
	// Warmup is observed before any limit is applied (default 20 s).
	Warmup time.Duration
	// Cadence is how often the applied limit is updated to the
	// strategy's current one (default 10 s). An OOM updates it at once.
	Cadence time.Duration
}

// Result is one strategy on one trace.
type Result struct {
	Strategy string `json:"strategy"`
	OOMs     int    `json:"ooms"`
	// MeanSlack is the time-weighted mean of (limit - usage) / limit over
	// the replay after the warm-up: the share of the limit left unused.
	MeanSlack float64 `json:"mean_slack"`
	// FinalLimit is the limit applied at the end.
	FinalLimit cgroup.Bytes `json:"final_limit"`
}

// Backtest replays a trace: at each sample the strategy has seen only the
// samples before it; its limit, re-read every Cadence, is applied; a
// working set above the applied limit is an OOM kill (the strategy is told,
// with usage = the limit, as a real kernel reports it, and its new limit
// applies at once).
func Backtest(trace []cgroup.Sample, s Strategy, cfg BacktestConfig) Result {
	if cfg.Warmup <= 0 {
		cfg.Warmup = 20 * time.Second
	}
	if cfg.Cadence <= 0 {
		cfg.Cadence = 10 * time.Second
	}
	res := Result{Strategy: s.Name()}
	if len(trace) == 0 {
		return res
	}
	start := trace[0].Time
	var limit cgroup.Bytes
	var next time.Time
	var slackSum, weight float64
	for i, smp := range trace {
		used := smp.WorkingSetOrUsage().Bytes
		if smp.Time.Sub(start) < cfg.Warmup {
			s.Observe(smp)
			continue
		}
		if limit == 0 || !smp.Time.Before(next) {
			limit = s.Limit()
			next = smp.Time.Add(cfg.Cadence)
		}
		if limit > 0 && used > limit {
			res.OOMs++
			s.OOM(smp.Time, limit)
			limit = s.Limit()
			next = smp.Time.Add(cfg.Cadence)
		}
		if limit > 0 && i > 0 {
			dt := smp.Time.Sub(trace[i-1].Time).Seconds()
			slackSum += dt * math.Max(0, float64(limit-used)) / float64(limit)
			weight += dt
		}
		s.Observe(smp)
	}
	if weight > 0 {
		res.MeanSlack = slackSum / weight
	}
	res.FinalLimit = limit
	return res
}

// ours adapts a Recommender to a Strategy.
type ours struct {
	name string
	r    *Recommender
}

// NewStrategy returns oomkit's Recommender as a Strategy.
func NewStrategy(name string, opts ...Option) (Strategy, error) {
	r, err := New(opts...)
	if err != nil {
		return nil, err
	}
	return &ours{name: name, r: r}, nil
}

func (o *ours) Name() string { return o.name }
func (o *ours) Observe(s cgroup.Sample) {
	_ = o.r.Add(s) // a bad sample is skipped, as in production
}
func (o *ours) OOM(t time.Time, limit cgroup.Bytes) { _ = o.r.AddOOM(t, limit, cgroup.LimitOf(limit)) }
func (o *ours) Limit() cgroup.Bytes {
	rec, err := o.r.Recommend()
	if err != nil {
		return 0
	}
	return rec.Memory.Bytes
}

// VPA returns the Kubernetes Vertical Pod Autoscaler's published memory
// algorithm as a Strategy: a decaying exponential histogram of the memory
// peak per aggregation interval (first bucket 10 MB, buckets 5% apart,
// half-life 24 h, 24 h intervals), target the 90th percentile plus a 15%
// margin, a 250 MB floor, and after an OOM a sample of max(1.2 x usage,
// usage + 100 MB). floor false drops the floor (a variant, for comparison).
func VPA(floor bool) Strategy {
	name := "vpa"
	if !floor {
		name = "vpa-no-floor"
	}
	return &vpa{name: name, floor: floor}
}

// vpaHist is VPA's decaying exponential histogram.
type vpaHist struct {
	weight [vpaBuckets]float64
	total  float64
	ref    time.Time
}

const (
	vpaBuckets   = 176
	vpaFirst     = 1e7 // 10 MB
	vpaGrowth    = 1.05
	vpaHalfLife  = 24 * time.Hour
	vpaInterval  = 24 * time.Hour
	vpaMargin    = 0.15
	vpaFloor     = 250e6
	vpaOOMFactor = 1.2
	vpaOOMMin    = 100e6
)

// vpaBucket finds the bucket of v: bucket i starts at
// first*(growth^i - 1)/(growth - 1), as VPA's exponential options do.
func vpaBucket(v float64) int {
	if v < vpaFirst {
		return 0
	}
	i := int(math.Floor(math.Log(v*(vpaGrowth-1)/vpaFirst+1) / math.Log(vpaGrowth)))
	return min(i, vpaBuckets-1)
}

func vpaBucketStart(i int) float64 {
	return vpaFirst * (math.Pow(vpaGrowth, float64(i)) - 1) / (vpaGrowth - 1)
}

func (h *vpaHist) add(v, w float64, t time.Time) {
	if h.ref.IsZero() {
		h.ref = t
	}
	w *= math.Exp2(t.Sub(h.ref).Hours() / vpaHalfLife.Hours())
	b := vpaBucket(v)
	h.weight[b] += w
	h.total += w
}

func (h *vpaHist) sub(v, w float64, t time.Time) {
	w *= math.Exp2(t.Sub(h.ref).Hours() / vpaHalfLife.Hours())
	b := vpaBucket(v)
	h.weight[b] = math.Max(0, h.weight[b]-w)
	h.total = math.Max(0, h.total-w)
}

func (h *vpaHist) percentile(p float64) float64 {
	if h.total == 0 {
		return 0
	}
	acc := 0.0
	for i := range h.weight {
		acc += h.weight[i]
		if acc >= p*h.total {
			if i+1 < vpaBuckets {
				return vpaBucketStart(i + 1)
			}
			return vpaBucketStart(i)
		}
	}
	return vpaBucketStart(vpaBuckets - 1)
}

type vpa struct {
	name     string
	floor    bool
	h        vpaHist
	ivStart  time.Time
	ivPeak   float64
	ivPeakAt time.Time
}

func (v *vpa) Name() string { return v.name }

// Observe keeps one sample per interval, its peak: a higher value replaces
// the interval's previous peak in the histogram.
func (v *vpa) Observe(s cgroup.Sample) {
	if v.ivStart.IsZero() || s.Time.Sub(v.ivStart) >= vpaInterval {
		v.ivStart, v.ivPeak = s.Time, 0
	}
	ws := float64(s.WorkingSetOrUsage().Bytes)
	if ws <= v.ivPeak {
		return
	}
	if v.ivPeak > 0 {
		v.h.sub(v.ivPeak, 1, v.ivPeakAt)
	}
	v.ivPeak, v.ivPeakAt = ws, s.Time
	v.h.add(ws, 1, s.Time)
}

func (v *vpa) OOM(t time.Time, limit cgroup.Bytes) {
	u := float64(limit)
	v.Observe(cgroup.Sample{Time: t, WorkingSet: cgroup.AmountOf(cgroup.Bytes(math.Max(u*vpaOOMFactor, u+vpaOOMMin)))})
}

func (v *vpa) Limit() cgroup.Bytes {
	l := v.h.percentile(0.9) * (1 + vpaMargin)
	if v.floor {
		l = math.Max(l, vpaFloor)
	}
	return cgroup.Bytes(l)
}

// simple strategies: the largest sample plus a margin (as Robusta KRR), and
// a multiple of the median.
type simple struct {
	name string
	ws   []float64
	max  float64
	f    func(s *simple) float64
	oom  float64
}

// MaxPlus returns "the largest working set seen, plus margin".
func MaxPlus(margin float64) Strategy {
	return &simple{name: "max+15%", f: func(s *simple) float64 { return s.max * (1 + margin) }}
}

// MedianTimes returns "factor times the median working set seen". It keeps
// every sample: a baseline, not for production.
func MedianTimes(factor float64) Strategy {
	return &simple{name: "1.2x-median", f: func(s *simple) float64 {
		if len(s.ws) == 0 {
			return 0
		}
		c := slices.Clone(s.ws)
		slices.Sort(c)
		return factor * c[len(c)/2]
	}}
}

func (s *simple) Name() string { return s.name }
func (s *simple) Observe(x cgroup.Sample) {
	v := float64(x.WorkingSetOrUsage().Bytes)
	s.ws = append(s.ws, v)
	s.max = math.Max(s.max, v)
}
func (s *simple) OOM(_ time.Time, limit cgroup.Bytes) {
	s.oom = math.Max(s.oom, float64(limit)*1.2)
}
func (s *simple) Limit() cgroup.Bytes { return cgroup.Bytes(math.Max(s.f(s), s.oom)) }
