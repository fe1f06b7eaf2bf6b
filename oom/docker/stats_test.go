package docker_test

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom/docker"
)

// TestSampleOf: v1 and v2 stats readings become samples; what a reading
// lacks is unknown (a reading without inactive_file gave the usage as the
// working set).
func TestSampleOf(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	v1 := container.StatsResponse{Read: now, MemoryStats: container.MemoryStats{Usage: 100 << 20,
		Stats: map[string]uint64{"total_inactive_file": 10 << 20, "total_rss": 60 << 20, "total_shmem": 1 << 20, "total_cache": 30 << 20}}}
	s, err := docker.SampleOf(v1)
	require.NoError(t, err)
	assert.Equal(t, cgroup.Sample{Time: now, Usage: cgroup.AmountOf(100 << 20), WorkingSet: cgroup.AmountOf(90 << 20),
		NonReclaimable: cgroup.AmountOf(61 << 20), PageCache: cgroup.AmountOf(30 << 20)}, s)
	v2 := container.StatsResponse{Read: now, MemoryStats: container.MemoryStats{Usage: 100 << 20,
		Stats: map[string]uint64{"inactive_file": 120 << 20, "anon": 50 << 20, "file": 40 << 20}}}
	s, err = docker.SampleOf(v2)
	require.NoError(t, err)
	assert.Equal(t, cgroup.AmountOf(0), s.WorkingSet, "floored at zero")
	assert.Equal(t, cgroup.AmountOf(50<<20), s.NonReclaimable)
	bare := container.StatsResponse{Read: now, MemoryStats: container.MemoryStats{Usage: 100 << 20}}
	s, err = docker.SampleOf(bare)
	require.NoError(t, err)
	assert.False(t, s.WorkingSet.Known)
	assert.False(t, s.NonReclaimable.Known)
	assert.Equal(t, cgroup.AmountOf(100<<20), s.WorkingSetOrUsage())
	_, err = docker.SampleOf(container.StatsResponse{})
	require.Error(t, err)
}
