package oom

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

// Remedy is a concrete change: a setting and its value where one applies,
// and what to do. Setting is set only with a Value: a remedy that is not a
// setting with a known value has its Action alone.
type Remedy struct {
	Setting string `json:"setting,omitempty"` // e.g. "--memory"
	Value   string `json:"value,omitempty"`   // e.g. "160m"
	Action  string `json:"action"`
	// Command is the change as a whole command to paste (docker update
	// ... NAME), when there is one for the subject as it is now.
	Command string `json:"command,omitempty"`
}

// Apply is the new limit after a kill, written out for each way the
// container may be run: all paste-ready, none with a blank value.
type Apply struct {
	MemoryBytes int64 `json:"memory_bytes"`
	// MemorySwapBytes is Docker's memory+swap for the new limit: as the
	// workload's profile says (Evidence.SwapFactor), else the container's
	// current relation kept (equal: no swap; -1: unlimited; otherwise the
	// same ratio); always given with the memory, since docker update
	// refuses a memory above the current memory-swap.
	MemorySwapBytes int64 `json:"memory_swap_bytes"`
	// Rule says how the limit was reached (afterkill.Limit for a kill,
	// the recommender's rule).
	Rule string `json:"rule"`
	// Docker is the docker update command for the container, when Docker
	// knows it (empty for a bare cgroup).
	Docker string `json:"docker,omitempty"`
	// Cgroup writes the new limit into the cgroup's files, for a subject
	// Docker does not manage (a --cgroup or --pid diagnosis), on a host
	// with the usual mount points (v1 /sys/fs/cgroup/memory, v2
	// /sys/fs/cgroup); on v1 memory+swap is raised first, as the kernel
	// refuses a memory limit above it.
	Cgroup string `json:"cgroup,omitempty"`
	// DockerRun is the flags for docker run, when the container is
	// recreated.
	DockerRun string `json:"docker_run"`
	// ComposeService, ComposeProject and ComposeDir come from the
	// container's com.docker.compose.* labels; Compose is the override
	// file for that service (mem_limit and deploy.resources.limits.memory
	// both set, equal, so it merges over a file that uses either).
	ComposeService string `json:"compose_service,omitempty"`
	ComposeProject string `json:"compose_project,omitempty"`
	ComposeDir     string `json:"compose_dir,omitempty"`
	// ComposeFile is where to save Compose (beside the project's files)
	// and ComposeCommand the command that applies it: the project's own
	// files (com.docker.compose.project.config_files) and then this one,
	// since Compose reads an override by itself only beside default names.
	ComposeFile    string `json:"compose_file,omitempty"`
	ComposeCommand string `json:"compose_command,omitempty"`
	Compose        string `json:"compose,omitempty"`
	// Kubernetes is the container's resources stanza.
	Kubernetes string `json:"kubernetes"`
}

// Runaway is memory used as fast as it is given: the limit hit several
// times within seconds, or a leak. Raising the limit does not help.
type Runaway struct {
	Kills  int           `json:"kills"`
	Within time.Duration `json:"within_ns"`
	Why    string        `json:"why"`
}

// runawayWindow and runawayKills: this many kills within this window
// (restarts included) is memory that runs away, not a limit a little small.
const (
	runawayWindow = 10 * time.Second
	runawayKills  = 3
)

// mib prints a size for Docker's flags: whole MiB ("141m"), or whole KiB
// for the finer sizes afterkill.RoundUp gives small limits ("26880k").
func mib(b float64) string {
	if k := math.Ceil(b / (1 << 10)); math.Mod(k, 1<<10) != 0 {
		return strconv.FormatInt(int64(k), 10) + "k"
	}
	return strconv.FormatInt(int64(math.Ceil(b/(1<<20))), 10) + "m"
}

// killTimes returns the times of this container's kills, from whichever
// source saw more of them: the kernel's reports (wall stamps, else uptime
// stamps on their own clock) or the Engine's oom events.
func (d *diag) killTimes() []time.Duration {
	var kern, eng []time.Duration
	for _, r := range d.reports {
		switch {
		case !r.Time.IsZero():
			kern = append(kern, time.Duration(r.Time.UnixNano()))
		case r.Uptime > 0:
			kern = append(kern, r.Uptime)
		}
	}
	for _, e := range d.ev.Events {
		if e.Action == "oom" && !e.Time.IsZero() {
			eng = append(eng, time.Duration(e.Time.UnixNano()))
		}
	}
	ts := kern
	if len(eng) > len(kern) {
		ts = eng
	}
	slices.Sort(ts)
	return ts
}

