package oom_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
)

// TestRemedySwap: the remedy's memory-swap keeps the container's relation
// (Docker's default, twice the memory; unlimited), unless the workload's
// profile says otherwise.
func TestRemedySwap(t *testing.T) {
	killed := func(swap cgroup.Limit, factor *float64) *oom.Apply {
		ev := oom.Evidence{
			Container: &oom.Container{ID: "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef", Name: "hog32",
				State: &oom.ContainerState{ExitCode: 137, OOMKilled: true}, Memory: cgroup.LimitOf(32 << 20), MemorySwap: swap},
			Reports:    []oom.Report{{Scope: oom.ScopeCgroup, OOMMemcg: "/docker/x", TaskMemcg: "/docker/x", Victim: oom.Task{PID: 7, Comm: "hog"}}},
			SwapFactor: factor,
		}
		d := oom.Diagnose(ev)
		require.NotNil(t, d.Apply, "causes %+v", d.Causes)
		return d.Apply
	}
	a := killed(cgroup.LimitOf(64<<20), nil)
	assert.Equal(t, 2*a.MemoryBytes, a.MemorySwapBytes, "Docker's default kept: twice the memory")
	assert.Contains(t, a.Docker, "--memory-swap ")
	a = killed(cgroup.NoLimit(), nil)
	assert.Equal(t, int64(-1), a.MemorySwapBytes)
	assert.Contains(t, a.Docker, "--memory-swap -1 ")
	a = killed(cgroup.LimitOf(32<<20), nil)
	assert.Equal(t, a.MemoryBytes, a.MemorySwapBytes, "no swap stays no swap")
	for _, p := range []recommend.Profile{recommend.Generic, recommend.Batch} {
		f, err := recommend.SwapFactor(p)
		require.NoError(t, err)
		a = killed(cgroup.LimitOf(64<<20), &f)
		want := a.MemoryBytes
		if f > 0 {
			want = int64(float64(a.MemoryBytes)*(1+f)+(1<<20)-1) >> 20 << 20
		}
		assert.Equal(t, want, a.MemorySwapBytes, "profile %s", p)
	}
	_, err := recommend.SwapFactor("cobol")
	require.Error(t, err)
}
