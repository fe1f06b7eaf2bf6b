package recommend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBucketOf holds the table lookup to the logarithm it replaces, where
// they could part: thousands of values either side of every bucket's start
// and of every key's, whole byte counts near each start, and 300,000
// values spread evenly in logarithm over the whole range and beyond.
func TestBucketOf(t *testing.T) {
	check := func(v float64) { // no t.Helper: it costs more than the check
		if got, want := bucketOf(v), logBucketOf(v); got != want {
			t.Fatalf("bucketOf(%v) = %d, logarithm %d", v, got, want)
		}
	}
	around := func(x float64, n int) {
		lo, hi := x, x
		for range n {
			check(lo)
			check(hi)
			lo, hi = math.Nextafter(lo, 0), math.Nextafter(hi, math.Inf(1))
		}
	}
	for i := 1; i < histBuckets; i++ {
		around(bucketLow[i], 1000)
		around(histMin*math.Pow(histGrowth, float64(i)), 100)
		for b := math.Floor(bucketLow[i]) - 100; b <= bucketLow[i]+100; b++ {
			check(b)
		}
		if logBucketOf(bucketLow[i]) != i || logBucketOf(math.Nextafter(bucketLow[i], 0)) != i-1 {
			t.Fatalf("bucket %d does not start at %v", i, bucketLow[i])
		}
	}
	for k := range bucketKey {
		around(math.Float64frombits(math.Float64bits(histMin)+uint64(k)<<(52-bucketKeyBits)), 200)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300_000 {
		check(math.Exp2(rng.Float64() * 64))
	}
	for _, v := range []float64{0, 1, histMin - 1, histMin, histMin + 1, 1 << 50, 1 << 62, math.MaxFloat64} {
		check(v)
	}
}
