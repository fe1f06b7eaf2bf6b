package docker

import (
	"errors"
	"math"

	"github.com/docker/docker/api/types/container"

	"github.com/oomkit/oomkit/cgroup"
)

// SampleOf turns one of the Engine's stats readings (docker stats, the
// /containers/{id}/stats stream) into the module's sample. The working set
// is usage minus inactive file cache, as docker stats computes it
// (total_inactive_file on cgroup v1, inactive_file on v2), unknown when
// the reading has neither; the non-reclaimable part is rss + shmem (v1) or
// anon + shmem (v2), the page cache cache (v1) or file (v2), each unknown
// when the reading lacks it. It was recommend.FromDockerStats, which made
// package recommend link Docker's API types.
func SampleOf(st container.StatsResponse) (cgroup.Sample, error) {
	if st.Read.IsZero() {
		return cgroup.Sample{}, errors.New("oom/docker: stats without a read time")
	}
	m := st.MemoryStats
	if m.Usage > math.MaxInt64 {
		return cgroup.Sample{}, errors.New("oom/docker: stats usage beyond int64")
	}
	s := cgroup.Sample{Time: st.Read, Usage: cgroup.AmountOf(cgroup.Bytes(m.Usage))}
	get := func(keys ...string) (uint64, bool) {
		for _, k := range keys {
			if v, ok := m.Stats[k]; ok && v <= math.MaxInt64 {
				return v, true
			}
		}
		return 0, false
	}
	if inactive, ok := get("total_inactive_file", "inactive_file"); ok {
		ws := m.Usage - min(inactive, m.Usage)
		s.WorkingSet = cgroup.AmountOf(cgroup.Bytes(ws))
	}
	if v, ok := m.Stats["total_rss"]; ok {
		if sh, _ := get("total_shmem"); v <= math.MaxInt64/2 && sh <= math.MaxInt64/2 {
			s.NonReclaimable = cgroup.AmountOf(cgroup.Bytes(v + sh))
		}
	} else if v, ok := m.Stats["anon"]; ok {
		if sh, _ := get("shmem"); v <= math.MaxInt64/2 && sh <= math.MaxInt64/2 {
			s.NonReclaimable = cgroup.AmountOf(cgroup.Bytes(v + sh))
		}
	}
	if v, ok := get("total_cache", "file"); ok {
		s.PageCache = cgroup.AmountOf(cgroup.Bytes(v))
	}
	return s, nil
}