// runaway looks for the limit hit runawayKills times within runawayWindow.
func (d *diag) runaway() *Runaway {
	ts := d.killTimes()
	best, span := 0, time.Duration(0)
	for i := range ts {
		j := i
		for j+1 < len(ts) && ts[j+1]-ts[i] <= runawayWindow {
			j++
		}
		if n := j - i + 1; n > best {
			best, span = n, ts[j]-ts[i]
		}
	}
	// The counters: oom_kill rising by several between two snapshots
	// taken seconds apart.
	if len(d.deltas) > 0 && d.deltas[0] != nil && len(d.ev.Before) > 0 && len(d.ev.After) > 0 {
		k := d.deltas[0].OOMKills()
		dt := d.ev.After[0].Time.Sub(d.ev.Before[0].Time)
		if k.Known && int(k.N) > best && dt > 0 && dt <= runawayWindow {
			best, span = int(k.N), dt
		}
	}
	if best < runawayKills {
		return nil
	}
	return &Runaway{Kills: best, Within: span,
		Why: fmt.Sprintf("the limit was hit %d times within %.1f s: memory is taken as fast as it is given", best, span.Seconds())}
}

// lookAt says what to examine instead of raising the limit.
func (d *diag) lookAt() string {
	who := "the process"
	if d.out.VictimComm != "" {
		who = d.out.VictimComm
	}
	s := "look at what " + who + " allocates: an unbounded queue, cache or buffer, a whole input read into memory, a retry or fork loop"
	if len(d.reports) > 0 {
		if n := d.reports[len(d.reports)-1].TasksSeen; n > 20 {
			s += fmt.Sprintf(" (the kernel's task table listed %d tasks: workers or children multiplying?)", n)
		}
	}
	return s + "; profile it under the current limit (heap profiler, pmap, /proc/PID/smaps_rollup)"
}

func (d *diag) remedies(c Cause) {
	add := func(setting, value, action, cmd string) {
		if value == "" {
			setting = "" // never a setting with a blank value
		}
		for _, r := range d.out.Remedies {
			if setting != "" && r.Setting == setting && r.Value == value {
				return // one cause already asked for it
			}
		}
		d.out.Remedies = append(d.out.Remedies, Remedy{Setting: setting, Value: value, Action: action, Command: cmd})
	}
	switch c {
	case CauseContainerLimit, CauseChildKilled:
		if d.out.Leak != nil || d.out.Runaway != nil {
			return // the leak's or runaway's remedy comes first
		}
		a := d.apply()
		if a == nil {
			add("", "", "raise the container's limit: its size before the kill is not known (measure it: go run ./examples/recommend --container NAME)", "")
			return
		}
		act := "raise the container's limit (" + a.Rule + ")"
		if c == CauseChildKilled {
			act = "a child process used the memory: size the limit for the children too (" + a.Rule + "), or bound the child (its own heap settings, ulimit)"
		}
		add("--memory", mib(float64(a.MemoryBytes)), act, a.Docker)
	case CauseAncestorLimit:
		lim := d.limitOf(d.out.OOMMemcg)
		act := "raise the limit of " + d.out.OOMMemcg + " (the pod or slice all its containers share), or lower the other cgroups under it"
		if lim.Set() {
			add("memory limit of "+d.out.OOMMemcg, mib(float64(afterkill.Limit(lim.Bytes, lim.Bytes))), act, "")
		} else {
			add("", "", act, "")
		}
	case CauseHostPressure:
		add("", "", "give every container a limit so one cannot exhaust the host; lower other containers' limits or reservations", "")
		add("--oom-score-adj", "-500", "protect a critical container from global OOM kills (it only reorders victims; set at docker run or in Compose, docker update cannot change it)", "")
	case CauseLeak:
		l := d.out.Leak
		if l != nil && l.HoursToLimit >= 0 {
			add("", "", fmt.Sprintf("fix the leak first: raising the limit will not help, at %s/h a larger limit only delays the kill (the current one is reached in %.1f h); %s", cgroup.Size(l.BytesPerHour), l.HoursToLimit, d.lookAt()), "")
		} else {
			add("", "", "fix the leak first: raising the limit will not help, a larger limit only delays the kill; "+d.lookAt(), "")
		}
	case CauseNotOOM:
		act := "not an OOM kill, so the memory limit is not the remedy: if docker stop killed it, give the process time to exit (docker run --stop-timeout, Compose stop_grace_period) or make it handle SIGTERM; otherwise find who sent SIGKILL (docker kill, a liveness probe, systemd-oomd, earlyoom)"
		add("", "", act, "")
	case CauseNoLimit:
		if d.peak > 0 {
			v := math.Max(float64(d.peak)*1.3, float64(d.peak)+64<<20)
			a := d.applyBytes(cgroup.Bytes(math.Ceil(v/(1<<20))*(1<<20)), "peak "+d.peak.String()+" + 30% (at least +64MiB); a day of samples sizes it better: go run ./examples/recommend --container NAME")
			add("--memory", mib(float64(a.MemoryBytes)), "set a memory limit (with --memory-reservation below it) so the container cannot take the host down", a.Docker)
			if d.out.Apply == nil && d.out.Cause == CauseNoLimit {
				d.out.Apply = a
			}
		} else {
			add("", "", "set a memory limit (with --memory-reservation below it) so the container cannot take the host down; measure its use first: go run ./examples/recommend --container NAME", "")
		}
	case CauseSwap:
		if d.limit.Set() {
			cmd := ""
			if n := d.dockerName(); n != "" {
				cmd = "docker update --memory-swap " + mib(float64(d.limit.Bytes)) + " " + shellQuote(n)
			}
			add("--memory-swap", mib(float64(d.limit.Bytes)), "set --memory-swap equal to --memory to disable swap for a latency-sensitive service, or raise it if the workload is meant to swap", cmd)
		} else {
			add("", "", "set --memory-swap equal to --memory to disable swap for a latency-sensitive service, or raise it if the workload is meant to swap", "")
		}
	}
}

