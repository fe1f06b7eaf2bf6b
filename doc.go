// Package oomkit tells operators why a container was OOM-killed and what
// memory settings it should have.
//
// The data flows from the edges inward:
//
//   - package cgroup reads a container's memory state (limits, usage, peak,
//     swap, OOM counters, memory.stat, pressure) from cgroup v1, v2 or hybrid
//     hosts, or from any fixture root, into one version-neutral
//     MemorySnapshot, and finds a cgroup by path, PID or Docker container ID.
//   - package oom parses the kernel's OOM-killer reports and Docker's view,
//     and classifies each kill: container limit, ancestor limit, host
//     pressure, leak, or not an OOM at all.
//   - package recommend turns usage samples and OOM history into memory,
//     memory-swap and reservation values, rendered for docker run, Compose
//     and Kubernetes.
//
// I/O lives at the edges: classification and recommendation are pure
// functions over values.
//
// A minimal use:
//
//	fs, err := cgroup.NewFS()
//	if err != nil {
//		return err
//	}
//	cg, err := fs.FindByPID(pid)
//	if err != nil {
//		return err
//	}
//	snap, err := cg.Snapshot()
//	if err != nil {
//		return err
//	}
//	fmt.Println(snap.Limit, snap.Usage, snap.Events.OOMKill)
package oomkit
