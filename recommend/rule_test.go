package recommend

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// stepAt returns the recommendation for 600 s of samples, one a second, at
// 40 MiB and from sample i at 70 MiB, and the limit in MiB.
func stepAt(t *testing.T, i int) (Recommendation, float64) {
	t.Helper()
	r, err := New()
	require.NoError(t, err)
	add(t, r, t0, 600, time.Second, func(j int) cgroup.Bytes {
		if j < i {
			return 40 << 20
		}
		return 70 << 20
	})
	rec, err := r.Recommend()
	require.NoError(t, err)
	return rec, float64(rec.Memory.Bytes) / (1 << 20)
}

// A step from 40 to 70 MiB, just taken: the rise is provisioned once more
// on top of the peak, not the growth ratio again (70 x 1.75 = 122.5 MiB +
// 10%, the first round's rule). The rise is the non-reclaimable one (the
// samples hold 90% of the working set non-reclaimable: 36 to 63 MiB, 27
// MiB), added to the peak with its margin: 70 MiB + 10% + 27 MiB = 104 MiB.
// The step is in the last interval, so it has held for no time: the whole
// rise is provisioned.
func TestGrowthRiseIsAdded(t *testing.T) {
	rec, mib := stepAt(t, 595)
	assert.InDelta(t, 70*1.1+27, mib, 1, "rise added: %s", rec.Memory.Rationale)
	assert.Contains(t, rec.Memory.Rationale, "the non-reclaimable peak rose x1.75 over the last 4m59.5s, provisioned once more")
	assert.NotContains(t, rec.Memory.Rationale, "has held")
}

// The same step taken 200 s before the end of a 600 s history has held for
// 1.33 half-lives (a quarter of the history: 150 s): a level, not a ramp.
// The provision fades as old peaks do, to 2^-1.33 of the 27 MiB rise (10.7
// MiB, within an interval's 9.4 s of when the step is dated), but it is not
// gone: the limit stays above the peak with its margin.
func TestGrowthRiseFades(t *testing.T) {
	rec, mib := stepAt(t, 400)
	assert.GreaterOrEqual(t, mib, 70*1.1+27*math.Exp2(-210.0/150), rec.Memory.Rationale)
	assert.LessOrEqual(t, mib, 70*1.1+27*math.Exp2(-190.0/150)+1, rec.Memory.Rationale)
	assert.Contains(t, rec.Memory.Rationale, "of the 27MiB rise: the level has held for 3m")
}

// A rise of page cache is no growth: the page-cache recording (40 MiB of
// heap, then a 200 MiB file re-read, the working set at 248 MiB, the
// non-reclaimable part flat at 41 MiB) is neither "still starting" nor
// provisioned a second rise, since the kernel reclaims cache before it
// kills. Judged on the working set alone (no non-reclaimable figure) the
// same jump is growth, and the limit waits.
func TestCacheRiseIsNoGrowth(t *testing.T) {
	ss, err := Trace("page-cache", t0)
	require.NoError(t, err)
	var cut int
	for cut = range ss {
		if ss[cut].Time.Sub(t0) > 25*time.Second {
			break
		}
	}
	r, err := New()
	require.NoError(t, err)
	bare, err := New()
	require.NoError(t, err)
	for _, s := range ss[:cut] {
		require.NoError(t, r.Add(s))
		s.NonReclaimable = cgroup.Amount{}
		require.NoError(t, bare.Add(s))
	}
	rec, err := r.Recommend()
	require.NoError(t, err)
	mib := float64(rec.Memory.Bytes) / (1 << 20)
	assert.False(t, rec.NoLimitYet, rec.Memory.Rationale)
	assert.NotContains(t, rec.Memory.Rationale, "rose", rec.Memory.Rationale)
	assert.InDelta(t, 248*1.12, mib, 248*0.05, "the working set's peak plus the margin: %s", rec.Memory.Rationale)

	rec, err = bare.Recommend()
	require.NoError(t, err)
	assert.True(t, rec.NoLimitYet, "without the non-reclaimable figure the jump is growth: %s", rec.Memory.Rationale)
	assert.Contains(t, rec.Memory.Rationale, "no limit yet: the peak grew x5.")
}

