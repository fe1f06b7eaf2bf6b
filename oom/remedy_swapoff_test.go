package oom_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
)

// TestRemedySwapOff: a kill at 32 MiB with 48 MiB in swap (the kernel's v2
// "swap: usage" line, or v1's memory+swap less memory). A profile that
// turns swap off sizes memory from the two together, as the recommender
// does; one that lets it swap, or none given, from the memory limit.
func TestRemedySwapOff(t *testing.T) {
	v2 := oom.Report{Scope: oom.ScopeCgroup, OOMMemcg: "/docker/x", TaskMemcg: "/docker/x", Victim: oom.Task{PID: 7, Comm: "hog"},
		Memcg: oom.Counter{UsageKB: 32768, LimitKB: 32768, Known: true}, Swap: oom.Counter{UsageKB: 49152, LimitKB: 49152, Known: true}}
	v1 := v2
	v1.Swap = oom.Counter{}
	v1.MemSw = oom.Counter{UsageKB: 81920, LimitKB: 81920, Known: true}
	killed := func(r oom.Report, factor *float64) *oom.Apply {
		ev := oom.Evidence{
			Container: &oom.Container{ID: "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef", Name: "db",
				State: &oom.ContainerState{ExitCode: 137, OOMKilled: true}, Memory: cgroup.LimitOf(32 << 20), MemorySwap: cgroup.LimitOf(80 << 20)},
			Reports:    []oom.Report{r},
			SwapFactor: factor,
		}
		d := oom.Diagnose(ev)
		require.NotNil(t, d.Apply, "causes %+v", d.Causes)
		return d.Apply
	}
	db, err := recommend.SwapFactor(recommend.Database)
	require.NoError(t, err)
	batch, err := recommend.SwapFactor(recommend.Batch)
	require.NoError(t, err)
	for name, r := range map[string]oom.Report{"v2": v2, "v1": v1} {
		a := killed(r, &db)
		assert.Equal(t, int64(recommend.LimitAfterOOM(80<<20, 80<<20)), a.MemoryBytes, "%s: memory + swap, the recommender's rule", name)
		assert.Equal(t, a.MemoryBytes, a.MemorySwapBytes, name)
		assert.Contains(t, a.Rule, "48MiB in swap", name)
		for _, f := range []*float64{nil, &batch} {
			a = killed(r, f)
			assert.Equal(t, int64(recommend.LimitAfterOOM(32<<20, 32<<20)), a.MemoryBytes, "%s: swap kept, from the memory limit", name)
			assert.Greater(t, a.MemorySwapBytes, a.MemoryBytes, name)
		}
	}
}

// TestRemedySmallKill: a kill at 8 MiB gets the recommender's limit, finer
// than a whole MiB under 64 MiB, and the flags say it in KiB.
func TestRemedySmallKill(t *testing.T) {
	r := oom.Report{Scope: oom.ScopeCgroup, OOMMemcg: "/docker/x", TaskMemcg: "/docker/x", Victim: oom.Task{PID: 7, Comm: "hog"},
		Memcg: oom.Counter{UsageKB: 8192, LimitKB: 8192, Known: true}}
	d := oom.Diagnose(oom.Evidence{
		Container: &oom.Container{ID: "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef", Name: "small",
			State: &oom.ContainerState{ExitCode: 137, OOMKilled: true}, Memory: cgroup.LimitOf(8 << 20), MemorySwap: cgroup.LimitOf(8 << 20)},
		Reports: []oom.Report{r},
	})
	require.NotNil(t, d.Apply, "causes %+v", d.Causes)
	want := recommend.LimitAfterOOM(8<<20, 8<<20) // 8 MiB x4 +10% = 35.2 MiB, to 512 KiB: 35.5 MiB
	assert.Equal(t, int64(35.5*(1<<20)), int64(want))
	assert.Equal(t, int64(want), d.Apply.MemoryBytes)
	assert.Contains(t, d.Apply.Docker, "--memory 36352k --memory-swap 36352k", "%+v", d.Apply)
	assert.Contains(t, d.Apply.Compose, "mem_limit: 36352k")
	assert.Contains(t, d.Apply.Kubernetes, "memory: 36352Ki", "not truncated to 35Mi")
}
