package oom

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Cause is why a container died, or what puts it at risk.
type Cause string

// The causes Diagnose tells apart.
const (
	CauseContainerLimit Cause = "container_limit" // the container's own limit was hit
	CauseAncestorLimit  Cause = "ancestor_limit"  // a pod, slice or other ancestor's limit was hit
	CauseHostPressure   Cause = "host_pressure"   // the whole host ran out (global OOM)
	CauseLeak           Cause = "leak"            // non-reclaimable usage grows toward any limit
	CauseDescendantKill Cause = "descendant_kill" // a task in a descendant cgroup was killed, at a limit below this one
	CauseNotOOM         Cause = "not_oom"         // SIGKILLed, but not by the OOM killer
	CauseChildKilled    Cause = "child_killed"    // a child was OOM-killed; the main process lived
	CauseNoLimit        Cause = "no_limit"        // no limit anywhere: a risk, not a kill
	CauseSwap           Cause = "swap"            // swap misconfigured or exhausted
	CauseUnknown        Cause = "unknown"         // the evidence says nothing either way
)

// RankedCause is one cause with how sure Diagnose is of it (0..1).
type RankedCause struct {
	Cause       Cause   `json:"cause"`
	Confidence  float64 `json:"confidence"`
	Explanation string  `json:"explanation"`
}

// Item is one piece of evidence: where it comes from ("cgroup", "kernel",
// "docker", "samples", "host") and what it says, with the report line
// verbatim where there is one.
type Item struct {
	Source string `json:"source"`
	Cgroup string `json:"cgroup,omitempty"`
	Text   string `json:"text"`
	Line   string `json:"line,omitempty"`
}

// LeakTrend is a steady growth of non-reclaimable memory.
type LeakTrend struct {
	BytesPerHour float64 `json:"bytes_per_hour"`
	// HoursToLimit is the forecast time from the last sample to the
	// limit; -1 when there is no limit.
	HoursToLimit float64 `json:"hours_to_limit"`
	R2           float64 `json:"r2"`
	Samples      int     `json:"samples"`
}

// The verdicts of a Diagnosis: what the headline says.
const (
	VerdictOOMKill    = "oom_kill"    // an OOM kill of the subject (or below it) is in the evidence
	VerdictNotOOM     = "not_oom"     // killed (exit 137), but the evidence shows no OOM kill
	VerdictRisk       = "risk"        // no kill; a risk (no limit, a leak)
	VerdictNoKill     = "no_kill"     // the evidence was read and shows no kill
	VerdictCannotTell = "cannot_tell" // no evidence left either way
)

// DescendantKill is a kill below the cgroup asked about, told as the
// descendant's own: where the victim was, whose limit was hit, and why.
type DescendantKill struct {
	// Cgroup is the victim's cgroup (task_memcg), below the subject.
	Cgroup string `json:"cgroup"`
	// OOMMemcg is the cgroup whose limit was hit: the descendant itself,
	// or a cgroup between it and the subject; "" when the report does not
	// say.
	OOMMemcg string `json:"oom_memcg,omitempty"`
	// Cause is the descendant's own cause: container_limit when its own
	// limit was hit, ancestor_limit when a cgroup between it and the
	// subject was, unknown when the report does not say.
	Cause Cause `json:"cause"`
	// LimitBytes is the limit that was hit, as the kernel printed it;
	// unknown (null) when not printed.
	LimitBytes cgroup.Limit `json:"limit_bytes"`
}

// Diagnosis is Diagnose's answer.
type Diagnosis struct {
	// Subject is the cgroup asked about, in its one spelling (CleanPath);
	// "" when the evidence holds no cgroup.
	Subject string `json:"subject_cgroup,omitempty"`
	// Verdict is the headline: VerdictOOMKill, VerdictNotOOM, VerdictRisk,
	// VerdictNoKill or VerdictCannotTell.
	Verdict     string        `json:"verdict"`
	Cause       Cause         `json:"cause"`
	Causes      []RankedCause `json:"causes"`
	Killed      bool          `json:"killed"`
	Explanation string        `json:"explanation"`
	Evidence    []Item        `json:"evidence"`
	// Conflicts lists evidence that disagrees (Docker says OOMKilled, the
	// kernel says the victim was a child); reported, not hidden.
	Conflicts  []string `json:"conflicts"`
	Remedies   []Remedy `json:"remedies"`
	VictimPID  int      `json:"victim_pid"`
	VictimComm string   `json:"victim_comm"`
	// LimitBytes is the container's limit (its own, else the nearest
	// ancestor's): in JSON an integer, "max" when no cgroup on its path
	// has one, null when unknown (it was 0 for both before).
	LimitBytes cgroup.Limit `json:"limit_bytes"`
	OOMMemcg   string       `json:"oom_memcg"`
	// Relation is how the kernel report that decided relates to the
	// subject (own, ancestor, descendant, global; unknown when only a pid
	// tied it); "unknown" too when no report was used.
	Relation Relation `json:"relation"`
	// KillCgroup is the victim's cgroup as the report names it.
	KillCgroup string `json:"kill_cgroup,omitempty"`
	// Descendant is set when the kill was in a descendant cgroup.
	Descendant *DescendantKill `json:"descendant,omitempty"`
	Leak       *LeakTrend      `json:"leak"`
	// Apply is the new limit written out for docker update, Compose and
	// Kubernetes, when a limit is the remedy; nil otherwise (a leak, a
	// runaway, a kill that was not an OOM).
	Apply *Apply `json:"apply,omitempty"`
	// Runaway is set when the limit was hit several times within seconds:
	// raising it will not help.
	Runaway *Runaway `json:"runaway,omitempty"`
	// Missing is what the evidence lacked, as the collectors said.
	Missing []string `json:"missing"`
}

