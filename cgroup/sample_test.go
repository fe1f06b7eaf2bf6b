package cgroup_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestSampleOfSnapshotAndReading: a snapshot and a Sampler reading of the
// same cgroup convert to the same Sample (v1 and v2 fixtures).
func TestSampleOfSnapshotAndReading(t *testing.T) {
	for _, host := range []string{"v1", "v2"} {
		t.Run(host, func(t *testing.T) {
			fs := fixtureFS(t, host)
			cg, err := fs.FindContainer(cid)
			require.NoError(t, err)
			snap, err := cg.Snapshot()
			require.NoError(t, err)
			s, err := fs.NewSampler()
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Add(cg.Path()))
			var got []cgroup.Reading
			s.Sample(func(r cgroup.Reading) { got = append(got, r) })
			require.Len(t, got, 1)
			fromSnap, fromReading := snap.Sample(), got[0].Sample()
			assert.Equal(t, fromSnap, fromReading)
			assert.True(t, fromSnap.NonReclaimable.Known)
			assert.Equal(t, snap.NonReclaimable(), fromSnap.NonReclaimable)
			assert.Equal(t, snap.WorkingSet, fromSnap.WorkingSet)
			assert.Equal(t, snap.Stat.File, fromSnap.PageCache)
		})
	}
}

// TestSampleUnknownStaysUnknown: a snapshot without memory.stat gives a
// sample whose working set and non-reclaimable part are unknown, not 0;
// WorkingSetOrUsage falls back to usage.
func TestSampleUnknownStaysUnknown(t *testing.T) {
	snap := cgroup.MemorySnapshot{Time: fixedTime, Usage: cgroup.AmountOf(10 << 20)}
	s := snap.Sample()
	assert.False(t, s.WorkingSet.Known)
	assert.False(t, s.NonReclaimable.Known)
	assert.False(t, s.Swap.Known)
	assert.Equal(t, cgroup.AmountOf(10<<20), s.WorkingSetOrUsage())
	assert.False(t, cgroup.Sample{}.WorkingSetOrUsage().Known)
}
