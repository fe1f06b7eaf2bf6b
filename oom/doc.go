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
// memory.oom.group kill. It reads logs as people paste them: quoted
// ("> ", "| "), hard-wrapped by a terminal or a mailer, behind a foreign
// prefix, reordered by a journal export, saved as UTF-16. Unrelated lines
// are skipped a buffer at a time and cost no allocation (2.3-2.6 GB/s on
// the project's test machines); full reports parse at 420-490 MB/s.
//
// Every report relates to the cgroup asked about (Report.Relation): its own
// limit was hit, an ancestor's, a descendant's (the descendant's kill, told
// as such), the host ran out (global), the report is about another part of
// the tree (unrelated), or it names no cgroup (unknown: only a pid can tie
// it). Paths are compared in one spelling (CleanPath).
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
//
// # Confidence
//
// A cause's confidence says how much evidence stands behind it, by this
// rule, which TestConfidenceCalibration holds on a labelled set (every real
// report in testdata, alone and about its victim's cgroup, and the
// scenarios of issue 11): no case given 0.9 or more is wrong, every wrong
// case is below 0.6.
//
//   - Two independent sources that agree (a kernel report naming the
//     cgroup, and the cgroup's counters compared before and after): 0.97.
//   - One source naming the cgroup (a kernel report naming it as the one
//     whose limit was hit, the ancestor, a descendant, or global_oom): 0.9.
//     Lower when a reading is needed on top (0.8: equal pod and container
//     limits, the pod charged) or when later kills left reports that the
//     rate limit cut to their "Killed process" line, one of which may be
//     this cgroup's latest (at most 0.85).
//   - The counters alone, compared before and after: 0.8-0.85 (v2's local
//     events tell whose limit; a v1 peak at the limit 0.72). Read once (a
//     post-mortem), 0.6. A v1 kill with no limit hit cannot tell the host
//     from a limit (failcnt stays 0 at the limit when memory+swap is
//     limited to it): 0.45.
//   - A report that names no cgroup, tied by a pid: 0.5 (0.4 when its scope
//     was inferred from the next kill of a storm), never more.
//   - The engine alone (Docker's OOMKilled; it is set for global kills
//     too): container_limit 0.55, or unknown 0.4 for a container with no
//     limit of its own.
//   - Two sources that disagree: each at most 0.6, and the conflict listed.
//   - Nothing: cause unknown, confidence 0, Verdict "cannot_tell", and the
//     explanation says what was looked at ("cannot tell: no report for this
//     cgroup in the kernel log since boot, the cgroup's oom_kill did not
//     move").
//
// The labelled set today (go test ./oom -run Calibration -v prints it), by
// evidence class and confidence given, all 103 cases right:
//
//	report naming the cgroup   >=0.9: 32   0.6-0.9: 5
//	two sources agreeing       >=0.9:  1
//	counters alone             >=0.9:  1 (not_oom, counters unchanged)   0.6-0.9: 4
//	report naming no cgroup    <0.6:  55
//	engine alone               <0.6:   2
//	nothing                    >=0.9:  1 (no_limit, a risk)   <0.6: 2
package oom
