package cgroup

import (
	"errors"
	"fmt"
	"time"
)

// ErrMismatch reports a Delta asked of snapshots of two different cgroups,
// or of snapshots out of time order.
var ErrMismatch = errors.New("cgroup: snapshots do not belong together")

// Delta is what changed in one cgroup between two snapshots. Counter fields
// hold the increase; a counter is Known only when both snapshots know it.
// Counters are compared as deltas because absolute counters re-fire forever.
type Delta struct {
	Path     string        `json:"path"`
	Interval time.Duration `json:"interval_ns"`

	Events       Events     `json:"events"`       // increase of each hierarchical counter
	LocalEvents  Events     `json:"local_events"` // increase of each local counter (v1 oom_kill lives here)
	SwapEvents   SwapEvents `json:"swap_events"`
	Failcnt      Count      `json:"failcnt"`
	MemSwFailcnt Count      `json:"memsw_failcnt"`

	// Usage, WorkingSet and Peak are the change in bytes (negative when
	// it fell), unknown when either snapshot lacks the value.
	Usage      Amount `json:"usage_bytes"`
	WorkingSet Amount `json:"working_set_bytes"`
	Peak       Amount `json:"peak_bytes"`

	// Reset lists the counters that went backwards: the cgroup was removed
	// and created again under the same path. Their increase is reported
	// as the later value, the least that can have happened.
	Reset []string `json:"reset"`
}

// OOMKills returns the increase of OOM kills of tasks in this cgroup: the
// local counter where known, else the hierarchical one.
func (d Delta) OOMKills() Count {
	if d.LocalEvents.OOMKill.Known {
		return d.LocalEvents.OOMKill
	}
	return d.Events.OOMKill
}

// Diff returns the changes from before to after. It returns an error
// wrapping ErrMismatch when the snapshots are of different cgroups or after
// is older than before.
func Diff(before, after MemorySnapshot) (Delta, error) {
	if before.Path != after.Path || before.Version != after.Version {
		return Delta{}, fmt.Errorf("cgroup: diff %s (%s) with %s (%s): %w", before.Path, before.Version, after.Path, after.Version, ErrMismatch)
	}
	if after.Time.Before(before.Time) {
		return Delta{}, fmt.Errorf("cgroup: diff %s: after (%s) is older than before (%s): %w", after.Path, after.Time, before.Time, ErrMismatch)
	}
	d := Delta{Path: after.Path, Interval: after.Time.Sub(before.Time)}
	diffEvents(&d, "", before.Events, after.Events, &d.Events)
	diffEvents(&d, "local ", before.LocalEvents, after.LocalEvents, &d.LocalEvents)
	d.SwapEvents.High = d.count("swap high", before.SwapEvents.High, after.SwapEvents.High)
	d.SwapEvents.Max = d.count("swap max", before.SwapEvents.Max, after.SwapEvents.Max)
	d.SwapEvents.Fail = d.count("swap fail", before.SwapEvents.Fail, after.SwapEvents.Fail)
	d.Failcnt = d.count("failcnt", before.Failcnt, after.Failcnt)
	d.MemSwFailcnt = d.count("memsw failcnt", before.MemSwFailcnt, after.MemSwFailcnt)
	d.Usage = amountDiff(before.Usage, after.Usage)
	d.WorkingSet = amountDiff(before.WorkingSet, after.WorkingSet)
	d.Peak = amountDiff(before.Peak, after.Peak)
	return d, nil
}

func diffEvents(d *Delta, prefix string, b, a Events, out *Events) {
	out.Low = d.count(prefix+"low", b.Low, a.Low)
	out.High = d.count(prefix+"high", b.High, a.High)
	out.Max = d.count(prefix+"max", b.Max, a.Max)
	out.OOM = d.count(prefix+"oom", b.OOM, a.OOM)
	out.OOMKill = d.count(prefix+"oom_kill", b.OOMKill, a.OOMKill)
	out.OOMGroupKill = d.count(prefix+"oom_group_kill", b.OOMGroupKill, a.OOMGroupKill)
}

func (d *Delta) count(name string, b, a Count) Count {
	if !b.Known || !a.Known {
		return Count{}
	}
	if a.N < b.N {
		d.Reset = append(d.Reset, name)
		return CountOf(a.N)
	}
	return CountOf(a.N - b.N)
}

func amountDiff(b, a Amount) Amount {
	if !b.Known || !a.Known {
		return Amount{}
	}
	return AmountOf(a.Bytes - b.Bytes)
}
