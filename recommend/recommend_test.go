package recommend

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestHistogramQuantileError checks the histogram's quantiles against the
// exact quantiles of the data: never below, at most 5% above.
func TestHistogramQuantileError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func(i int) float64{
		"constant":  func(int) float64 { return 200 << 20 },
		"lognormal": func(int) float64 { return math.Exp(math.Log(300<<20) + 0.5*rng.NormFloat64()) },
		"spiky": func(int) float64 {
			if rng.IntN(50) == 0 {
				return 900 << 20
			}
			return 100<<20 + float64(rng.IntN(10<<20))
		},
		"sawtooth": func(i int) float64 { return float64(10<<20 + (i%100)*(2<<20)) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			var h histogram
			var xs []float64
			for i := range 5000 {
				v := gen(i)
				xs = append(xs, v)
				h.add(v, 1, 0) // one instant: equal weights
			}
			slices.Sort(xs)
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				exact := xs[int(math.Ceil(q*float64(len(xs))))-1]
				got := h.quantile(q)
				assert.GreaterOrEqual(t, got, exact, "q%v never below", q)
				assert.LessOrEqual(t, got, exact*histGrowth*(1+1e-9), "q%v within 5%%", q)
			}
		})
	}
}

func TestHistogramDecay(t *testing.T) {
	var h histogram
	// The clock counts half-lives: 1 GiB peaks, then 100 MiB peaks 48
	// half-lives later.
	for i := range 100 {
		h.add(1<<30, 1, float64(i)/100) // old: 1 GiB
	}
	for i := range 100 {
		h.add(100<<20, 1, 48+float64(i)/100)
	}
	assert.Less(t, h.quantile(0.99), float64(110<<20), "peaks 48 half-lives old have decayed away")
	assert.Less(t, h.top(1.0/8, 49), float64(110<<20), "and are forgotten")
	assert.Greater(t, h.top(1e-20, 49), float64(1<<30), "though still there with a tiny weight")
	// Rescaling keeps the answers.
	h.add(100<<20, 1, 8760)
	assert.Less(t, h.quantile(0.5), float64(110<<20))
	assert.False(t, math.IsInf(h.total, 0) || math.IsNaN(h.total))
}

func add(t *testing.T, r *Recommender, start time.Time, n int, step time.Duration, ws func(i int) cgroup.Bytes) {
	t.Helper()
	for i := range n {
		require.NoError(t, r.Add(cgroup.Sample{Time: start.Add(time.Duration(i) * step), WorkingSet: cgroup.AmountOf(ws(i)), NonReclaimable: cgroup.AmountOf(ws(i) * 9 / 10)}))
	}
}

func TestRecommendSteady(t *testing.T) {
	r, err := New(WithProfile(Database))
	require.NoError(t, err)
	add(t, r, t0, 24*60, time.Minute, func(i int) cgroup.Bytes { return 400<<20 + cgroup.Bytes(i%7)<<20 })
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.InDelta(t, 1.1*406*(1<<20), float64(rec.Memory.Bytes), 0.06*406*(1<<20), "p99 of peaks + 10%")
	assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes(406<<20))
	assert.Equal(t, rec.Memory.Bytes, rec.MemorySwap.Bytes, "database: no swap")
	assert.Equal(t, -500, rec.OOMScoreAdj)
	assert.LessOrEqual(t, rec.MemoryReservation.Bytes, rec.Memory.Bytes)
	assert.Greater(t, rec.MemoryReservation.Bytes, cgroup.Bytes(400<<20))
	assert.Nil(t, rec.Leak)
	assert.Greater(t, rec.Confidence, 0.9)
	assert.NotEmpty(t, rec.Rationale)
}