// Diagnose classifies what happened to a container from the evidence. It
// is a pure function: no files, no clock.
func Diagnose(ev Evidence) Diagnosis {
	d := &diag{ev: ev, scores: map[Cause]*RankedCause{}, srcs: map[Cause]int{}}
	d.out.Missing = append([]string{}, ev.Missing...)
	d.out.Conflicts = []string{}
	d.out.Remedies = []Remedy{}
	d.out.Evidence = []Item{}
	d.setup()
	d.src = srcKernel
	d.kernel()
	d.src = srcCgroup
	d.counters()
	d.src = 0
	d.confirm()
	d.docker()
	d.swap()
	d.leak()
	d.limits()
	d.conclude()
	return d.out
}

type diag struct {
	ev     Evidence
	out    Diagnosis
	scores map[Cause]*RankedCause
	// srcs records which independent sources (srcKernel, srcCgroup) said
	// each cause; src is the source of the calls to add being made.
	srcs map[Cause]int
	src  int

	path      string                  // the container's cgroup path, "" when unknown
	tree      []cgroup.MemorySnapshot // latest view: After, else Before
	deltas    []*cgroup.Delta         // per level, nil where not computable
	reports   []Report                // those about this container
	oomKilled bool                    // some evidence of an OOM kill
	exit137   bool
	mainAlive bool
	limit     cgroup.Limit // effective: the container's, else the nearest ancestor's
	peak      cgroup.Bytes
	// laterUnnamed: kills after the report used left reports naming no
	// cgroup, any of which may be this cgroup's latest.
	laterUnnamed bool
	// countersRead: the counters were compared before and after (or read
	// once) and said something, kill or no kill.
	countersSaid bool
}

// confirm applies the rule of the package documentation: a cause two
// independent sources (a kernel report naming the cgroup, the cgroup's
// counters) agree on is sure (0.97); when they disagree on whose limit or
// whether the host ran out, neither is (at most 0.6); a cause resting on a
// report that later rate-limited kills may have superseded is at most 0.85.
func (d *diag) confirm() {
	whose := []Cause{CauseContainerLimit, CauseAncestorLimit, CauseHostPressure, CauseDescendantKill}
	var kern, cg []Cause
	for _, c := range whose {
		if d.srcs[c]&srcKernel != 0 {
			kern = append(kern, c)
		}
		if d.srcs[c]&srcCgroup != 0 {
			cg = append(cg, c)
		}
	}
	for _, c := range whose {
		if d.srcs[c] == srcKernel|srcCgroup {
			r := d.scores[c]
			r.Confidence = math.Max(r.Confidence, 0.97)
			r.Explanation += " (the cgroup counters agree)"
		}
	}
	if len(kern) > 0 && len(cg) > 0 && !slices.ContainsFunc(kern, func(c Cause) bool { return slices.Contains(cg, c) }) {
		d.out.Conflicts = append(d.out.Conflicts, fmt.Sprintf("the kernel's report says %s, the cgroup counters say %s", kern[0], cg[0]))
		for _, c := range append(kern, cg...) {
			d.scores[c].Confidence = math.Min(d.scores[c].Confidence, 0.6)
		}
	}
	if d.laterUnnamed {
		for _, c := range kern {
			if d.srcs[c] == srcKernel {
				d.scores[c].Confidence = math.Min(d.scores[c].Confidence, 0.85)
			}
		}
	}
}

// The independent sources of a cause.
const (
	srcKernel = 1 << iota // a kernel report naming the cgroup
	srcCgroup             // the cgroup's counters
)

func (d *diag) add(c Cause, conf float64, why string) {
	d.srcs[c] |= d.src
	if r, ok := d.scores[c]; ok {
		if conf > r.Confidence {
			r.Confidence, r.Explanation = conf, why
		}
		return
	}
	d.scores[c] = &RankedCause{Cause: c, Confidence: conf, Explanation: why}
}

func (d *diag) item(src, cg, text, line string) {
	d.out.Evidence = append(d.out.Evidence, Item{Source: src, Cgroup: cg, Text: text, Line: line})
}

func (d *diag) setup() {
	d.tree = d.ev.After
	if len(d.tree) == 0 {
		d.tree = d.ev.Before
	}
	if len(d.tree) > 0 {
		d.path = CleanPath(d.tree[0].Path)
	}
	d.out.Subject = d.path
	if len(d.ev.Before) > 0 && len(d.ev.After) > 0 {
		for i := range min(len(d.ev.Before), len(d.ev.After)) {
			if delta, err := cgroup.Diff(d.ev.Before[i], d.ev.After[i]); err == nil {
				d.deltas = append(d.deltas, &delta)
			} else {
				d.deltas = append(d.deltas, nil)
			}
		}
	}
	for _, s := range d.tree {
		if s.Limit.Set() {
			d.limit = s.Limit
			break
		}
	}
	for _, s := range append(append([]cgroup.MemorySnapshot{}, d.ev.Before...), d.ev.After...) {
		if s.Path == d.path && s.Peak.Known && s.Peak.Bytes > d.peak {
			d.peak = s.Peak.Bytes
		}
	}
	for _, s := range d.ev.Samples {
		if ws := s.WorkingSetOrUsage(); ws.Known && ws.Bytes > d.peak {
			d.peak = ws.Bytes
		}
	}
	if in := d.ev.Container; !d.limit.Set() && in != nil && in.Memory.Set() {
		d.limit = in.Memory // the cgroup is gone: Docker remembers
	}
	if d.limit.Set() {
		d.out.LimitBytes = d.limit
	} else if len(d.tree) > 0 && !slices.ContainsFunc(d.tree, func(s cgroup.MemorySnapshot) bool { return !s.Limit.Known || s.Limit.Set() }) {
		d.out.LimitBytes = cgroup.NoLimit() // none on the whole path
	}
	if d.ev.Container != nil && d.ev.Container.State != nil {
		st := d.ev.Container.State
		if d.ev.MainPID == 0 {
			d.ev.MainPID = st.PID
		}
		d.mainAlive = st.Running
		if !st.Running && st.ExitCode == 137 {
			d.exit137 = true
		}
	}
	if d.ev.ExitCode != nil && *d.ev.ExitCode == 137 {
		d.exit137 = true
	}
}

