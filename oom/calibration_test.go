package oom_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// A labelled case: evidence and the cause that is true. Truth CauseUnknown
// means the evidence cannot tell: any cause may be named, but not with 0.6
// or more.
type labelled struct {
	name  string
	class string // the evidence class of the package documentation
	ev    oom.Evidence
	truth oom.Cause
}

// calibrationCases are the labelled set: every real report of testdata
// (as the only evidence, and as the evidence about its victim's cgroup),
// and the scenarios of issue 11 built from snapshots and real reports.
func calibrationCases(t *testing.T) []labelled {
	var cs []labelled
	for file, want := range readVictims(t) {
		rs := reportsOf(t, file)
		for i, w := range want {
			r := rs[i]
			truth := oom.CauseUnknown
			switch {
			case w.Scope == "global":
				truth = oom.CauseHostPressure
			case w.Scope == "cgroup" && w.OOMMemcg != "" && (w.TaskMemcg == "" || w.OOMMemcg == w.TaskMemcg):
				truth = oom.CauseContainerLimit
			case w.Scope == "cgroup" && w.OOMMemcg != "":
				truth = oom.CauseAncestorLimit
			}
			class := "report naming the cgroup"
			if w.OOMMemcg == "" && w.TaskMemcg == "" {
				class = "report naming no cgroup"
			}
			name := fmt.Sprintf("%s#%d", file, i)
			cs = append(cs, labelled{name: name + "/alone", class: class, ev: oom.Evidence{Reports: []oom.Report{r}}, truth: truth})
			if w.TaskMemcg != "" {
				// asked about the victim's cgroup, its tree read after the kill
				// (no counters: the report is the one source)
				tree := []cgroup.MemorySnapshot{{Path: w.TaskMemcg, Version: cgroup.V1}}
				if w.OOMMemcg != "" && w.OOMMemcg != w.TaskMemcg {
					tree = append(tree, cgroup.MemorySnapshot{Path: w.OOMMemcg, Version: cgroup.V1})
				}
				cs = append(cs, labelled{name: name + "/about-victim-cgroup", class: class, ev: oom.Evidence{After: tree, Reports: []oom.Report{r}}, truth: truth})
			}
			if class == "report naming no cgroup" && w.PID != 0 {
				// tied to a cgroup with a limit by the victim's pid
				tree := []cgroup.MemorySnapshot{{Path: "/docker/c", Version: cgroup.V1, Limit: cgroup.LimitOf(64 << 20)}}
				cs = append(cs, labelled{name: name + "/tied-by-pid", class: class, ev: oom.Evidence{After: tree, Reports: []oom.Report{r}, PIDs: []int{w.PID}}, truth: truth})
			}
		}
	}
	return append(cs, scenarioCases()...)
}

