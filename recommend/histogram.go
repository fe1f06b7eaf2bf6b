package recommend

import "math"

// The histogram holds time-decayed weights of interval peaks in buckets
// whose bounds grow geometrically: bucket i covers [min*g^i, min*g^(i+1)).
// A value is reported as its bucket's upper bound, so it is never below the
// true value and at most g-1 (5%) above it, for values from histMin to
// histMin*g^histBuckets (1 MiB to about 2.2 TiB).
//
// Decay runs on a clock that counts half-lives (see Recommender): an entry
// added at clock c gets weight 2^(c-ref), so an entry k half-lives old
// weighs 2^-k relative to a fresh one. Older weights are never touched;
// when weights grow large all are rescaled at once. The state is a fixed
// array: 300 float32 = 1,200 bytes.
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
	ref   float64 // the clock the weights are relative to
	// lo and hi bound the non-empty buckets, so scans are short.
	lo, hi int16
}

// logBucketOf is the bucket of v by its definition: the whole number of
// growth factors from histMin to v, 0 below histMin, at most the last.
// bucketOf gives the same answer for every finite v from tables.
func logBucketOf(v float64) int {
	if v < histMin {
		return 0
	}
	i := int(math.Log(v/histMin) / logGrowth)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// bucketOf returns logBucketOf(v) (for a finite v) without a logarithm: v's
// exponent and top bucketKeyBits mantissa bits select one of keys, a range
// of values narrower than a bucket, so at most one bucket starts in it;
// bucketKey holds the bucket of the range's least value and bucketLow the
// least value of the next bucket.
func bucketOf(v float64) int {
	if v < histMin {
		return 0
	}
	k := (math.Float64bits(v) - math.Float64bits(histMin)) >> (52 - bucketKeyBits)
	if k >= uint64(len(bucketKey)) {
		return histBuckets - 1
	}
	i := int(bucketKey[k])
	if v >= bucketLow[i+1] {
		i++
	}
	return i
}

// bucketKeyBits is how many mantissa bits the key of bucketOf takes: 5, a
// range of values at most 1/32 wide, narrower than a bucket (1.05).
const bucketKeyBits = 5

var (
	// bucketLow[i] is the least value logBucketOf puts in bucket i (for
	// i > 0; +Inf past the last bucket): found by stepping from
	// histMin*histGrowth^i to where logBucketOf changes.
	bucketLow = func() (b [histBuckets + 1]float64) {
		for i := 1; i < histBuckets; i++ {
			x := histMin * math.Pow(histGrowth, float64(i))
			for logBucketOf(x) >= i {
				x = math.Nextafter(x, 0)
			}
			for logBucketOf(x) < i {
				x = math.Nextafter(x, math.Inf(1))
			}
			b[i] = x
		}
		b[histBuckets] = math.Inf(1)
		return b
	}()
	// bucketKey[k] is the bucket of the least value with key k: 22 powers of
	// two from histMin hold every bucket (histGrowth^300 < 2^22).
	bucketKey = func() (b [22 << bucketKeyBits]int16) {
		i := 0
		for k := range b {
			x := math.Float64frombits(math.Float64bits(histMin) + uint64(k)<<(52-bucketKeyBits))
			for i+1 < histBuckets && x >= bucketLow[i+1] {
				i++
			}
			b[k] = int16(i)
		}
		return b
	}()
)

// add adds a value with weight w (in fresh entries) at clock c.
func (h *histogram) add(v, w, c float64) {
	if h.total == 0 {
		h.ref, h.lo, h.hi = c, histBuckets, -1
	}
	if c-h.ref > 60 {
		h.rescale(c)
	}
	w *= math.Exp2(c - h.ref)
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

// rescale makes weights relative to clock c; weights that underflow are
// dropped and the bounds shrink to what is left.
func (h *histogram) rescale(c float64) {
	f := math.Exp2(h.ref - c)
	h.total = 0
	lo, hi := int16(histBuckets), int16(-1)
	for i := range h.w {
		h.w[i] = float32(float64(h.w[i]) * f)
		if h.w[i] < 1e-30 {
			h.w[i] = 0
		}
		if h.w[i] > 0 {
			h.total += float64(h.w[i])
			lo, hi = min(lo, int16(i)), max(hi, int16(i))
		}
	}
	h.ref, h.lo, h.hi = c, lo, hi
	if h.total == 0 {
		h.lo, h.hi = histBuckets, -1
	}
}

// top returns the upper bound of the highest bucket whose weight at clock c
// is at least tau fresh entries: the largest peak not yet forgotten. It
// returns 0 when every bucket is below tau.
func (h *histogram) top(tau, c float64) float64 {
	if h.total == 0 {
		return 0
	}
	thr := tau * math.Exp2(c-h.ref)
	for i := int(h.hi); i >= int(h.lo); i-- {
		if float64(h.w[i]) >= thr {
			return bucketUpper[i]
		}
	}
	return 0
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
