// Package oom reads the kernel's OOM-killer reports and explains a kill.
// It does not import the Docker client: package oom/docker collects
// Docker's view of a container into the same Evidence.
//
// The parser (NewParser, ParseAll, Reports) streams any kernel log (raw
// dmesg, dmesg -T, journalctl -k, syslog, /dev/kmsg records, bare
// messages) mixed with anything else, and yields one Report per kill, for
// every format from 3.x to 6.x: the victim and its memory, the cgroup whose
// limit was hit (oom_memcg) or global_oom, the memcg counters, the largest
// rows of the task table, the reaper's result and the other victims of a
// memory.oom.group kill. Unrelated lines are skipped a buffer at a time and
// cost no allocation (2.3-2.6 GB/s on the project's test machines); full
// reports parse at 420-490 MB/s.
//
// Diagnose is a pure function from Evidence (cgroup snapshots of the
// container and its ancestors, kernel reports, the engine's record and events,
// usage samples, host memory) to a Diagnosis: ranked causes with
// confidences, the evidence each rests on, conflicting evidence, and
// remedies as concrete settings. Collector gathers Evidence on a live host
// (docker.Collector adds a container's inspect state and events, and
// follows the Engine's events across restarts).
//
// Two kernel habits shape what a report can tell. The kernel counts a kill
// just before it logs it, so a watcher that reacts to the counter may have
// to read the log again. And it prints at most ten report headers (the
// lines that name the cgroups) per five seconds for the whole host, keeping
// only the "Killed process" line of the others: such a report is tied to a
// cgroup by its victim's pid, through Evidence.MainPID or Evidence.PIDs
// (cgroup.Event.PIDs, read when the OOM was announced).
package oom
