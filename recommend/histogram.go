package recommend

import "math"

// The histogram holds time-decayed weights of observed peaks in buckets
// whose bounds grow geometrically: bucket i covers [min*g^i, min*g^(i+1)).
// A quantile is reported as its bucket's upper bound, so it is never below
// the true weighted quantile and at most g-1 (5%) above it (the stated
// relative error), for values from histMin to histMin*g^histBuckets
// (1 MiB to about 1.4 TiB).
//
// Decay: a sample at time t gets weight 2^((t-ref)/halfLife); older weights
// are not touched, newer ones are heavier. When weights grow large all are
// rescaled at once. The state is a fixed array: 300 float32 = 1,200 bytes.
const (
	histMin     = 1 << 20
	histGrowth  = 1.05
	histBuckets = 300
)

var (
	logGrowth = math.Log(histGrowth)
	// bucketUpper[i] is the upper bound of bucket i.
	bucketUpper = func() (b [histBuckets]float64) {
		for i := range b {
			b[i] = histMin * math.Pow(histGrowth, float64(i+1))
		}
		return b
	}()
)

type histogram struct {
	w     [histBuckets]float32
	total float64
	ref   int64 // unix seconds the weights are relative to
	// lo and hi bound the non-empty buckets, so quantiles scan only them.
	lo, hi int16
}

func bucketOf(v float64) int {
	if v < histMin {
		return 0
	}
	i := int(math.Log(v/histMin) / logGrowth)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// add adds a value with the decay weight for time t (unix seconds).
func (h *histogram) add(v float64, t int64, halfLife float64) {
	if h.total == 0 {
		h.ref, h.lo, h.hi = t, histBuckets, -1
	}
	w := math.Exp2(float64(t-h.ref) / halfLife)
	if w > 1e30 || h.total > 1e30 {
		h.rescale(t, halfLife)
		w = 1
	}
	i := bucketOf(v)
	h.w[i] += float32(w)
	h.total += w
	if int16(i) < h.lo {
		h.lo = int16(i)
	}
	if int16(i) > h.hi {
		h.hi = int16(i)
	}
}

func (h *histogram) rescale(t int64, halfLife float64) {
	f := math.Exp2(-float64(t-h.ref) / halfLife)
	h.total = 0
	for i := range h.w {
		h.w[i] = float32(float64(h.w[i]) * f)
		h.total += float64(h.w[i])
	}
	h.ref = t
}

// quantile returns the upper bound of the bucket holding the q-quantile of
// the weights, or 0 when empty.
func (h *histogram) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	target := q * h.total
	var acc float64
	for i := int(h.lo); i <= int(h.hi); i++ {
		acc += float64(h.w[i])
		if acc >= target {
			return bucketUpper[i]
		}
	}
	return bucketUpper[h.hi]
}
