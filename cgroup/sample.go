package cgroup

import (
	"math"
	"time"
)

// Sample is one observation of a cgroup's memory: the one sample type of
// the module. Snapshots (MemorySnapshot.Sample) and Sampler readings
// (Reading.Sample) convert to it; oom.Evidence.Samples and
// recommend.Recommender.Add take it. Every amount the source could not
// provide is unknown, never 0.
type Sample struct {
	Time  time.Time `json:"time"`
	Usage Amount    `json:"usage_bytes"` // v2 memory.current; v1 memory.usage_in_bytes
	// WorkingSet is usage minus inactive file cache, floored at zero, as
	// kubelet and `docker stats` compute it: what a limit must hold.
	WorkingSet Amount `json:"working_set_bytes"`
	// NonReclaimable is what reclaim cannot free without swap or a kill:
	// anon + shmem (+ unreclaimable slab and socket buffers where the
	// version reports them). Its steady growth is a leak.
	NonReclaimable Amount `json:"non_reclaimable_bytes"`
	PageCache      Amount `json:"page_cache_bytes"` // v2 file; v1 total_cache
	Swap           Amount `json:"swap_bytes"`       // swap in use by the cgroup
}

// WorkingSetOrUsage returns the working set, or usage when the working set
// is unknown (memory.stat unread): the best figure for what a limit must
// hold. It is unknown when both are.
func (s Sample) WorkingSetOrUsage() Amount {
	if s.WorkingSet.Known {
		return s.WorkingSet
	}
	return s.Usage
}

// Sample returns the snapshot as a Sample.
func (s MemorySnapshot) Sample() Sample {
	return Sample{
		Time:           s.Time,
		Usage:          s.Usage,
		WorkingSet:     s.WorkingSet,
		NonReclaimable: s.NonReclaimable(),
		PageCache:      s.Stat.File,
		Swap:           s.SwapUsage,
	}
}

// Sample returns the reading as a Sample.
func (r Reading) Sample() Sample {
	return Sample{
		Time:           r.Time,
		Usage:          r.Usage,
		WorkingSet:     r.WorkingSet,
		NonReclaimable: r.NonReclaimable,
		PageCache:      r.File,
		Swap:           r.Swap,
	}
}

// NonReclaimable returns the part of usage reclaim cannot free without
// swap or a kill: anonymous memory and shmem, plus unreclaimable slab and
// socket buffers where the version reports them. It is unknown when anon
// is, or when the sum goes beyond int64 (no real cgroup's: a corrupt file).
func (st MemoryStat) NonReclaimable() Amount {
	if !st.Anon.Known || st.Anon.Bytes < 0 {
		return Amount{}
	}
	n := st.Anon.Bytes
	for _, a := range []Amount{st.Shmem, st.SlabUnreclaimable, st.Sock} {
		if a.Known {
			if a.Bytes < 0 || n > math.MaxInt64-a.Bytes {
				return Amount{}
			}
			n += a.Bytes
		}
	}
	return AmountOf(n)
}