// about reports whether a kernel report concerns this container: how it
// relates to the container's cgroup (Report.Relation), or, for a report
// that names no cgroup, whether its victim is a pid known to have been in
// it. With no cgroup known, every report is taken.
func (d *diag) about(r Report) bool {
	if d.path == "" {
		return true
	}
	switch r.Relation(d.path) {
	case RelationOwn, RelationAncestor, RelationDescendant, RelationGlobal:
		return true
	case RelationUnknown:
		return d.tied(r)
	}
	return false
}

// tied reports whether a report's victim is the main pid or a pid known to
// have been in the cgroup.
func (d *diag) tied(r Report) bool {
	return r.Victim.PID != 0 && (r.Victim.PID == d.ev.MainPID || slices.Contains(d.ev.PIDs, r.Victim.PID))
}

func (d *diag) kernel() {
	last := -1
	for i, r := range d.ev.Reports {
		if d.about(r) {
			d.reports = append(d.reports, r)
			last = i
		}
	}
	if len(d.reports) == 0 {
		return
	}
	d.oomKilled = true
	r := d.reports[len(d.reports)-1] // the latest kill decides; earlier ones are context
	if d.path != "" {
		var later []string
		for _, o := range d.ev.Reports[last+1:] {
			if unnamed(o) && o.Victim.PID != 0 {
				later = append(later, strconv.Itoa(o.Victim.PID))
			}
		}
		if len(later) > 0 {
			d.laterUnnamed = true
			d.out.Conflicts = append(d.out.Conflicts, fmt.Sprintf("%d later kill(s) (pid %s) left reports that the kernel's rate limit cut to their \"Killed process\" line, naming no cgroup: this cgroup's latest kill may be among them, and victim %d an earlier one",
				len(later), strings.Join(later, ", "), r.Victim.PID))
		}
	}
	d.out.VictimPID, d.out.VictimComm, d.out.OOMMemcg = r.Victim.PID, r.Victim.Comm, r.OOMMemcg
	d.out.KillCgroup = r.TaskMemcg
	rel := RelationUnknown
	if d.path != "" {
		rel = r.Relation(d.path)
	} else if !unnamed(r) {
		rel = RelationOwn // no cgroup asked about: the report's own story
		if r.Scope == ScopeGlobal {
			rel = RelationGlobal
		} else if r.OOMMemcg != "" && r.TaskMemcg != "" && pathRelation(CleanPath(r.OOMMemcg), CleanPath(r.TaskMemcg)) == 1 {
			rel = RelationAncestor
		}
	}
	d.out.Relation = rel
	if rel == RelationOwn && !d.limit.Set() && r.Memcg.Known && r.Memcg.LimitKB > 0 && r.Memcg.LimitKB < 1<<50 {
		d.limit = cgroup.LimitOf(cgroup.Bytes(r.Memcg.LimitKB * 1024)) // the limit that was hit, as the kernel printed it
		d.out.LimitBytes = d.limit
	}
	if d.peak == 0 && r.Memcg.Known && rel != RelationDescendant {
		d.peak = cgroup.Bytes(r.Memcg.UsageKB * 1024)
	}
	line := ""
	for _, e := range r.Evidence {
		if strings.HasPrefix(e, "oom-kill:") || strings.Contains(e, "Killed process") || strings.Contains(e, "killed as a result of limit of") {
			line = e
			break
		}
	}
	if len(d.reports) > 1 {
		d.item("kernel", "", fmt.Sprintf("%d OOM kills in this cgroup in the kernel log; the latest is used", len(d.reports)), "")
	}
	// A report naming the cgroup is one source (confReport); the counters
	// or the engine agreeing make it two (see confirm). A report that names
	// no cgroup, tied by a pid, says little about whose limit.
	own := d.limitOf(d.path)
	switch rel {
	case RelationGlobal:
		d.item("kernel", r.TaskMemcg, "the kernel killed "+victim(r)+" because the whole host ran out of memory (global OOM)", line)
		d.add(CauseHostPressure, confReport, "the kernel's report says global_oom: the host, not a cgroup limit, ran out of memory")
	case RelationAncestor:
		lim := d.limitOf(r.OOMMemcg)
		if own.Set() && lim.Set() && own.Bytes >= lim.Bytes {
			d.item("kernel", r.OOMMemcg, "the kernel charged the kill to the ancestor "+r.OOMMemcg+", whose limit equals or is below the container's own", line)
			d.add(CauseContainerLimit, 0.8, "the ancestor's limit ("+lim.String()+") is no larger than the container's ("+own.String()+"): the container's own size is what ran out")
			return
		}
		d.item("kernel", r.OOMMemcg, "the kernel killed "+victim(r)+" because the limit of the ancestor cgroup "+r.OOMMemcg+" was hit", line)
		d.add(CauseAncestorLimit, confReport, "the limit of "+r.OOMMemcg+describeLimit(lim)+", an ancestor shared with other cgroups, was hit")
	case RelationDescendant:
		d.descendant(r, line)
	case RelationOwn:
		if own.Known && own.Unlimited {
			// The kernel says this cgroup's limit was hit, but it has none now.
			d.item("kernel", r.OOMMemcg, "the kernel's report names this cgroup's limit as hit"+usageLine(r)+", but the cgroup has no limit now", line)
			d.out.Conflicts = append(d.out.Conflicts, "the kernel's report names this cgroup's limit as the one hit, but the cgroup has no limit now (removed or raised since the kill?)")
			d.add(CauseUnknown, 0.3, "a kill at a limit this cgroup no longer has")
			return
		}
		if r.OOMMemcg == "" {
			// Only the victim's cgroup is named ("Memory cgroup out of
			// memory" with no summary): a limit was hit, not said whose.
			d.item("kernel", r.TaskMemcg, "the kernel killed "+victim(r)+", a task of this cgroup, at a memory cgroup limit", line)
			if own.Set() || !own.Known {
				d.add(CauseContainerLimit, 0.7, "the kernel killed a task of this cgroup at a cgroup limit; the report does not name the cgroup whose limit it was")
			}
			return
		}
		d.item("kernel", r.OOMMemcg, "the kernel killed "+victim(r)+" because this cgroup's limit was hit"+usageLine(r), line)
		d.add(CauseContainerLimit, confReport, "the kernel's report names this cgroup as the one whose limit was hit")
	default:
		// Tied by a pid only: the report names no cgroup.
		d.item("kernel", "", "the kernel's OOM killer killed "+victim(r)+", a pid known to be in this cgroup; the report names no cgroup (its header rate-limited away)", line)
		conf := confUnnamed
		if r.ScopeInferred {
			conf -= 0.1
		}
		switch {
		case r.Scope == ScopeGlobal:
			d.add(CauseHostPressure, conf, "the kernel's report of this pid's kill says the host ran out; it names no cgroup")
		case r.Scope == ScopeCgroup && (own.Set() || !own.Known):
			d.add(CauseContainerLimit, conf, "the kernel killed a task of this container at a cgroup limit; the report does not say whose")
		case r.Scope == ScopeCgroup:
			d.add(CauseAncestorLimit, conf, "the kernel killed a task of this container at a cgroup limit; the container has none of its own, so an ancestor's")
		default:
			d.add(CauseUnknown, 0.3, "the kernel killed a task of this container; the report says neither whose limit nor whether the host ran out")
		}
	}
}

