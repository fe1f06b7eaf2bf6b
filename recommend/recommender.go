package recommend

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Errors the Recommender returns.
var (
	// ErrBadSample reports a sample or OOM with a negative, NaN-like or
	// absurd size (above 1 PiB), or a zero time.
	ErrBadSample = errors.New("recommend: bad sample")
	// ErrOutOfOrder reports a sample older than the last one.
	ErrOutOfOrder = errors.New("recommend: sample out of time order")
	// ErrNoData reports a Recommend with no sample yet.
	ErrNoData = errors.New("recommend: no samples")
)

const absurd = 1 << 50 // 1 PiB: no container has that

// OOM is one recorded OOM kill.
type OOM struct {
	Time  time.Time
	Usage cgroup.Bytes // 0 when unknown
	// Limit is the container's own limit at the kill: unlimited when an
	// ancestor's limit (or the host) killed it.
	Limit cgroup.Limit
}

// Recommender summarises one container's memory use in bounded memory
// (under 2 KiB whatever the number of samples) and recommends its settings.
// Peaks per interval, not averages, drive the limit: each interval's peak
// working set goes into a time-decayed histogram with geometric buckets (5%
// apart). Its time scales come from the samples themselves: the interval is
// 1/64 of the history seen so far (at least 100 ms, at most an hour) and the
// half-life of old peaks a quarter of it (at most 24 h), so the same
// defaults serve a 37 s trace sampled every 100 ms and a month sampled every
// 5 minutes. See Tuning for every constant and what it does.
//
// A Recommender is not safe for concurrent use: Add is meant for one
// sampling goroutine per container, at about 10 ns a sample. Guard it with a
// mutex to share it.
type Recommender struct {
	opt options

	hist histogram

	// the interval being filled, in unix nanoseconds
	ivStart, ivEnd int64
	ivPeak         float64
	// ivNRPeak is the interval's peak of non-reclaimable memory (the
	// working set when that is unknown), and prevNRPeak the last closed
	// interval's: with the open one's, the level now for the growth test
	// (the series' last point may merge older intervals).
	ivNRPeak, prevNRPeak float64
	ivNRMin              float64
	prevNRMin            float64
	// clock counts half-lives elapsed (the decay clock), up to ivStart.
	clock float64

	n              int64
	first, last    int64 // unix nanoseconds
	maxWS, maxNR   float64
	maxSwap        float64
	lastWS, lastNR float64
	// swapOff: the profile turns swap off (memory-swap = memory), so the
	// pages a sample had in swap must fit in memory: they count in its
	// need. lastSwap is the last sample's swap, the swap held at a kill
	// recorded after it.
	hasNR, swapOff bool
	lastSwap       float64

	// trend holds interval minima of non-reclaimable usage (or working
	// set) for the leak test, peaks the interval peaks of non-reclaimable
	// memory (the working set when that is unknown) for the growth test:
	// up to len points each, each the minimum (or maximum) of stride
	// intervals; when full, neighbours merge and the stride doubles, so
	// they cover the whole history in bounded memory.
	trend, peaks series

	ooms    [4]kill
	oomNext int
	oomLen  int
}

// kill is a recorded OOM kill: when (unix ns and decay clock), the limit
// it hit, the need it shows (above the limit by a bump) and whether it came
// out of a settled history (a jump of unknown size) or during growth.
type kill struct {
	t           int64
	limit, need float64
	clock       float32
	ancestor    bool // no limit of its own: an ancestor's or the host's
}

// resetFall is the fall of an interval's minimum of non-reclaimable memory
// below the previous one's that restarts the leak test (to under half).
const resetFall = 0.5

// series is a fixed-size, stride-doubling sequence of (time, value) points.
type series struct {
	pts    [16]point
	n      int32
	stride int32
	pendN  int32
	pendT  float32
	pendV  float32
	isMax  bool
}

// point is (seconds since the first sample, bytes).
type point struct{ t, v float32 }

func (s *series) add(t, v float32) {
	if s.pendN == 0 || s.isMax {
		s.pendT = t
	}
	if s.pendN == 0 {
		s.pendV = v
	} else if (s.isMax && v > s.pendV) || (!s.isMax && v < s.pendV) {
		s.pendV = v
	}
	s.pendN++
	if s.stride == 0 {
		s.stride = 1
	}
	if s.pendN < s.stride {
		return
	}
	if int(s.n) == len(s.pts) {
		half := len(s.pts) / 2
		for i := range half {
			a, b := s.pts[2*i], s.pts[2*i+1]
			v := min(a.v, b.v)
			if s.isMax {
				v = max(a.v, b.v)
			}
			t := a.t // a minimum at its first interval
			if s.isMax {
				t = b.t // a maximum at its last
			}
			s.pts[i] = point{t: t, v: v}
		}
		s.n = int32(half)
		s.stride *= 2
	}
	s.pts[s.n] = point{t: s.pendT, v: s.pendV}
	s.n++
	s.pendN = 0
}

