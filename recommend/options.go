package recommend

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

var stateSize = int(unsafe.Sizeof(Recommender{}))

// Tuning holds every constant of the recommender's rule. The defaults
// (DefaultTuning) are what oomkit recommends with; no trace chooses them.
// WithTuning exists so that a backtest can move each constant and show the
// figures do not hinge on it.
type Tuning struct {
	// Margin is the headroom above the largest remembered peak once the
	// history is long (0.10: +10%).
	Margin float64
	// Confidence widens the margin while the history is short: the margin
	// is Margin + Confidence/sqrt(samples) (0.5: +16% at 10 samples, +5%
	// at 100, +1.6% at 1,000), as the VPA widens its bounds when its
	// history is short.
	Confidence float64
	// ColdSamples is the fewest samples a limit rests on: with fewer,
	// Recommend recommends no limit yet (8).
	ColdSamples int
	// GrowthWindow is the share of the history the growth test looks back
	// (0.5): when the peak of its last half exceeds the peak before it and
	// the latest intervals are still at it (a ramp or a step, not a spike
	// that is over), the rise is provisioned once more, added to the peak.
	// The test reads the peaks of non-reclaimable memory when the samples
	// give it (the working set's otherwise): page cache that grows is
	// reclaimed before the kernel kills, so it is no growth of the need.
	GrowthWindow float64
	// GrowthHeld dates the level the growth test saw reached: from the
	// start of the latest unbroken run of intervals within GrowthHeld of
	// the rise of it (0.1: a tenth of the rise; a spike that reached it and
	// fell back does not date it). The rise provisioned once more halves
	// with each half-life the level has held since: a level that holds is
	// a level, not a ramp, while a ramp that goes on has held only for as
	// long as its last tenth took.
	GrowthHeld float64
	// ColdGrowth: while the peak (non-reclaimable, as for GrowthWindow) has
	// grown more than this factor over the growth window (2: it doubled)
	// the container is still starting and no limit is recommended yet,
	// unless it was ever OOM-killed (a container known to need a limit
	// keeps one).
	ColdGrowth float64
	// HalfLifeFraction is the half-life of old peaks, kills and held
	// rises (GrowthHeld) as a share of the history so far (0.25), at most
	// MaxHalfLife (24 h).
	HalfLifeFraction float64
	MaxHalfLife      time.Duration
	// Forget is how many half-lives a peak held for one interval, or a
	// kill, is remembered (3): a peak is forgotten once its decayed weight
	// falls below 2^-Forget of a fresh interval's.
	Forget float64
	// OOMJump is how far above the limit at a kill the need is taken to be
	// when the kill comes out of a settled history, a jump of unknown size
	// (3: four times the limit); OOMBump when the peak rose by at least
	// OOMBump over the growth window, usage growing into the limit (0.2:
	// +20%). A kill while another is remembered is a jump whatever the
	// growth (the earlier answer was too small), so repeated kills back off
	// geometrically. The excess decays with the history's half-life towards
	// what the container is then seen to use (at least the limit it was
	// killed at, until the kill is forgotten).
	OOMJump float64
	OOMBump float64
	// IntervalsPerHistory sets the interval whose peak is one histogram
	// entry: the history so far over this (64), between 100 ms and 1 h.
	IntervalsPerHistory float64
	// LeakConsistency is the share of pairs of interval minima of
	// non-reclaimable memory that must rise for a leak (0.8), and
	// LeakGrowth how much it must grow over the history relative to its
	// level (0.2: +20%).
	LeakConsistency float64
	LeakGrowth      float64
	// LeakHorizon is how far ahead a leak's growth is provisioned, as a
	// share of the history (0.3), at most 1 h: the limit holds
	// the leak that long and no longer; the warning says when it runs out.
	LeakHorizon float64
}

// DefaultTuning returns the defaults.
func DefaultTuning() Tuning {
	return Tuning{
		Margin:              afterkill.Margin,
		Confidence:          0.5,
		ColdSamples:         8,
		GrowthWindow:        0.5,
		GrowthHeld:          0.1,
		ColdGrowth:          2,
		HalfLifeFraction:    0.25,
		MaxHalfLife:         24 * time.Hour,
		Forget:              3,
		OOMJump:             afterkill.Jump,
		OOMBump:             afterkill.Bump,
		IntervalsPerHistory: 64,
		LeakConsistency:     0.8,
		LeakGrowth:          0.2,
		LeakHorizon:         0.3,
	}
}

type options struct {
	profile      Profile
	interval     time.Duration // 0: from the history
	halfLife     time.Duration // 0: from the history
	percentile   float64       // 0: the largest remembered peak
	floor        cgroup.Bytes
	hostTotal    cgroup.Bytes
	hostReserve  cgroup.Bytes
	otherReserve cgroup.Bytes
	leakHorizon  time.Duration // 0: the growth window
	tune         Tuning
	runtime      RuntimeHints
}