// apply sizes the limit after the kill with the recommender's rule.
func (d *diag) apply() *Apply {
	if d.out.Apply != nil {
		return d.out.Apply
	}
	if !d.limit.Set() && d.peak == 0 {
		return nil
	}
	lim, usage := d.limit.Bytes, d.peak
	if !d.limit.Set() {
		lim = d.peak
	}
	if len(d.reports) > 0 {
		if r := d.reports[len(d.reports)-1]; r.Memcg.Known && cgroup.Bytes(r.Memcg.UsageKB*1024) > usage {
			usage = cgroup.Bytes(r.Memcg.UsageKB * 1024)
		}
	}
	rule := fmt.Sprintf("after a kill at %s: %s (afterkill.Limit, the recommender's rule)", lim, afterkill.Rule)
	// A profile that turns swap off (Evidence.SwapFactor 0): the swap the
	// container held at the kill must fit in memory now, so it is part of
	// what it had, as the recommender counts it with such a profile.
	if f := d.ev.SwapFactor; f != nil && *f == 0 && len(d.reports) > 0 {
		if sw := swapAtKill(d.reports[len(d.reports)-1]); sw > 0 {
			lim, usage = lim+sw, usage+sw
			rule = fmt.Sprintf("after a kill at %s with %s in swap, which must fit in memory once memory-swap = memory: %s (afterkill.Limit of the two together, the recommender's rule)", d.limit.Bytes, sw, afterkill.Rule)
			if !d.limit.Set() {
				rule = fmt.Sprintf("after a kill at usage %s with %s in swap, which must fit in memory once memory-swap = memory: %s (afterkill.Limit of the two together, the recommender's rule)", d.peak, sw, afterkill.Rule)
			}
		}
	}
	mem := afterkill.Limit(lim, usage)
	d.out.Apply = d.applyBytes(mem, rule)
	return d.out.Apply
}

// swapAtKill is the swap the killed cgroup held, from the report: the v2
// "swap: usage" line, or v1's memory+swap usage less the memory usage; 0
// when the report does not say.
func swapAtKill(r Report) cgroup.Bytes {
	if r.Swap.Known {
		return cgroup.Bytes(r.Swap.UsageKB * 1024)
	}
	if r.MemSw.Known && r.Memcg.Known && r.MemSw.UsageKB > r.Memcg.UsageKB {
		return cgroup.Bytes((r.MemSw.UsageKB - r.Memcg.UsageKB) * 1024)
	}
	return 0
}