// points returns the points, the pending (partial) one included.
func (s *series) points(buf *[17]point) []point {
	out := append(buf[:0], s.pts[:s.n]...)
	if s.pendN > 0 {
		out = append(out, point{s.pendT, s.pendV})
	}
	return out
}

// New returns a Recommender. Options are validated.
func New(opts ...Option) (*Recommender, error) {
	o := defaults()
	for _, f := range opts {
		if f.apply == nil {
			continue // the zero Option changes nothing
		}
		if err := f.apply(&o); err != nil {
			return nil, err
		}
	}
	r := &Recommender{opt: o, swapOff: profiles[o.profile].swapFactor == 0}
	r.peaks.isMax = true
	return r, nil
}

// validBytes reports whether b is a size from 0 to under absurd.
func validBytes(b cgroup.Bytes) bool { return uint64(b) < absurd }

// Add records a sample: its working set (its usage when the working set is
// unknown), and its non-reclaimable and swap amounts when known. With a
// profile that turns swap off (every one but Batch: memory-swap = memory)
// the sample's swap counts in its need, working set and non-reclaimable
// alike, since those pages must then fit in memory. It returns
// an error wrapping ErrBadSample for a zero time, a sample with neither
// working set nor usage, or a negative or absurd size, and ErrOutOfOrder
// for a sample older than the last; the sample is then ignored.
func (r *Recommender) Add(s cgroup.Sample) error {
	// The fields are read in place (s.WorkingSetOrUsage() copies all of s)
	// and the errors are built out of line: this runs once per sample.
	need := s.WorkingSet
	if !need.Known {
		need = s.Usage
	}
	if !need.Known || !validBytes(need.Bytes) || !validAmount(s.NonReclaimable) || !validAmount(s.Swap) ||
		!validAmount(s.PageCache) || s.Time.IsZero() {
		return badSample(s)
	}
	t := s.Time.UnixNano()
	if t < r.last && r.n > 0 {
		return r.outOfOrder(s.Time)
	}
	ws := float64(need.Bytes)
	nr := ws
	if s.NonReclaimable.Known {
		nr = float64(s.NonReclaimable.Bytes)
		r.hasNR = true
	}
	sw := 0.0
	if s.Swap.Known {
		sw = float64(s.Swap.Bytes)
	}
	if r.swapOff {
		// The profile turns swap off: what the sample had in swap (anon
		// pages, which reclaim cannot free without swap) must be in memory.
		ws += sw
		nr += sw
	}
	if t >= r.ivEnd || r.n == 0 {
		r.nextInterval(t)
	}
	// What reclaim cannot free must fit too: the peaks take the larger of
	// the working set and the non-reclaimable figure (neither is NaN).
	hi := ws
	if nr > hi {
		hi = nr
	}
	if hi > r.ivPeak {
		r.ivPeak = hi
	}
	if nr < r.ivNRMin {
		r.ivNRMin = nr
	}
	if nr > r.ivNRPeak {
		r.ivNRPeak = nr
	}
	if hi > r.maxWS {
		r.maxWS = hi
	}
	if nr > r.maxNR {
		r.maxNR = nr
	}
	if sw > r.maxSwap {
		r.maxSwap = sw
	}
	r.lastWS, r.lastNR, r.lastSwap = ws, nr, sw
	r.last = t
	r.n++
	return nil
}

// validAmount reports whether a is unknown or a valid size.
func validAmount(a cgroup.Amount) bool { return !a.Known || validBytes(a.Bytes) }

// badSample is Add's error for a sample it rejects as bad.
//
//go:noinline
func badSample(s cgroup.Sample) error { return fmt.Errorf("%w: %+v", ErrBadSample, s) }

// outOfOrder is Add's error for a sample at t, older than the last one.
//
//go:noinline
func (r *Recommender) outOfOrder(t time.Time) error {
	return fmt.Errorf("%w: %s after %s", ErrOutOfOrder, t.Format(time.RFC3339Nano), time.Unix(0, r.last).Format(time.RFC3339Nano))
}

// nextInterval starts the first interval at the first sample (t), or
// closes the interval t is past and starts one at t.
func (r *Recommender) nextInterval(t int64) {
	if r.n == 0 {
		r.first = t
	} else {
		r.closeInterval(t)
	}
	r.startInterval(t)
}

