package oom

import (
	"fmt"
	"math"
	"strconv"

	"github.com/oomkit/oomkit/cgroup"
)

// Remedy is a concrete change: a setting and its value where one applies,
// and what to do.
type Remedy struct {
	Setting string `json:"setting,omitempty"` // e.g. "--memory"
	Value   string `json:"value,omitempty"`   // e.g. "160m"
	Action  string `json:"action"`
}

func mib(b float64) string {
	return strconv.FormatInt(int64(math.Ceil(b/(1<<20))), 10) + "m"
}

func (d *diag) remedies(c Cause) {
	add := func(setting, value, action string) {
		d.out.Remedies = append(d.out.Remedies, Remedy{Setting: setting, Value: value, Action: action})
	}
	need := float64(d.peak)
	if d.limit.Set() && float64(d.limit.Bytes) > need {
		need = float64(d.limit.Bytes)
	}
	switch c {
	case CauseContainerLimit:
		if d.out.Leak != nil {
			return // the leak's remedy comes first
		}
		if need > 0 {
			target := math.Max(need*1.25, need+64<<20)
			add("--memory", mib(target), "raise the container's limit above its peak with room for spikes (then watch it: oomkit's recommend package sizes it from usage history)")
		} else {
			add("--memory", "", "raise the container's limit")
		}
	case CauseAncestorLimit:
		lim := d.limitOf(d.out.OOMMemcg)
		a := "raise the limit of " + d.out.OOMMemcg + " (the pod or slice all its containers share), or lower the other cgroups under it"
		if lim.Set() {
			add("memory limit of "+d.out.OOMMemcg, mib(float64(lim.Bytes)*1.25), a)
		} else {
			add("", "", a)
		}
	case CauseHostPressure:
		add("--memory", "", "give every container a limit so one cannot exhaust the host; lower other containers' limits or reservations")
		add("--oom-score-adj", "-500", "protect a critical container from global OOM kills (it only reorders victims)")
	case CauseLeak:
		l := d.out.Leak
		if l != nil && l.HoursToLimit >= 0 {
			add("", "", fmt.Sprintf("fix the leak first: at %s/h a larger limit only delays the kill (the current one is reached in %.1f h)", cgroup.Size(l.BytesPerHour), l.HoursToLimit))
		} else {
			add("", "", "fix the leak first: a larger limit only delays the kill")
		}
	case CauseNotOOM:
		add("--stop-timeout", "", "if docker stop killed it, give the process time to exit or make it handle SIGTERM; otherwise find who sent SIGKILL (docker kill, a liveness probe, systemd-oomd, earlyoom)")
	case CauseChildKilled:
		add("--memory", "", "a child process used the memory: size the limit for the children too, or bound the child (its own heap settings, ulimit)")
	case CauseNoLimit:
		v := ""
		if d.peak > 0 {
			v = mib(math.Max(float64(d.peak)*1.3, float64(d.peak)+64<<20))
		}
		add("--memory", v, "set a memory limit (with --memory-reservation below it) so the container cannot take the host down")
	case CauseSwap:
		v := ""
		if d.limit.Set() {
			v = mib(float64(d.limit.Bytes))
		}
		add("--memory-swap", v, "set --memory-swap equal to --memory to disable swap for a latency-sensitive service, or raise it if the workload is meant to swap")
	}
}
