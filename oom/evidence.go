package oom

import (
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Evidence is everything known about one container (or cgroup) around a
// suspected kill. Collectors fill it at the edge; Diagnose reads it and
// nothing else. Every part is optional.
type Evidence struct {
	// Name is how the caller calls the container or cgroup (for messages).
	Name string `json:"name"`
	// Before holds snapshots of the container's cgroup and its ancestors
	// (cgroup.Cgroup.SnapshotTree order: the container first) taken before
	// the event, After the same taken after it (or the last ones taken
	// before the cgroup disappeared). With only one of them, counters are
	// read as absolute values: a post-mortem, with less confidence.
	Before []cgroup.MemorySnapshot `json:"before"`
	After  []cgroup.MemorySnapshot `json:"after"`
	// Reports are kernel OOM reports; Diagnose keeps those about this
	// container's cgroup (or main PID), or all of them when neither is known.
	Reports []Report `json:"reports"`
	// Container is the container engine's record of the container, when
	// it is one (package oom/docker fills it from docker inspect).
	Container *Container `json:"container"`
	// Events are the engine's events for the container (oom, die, kill...).
	Events []EngineEvent `json:"events"`
	// Samples are usage observations, oldest first, for trends.
	Samples []cgroup.Sample `json:"samples"`
	// Host is the host's memory, when read.
	Host *MemInfo `json:"host"`
	// ExitCode is the main process's exit code when known from elsewhere
	// than Container (a process the caller ran); nil when unknown.
	ExitCode *int `json:"exit_code"`
	// MainPID is the container's main process (PID 1 inside), 0 when unknown.
	MainPID int `json:"main_pid"`
	// PIDs are processes known to have been in the cgroup before the kill
	// (cgroup.Event.PIDs). The kernel rate-limits its report's header, the
	// lines that name the cgroups; a report reduced to its "Killed process"
	// line is tied to the cgroup when its victim is among these.
	PIDs []int `json:"pids"`
	// SwapFactor is the workload's swap policy for the remedy, when the
	// caller knows its profile (recommend.SwapFactor): the new
	// memory-swap is memory x (1 + SwapFactor), 0 for no swap. Nil keeps
	// the container's current memory-swap relation.
	SwapFactor *float64 `json:"swap_factor,omitempty"`
	// Missing says what the collectors could not read, and why.
	Missing []string `json:"missing"`
}

// Container is a container engine's record of one container: the part of
// `docker inspect` that Diagnose reads. Package oom/docker fills it.
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// State is nil when the engine gave none.
	State *ContainerState `json:"state"`
	// Memory is the memory limit the engine set (docker --memory):
	// unlimited when none was set, unknown when not read.
	Memory cgroup.Limit `json:"memory_bytes"`
	// MemorySwap is the memory+swap limit (docker --memory-swap):
	// unlimited for -1, unknown when not set (Docker then allows twice
	// Memory when the host has swap).
	MemorySwap cgroup.Limit `json:"memory_swap_bytes"`
	// Labels are the container's labels (Compose's com.docker.compose.*
	// name its project and service).
	Labels map[string]string `json:"labels,omitempty"`
}

// ContainerState is a container's state as the engine last saw it.
type ContainerState struct {
	Running   bool `json:"running"`
	ExitCode  int  `json:"exit_code"`
	OOMKilled bool `json:"oom_killed"`
	// PID is the main process's host PID; 0 when it is not running.
	PID int `json:"pid"`
}

// EngineEvent is one of a container engine's events about a container.
type EngineEvent struct {
	Time time.Time `json:"time"`
	// Action is the engine's name for it: "oom", "die", "kill", "start",
	// "destroy"...
	Action string `json:"action"`
	// Attributes are as the engine sent them: "exitCode" on die, "signal"
	// on kill.
	Attributes map[string]string `json:"attributes,omitempty"`
}
