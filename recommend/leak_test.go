package recommend

import (
	"github.com/oomkit/oomkit/cgroup"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLeakOnRecordings runs the defaults on the project's own recordings:
// the short leak (512 KiB every 100 ms for 37 s) is flagged with a rate
// within 50% of the true one (its least-squares slope of non-reclaimable
// memory), and its time to the limit; the compile and the step change are
// not flagged, nor are the other recordings but slow-leak.
func TestLeakOnRecordings(t *testing.T) {
	for _, tc := range []struct {
		name string
		leak bool
	}{{"short-leak", true}, {"slow-leak", true}, {"compile", false}, {"step-change", false}, {"steady-server", false}, {"sawtooth-gc", false}, {"batch-spike", false}, {"page-cache", false}} {
		f, err := os.Open("testdata/traces/" + tc.name + ".csv")
		require.NoError(t, err)
		r, err := New()
		require.NoError(t, err)
		_, err = r.AddCSV(f, t0)
		f.Close()
		require.NoError(t, err)
		rec, err := r.Recommend()
		require.NoError(t, err)
		if !tc.leak {
			assert.Nil(t, rec.Leak, "%s: no leak", tc.name)
			continue
		}
		require.NotNil(t, rec.Leak, "%s: a leak", tc.name)
		ss, err := Trace(tc.name, t0)
		require.NoError(t, err)
		truth := slopeLSQ(ss) * 3600
		t.Logf("%s: flagged %.1f MiB/h (true %.1f MiB/h), %.2f h to the %s limit", tc.name, rec.Leak.BytesPerHour/(1<<20), truth/(1<<20), rec.Leak.HoursToLimit, rec.Memory.Bytes)
		assert.InEpsilon(t, truth, rec.Leak.BytesPerHour, 0.5, "%s: rate within 50%% of the true one", tc.name)
		assert.Greater(t, rec.Leak.HoursToLimit, 0.0)
		assert.Contains(t, rec.Warnings[0], "fix the leak")
	}
}

// slopeLSQ is the least-squares slope (bytes per second) of the
// non-reclaimable memory over the second half of a trace (the first holds
// the start-up).
func slopeLSQ(ss []cgroup.Sample) float64 {
	ss = ss[len(ss)/2:]
	var n, sx, sy, sxx, sxy float64
	for _, s := range ss {
		x := s.Time.Sub(ss[0].Time).Seconds()
		y := float64(s.NonReclaimable.Bytes)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

var _ = time.Second

// TestForgetsAtStatedRate: a day at 500 MiB then a month at 100 MiB (a
// sample every 5 minutes) ends near 115 MiB: the old peak is forgotten
// (after 3 half-lives of at most 24 h), not kept as 550.
func TestForgetsAtStatedRate(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	tm := t0
	for ; tm.Before(t0.Add(24 * time.Hour)); tm = tm.Add(5 * time.Minute) {
		require.NoError(t, r.Add(cgroup.Sample{Time: tm, WorkingSet: cgroup.AmountOf(500 << 20)}))
	}
	day, err := r.Recommend()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, day.Memory.Bytes, cgroup.Bytes(550<<20), "the day's peak + margin")
	for ; tm.Before(t0.Add(31 * 24 * time.Hour)); tm = tm.Add(5 * time.Minute) {
		require.NoError(t, r.Add(cgroup.Sample{Time: tm, WorkingSet: cgroup.AmountOf(100 << 20)}))
	}
	rec, err := r.Recommend()
	require.NoError(t, err)
	t.Logf("after a day at 500 MiB: %s; a month later at 100 MiB: %s (%s)", day.Memory.Bytes, rec.Memory.Bytes, rec.Memory.Rationale)
	assert.InDelta(t, 115, float64(rec.Memory.Bytes)/(1<<20), 5, "near 115 MiB")
}