// Confidence of one source naming the cgroup, and of a report that names
// none (tied by a pid). See the package documentation.
const (
	confReport  = 0.9
	confUnnamed = 0.5
)

// descendant tells a kill below the subject as the descendant's own.
func (d *diag) descendant(r Report, line string) {
	task, limit := CleanPath(r.TaskMemcg), CleanPath(r.OOMMemcg)
	dk := &DescendantKill{Cgroup: task, OOMMemcg: limit, Cause: CauseUnknown}
	if r.Memcg.Known && r.Memcg.LimitKB > 0 && r.Memcg.LimitKB < 1<<50 {
		dk.LimitBytes = cgroup.LimitOf(cgroup.Bytes(r.Memcg.LimitKB) * 1024)
	}
	where := task
	if where == "" {
		where = limit
	}
	why := ""
	switch {
	case limit != "" && (task == "" || limit == task):
		dk.Cause, why = CauseContainerLimit, "its own limit"
		if task == "" {
			dk.Cgroup = limit
		}
	case limit != "":
		dk.Cause, why = CauseAncestorLimit, "the limit of "+limit+" (below this cgroup)"
	default:
		why = "a cgroup limit the report does not name"
	}
	if dk.LimitBytes.Set() {
		why += " (" + dk.LimitBytes.String() + ")"
	}
	d.out.Descendant = dk
	d.item("kernel", where, "the kernel killed "+victim(r)+" in the descendant cgroup "+where+" because "+why+" was hit", line)
	d.add(CauseDescendantKill, confReport, "a task in the descendant cgroup "+where+" was OOM-killed at "+why+": that cgroup's kill, not this cgroup's own limit")
}

func victim(r Report) string {
	if r.Victim.PID == 0 {
		return "a task"
	}
	return fmt.Sprintf("%s (pid %d)", r.Victim.Comm, r.Victim.PID)
}

func usageLine(r Report) string {
	if !r.Memcg.Known {
		return ""
	}
	return fmt.Sprintf(" (usage %s of limit %s)", cgroup.Size(float64(r.Memcg.UsageKB)*1024), cgroup.Size(float64(r.Memcg.LimitKB)*1024))
}

func describeLimit(l cgroup.Limit) string {
	if !l.Set() {
		return ""
	}
	return " (" + l.String() + ")"
}

// limitOf returns the limit of a cgroup of the tree by path.
func (d *diag) limitOf(p string) cgroup.Limit {
	for _, s := range d.tree {
		if s.Path == p {
			return s.Limit
		}
	}
	return cgroup.Limit{}
}

