package oom

import (
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/oomkit/oomkit/cgroup"
)

// UsageSample is one observation of a container's memory over time.
type UsageSample struct {
	Time       time.Time
	WorkingSet cgroup.Bytes
	// NonReclaimable is anon + shmem (+ unreclaimable slab and sockets);
	// 0 when unknown, in which case the working set is used for trends.
	NonReclaimable cgroup.Bytes
}

// SampleOf turns a snapshot into a sample.
func SampleOf(s cgroup.MemorySnapshot) UsageSample {
	return UsageSample{Time: s.Time, WorkingSet: s.WorkingSet.Bytes, NonReclaimable: s.NonReclaimable().Bytes}
}

// Evidence is everything known about one container (or cgroup) around a
// suspected kill. Collectors fill it at the edge; Diagnose reads it and
// nothing else. Every part is optional.
type Evidence struct {
	// Name is how the caller calls the container or cgroup (for messages).
	Name string
	// Before holds snapshots of the container's cgroup and its ancestors
	// (cgroup.Cgroup.SnapshotTree order: the container first) taken before
	// the event, After the same taken after it (or the last ones taken
	// before the cgroup disappeared). With only one of them, counters are
	// read as absolute values: a post-mortem, with less confidence.
	Before, After []cgroup.MemorySnapshot
	// Reports are kernel OOM reports; Diagnose keeps those about this
	// container's cgroup (or main PID), or all of them when neither is known.
	Reports []Report
	// Inspect is Docker's view of the container, when it is one.
	Inspect *container.InspectResponse
	// Events are the Engine's events for the container (oom, die, kill...).
	Events []events.Message
	// Samples are usage observations, oldest first, for trends.
	Samples []UsageSample
	// Host is the host's memory, when read.
	Host *MemInfo
	// ExitCode is the main process's exit code when known from elsewhere
	// than Inspect (a process the caller ran); nil when unknown.
	ExitCode *int
	// MainPID is the container's main process (PID 1 inside), 0 when unknown.
	MainPID int
	// PIDs are processes known to have been in the cgroup before the kill
	// (cgroup.Event.PIDs). The kernel rate-limits its report's header, the
	// lines that name the cgroups; a report reduced to its "Killed process"
	// line is tied to the cgroup when its victim is among these.
	PIDs []int
	// Missing says what the collectors could not read, and why.
	Missing []string
}