// A spike that is over is no growth, even when the growth series has
// merged it with the intervals after it: the level now is read from the
// latest intervals.
func TestSpikeOverIsNoGrowth(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	add(t, r, t0, 1500, time.Second, func(i int) cgroup.Bytes {
		if i >= 1400 && i < 1440 {
			return 250 << 20
		}
		return 60 << 20
	})
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.NotContains(t, rec.Memory.Rationale, "rose", rec.Memory.Rationale)
	assert.Less(t, float64(rec.Memory.Bytes), 250*1.3*(1<<20), "the spike's peak plus a margin, no growth on top")
}

// A second kill while the first is remembered is a jump whatever the
// growth: the bump (+20%) was too small, so the need is four times the
// limit it hit.
func TestSecondKillIsAJump(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	// Growing: 20 -> 60 MiB over the last half.
	add(t, r, t0, 200, time.Second, func(i int) cgroup.Bytes { return cgroup.Bytes(20+i/5) << 20 })
	at := t0.Add(200 * time.Second)
	require.NoError(t, r.AddOOM(at, 64<<20, cgroup.LimitOf(64<<20)))
	rec, err := r.Recommend()
	require.NoError(t, err)
	first := rec.Memory.Bytes
	assert.InDelta(t, 64*1.2*1.1, float64(first)/(1<<20), 2, "a kill during growth: +20%%: %s", rec.Memory.Rationale)
	require.NoError(t, r.AddOOM(at.Add(time.Second), first, cgroup.LimitOf(first)))
	rec, err = r.Recommend()
	require.NoError(t, err)
	assert.InDelta(t, float64(first)*4*1.1/(1<<20), float64(rec.Memory.Bytes)/(1<<20), 2, "the second kill: x4: %s", rec.Memory.Rationale)
}

// A container that was OOM-killed keeps a limit: growth after the kill is
// provisioned, never answered with "no limit yet".
func TestKilledKeepsALimit(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	add(t, r, t0, 1000, time.Second, func(int) cgroup.Bytes { return 8 << 20 })
	require.NoError(t, r.AddOOM(t0.Add(1000*time.Second), 10<<20, cgroup.LimitOf(10<<20)))
	// Then a long life at five times the old level: the kill is forgotten,
	// the peak of the last half is 5x the one before.
	add(t, r, t0.Add(1001*time.Second), 3000, time.Second, func(i int) cgroup.Bytes { return 40<<20 + cgroup.Bytes(i%3)<<20 })
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.False(t, rec.NoLimitYet, "a container killed before keeps a limit: %v", rec.Warnings)
	assert.Greater(t, rec.Memory.Bytes, cgroup.Bytes(42<<20))
}

// TestGrowthRiseInBytes: the growth test provisions the rise it saw in
// bytes. A level that rose from 10 to 15 MiB (in the last 10 s of 2,000,
// so it has held for at most an interval of 31 s: at least 0.94 of the rise
// is provisioned), under a 30 MiB spike that is over, rose 5 MiB: the limit
// is 30 MiB plus the margin plus 5 MiB, not the x1.5 ratio applied to the
// spike (10 MiB).
func TestGrowthRiseInBytes(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	at := time.Unix(1_700_000_000, 0)
	const mib = 1 << 20
	for i := range 2000 {
		v := 10.0 * mib
		if i >= 1990 {
			v = 15 * mib
		}
		if i >= 1500 && i < 1510 {
			v = 30 * mib
		}
		require.NoError(t, r.Add(cgroup.Sample{Time: at.Add(time.Duration(i) * time.Second), WorkingSet: cgroup.AmountOf(cgroup.Bytes(v))}))
	}
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, rec.Memory.Bytes, roundUp(30*mib*(1+DefaultTuning().Margin)+0.94*5*mib), rec.Memory.Rationale)
	assert.LessOrEqual(t, rec.Memory.Bytes, roundUp(30*mib*(1+DefaultTuning().Margin)+5*mib), rec.Memory.Rationale)
}