func defaults() options {
	return options{
		profile: Generic,
		floor:   6 << 20,
		tune:    DefaultTuning(),
	}
}

// Option configures New; build one with the With* functions (the zero
// Option changes nothing).
type Option struct{ apply func(*options) error }

// WithProfile sets the workload profile (default Generic).
func WithProfile(p Profile) Option {
	return Option{func(o *options) error {
		if _, ok := profiles[p]; !ok {
			return fmt.Errorf("recommend: unknown profile %q", p)
		}
		o.profile = p
		return nil
	}}
}

// WithInterval fixes the interval whose peak is one histogram entry
// (between 100 ms and 24 h). By default it is 1/64 of the history seen so
// far, between 100 ms and 1 h.
func WithInterval(d time.Duration) Option {
	return Option{func(o *options) error {
		if d < 100*time.Millisecond || d > 24*time.Hour {
			return fmt.Errorf("recommend: interval %s outside 100ms..24h", d)
		}
		o.interval = d
		return nil
	}}
}

// WithHalfLife fixes how fast old peaks and kills lose weight. By default
// the half-life is a quarter of the history seen so far, at most 24 h.
func WithHalfLife(d time.Duration) Option {
	return Option{func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("recommend: half-life %s below 1s", d)
		}
		o.halfLife = d
		return nil
	}}
}

// WithPercentile makes the limit cover the q-quantile of interval peaks
// (between 0.5 and 1) instead of the largest peak not yet forgotten.
func WithPercentile(q float64) Option {
	return Option{func(o *options) error {
		if !(q >= 0.5 && q <= 1) {
			return fmt.Errorf("recommend: percentile %v outside 0.5..1", q)
		}
		o.percentile = q
		return nil
	}}
}

// WithMargin sets the headroom added above the peak once the history is
// long (default 0.10).
func WithMargin(m float64) Option {
	return Option{func(o *options) error {
		if !(m >= 0 && m <= 2) {
			return fmt.Errorf("recommend: margin %v outside 0..2", m)
		}
		o.tune.Margin = m
		return nil
	}}
}

// WithTuning replaces every constant of the rule (see Tuning); for
// sensitivity studies, not for fitting a trace.
func WithTuning(t Tuning) Option {
	return Option{func(o *options) error {
		if !(t.Margin >= 0 && t.Margin <= 2) || t.Confidence < 0 || t.ColdSamples < 1 || !(t.GrowthWindow > 0 && t.GrowthWindow < 1) || !(t.GrowthHeld > 0 && t.GrowthHeld < 1) ||
			t.ColdGrowth <= 1 || !(t.HalfLifeFraction > 0) || t.MaxHalfLife < time.Second || !(t.Forget > 0) || t.OOMBump < 0 || t.OOMJump < 0 ||
			!(t.IntervalsPerHistory >= 1) || !(t.LeakConsistency > 0.5 && t.LeakConsistency <= 1) || !(t.LeakGrowth > 0) || !(t.LeakHorizon > 0) {
			return fmt.Errorf("recommend: tuning out of range: %+v", t)
		}
		o.tune = t
		return nil
	}}
}

// WithFloor sets the smallest limit recommended (default 6 MiB, Docker's
// minimum).
func WithFloor(b cgroup.Bytes) Option {
	return Option{func(o *options) error {
		if b < 6<<20 || b >= absurd {
			return fmt.Errorf("recommend: floor %s below Docker's 6MiB minimum or absurd", b)
		}
		o.floor = b
		return nil
	}}
}

// WithHost bounds recommendations by what the host can give: total memory
// minus a reserve for the system, minus what other containers reserve.
func WithHost(total, systemReserve, otherReservations cgroup.Bytes) Option {
	return Option{func(o *options) error {
		if total <= 0 || systemReserve < 0 || otherReservations < 0 || total >= absurd || systemReserve+otherReservations >= total {
			return fmt.Errorf("recommend: host total %s, reserve %s, others %s leave nothing", total, systemReserve, otherReservations)
		}
		o.hostTotal, o.hostReserve, o.otherReserve = total, systemReserve, otherReservations
		return nil
	}}
}

// WithLeakHorizon sets how far ahead a leak's growth is provisioned for. By
// default it is Tuning.LeakHorizon of the history (half), at most 1 h:
// the limit holds the leak that long, no longer.
func WithLeakHorizon(d time.Duration) Option {
	return Option{func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("recommend: leak horizon %s", d)
		}
		o.leakHorizon = d
		return nil
	}}
}