// counters reads the cgroup counters: deltas when both snapshots exist,
// absolute values otherwise.
func (d *diag) counters() {
	if len(d.tree) == 0 {
		return
	}
	c := d.tree[0]
	var kills, ownHit cgroup.Count
	delta := len(d.deltas) > 0 && d.deltas[0] != nil
	if delta {
		kills = d.deltas[0].OOMKills()
		ownHit = ownLimitHit(d.deltas[0].LocalEvents, d.deltas[0].Failcnt, d.deltas[0].MemSwFailcnt, c)
	} else {
		kills = c.OOMKills()
		ownHit = ownLimitHit(c.LocalEvents, c.Failcnt, c.MemSwFailcnt, c)
	}
	what := "since the first snapshot"
	conf := 0.85
	if !delta {
		what, conf = "over the cgroup's life (one snapshot: a post-mortem)", 0.6
	}
	if !kills.Known || kills.N == 0 {
		if delta && kills.Known {
			d.countersSaid = true
			d.item("cgroup", c.Path, "oom_kill did not move "+what, "")
		}
		// v2 counts kills below the cgroup in its hierarchical oom_kill,
		// not in memory.events.local: a kill in a descendant.
		var below cgroup.Count
		if delta && d.deltas[0].LocalEvents.OOMKill.Known {
			below = d.deltas[0].Events.OOMKill
		} else if !delta && c.LocalEvents.OOMKill.Known {
			below = c.Events.OOMKill
		}
		if below.Known && below.N > 0 {
			d.oomKilled = true
			d.item("cgroup", c.Path, fmt.Sprintf("oom_kill rose by %d in the cgroups below it (memory.events), not in the cgroup itself (memory.events.local) %s", below.N, what), "")
			d.add(CauseDescendantKill, conf, "a task in a cgroup below this one was OOM-killed (hierarchical oom_kill rose, the cgroup's own did not)")
		}
		return
	}
	d.countersSaid = true
	d.oomKilled = true
	d.item("cgroup", c.Path, fmt.Sprintf("oom_kill rose by %d %s", kills.N, what), "")
	if ownHit.Known && ownHit.N > 0 && c.Limit.Set() {
		d.item("cgroup", c.Path, fmt.Sprintf("its own limit %s was hit (%s %d)", c.Limit, hitName(c), ownHit.N), "")
		d.add(CauseContainerLimit, conf, "the container's own limit ("+c.Limit.String()+") was reached and a task was OOM-killed")
	}
	for i := 1; i < len(d.tree); i++ {
		a := d.tree[i]
		var hit cgroup.Count
		if delta && i < len(d.deltas) && d.deltas[i] != nil {
			hit = ownLimitHit(d.deltas[i].LocalEvents, d.deltas[i].Failcnt, d.deltas[i].MemSwFailcnt, a)
		} else if !delta {
			hit = ownLimitHit(a.LocalEvents, a.Failcnt, a.MemSwFailcnt, a)
		}
		if hit.Known && hit.N > 0 && a.Limit.Set() {
			d.item("cgroup", a.Path, fmt.Sprintf("the ancestor's limit %s was hit (%s %d)", a.Limit, hitName(a), hit.N), "")
			if c.Limit.Set() && c.Limit.Bytes <= a.Limit.Bytes && ownHit.N > 0 {
				continue // both limits were hit; the container's own is the tighter
			}
			if c.Limit.Set() && c.Limit.Bytes >= a.Limit.Bytes {
				// The ancestor's limit is no larger than the container's
				// own: with a sibling's pages the kernel charges the pod
				// first (seen on 6.1 with equal limits), but the container's
				// own size is what ran out (as kernel() says). A reading of
				// the limits, not a second witness: it counts as no source.
				src := d.src
				d.src = 0
				d.add(CauseContainerLimit, conf, "the ancestor "+a.Path+"'s limit ("+a.Limit.String()+") that was hit is no larger than the container's own ("+c.Limit.String()+"): the container's own size is what ran out")
				d.src = src
				return
			}
			if d.out.OOMMemcg == "" {
				d.out.OOMMemcg = a.Path
			}
			d.add(CauseAncestorLimit, conf, "the limit of "+a.Path+" ("+a.Limit.String()+"), an ancestor shared with other cgroups, was hit while the container's own was not")
			return
		}
	}
	if c.Version == cgroup.V1 && c.Limit.Set() && c.Peak.Known && float64(c.Peak.Bytes) >= 0.9*float64(c.Limit.Bytes) {
		// v1 peaked at its own limit: not the host. With memory+swap
		// limited to the memory limit (docker --memory-swap equal to
		// --memory) neither failcnt moves when the limit is hit (seen on
		// 6.18), so a peak at the limit is the evidence left.
		if (!ownHit.Known || ownHit.N == 0) && float64(c.Peak.Bytes) >= 0.98*float64(c.Limit.Bytes) {
			d.item("cgroup", c.Path, fmt.Sprintf("its peak usage %s reached its own limit %s (v1 failcnt stays 0 when memory+swap is limited to the memory limit)", c.Peak.Bytes, c.Limit), "")
			d.add(CauseContainerLimit, conf*0.85, "the container's usage peaked at its own limit ("+c.Limit.String()+") and a task was OOM-killed")
		}
		return
	}
	if !ownHit.Known || ownHit.N == 0 {
		// Killed, and no limit on the way up was hit: the host ran out.
		// v1 cannot tell (failcnt counts every hit, reclaim included).
		// v1 cannot tell: failcnt counts hits reclaim resolved, and stays 0
		// at the limit when memory+swap is limited to it (docker's
		// --memory-swap equal to --memory).
		c2 := 0.45
		if c.Version == cgroup.V2 {
			c2 = 0.8
		}
		d.item("cgroup", c.Path, "no cgroup limit on the path to the root was hit", "")
		d.add(CauseHostPressure, c2, "a task was OOM-killed while no limit on its cgroup path was reached: the host ran out of memory")
	}
}