// interval returns the interval length for a history of span ns.
func (r *Recommender) interval(span int64) int64 {
	if r.opt.interval > 0 {
		return int64(r.opt.interval)
	}
	d := int64(float64(span) / r.opt.tune.IntervalsPerHistory)
	return min(max(d, int64(100*time.Millisecond)), int64(time.Hour))
}

// halfLife returns the decay half-life for a history of span ns.
func (r *Recommender) halfLife(span int64) float64 {
	if r.opt.halfLife > 0 {
		return float64(r.opt.halfLife)
	}
	h := float64(span) * r.opt.tune.HalfLifeFraction
	return min(max(h, float64(time.Second)), float64(r.opt.tune.MaxHalfLife))
}

func (r *Recommender) startInterval(t int64) {
	r.ivStart = t
	r.ivEnd = t + r.interval(t-r.first)
	r.ivPeak, r.ivNRPeak = 0, 0
	r.ivNRMin = math.Inf(1)
}

// closeInterval moves the interval's peak into the histogram and the
// series, and advances the decay clock by the interval's length in
// half-lives (the half-life being a share of the history so far).
func (r *Recommender) closeInterval(next int64) {
	if math.IsInf(r.ivNRMin, 1) {
		return
	}
	r.hist.add(r.ivPeak, 1, r.clock)
	st := float32(float64(r.ivStart-r.first) / 1e9)
	// A sudden fall of what reclaim cannot free is a restart (or a kill, or
	// a collection): the leak test starts over from there, so a leak that
	// restarts after each kill is still seen as one.
	if r.ivNRMin < resetFall*r.prevNRMin {
		r.trend = series{}
	}
	r.prevNRMin = r.ivNRMin
	r.trend.add(st, float32(r.ivNRMin))
	r.peaks.add(st, float32(r.ivNRPeak))
	r.prevNRPeak = r.ivNRPeak
	r.clock += float64(next-r.ivStart) / r.halfLife(next-r.first)
}

// AddOOM records an OOM kill: the container needed more than it had at t.
// usage is what it used when killed (the limit itself on a real kernel; 0
// when unknown), limit its own limit then (cgroup.MemorySnapshot.Limit). An
// unlimited limit is a container killed by an ancestor's limit or the
// host's OOM: it needed more than usage, which must then be known. With a
// profile that turns swap off, the swap of the last sample (when the kill is
// not older than it) is added to both: the container had memory and swap.
func (r *Recommender) AddOOM(t time.Time, usage cgroup.Bytes, limit cgroup.Limit) error {
	if t.IsZero() || !validBytes(usage) || !limit.Known || (limit.Set() && (!validBytes(limit.Bytes) || limit.Bytes == 0)) ||
		(limit.Unlimited && usage == 0) {
		return fmt.Errorf("%w: OOM at %s usage %d limit %s", ErrBadSample, t, usage, limit)
	}
	at := usage // killed by an ancestor or the host: it had what it used
	if limit.Set() {
		at = limit.Bytes
	}
	// With swap to be off, what the container held in swap at the kill
	// (the last sample's, when the kill is not older than it) is part of
	// what it had: the rule sizes memory from memory + swap.
	swap := 0.0
	if r.swapOff && r.n > 0 && t.UnixNano() >= r.last {
		swap = r.lastSwap
	}
	c := r.clockAt(t.UnixNano())
	recent := 0
	for i := range r.oomLen {
		if c-float64(r.ooms[i].clock) < r.opt.tune.Forget {
			recent++
		}
	}
	// Settled or growing into the limit: the peak rose by at least the
	// bump over the growth window (closed intervals only: the open one
	// holds what monitoring saw at the kill). A smaller rise is the noise
	// of a settled history, and the kill a jump.
	jump := r.growthOf(false).ratio < 1+r.opt.tune.OOMBump
	k := kill{t: t.UnixNano(), limit: float64(at), clock: float32(c), ancestor: !limit.Set(),
		need: needAfterOOM(float64(at)+swap, float64(usage)+swap, recent, jump, r.opt.tune)}
	r.ooms[r.oomNext] = k
	r.oomNext = (r.oomNext + 1) % len(r.ooms)
	if r.oomLen < len(r.ooms) {
		r.oomLen++
	}
	return nil
}

// clockAt is the decay clock at t (unix ns), the open interval included.
func (r *Recommender) clockAt(t int64) float64 {
	if r.n == 0 || t <= r.ivStart {
		return r.clock
	}
	return r.clock + float64(t-r.ivStart)/r.halfLife(t-r.first)
}

// Samples returns how many samples were added.
func (r *Recommender) Samples() int64 { return r.n }

// StateBytes returns the Recommender's size in memory: it holds no
// pointers to growing data, so this is all of it.
func (r *Recommender) StateBytes() int { return stateSize }