// scenarioCases are issue 11's situations, with the answer known by
// construction.
func scenarioCases() []labelled {
	parent, kid := "/oomkit/parent", "/oomkit/parent/kid"
	v1 := func(p string, l cgroup.Limit, failcnt, kills uint64) cgroup.MemorySnapshot {
		return cgroup.MemorySnapshot{Path: p, Version: cgroup.V1, Time: t0, Limit: l, Usage: cgroup.AmountOf(10 << 20),
			Failcnt: cgroup.CountOf(failcnt), Events: cgroup.Events{OOMKill: cgroup.CountOf(kills)}}
	}
	kidReport := oom.Report{Scope: oom.ScopeCgroup, OOMMemcg: kid, TaskMemcg: kid, Victim: oom.Task{PID: 41, Comm: "memhog"},
		Memcg: oom.Counter{UsageKB: 24 << 10, LimitKB: 24 << 10, Known: true}}
	parentTree := []cgroup.MemorySnapshot{v1(parent, cgroup.NoLimit(), 0, 0), v1("/oomkit", cgroup.NoLimit(), 0, 0)}
	var cs []labelled
	for _, sp := range []string{parent, parent + "/", parent[1:], "/oomkit//parent", "/oomkit/./parent"} {
		tree := append([]cgroup.MemorySnapshot{}, parentTree...)
		tree[0].Path = sp
		cs = append(cs, labelled{name: "descendant kill, parent spelled " + sp, class: "report naming the cgroup",
			ev: oom.Evidence{After: tree, Reports: []oom.Report{kidReport}}, truth: oom.CauseDescendantKill})
	}
	ownTree := func(sp string) []cgroup.MemorySnapshot {
		return []cgroup.MemorySnapshot{v1(sp, cgroup.LimitOf(24<<20), 0, 1), v1(parent, cgroup.NoLimit(), 0, 0)}
	}
	for _, sp := range []string{kid, kid + "/", kid[1:], "/oomkit//parent/kid", "/oomkit/./parent/kid"} {
		cs = append(cs, labelled{name: "own limit, spelled " + sp, class: "report naming the cgroup",
			ev: oom.Evidence{After: ownTree(sp), Reports: []oom.Report{kidReport}}, truth: oom.CauseContainerLimit})
	}
	before := []cgroup.MemorySnapshot{v1(kid, cgroup.LimitOf(24<<20), 0, 0), v1(parent, cgroup.NoLimit(), 0, 0)}
	after := []cgroup.MemorySnapshot{v1(kid, cgroup.LimitOf(24<<20), 700, 1), v1(parent, cgroup.NoLimit(), 0, 0)}
	for i := range after {
		after[i].Time = t0.Add(time.Minute)
	}
	cs = append(cs,
		labelled{name: "own limit, report and counters agree", class: "two sources agreeing",
			ev: oom.Evidence{Before: before, After: after, Reports: []oom.Report{kidReport}}, truth: oom.CauseContainerLimit},
		labelled{name: "own limit, counters alone (before/after)", class: "counters alone",
			ev: oom.Evidence{Before: before, After: after}, truth: oom.CauseContainerLimit},
		labelled{name: "own limit, a report naming no cgroup tied by pid", class: "report naming no cgroup",
			ev: oom.Evidence{After: ownTree(kid), PIDs: []int{41}, Reports: []oom.Report{{Scope: oom.ScopeCgroup, Victim: oom.Task{PID: 41, Comm: "memhog"}}}}, truth: oom.CauseContainerLimit},
		labelled{name: "no limit of its own, a report naming no cgroup tied by pid", class: "report naming no cgroup",
			ev: oom.Evidence{After: parentTree, PIDs: []int{41}, Reports: []oom.Report{{Scope: oom.ScopeCgroup, Victim: oom.Task{PID: 41, Comm: "memhog"}}}}, truth: oom.CauseUnknown},
		labelled{name: "an unrelated report only", class: "nothing",
			ev: oom.Evidence{After: ownTree(kid)[:1], Reports: []oom.Report{{Scope: oom.ScopeCgroup, OOMMemcg: "/other", TaskMemcg: "/other", Victim: oom.Task{PID: 9, Comm: "x"}}}}, truth: oom.CauseUnknown},
		labelled{name: "nothing at all", class: "nothing", ev: oom.Evidence{After: []cgroup.MemorySnapshot{v1(kid, cgroup.LimitOf(24<<20), 0, 0)}}, truth: oom.CauseUnknown},
		labelled{name: "nothing, and no limit anywhere (a risk)", class: "nothing", ev: oom.Evidence{After: parentTree}, truth: oom.CauseNoLimit},
		labelled{name: "ancestor limit, report and tree", class: "report naming the cgroup",
			ev: oom.Evidence{After: []cgroup.MemorySnapshot{v1(kid, cgroup.NoLimit(), 0, 1), v1(parent, cgroup.LimitOf(64<<20), 90, 0)},
				Reports: []oom.Report{{Scope: oom.ScopeCgroup, OOMMemcg: parent, TaskMemcg: kid, Victim: oom.Task{PID: 41, Comm: "memhog"}}}}, truth: oom.CauseAncestorLimit},
		labelled{name: "v2 descendant kill, counters alone", class: "counters alone",
			ev: oom.Evidence{Before: []cgroup.MemorySnapshot{v2(parent, cgroup.NoLimit(), 0, 0)},
				After: later([]cgroup.MemorySnapshot{v2(parent, cgroup.NoLimit(), 0, 0)}, func(s []cgroup.MemorySnapshot) { s[0].Events.OOMKill = cgroup.CountOf(1) })},
			truth: oom.CauseDescendantKill},
		labelled{name: "v2 own limit, counters alone", class: "counters alone",
			ev: oom.Evidence{Before: []cgroup.MemorySnapshot{v2(kid, cgroup.LimitOf(24<<20), 0, 0)},
				After: later([]cgroup.MemorySnapshot{v2(kid, cgroup.LimitOf(24<<20), 1, 1)}, func([]cgroup.MemorySnapshot) {})},
			truth: oom.CauseContainerLimit},
		labelled{name: "v2 host ran out, counters alone", class: "counters alone",
			ev: oom.Evidence{Before: []cgroup.MemorySnapshot{v2(kid, cgroup.LimitOf(24<<20), 0, 0)},
				After: later([]cgroup.MemorySnapshot{v2(kid, cgroup.LimitOf(24<<20), 0, 1)}, func([]cgroup.MemorySnapshot) {})},
			truth: oom.CauseHostPressure},
		labelled{name: "Docker's OOMKilled alone, no limit of its own", class: "engine alone",
			ev: oom.Evidence{Container: &oom.Container{ID: "c", Memory: cgroup.NoLimit(), State: &oom.ContainerState{ExitCode: 137, OOMKilled: true}}}, truth: oom.CauseUnknown},
		labelled{name: "Docker's OOMKilled alone, with a limit", class: "engine alone",
			ev: oom.Evidence{Container: &oom.Container{ID: "c", Memory: cgroup.LimitOf(64 << 20), State: &oom.ContainerState{ExitCode: 137, OOMKilled: true}}}, truth: oom.CauseContainerLimit},
		labelled{name: "killed by docker stop, counters unchanged", class: "counters alone",
			ev: oom.Evidence{Before: before[:1], After: later(before[:1], func([]cgroup.MemorySnapshot) {}), ExitCode: ptr(137)}, truth: oom.CauseNotOOM},
	)
	return cs
}