// ownLimitHit is the counter that says a cgroup's own limit was reached:
// v2 memory.events.local oom, v1 failcnt (which also counts hits reclaim
// resolved, so it is confirmed by an OOM kill elsewhere).
func ownLimitHit(local cgroup.Events, failcnt, memswFailcnt cgroup.Count, s cgroup.MemorySnapshot) cgroup.Count {
	if s.Version == cgroup.V2 {
		return local.OOM
	}
	// With --memory-swap equal to --memory the charge fails on the
	// memory+swap counter first.
	if memswFailcnt.Known && failcnt.Known {
		return cgroup.CountOf(failcnt.N + memswFailcnt.N)
	}
	return failcnt
}

func hitName(s cgroup.MemorySnapshot) string {
	if s.Version == cgroup.V2 {
		return "local oom events"
	}
	return "failcnt"
}

// docker reads Docker's view: OOMKilled, the exit code, the events.
func (d *diag) docker() {
	in := d.ev.Container
	dockerOOM := false
	for _, e := range d.ev.Events {
		switch e.Action {
		case "oom":
			dockerOOM = true
			d.item("docker", "", "the Engine reported an oom event at "+e.Time.UTC().Format(time.RFC3339Nano), "")
		case "die":
			if code, err := strconv.Atoi(e.Attributes["exitCode"]); err == nil {
				d.item("docker", "", "the Engine reported die with exitCode "+strconv.Itoa(code), "")
				if code == 137 {
					d.exit137 = true
				}
			}
		case "kill":
			if sig := e.Attributes["signal"]; sig != "" {
				d.item("docker", "", "the Engine sent signal "+sig+" (docker kill or stop)", "")
			}
		}
	}
	if in != nil && in.State != nil {
		st := in.State
		if st.OOMKilled {
			dockerOOM = true
		}
		d.item("docker", "", fmt.Sprintf("State: running=%v exitCode=%d OOMKilled=%v", st.Running, st.ExitCode, st.OOMKilled), "")
	}
	// What Docker said: its State.OOMKilled, or only an oom event (the
	// state says false then, beside it).
	dockerSays := "Docker says OOMKilled"
	if in == nil || in.State == nil || !in.State.OOMKilled {
		dockerSays = "the Engine reported an oom event (its State.OOMKilled is false)"
	}
	// A main process killed by the OOM killer and started again by a
	// restart policy runs under a new PID: the victim is not a child.
	restarted := restartedAfterOOM(d.ev.Events)
	mainAlive := d.mainAlive && !restarted
	if restarted {
		d.item("docker", "", "the main process died with exitCode 137 right after the oom event and the Engine started it again (restart policy): the kernel's victim was the main process of that earlier run", "")
	}
	kernelVictim := d.out.VictimPID
	switch {
	case dockerOOM && (mainAlive || (in != nil && in.State != nil && !in.State.Running && in.State.ExitCode != 137)):
		d.oomKilled = true
		why := dockerSays + ", yet the main process "
		if mainAlive {
			why += "is still running"
		} else {
			why += fmt.Sprintf("exited with %d, not 137", in.State.ExitCode)
		}
		d.add(CauseChildKilled, 0.9, why+": a child process was OOM-killed")
		d.out.Conflicts = append(d.out.Conflicts, dockerSays+": Docker counts a kill of any process in the container; the main process was not the victim")
	case dockerOOM:
		d.oomKilled = true
		if len(d.scores) == 0 {
			noOwn := in != nil && in.Memory.Known && in.Memory.Unlimited
			if len(d.tree) > 0 && d.tree[0].Limit.Known {
				noOwn = d.tree[0].Limit.Unlimited
			}
			if noOwn {
				// No limit of its own: the host's memory or an ancestor's limit.
				d.add(CauseUnknown, 0.4, "Docker reports an OOM kill of a container with no memory limit of its own: the host ran out or an ancestor's limit was hit; the kernel log and counters were not available to say which")
			} else {
				// Docker sets OOMKilled for a global kill too: alone it says
				// little about whose limit.
				d.add(CauseContainerLimit, 0.55, "Docker reports an OOM kill; the kernel log and counters were not available to say whose limit")
			}
		}
	case d.oomKilled && in != nil && in.State != nil && !in.State.OOMKilled:
		d.out.Conflicts = append(d.out.Conflicts, "the kernel or the cgroup counters show an OOM kill but Docker's OOMKilled is false")
	}
	if kernelVictim != 0 && d.ev.MainPID != 0 && kernelVictim != d.ev.MainPID && d.oomKilled && !restarted {
		if d.mainAlive || (d.ev.ExitCode != nil && *d.ev.ExitCode != 137) || (in != nil && in.State != nil && in.State.ExitCode != 137) {
			// What happened is a child's death; whose limit it hit comes second.
			d.add(CauseChildKilled, 0.97, fmt.Sprintf("the kernel killed pid %d (%s), not the main process %d, which lived on", kernelVictim, d.out.VictimComm, d.ev.MainPID))
		}
		if dockerOOM {
			d.out.Conflicts = append(d.out.Conflicts, fmt.Sprintf("%s, the kernel says the victim was pid %d (%s), not the main process %d", dockerSays, kernelVictim, d.out.VictimComm, d.ev.MainPID))
		}
	}
	if d.exit137 && !d.oomKilled {
		conf := 0.9
		if len(d.deltas) == 0 && len(d.ev.Reports) == 0 {
			conf = 0.6 // no counters before and after, no kernel log: less sure
		}
		d.add(CauseNotOOM, conf, "exit code 137 (SIGKILL) with no OOM kill in the kernel log, the cgroup counters or Docker's state: something else sent SIGKILL (docker stop timeout, docker kill, a liveness probe, a userspace killer)")
	}
}