// applyBytes writes a new limit out for Docker, Compose and Kubernetes.
func (d *diag) applyBytes(mem cgroup.Bytes, rule string) *Apply {
	a := &Apply{MemoryBytes: int64(mem), MemorySwapBytes: int64(mem), Rule: rule}
	swapFlag := mib(float64(mem))
	if in := d.ev.Container; in != nil {
		cur, curSwap := int64(in.Memory.Bytes), int64(in.MemorySwap.Bytes)
		switch {
		case in.Memory.Set() && in.MemorySwap.Known && in.MemorySwap.Unlimited:
			a.MemorySwapBytes, swapFlag = -1, "-1"
		case in.Memory.Set() && in.MemorySwap.Set() && curSwap > cur:
			// Docker's default (--memory alone) is memory-swap twice the
			// memory; keep the container's ratio.
			s := cgroup.Bytes(math.Ceil(float64(mem)*float64(curSwap)/float64(cur)/(1<<20)) * (1 << 20))
			a.MemorySwapBytes, swapFlag = int64(s), mib(float64(s))
		}
	}
	if f := d.ev.SwapFactor; f != nil && *f >= 0 {
		// The workload's profile decides, not the container's past setting.
		sw := cgroup.Bytes(math.Ceil(float64(mem)*(1+*f)/(1<<20)) * (1 << 20))
		a.MemorySwapBytes, swapFlag = int64(sw), mib(float64(sw))
	}
	flags := "--memory " + mib(float64(mem)) + " --memory-swap " + swapFlag
	a.DockerRun = flags
	if n := d.dockerName(); n != "" {
		a.Docker = "docker update " + flags + " " + shellQuote(n)
	} else if len(d.tree) > 0 && d.path != "" {
		a.Cgroup = cgroupCommand(d.tree[0], mem)
	}
	swapYAML := swapFlag
	if in := d.ev.Container; in != nil {
		l := in.Labels
		a.ComposeService, a.ComposeProject, a.ComposeDir = l["com.docker.compose.service"], l["com.docker.compose.project"], l["com.docker.compose.project.working_dir"]
		if a.ComposeService != "" && a.ComposeProject != "" {
			a.ComposeFile = "oomkit.override.yaml"
			if a.ComposeDir != "" {
				a.ComposeFile = a.ComposeDir + "/oomkit.override.yaml"
			}
			cmd := "docker compose -p " + shellQuote(a.ComposeProject)
			for _, f := range strings.Split(l["com.docker.compose.project.config_files"], ",") {
				if f = strings.TrimSpace(f); f != "" {
					cmd += " -f " + shellQuote(f)
				}
			}
			a.ComposeCommand = cmd + " -f " + shellQuote(a.ComposeFile) + " up -d " + shellQuote(a.ComposeService)
		}
	}
	svc := a.ComposeService
	if svc == "" {
		svc = d.dockerName()
	}
	if svc == "" {
		svc = "app"
	}
	m := mib(float64(mem))
	a.Compose = "services:\n  " + yamlKey(svc) + ":\n    mem_limit: " + m + "\n    memswap_limit: " + swapYAML +
		"\n    deploy:\n      resources:\n        limits:\n          memory: " + m + "\n"
	q := strings.TrimSuffix(m, "m") + "Mi" // Kubernetes' binary suffixes
	if k, ok := strings.CutSuffix(m, "k"); ok {
		q = k + "Ki"
	}
	a.Kubernetes = "resources:\n  limits:\n    memory: " + q + "\n"
	return a
}

// dockerName is the container's name as docker commands take it.
func (d *diag) dockerName() string {
	if in := d.ev.Container; in != nil {
		if n := strings.TrimPrefix(in.Name, "/"); n != "" {
			return n
		}
		if len(in.ID) >= 12 {
			return in.ID[:12]
		}
	}
	return ""
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/:=+,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func yamlKey(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == "" {
		return s
	}
	return strconv.Quote(s)
}

// runawayRemedy says that raising will not help, when memory runs away.
func (d *diag) runawayRemedy() {
	if d.out.Runaway = d.runaway(); d.out.Runaway == nil || !d.oomKilled || d.out.Leak != nil {
		if d.out.Leak == nil {
			d.out.Runaway = nil
		}
		return
	}
	d.out.Remedies = append(d.out.Remedies, Remedy{Action: "raising the limit will not help: " + d.out.Runaway.Why + "; " + d.lookAt()})
}

// cgroupCommand writes a new memory limit into a cgroup's files.
func cgroupCommand(s cgroup.MemorySnapshot, mem cgroup.Bytes) string {
	n := strconv.FormatInt(int64(mem), 10)
	if s.Version == cgroup.V2 {
		return "echo " + n + " > " + shellQuote("/sys/fs/cgroup"+s.Path+"/memory.max")
	}
	dir := "/sys/fs/cgroup/memory" + s.Path
	cmd := "echo " + n + " > " + shellQuote(dir+"/memory.limit_in_bytes")
	if s.MemSwLimit.Set() && s.MemSwLimit.Bytes < mem {
		// memory+swap must stay at or above memory: raise it first, by
		// as much.
		sw := strconv.FormatInt(int64(mem+s.MemSwLimit.Bytes-min(s.Limit.Bytes, s.MemSwLimit.Bytes)), 10)
		cmd = "echo " + sw + " > " + shellQuote(dir+"/memory.memsw.limit_in_bytes") + " && " + cmd
	}
	return cmd
}
