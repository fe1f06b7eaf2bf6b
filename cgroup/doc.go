// Package cgroup reads a container's memory state from cgroup v1, v2 and
// hybrid hosts into one version-neutral MemorySnapshot.
//
// An FS is rooted at a directory: /sys/fs/cgroup (and /proc) on a real
// host, or a fixture tree in tests; the same code reads both. NewFS detects
// the layout from <proc>/self/mountinfo, or from the tree when there is no
// mountinfo. A Cgroup is found by the path the kernel prints, by PID or by
// container ID, and walks its ancestors to the root.
//
// Fields the cgroup version or kernel cannot provide are unknown (their
// Known is false), never zero; "no limit" is Limit.Unlimited, never a huge
// number. Counters are compared with Diff, as deltas between snapshots.
//
// Errors name the file: a malformed file is a *ParseError; a missing
// cgroup wraps ErrNotFound; one removed while read wraps ErrGone; a path
// that escapes the hierarchy wraps ErrOutsideRoot.
//
// Watch reports OOM kills (v1 eventfd on memory.oom_control, v2 inotify on
// memory.events), usage thresholds and removal as they happen, each
// reconciled against the counters; WatchPressure reports PSI stalls. A
// Sampler reads many cgroups cheaply for recommendations.
//
// Figures on the project's test machine (2 cores, Linux 6.18, cgroup v1):
// Snapshot of a real cgroup about 30 µs (openat + pread per file, no
// descriptor kept) against about 130 µs for containerd/cgroups' Stat() of
// the same cgroup; Sampler about 3.9 µs per real cgroup-sample (1.1 µs
// reading memory.stat every 10th sample; v1's memory.stat alone costs the
// kernel ~2.4 µs) against ~147 µs for Stat(); kill-to-event latency of
// Watch p50 0.3 ms, p99 3.4 ms over 100 real kills.
package cgroup
