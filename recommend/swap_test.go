package recommend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestSwapOffHoldsSwap: a profile that turns swap off (memory-swap =
// memory) must size memory for what the container held in memory and swap,
// since the swapped pages have to fit in memory now; a profile that lets it
// swap (batch) sizes memory from what was in memory alone. A container at
// 32 MiB in memory with 48 MiB in swap, as TestInVMSwap in oom/vm_test.go
// sees it on a real kernel.
func TestSwapOffHoldsSwap(t *testing.T) {
	const ram, swap = 32 << 20, 48 << 20
	feed := func(t *testing.T, p Profile) *Recommender {
		t.Helper()
		r, err := New(WithProfile(p))
		require.NoError(t, err)
		for i := range 120 {
			require.NoError(t, r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Minute), WorkingSet: cgroup.AmountOf(ram),
				NonReclaimable: cgroup.AmountOf(ram * 9 / 10), Swap: cgroup.AmountOf(swap)}))
		}
		return r
	}
	t.Run("no kill", func(t *testing.T) {
		for _, p := range []Profile{Database, Generic} {
			rec, err := feed(t, p).Recommend()
			require.NoError(t, err)
			assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes((ram+swap)*11/10), "%s: memory + swap + 10%%", p)
			assert.Less(t, rec.Memory.Bytes, cgroup.Bytes((ram+swap)*12/10), p)
			assert.Equal(t, rec.Memory.Bytes, rec.MemorySwap.Bytes, p)
		}
		rec, err := feed(t, Batch).Recommend()
		require.NoError(t, err)
		assert.Less(t, rec.Memory.Bytes, cgroup.Bytes(ram*12/10), "batch keeps swapping: memory from what was in memory")
	})
	t.Run("kill", func(t *testing.T) {
		// A kill out of a settled history: the rule's jump, from what the
		// container had; with swap off that is memory + swap.
		r := feed(t, Database)
		require.NoError(t, r.AddOOM(t0.Add(2*time.Hour), ram, cgroup.LimitOf(ram)))
		rec, err := r.Recommend()
		require.NoError(t, err)
		assert.Equal(t, LimitAfterOOM(ram+swap, ram+swap), rec.Memory.Bytes, "one rule, from memory + swap")
		assert.Contains(t, rec.Memory.Rationale, "48MiB in swap")
		r = feed(t, Batch)
		require.NoError(t, r.AddOOM(t0.Add(2*time.Hour), ram, cgroup.LimitOf(ram)))
		rec, err = r.Recommend()
		require.NoError(t, err)
		assert.Equal(t, LimitAfterOOM(ram, ram), rec.Memory.Bytes, "batch: from the memory limit")
		// A kill recorded after later samples: the swap at the kill is not
		// known, the peaks (memory + swap) still hold.
		r = feed(t, Database)
		require.NoError(t, r.AddOOM(t0.Add(time.Hour), ram, cgroup.LimitOf(ram)))
		rec, err = r.Recommend()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes((ram+swap)*11/10))
	})
}
