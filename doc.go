// Package oomkit tells operators why a container was OOM-killed and what
// memory settings it should have.
//
// The data flows from the edges inward:
//
//   - package cgroup reads a container's memory state (limits, usage, peak,
//     swap, OOM counters, memory.stat, pressure) from cgroup v1, v2 or hybrid
//     hosts, or from any fixture root, into one version-neutral
//     MemorySnapshot, and finds a cgroup by path, PID or Docker container ID.
//   - package oom parses the kernel's OOM-killer reports and classifies
//     each kill: container limit, ancestor limit, host pressure, leak, or
//     not an OOM at all. It links no Docker client: package oom/docker
//     adds Docker's view (inspect, events) to the same Evidence.
//   - package recommend turns usage samples (cgroup.Sample, from a
//     snapshot or a Sampler reading) and OOM history into memory,
//     memory-swap and reservation values, rendered for docker run, Compose
//     and Kubernetes.
//
// I/O lives at the edges: classification and recommendation are pure
// functions over values.
//
// A minimal use (the package's Example: cgroup.NewFS() with no option reads
// the real /sys/fs/cgroup and /proc, here the tests' v1 fixture host):
//
//	fs, err := cgroup.NewFS(cgroup.WithRoot("cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("cgroup/testdata/v1/proc"))
//	if err != nil {
//		return err
//	}
//	cg, err := fs.FindByPID(4242)
//	if err != nil {
//		return err
//	}
//	snap, err := cg.Snapshot()
//	if err != nil {
//		return err
//	}
//	// OOMKills is the cgroup's own kill count on v1 and v2 alike;
//	// snap.Events.OOMKill is unknown on v1.
//	fmt.Println(snap.Version, snap.Limit, snap.Usage, snap.WorkingSet, snap.OOMKills())
package oomkit