// restartedAfterOOM reports whether the Engine's events show the main
// process dying with 137 within seconds after an oom event, then a start.
func restartedAfterOOM(evs []EngineEvent) bool {
	var oomAt, diedAt time.Time
	for _, e := range evs {
		switch e.Action {
		case "oom":
			oomAt = e.Time
		case "die":
			if e.Attributes["exitCode"] == "137" && !oomAt.IsZero() && !e.Time.Before(oomAt) && e.Time.Sub(oomAt) < 5*time.Second {
				diedAt = e.Time
			}
		case "start":
			if !diedAt.IsZero() && !e.Time.Before(diedAt) {
				return true
			}
		}
	}
	return false
}

// swap looks for exhausted or misconfigured swap.
func (d *diag) swap() {
	if len(d.tree) > 0 {
		c := d.tree[0]
		var fail cgroup.Count
		if len(d.deltas) > 0 && d.deltas[0] != nil {
			fail = d.deltas[0].SwapEvents.Fail
			if c.Version == cgroup.V1 && d.deltas[0].MemSwFailcnt.N > 0 {
				fail = d.deltas[0].MemSwFailcnt
			}
		}
		if fail.N > 0 {
			d.item("cgroup", c.Path, fmt.Sprintf("swap allocation failed %d times (swap limit %s)", fail.N, c.SwapLimit), "")
			d.add(CauseSwap, 0.7, "the container's swap ran out before its memory: swap is exhausted")
		}
	}
	for _, r := range d.reports {
		if r.Swap.Known && r.Swap.LimitKB > 0 && r.Swap.UsageKB >= r.Swap.LimitKB {
			d.item("kernel", r.OOMMemcg, fmt.Sprintf("swap was full at the kill: %dkB of %dkB", r.Swap.UsageKB, r.Swap.LimitKB), "")
			d.add(CauseSwap, 0.6, "swap was exhausted when the OOM killer ran")
		}
	}
	if in := d.ev.Container; in != nil && in.Memory.Set() {
		ms := in.MemorySwap
		if ms.Known && ms.Unlimited && d.oomKilled {
			d.add(CauseSwap, 0.3, "--memory-swap=-1 lets the container swap without bound: it thrashes before it is killed")
		}
		if d.ev.Host != nil && d.ev.Host.SwapTotal == 0 && ms.Set() && ms.Bytes > in.Memory.Bytes {
			d.item("host", "", "the host has no swap, so --memory-swap above --memory grants nothing", "")
		}
	}
}

// leak fits a line to non-reclaimable usage (else the working set).
func (d *diag) leak() {
	var s []cgroup.Sample
	for _, x := range d.ev.Samples {
		if x.WorkingSetOrUsage().Known {
			s = append(s, x)
		}
	}
	s = beforeReset(s)
	if len(s) < 8 {
		return
	}
	useNR := true
	for _, x := range s {
		if !x.NonReclaimable.Known || x.NonReclaimable.Bytes == 0 {
			useNR = false
			break
		}
	}
	val := func(x cgroup.Sample) float64 {
		if useNR {
			return float64(x.NonReclaimable.Bytes)
		}
		return float64(x.WorkingSetOrUsage().Bytes)
	}
	t0 := s[0].Time
	var sx, sy, sxx, sxy, n float64
	for _, x := range s {
		tx := x.Time.Sub(t0).Hours()
		y := val(x)
		sx, sy, sxx, sxy, n = sx+tx, sy+y, sxx+tx*tx, sxy+tx*y, n+1
	}
	den := n*sxx - sx*sx
	span := s[len(s)-1].Time.Sub(t0)
	if den <= 0 || span <= 0 {
		return
	}
	slope := (n*sxy - sx*sy) / den
	icept := (sy - slope*sx) / n
	var ssr, sst float64
	mean := sy / n
	for _, x := range s {
		tx := x.Time.Sub(t0).Hours()
		e := val(x) - (icept + slope*tx)
		ssr += e * e
		sst += (val(x) - mean) * (val(x) - mean)
	}
	r2 := 0.0
	if sst > 0 {
		r2 = 1 - ssr/sst
	}
	first, last := val(s[0]), val(s[len(s)-1])
	growth := last - first
	scale := last
	if d.limit.Set() {
		scale = float64(d.limit.Bytes)
	}
	if slope <= 0 || r2 < 0.8 || scale <= 0 || growth < 0.1*scale {
		return
	}
	lt := &LeakTrend{BytesPerHour: slope, HoursToLimit: -1, R2: r2, Samples: len(s)}
	if d.limit.Set() {
		lt.HoursToLimit = math.Max(0, (float64(d.limit.Bytes)-last)/slope)
	}
	d.out.Leak = lt
	kind := "non-reclaimable memory (anon, shmem)"
	if !useNR {
		kind = "the working set"
	}
	d.item("samples", d.path, fmt.Sprintf("%s grew steadily by %s/h over %s (R²=%.2f, %d samples)", kind, cgroup.Size(slope), span.Round(time.Second), r2, len(s)), "")
	d.add(CauseLeak, 0.5+0.4*r2, fmt.Sprintf("%s grows at %s/h: it will reach any limit; a larger limit only delays the kill", kind, cgroup.Size(slope)))
}