func ptr[T any](v T) *T { return &v }

// TestConfidenceCalibration holds Diagnose to the rule of the package
// documentation on the labelled set: no case given 0.9 or more is wrong,
// every wrong case is below 0.6. It logs the table the documentation
// quotes.
func TestConfidenceCalibration(t *testing.T) {
	cs := calibrationCases(t)
	assert.GreaterOrEqual(t, len(cs), 40)
	type cell struct{ n, right int }
	table := map[string]*cell{}
	bucket := func(c float64) string {
		switch {
		case c >= 0.9:
			return ">=0.9"
		case c >= 0.6:
			return "0.6-0.9"
		default:
			return "<0.6"
		}
	}
	for _, c := range cs {
		d := oom.Diagnose(c.ev)
		conf := d.Causes[0].Confidence
		right := d.Cause == c.truth
		if c.truth == oom.CauseUnknown {
			right = conf < 0.6
		}
		if conf >= 0.9 {
			assert.True(t, right, "%s: %s at %.2f, truth %s (%s)", c.name, d.Cause, conf, c.truth, d.Explanation)
		}
		if !right {
			assert.Less(t, conf, 0.6, "%s: wrong (%s, truth %s) at %.2f: %s", c.name, d.Cause, c.truth, conf, d.Explanation)
		}
		k := c.class + " | " + bucket(conf)
		if table[k] == nil {
			table[k] = &cell{}
		}
		table[k].n++
		if right {
			table[k].right++
		}
	}
	var keys []string
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d labelled cases\n", len(cs))
	for _, k := range keys {
		fmt.Fprintf(&b, "%-45s %3d cases, %3d right\n", k, table[k].n, table[k].right)
	}
	t.Log("\n" + b.String())
}
