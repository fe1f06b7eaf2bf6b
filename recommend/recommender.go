package recommend

import (
	"errors"
	"fmt"
	"math"
	"slices"
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
// (about 1.9 KiB whatever the number of samples) and recommends its
// settings. Peaks per interval, not averages, drive the limit: each
// interval's peak working set goes into a time-decayed histogram with
// geometric buckets (5% apart, so quantiles have at most 5% relative error).
//
// A Recommender is not safe for concurrent use: Add is meant for one
// sampling goroutine per container, at about 10 ns a sample. Guard it with a
// mutex to share it.
type Recommender struct {
	opt options

	hist histogram

	// the interval being filled
	ivStart, ivEnd int64 // unix nanoseconds
	ivPeak         float64
	ivNRMin        float64

	n              int64
	first, last    int64 // unix nanoseconds
	maxWS, maxNR   float64
	maxSwap        float64
	lastWS, lastNR float64
	hasNR          bool

	// interval minima of non-reclaimable usage (or working set), for the
	// leak trend: up to len(trend) points, each the minimum of stride
	// intervals; when full, neighbours merge and the stride doubles, so the
	// trend covers the whole history in bounded memory.
	trend    [24]point
	trendLen int
	stride   int
	pendN    int
	pendT    int64
	pendMin  float32

	ooms    [4]OOM
	oomNext int
	oomLen  int
}

type point struct {
	t int64 // unix seconds
	v float32
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
	return &Recommender{opt: o}, nil
}

func validBytes(b cgroup.Bytes) bool { return b >= 0 && b < absurd }

// Add records a sample: its working set (its usage when the working set is
// unknown), and its non-reclaimable and swap amounts when known. It returns
// an error wrapping ErrBadSample for a zero time, a sample with neither
// working set nor usage, or a negative or absurd size, and ErrOutOfOrder
// for a sample older than the last; the sample is then ignored.
func (r *Recommender) Add(s cgroup.Sample) error {
	need := s.WorkingSetOrUsage()
	if s.Time.IsZero() || !need.Known || !validBytes(need.Bytes) || (s.NonReclaimable.Known && !validBytes(s.NonReclaimable.Bytes)) ||
		(s.Swap.Known && !validBytes(s.Swap.Bytes)) || (s.PageCache.Known && !validBytes(s.PageCache.Bytes)) {
		return fmt.Errorf("%w: %+v", ErrBadSample, s)
	}
	t := s.Time.UnixNano()
	if r.n > 0 && t < r.last {
		return fmt.Errorf("%w: %s after %s", ErrOutOfOrder, s.Time.Format(time.RFC3339Nano), time.Unix(0, r.last).Format(time.RFC3339Nano))
	}
	ws := float64(need.Bytes)
	nr := ws
	if s.NonReclaimable.Known {
		nr = float64(s.NonReclaimable.Bytes)
		r.hasNR = true
	}
	if r.n == 0 {
		r.first = t
		r.startInterval(t)
	} else if t >= r.ivEnd {
		r.closeInterval()
		r.startInterval(t)
	}
	if ws > r.ivPeak {
		r.ivPeak = ws
	}
	if nr < r.ivNRMin {
		r.ivNRMin = nr
	}
	if ws > r.maxWS {
		r.maxWS = ws
	}
	if nr > r.maxNR {
		r.maxNR = nr
	}
	if s.Swap.Known && float64(s.Swap.Bytes) > r.maxSwap {
		r.maxSwap = float64(s.Swap.Bytes)
	}
	r.lastWS, r.lastNR = ws, nr
	r.last = t
	r.n++
	return nil
}

func (r *Recommender) startInterval(t int64) {
	r.ivStart = t
	r.ivEnd = t + int64(r.opt.interval)
	r.ivPeak = 0
	r.ivNRMin = math.Inf(1)
}

// closeInterval moves the interval's peak into the histogram and its
// non-reclaimable minimum into the trend ring.
func (r *Recommender) closeInterval() {
	if math.IsInf(r.ivNRMin, 1) {
		return
	}
	sec := r.ivStart / int64(time.Second)
	r.hist.add(r.ivPeak, sec, r.opt.halfLife.Seconds())
	v := float32(r.ivNRMin)
	if r.pendN == 0 || v < r.pendMin {
		r.pendMin = v
	}
	if r.pendN == 0 {
		r.pendT = sec
	}
	r.pendN++
	if r.stride == 0 {
		r.stride = 1
	}
	if r.pendN < r.stride {
		return
	}
	if r.trendLen == len(r.trend) {
		half := len(r.trend) / 2
		for i := range half {
			a, b := r.trend[2*i], r.trend[2*i+1]
			r.trend[i] = point{t: a.t, v: min(a.v, b.v)}
		}
		r.trendLen = half
		r.stride *= 2
	}
	r.trend[r.trendLen] = point{t: r.pendT, v: r.pendMin}
	r.trendLen++
	r.pendN = 0
}

// AddOOM records an OOM kill: the container needed more than it had at t.
// usage is what it used when killed (the limit itself on a real kernel; 0
// when unknown), limit its own limit then (cgroup.MemorySnapshot.Limit). An
// unlimited limit is a container killed by an ancestor's limit or the
// host's OOM: it needed more than usage, which must then be known.
func (r *Recommender) AddOOM(t time.Time, usage cgroup.Bytes, limit cgroup.Limit) error {
	if t.IsZero() || !validBytes(usage) || !limit.Known || (limit.Set() && (!validBytes(limit.Bytes) || limit.Bytes == 0)) ||
		(limit.Unlimited && usage == 0) {
		return fmt.Errorf("%w: OOM at %s usage %d limit %s", ErrBadSample, t, usage, limit)
	}
	r.ooms[r.oomNext] = OOM{Time: t, Usage: usage, Limit: limit}
	r.oomNext = (r.oomNext + 1) % len(r.ooms)
	if r.oomLen < len(r.ooms) {
		r.oomLen++
	}
	return nil
}

// Samples returns how many samples were added.
func (r *Recommender) Samples() int64 { return r.n }

// StateBytes returns the Recommender's size in memory: it holds no
// pointers to growing data, so this is all of it.
func (r *Recommender) StateBytes() int { return stateSize }

// leakTrend returns the Theil-Sen slope (bytes per hour) of the interval
// minima of non-reclaimable usage, and the number of points used; the
// median of pairwise slopes ignores spikes and sawtooth drops.
func (r *Recommender) leakTrend() (float64, int) {
	n := r.trendLen
	if n < 6 {
		return 0, n
	}
	pts := r.trend[:n]
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := range n {
		for j := i + 1; j < n; j++ {
			dt := float64(pts[j].t-pts[i].t) / 3600
			if dt > 0 {
				slopes = append(slopes, float64(pts[j].v-pts[i].v)/dt)
			}
		}
	}
	if len(slopes) == 0 {
		return 0, n
	}
	slices.Sort(slopes)
	return slopes[len(slopes)/2], n
}