// beforeReset drops a short tail of samples after the last sudden drop of
// the working set (to under half, from at least 1 MiB): the kill frees the
// memory at once, and a sampler that reads the cgroup until it is removed
// (late, on a loaded host) or a post-mortem snapshot adds near-zero samples
// that are not part of the trend. A long tail is kept, so repeated drops (a
// garbage-collected sawtooth, a restarted container) still break the fit.
//
// The first drop in the last quarter counts, of the working set or of the
// non-reclaimable part: a sampler in a test VM saw a killed process's anon
// memory freed over three samples (48, 46, 18, 2 MiB) while usage stayed
// at the limit until the last, and a cut at the latest drop alone left the
// first of them to spoil the fit.
func beforeReset(s []cgroup.Sample) []cgroup.Sample {
	drop := func(prev, cur cgroup.Amount) bool {
		return prev.Known && cur.Known && prev.Bytes >= 1<<20 && cur.Bytes < prev.Bytes/2
	}
	for i := max(1, len(s)-len(s)/4); i < len(s); i++ {
		if drop(s[i-1].WorkingSetOrUsage(), s[i].WorkingSetOrUsage()) || drop(s[i-1].NonReclaimable, s[i].NonReclaimable) {
			return s[:i]
		}
	}
	return s
}

// limits flags a container with no limit anywhere on its path.
func (d *diag) limits() {
	if len(d.tree) == 0 {
		if in := d.ev.Container; in != nil && in.Memory.Known && in.Memory.Unlimited {
			d.item("docker", "", "HostConfig.Memory is 0: no --memory limit", "")
			d.add(CauseNoLimit, 0.7, "the container runs without a memory limit: one leak can exhaust the host")
		}
		return
	}
	for _, s := range d.tree {
		if !s.Limit.Known || s.Limit.Set() {
			return
		}
	}
	d.item("cgroup", d.path, "no memory limit on the container or any ancestor", "")
	d.add(CauseNoLimit, 0.9, "the container runs without a memory limit: it can take the host's memory, and when the host runs out the kernel may kill anything")
}

// conclude ranks the causes and writes the explanation and remedies.
func (d *diag) conclude() {
	d.out.Killed = d.oomKilled
	// A leak that ran into a limit is ranked first: the limit only marks
	// where it was stopped, and raising it only delays the next kill.
	if l, ok := d.scores[CauseLeak]; ok {
		for _, k := range []Cause{CauseContainerLimit, CauseAncestorLimit} {
			if c, ok := d.scores[k]; ok && c.Confidence >= l.Confidence {
				l.Confidence = math.Min(1, c.Confidence+0.01)
			}
		}
	}
	for _, c := range d.scores {
		d.out.Causes = append(d.out.Causes, *c)
	}
	// Risks rank below what actually killed; leaks rank with the limit.
	weight := func(c RankedCause) float64 {
		if c.Cause == CauseNoLimit && len(d.scores) > 1 {
			return c.Confidence - 1
		}
		return c.Confidence
	}
	sort.SliceStable(d.out.Causes, func(i, j int) bool {
		wi, wj := weight(d.out.Causes[i]), weight(d.out.Causes[j])
		if wi != wj {
			return wi > wj
		}
		return d.out.Causes[i].Cause < d.out.Causes[j].Cause
	})
	if len(d.out.Causes) == 0 {
		d.out.Causes = []RankedCause{{Cause: CauseUnknown, Confidence: 0, Explanation: d.cannotTell()}}
	}
	d.out.Cause = d.out.Causes[0].Cause
	d.out.Explanation = d.out.Causes[0].Explanation
	switch {
	case d.oomKilled:
		d.out.Verdict = VerdictOOMKill
	case d.out.Cause == CauseNotOOM:
		d.out.Verdict = VerdictNotOOM
	case d.out.Cause == CauseNoLimit || d.out.Cause == CauseLeak || d.out.Cause == CauseSwap:
		d.out.Verdict = VerdictRisk
	case d.countersSaid || d.ev.Container != nil && d.ev.Container.State != nil:
		d.out.Verdict = VerdictNoKill
	default:
		d.out.Verdict = VerdictCannotTell
	}
	d.runawayRemedy()
	for _, c := range d.out.Causes {
		d.remedies(c.Cause)
	}
}

// cannotTell says why nothing can be concluded: what was looked at and
// found silent, and what could not be read.
func (d *diag) cannotTell() string {
	var looked []string
	if d.path != "" || len(d.ev.Reports) > 0 || !slices.ContainsFunc(d.ev.Missing, func(m string) bool { return strings.HasPrefix(m, "kernel log") }) {
		looked = append(looked, "no report for this cgroup in the kernel log since boot (or since the log was last cleared)")
	}
	switch {
	case d.countersSaid:
		looked = append(looked, "the cgroup's oom_kill did not move")
	case len(d.tree) > 0:
		looked = append(looked, "the counters were read once, with no kill in them")
	default:
		looked = append(looked, "no cgroup counters")
	}
	s := "cannot tell: " + strings.Join(looked, ", ")
	if len(d.ev.Missing) > 0 {
		s += "; not read: " + strings.Join(d.ev.Missing, "; ")
	}
	return s
}
