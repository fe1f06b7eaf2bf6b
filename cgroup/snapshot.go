package cgroup

import "time"

// Version is the cgroup version a memory controller speaks.
type Version int

const (
	// VersionUnknown is the zero Version.
	VersionUnknown Version = 0
	// V1 is the legacy hierarchy (memory.limit_in_bytes, memory.oom_control).
	V1 Version = 1
	// V2 is the unified hierarchy (memory.max, memory.events).
	V2 Version = 2
)

// String returns "v1", "v2" or "unknown".
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	default:
		return "unknown"
	}
}

// Events holds the memory event counters of a cgroup. In cgroup v2 they come
// from memory.events (hierarchical since 5.2) or memory.events.local; in v1
// only OOMKill exists (memory.oom_control, 4.13+) and it is local. A counter
// the version lacks is not Known.
type Events struct {
	Low          Count `json:"low"`            // reclaimed despite being under memory.low
	High         Count `json:"high"`           // throttled over memory.high
	Max          Count `json:"max"`            // usage about to exceed memory.max
	OOM          Count `json:"oom"`            // limit hit and reclaim failed: the OOM killer ran for this cgroup's limit
	OOMKill      Count `json:"oom_kill"`       // tasks in this cgroup killed by any OOM killer, global kills included
	OOMGroupKill Count `json:"oom_group_kill"` // memory.oom.group kills (5.17+)
}

// SwapEvents holds v2 memory.swap.events counters.
type SwapEvents struct {
	High Count `json:"high"` // swap usage over memory.swap.high
	Max  Count `json:"max"`  // swap allocation about to exceed memory.swap.max
	Fail Count `json:"fail"` // swap allocation failed (limit or out of swap)
}

// PSILine is one line of a pressure file: the share of time some (or all)
// tasks stalled on memory, averaged over 10 s, 60 s and 300 s (percent), and
// the total stall time since boot (the kernel's total= field, which counts
// microseconds, as a time.Duration).
type PSILine struct {
	Avg10  float64       `json:"avg10"`
	Avg60  float64       `json:"avg60"`
	Avg300 float64       `json:"avg300"`
	Total  time.Duration `json:"total_ns"`
}

// Pressure is memory pressure stall information. Known is false when PSI is
// unavailable (kernel without CONFIG_PSI, or psi=0). Host is true when the
// values come from /proc/pressure/memory because the cgroup has no
// memory.pressure file of its own (cgroup v1).
type Pressure struct {
	Some  PSILine
	Full  PSILine
	Known bool
	Host  bool
}

// MemoryStat holds the memory.stat fields that explain usage. Values are
// hierarchical (the cgroup and its descendants): v2 memory.stat is, and in v1
// the total_* fields are used. A field the kernel does not print is not Known.
type MemoryStat struct {
	Anon              Amount `json:"anon_bytes"` // v2 anon; v1 total_rss (+ total_rss_huge where separate)
	File              Amount `json:"file_bytes"` // v2 file; v1 total_cache
	ActiveAnon        Amount `json:"active_anon_bytes"`
	InactiveAnon      Amount `json:"inactive_anon_bytes"`
	ActiveFile        Amount `json:"active_file_bytes"`
	InactiveFile      Amount `json:"inactive_file_bytes"`
	Shmem             Amount `json:"shmem_bytes"`
	Slab              Amount `json:"slab_bytes"` // v2 slab; not in v1 memory.stat
	SlabReclaimable   Amount `json:"slab_reclaimable_bytes"`
	SlabUnreclaimable Amount `json:"slab_unreclaimable_bytes"`
	Sock              Amount `json:"sock_bytes"`   // v2 only
	Kernel            Amount `json:"kernel_bytes"` // v2 kernel (5.18+)
	Swap              Amount `json:"swap_bytes"`   // v1 total_swap; v2 derives swap from memory.swap.current
	Unevictable       Amount `json:"unevictable_bytes"`
}

// MemorySnapshot is the version-neutral memory state of one cgroup at one
// moment. Every field that the cgroup version or kernel cannot provide is
// left unknown (its Known is false), never zero.
type MemorySnapshot struct {
	// Path is the cgroup path from the hierarchy root, "/" for the root,
	// as the kernel prints it in /proc/<pid>/cgroup and OOM reports.
	Path    string    `json:"path"`
	Version Version   `json:"version"`
	Time    time.Time `json:"time"`

	Limit Limit  `json:"limit_bytes"` // v2 memory.max; v1 memory.limit_in_bytes
	Usage Amount `json:"usage_bytes"` // v2 memory.current; v1 memory.usage_in_bytes
	Peak  Amount `json:"peak_bytes"`  // v2 memory.peak (5.19+); v1 memory.max_usage_in_bytes

	// SwapLimit is the swap-only limit: v2 memory.swap.max. On v1 the kernel
	// limits memory+swap together (MemSwLimit); SwapLimit is then derived as
	// MemSwLimit - Limit when both are finite.
	SwapLimit  Limit  `json:"swap_limit_bytes"`
	SwapUsage  Amount `json:"swap_usage_bytes"`  // v2 memory.swap.current; v1 memsw usage - usage
	MemSwLimit Limit  `json:"memsw_limit_bytes"` // v1 memory.memsw.limit_in_bytes (needs swap accounting)
	MemSwUsage Amount `json:"memsw_usage_bytes"` // v1 memory.memsw.usage_in_bytes

	High      Limit `json:"high_bytes"`       // v2 memory.high
	Low       Limit `json:"low_bytes"`        // v2 memory.low
	Min       Limit `json:"min_bytes"`        // v2 memory.min
	SoftLimit Limit `json:"soft_limit_bytes"` // v1 memory.soft_limit_in_bytes

	Events      Events     `json:"events"`       // hierarchical where the version has both
	LocalEvents Events     `json:"local_events"` // v2 memory.events.local; v1 memory.oom_control oom_kill (local)
	SwapEvents  SwapEvents `json:"swap_events"`

	Failcnt        Count `json:"failcnt"`          // v1 memory.failcnt: every limit hit, reclaimable ones too
	MemSwFailcnt   Count `json:"memsw_failcnt"`    // v1 memory.memsw.failcnt
	UnderOOM       bool  `json:"under_oom"`        // v1 memory.oom_control under_oom
	OOMKillDisable bool  `json:"oom_kill_disable"` // v1 memory.oom_control oom_kill_disable
	OOMGroup       bool  `json:"oom_group"`        // v2 memory.oom.group

	Stat MemoryStat `json:"stat"`

	// WorkingSet is usage minus inactive file cache, floored at zero, as
	// kubelet and `docker stats` compute it. Unknown when either is unknown.
	WorkingSet Amount `json:"working_set_bytes"`

	Pressure Pressure `json:"pressure"`
}
