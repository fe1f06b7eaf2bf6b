package cgroup_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Open a fixture host the same way a real one is opened, find a process's
// memory cgroup and read it.
func ExampleFS_FindByPID() {
	fs, err := cgroup.NewFS(
		cgroup.WithRoot("testdata/v2/sys/fs/cgroup"),
		cgroup.WithProcRoot("testdata/v2/proc"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := fs.FindByPID(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := cg.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fs.Layout().Mode, cg.Path())
	fmt.Println("limit", s.Limit, "usage", s.Usage, "working set", s.WorkingSet)
	fmt.Println("oom", s.Events.OOM, "oom_kill", s.Events.OOMKill, "swap limit", s.SwapLimit)
	// Output:
	// v2 /system.slice/docker-3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2.scope
	// limit 32MiB usage 32MiB working set 31.87MiB
	// oom 1 oom_kill 1 swap limit max
}

// Walk a Kubernetes container's ancestors to see whose limit was hit.
func ExampleCgroup_SnapshotTree() {
	fs, _ := cgroup.NewFS(cgroup.WithRoot("testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("testdata/v1/proc"))
	cg, _ := fs.FindContainer("9b8a7f6e5d4c")
	tree, _ := cg.SnapshotTree()
	for _, s := range tree {
		fmt.Printf("%-45.45s limit %-8s failcnt %-3s oom_kill %s\n", s.Path, s.Limit, s.Failcnt, s.OOMKills())
	}
	// Output:
	// /kubepods/burstable/pod6b212546-f5dd-4fdf-bcc limit max      failcnt 0   oom_kill 1
	// /kubepods/burstable/pod6b212546-f5dd-4fdf-bcc limit 512MiB   failcnt 12  oom_kill 0
	// /kubepods/burstable                           limit max      failcnt 0   oom_kill 0
	// /kubepods                                     limit max      failcnt 0   oom_kill 0
	// /                                             limit max      failcnt 0   oom_kill 0
}

// Compare two snapshots of one cgroup: counters are read as deltas.
func ExampleDiff() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before := cgroup.MemorySnapshot{Path: "/docker/abc", Version: cgroup.V1, Time: t0,
		Failcnt: cgroup.CountOf(10), LocalEvents: cgroup.Events{OOMKill: cgroup.CountOf(2)}}
	after := before
	after.Time = t0.Add(30 * time.Second)
	after.Failcnt = cgroup.CountOf(250)
	after.LocalEvents.OOMKill = cgroup.CountOf(3)
	d, _ := cgroup.Diff(before, after)
	fmt.Println(d.Interval, "failcnt +"+d.Failcnt.String(), "oom_kill +"+d.OOMKills().String())
	// Output: 30s failcnt +240 oom_kill +1
}

// Every value of the module marshals to one JSON schema: snake_case keys,
// bytes as integers under keys ending in _bytes, null for unknown, "max"
// for unlimited. Here a cgroup v1 snapshot as a Sample, and three of its
// limits: v1 has no memory.high (unknown: null) and this host's
// memory+swap is unlimited.
func ExampleSample_json() {
	fs, err := cgroup.NewFS(cgroup.WithRoot("testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("testdata/v1/proc"))
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := fs.FindByPID(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := cg.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	sample := s.Sample()
	sample.Time = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b, _ := json.Marshal(sample)
	fmt.Println(string(b))
	b, _ = json.Marshal(map[string]cgroup.Limit{"limit_bytes": s.Limit, "high_bytes": s.High, "memsw_limit_bytes": s.MemSwLimit})
	fmt.Println(string(b))
	// Output:
	// {"time":"2026-11-24T12:00:00Z","usage_bytes":33554432,"working_set_bytes":33419264,"non_reclaimable_bytes":33288192,"page_cache_bytes":266240,"swap_bytes":0}
	// {"high_bytes":null,"limit_bytes":33554432,"memsw_limit_bytes":"max"}
}