func TestRecommendGuards(t *testing.T) {
	t.Run("OOM raises the limit above the usage at the kill", func(t *testing.T) {
		r, _ := New()
		add(t, r, t0, 120, time.Minute, func(int) cgroup.Bytes { return 100 << 20 })
		require.NoError(t, r.AddOOM(t0.Add(3*time.Hour), 128<<20, cgroup.LimitOf(128<<20)))
		rec, err := r.Recommend()
		require.NoError(t, err)
		// A kill out of a settled history: a jump of unknown size, the need
		// taken as four times the limit, plus the 10% margin.
		assert.Equal(t, cgroup.Bytes(564<<20), rec.Memory.Bytes, "proportional to the container, not +256 MiB")
		assert.Equal(t, LimitAfterOOM(128<<20, 128<<20), rec.Memory.Bytes, "one rule")
		assert.Contains(t, rec.Memory.Rationale, "OOM")
	})
	t.Run("an unlimited container killed by an ancestor needed more than it used", func(t *testing.T) {
		r, _ := New()
		add(t, r, t0, 120, time.Minute, func(int) cgroup.Bytes { return 100 << 20 })
		require.NoError(t, r.AddOOM(t0.Add(3*time.Hour), 300<<20, cgroup.NoLimit()))
		rec, err := r.Recommend()
		require.NoError(t, err)
		assert.Equal(t, LimitAfterOOM(300<<20, 300<<20), rec.Memory.Bytes)
		assert.Contains(t, rec.Memory.Rationale, "OOM")
	})
	t.Run("usage stands in for an unknown working set", func(t *testing.T) {
		r, _ := New()
		for i := range 120 {
			require.NoError(t, r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Minute), Usage: cgroup.AmountOf(200 << 20)}))
		}
		rec, err := r.Recommend()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes(200<<20))
	})
	t.Run("never below the non-reclaimable peak", func(t *testing.T) {
		r, _ := New()
		for i := range 600 {
			nr := cgroup.Bytes(50 << 20)
			if i == 300 {
				nr = 500 << 20
			}
			require.NoError(t, r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Minute), WorkingSet: cgroup.AmountOf(60 << 20), NonReclaimable: cgroup.AmountOf(nr)}))
		}
		rec, _ := r.Recommend()
		assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes(500<<20))
	})
	t.Run("a leak is reported, not chased", func(t *testing.T) {
		r, _ := New(WithLeakHorizon(time.Hour))
		add(t, r, t0, 6*60, time.Minute, func(i int) cgroup.Bytes { return 100<<20 + cgroup.Bytes(i)<<20 }) // 60 MiB/h
		rec, _ := r.Recommend()
		require.NotNil(t, rec.Leak)
		assert.InEpsilon(t, 0.9*float64(60<<20), rec.Leak.BytesPerHour, 0.1)
		assert.Less(t, rec.Memory.Bytes, cgroup.Bytes(600<<20), "provisioned for the horizon, not forever")
		assert.Contains(t, rec.Warnings[0], "only delays the kill")
	})
	t.Run("host cap", func(t *testing.T) {
		r, _ := New(WithHost(4<<30, 1<<30, 2<<30))
		add(t, r, t0, 100, time.Minute, func(int) cgroup.Bytes { return 3 << 30 })
		rec, _ := r.Recommend()
		assert.Equal(t, cgroup.Bytes(1<<30), rec.Memory.Bytes)
		assert.NotEmpty(t, rec.Warnings)
	})
	t.Run("no limit on one sample, and said", func(t *testing.T) {
		r, _ := New()
		require.NoError(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(1 << 20)}))
		rec, err := r.Recommend()
		require.NoError(t, err)
		assert.True(t, rec.NoLimitYet)
		assert.Zero(t, rec.Memory.Bytes)
		assert.Contains(t, rec.Warnings[0], "no limit recommended yet")
		assert.Empty(t, rec.DockerRun(), "no flags to set")
	})
	t.Run("floor", func(t *testing.T) {
		r, _ := New()
		add(t, r, t0, 100, time.Second, func(int) cgroup.Bytes { return 1 << 20 })
		rec, err := r.Recommend()
		require.NoError(t, err)
		assert.Equal(t, cgroup.Bytes(6<<20), rec.Memory.Bytes)
	})
}

func TestBadInput(t *testing.T) {
	r, _ := New()
	_, err := r.Recommend()
	require.ErrorIs(t, err, ErrNoData)
	require.ErrorIs(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(-1)}), ErrBadSample)
	require.ErrorIs(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(1 << 55)}), ErrBadSample)
	require.ErrorIs(t, r.Add(cgroup.Sample{WorkingSet: cgroup.AmountOf(1)}), ErrBadSample)
	require.ErrorIs(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(1), NonReclaimable: cgroup.AmountOf(-5)}), ErrBadSample)
	require.NoError(t, r.Add(cgroup.Sample{Time: t0.Add(time.Minute), WorkingSet: cgroup.AmountOf(1 << 20)}))
	require.ErrorIs(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(1 << 20)}), ErrOutOfOrder)
	require.ErrorIs(t, r.AddOOM(t0, 1, cgroup.LimitOf(0)), ErrBadSample)
	require.ErrorIs(t, r.AddOOM(t0, 1, cgroup.Limit{}), ErrBadSample, "an unknown limit")
	require.ErrorIs(t, r.AddOOM(t0, 0, cgroup.NoLimit()), ErrBadSample, "unlimited with no usage says nothing of the size")
	require.ErrorIs(t, r.Add(cgroup.Sample{Time: t0.Add(2 * time.Minute)}), ErrBadSample, "neither working set nor usage")
	assert.Equal(t, int64(1), r.Samples())
	held := DefaultTuning()
	held.GrowthHeld = 1 // a tenth of the rise is 0.1; the whole rise would date nothing
	for _, o := range []Option{WithInterval(0), WithPercentile(math.NaN()), WithPercentile(2), WithMargin(-1), WithFloor(1), WithHost(0, 0, 0), WithHost(1<<30, 1<<30, 0), WithProfile("cobol"), WithHalfLife(time.Second / 2), WithLeakHorizon(0), WithTuning(Tuning{}), WithTuning(held)} {
		_, err := New(o)
		require.Error(t, err)
	}
	_, err = New(WithTuning(DefaultTuning()))
	require.NoError(t, err, "the defaults are in range")
}

func TestStateSize(t *testing.T) {
	r, _ := New()
	assert.LessOrEqual(t, r.StateBytes(), 2048, "at most 2 KiB per container")
}

func TestProfilesRuntime(t *testing.T) {
	for _, p := range Profiles() {
		r, err := New(WithProfile(p))
		require.NoError(t, err)
		add(t, r, t0, 100, time.Minute, func(int) cgroup.Bytes { return 1200 << 20 })
		rec, err := r.Recommend()
		require.NoError(t, err)
		switch p {
		case JVM:
			assert.Regexp(t, `^-Xmx\d+m$`, rec.Runtime["JAVA_TOOL_OPTIONS"])
		case Go:
			assert.Contains(t, rec.Runtime["GOMEMLIMIT"], "MiB")
		case Node:
			assert.Contains(t, rec.Runtime["NODE_OPTIONS"], "--max-old-space-size=")
		case Batch:
			assert.Greater(t, rec.MemorySwap.Bytes, rec.Memory.Bytes)
			assert.Equal(t, 500, rec.OOMScoreAdj)
		default:
			assert.Equal(t, rec.Memory.Bytes, rec.MemorySwap.Bytes)
		}
	}
}
