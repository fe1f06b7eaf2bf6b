package oom_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// Parse a whole kernel log: every kill, in order.
func ExampleParseAll() {
	f, err := os.Open("testdata/kernel/this-host-6.18-v1-parent-limit.kmsg")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	reports, err := oom.ParseAll(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range reports {
		fmt.Println(r.Scope, r.Victim.PID, r.Victim.Comm)
		fmt.Println("  limit hit in", r.OOMMemcg)
		fmt.Println("  victim in   ", r.TaskMemcg)
	}
	// Output:
	// cgroup 22209 memhog
	//   limit hit in /process_api/50e6f5cfe09bff912ba1f3c22450b4ea/oomparent-22176-41671847
	//   victim in    /process_api/50e6f5cfe09bff912ba1f3c22450b4ea/oomparent-22176-41671847/child-22176-41763623
}

// Stream a log of any size: one report at a time, in constant memory.
func ExampleReports() {
	f, err := os.Open("testdata/kernel/pandora-49-global-journal-4.x.log")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	for r, err := range oom.Reports(f) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(r.Scope, r.Victim.Comm, r.Host)
	}
	// Output:
	// global R doom
}

// Tool one of three with no glue: a kernel log's kills grouped by the
// cgroup whose limit was hit (or "global" for the host running out).
func ExampleReports_byCgroup() {
	// Three saved logs in one stream: two kills on this project's test
	// host (a cgroup's own limit, a parent's limit) and a global OOM.
	var logs []io.Reader
	for _, name := range []string{"this-host-6.18-v1-own-limit.kmsg", "this-host-6.18-v1-parent-limit.kmsg", "pandora-49-global-journal-4.x.log"} {
		b, err := os.ReadFile("testdata/kernel/" + name)
		if err != nil {
			fmt.Println(err)
			return
		}
		logs = append(logs, bytes.NewReader(b))
	}
	f := io.MultiReader(logs...)
	type group struct {
		kills   int
		victims []string
	}
	groups := map[string]*group{}
	for r, err := range oom.Reports(f) {
		if err != nil {
			fmt.Println(err)
			return
		}
		key := r.OOMMemcg
		switch {
		case r.Scope == oom.ScopeGlobal:
			key = "global"
		case key == "":
			key = "(a cgroup the report does not name)"
		}
		if groups[key] == nil {
			groups[key] = &group{}
		}
		groups[key].kills++
		groups[key].victims = append(groups[key].victims, fmt.Sprintf("%s(%d)", r.Victim.Comm, r.Victim.PID))
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(k, groups[k].kills, groups[k].victims)
	}
	// Output:
	// /process_api/50e6f5cfe09bff912ba1f3c22450b4ea/oomparent-22176-41671847 1 [memhog(22209)]
	// /process_api/50e6f5cfe09bff912ba1f3c22450b4ea/oomparse-22176-878741652 1 [memhog(22205)]
	// global 1 [R(27438)]
}

// Diagnose is pure: here the kernel's report of a real kill on this
// project's test host, with the cgroup's counters before and after.
func ExampleDiagnose() {
	f, err := os.Open("testdata/kernel/this-host-6.18-v1-own-limit.kmsg")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	reports, err := oom.ParseAll(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	path := reports[0].TaskMemcg
	before := cgroup.MemorySnapshot{Path: path, Version: cgroup.V1, Limit: cgroup.LimitOf(32 << 20),
		Usage: cgroup.AmountOf(1 << 20), LocalEvents: cgroup.Events{OOMKill: cgroup.CountOf(0)}, Failcnt: cgroup.CountOf(0)}
	after := before
	after.Usage = cgroup.AmountOf(32 << 20)
	after.LocalEvents.OOMKill, after.Failcnt = cgroup.CountOf(1), cgroup.CountOf(40)
	d := oom.Diagnose(oom.Evidence{Name: "memhog", Before: []cgroup.MemorySnapshot{before}, After: []cgroup.MemorySnapshot{after}, Reports: reports})
	fmt.Println(d.Cause, d.Killed, d.VictimComm)
	for _, r := range d.Remedies {
		if r.Setting != "" {
			fmt.Println(r.Setting, r.Value)
		}
	}
	// Output:
	// container_limit true memhog
	// --memory 141m
}

// Collector.Cgroup gathers the evidence about a cgroup path: the tree of
// snapshots, the kernel's reports about it, the host's memory. Here on a
// fixture host (cgroup's testdata) with a saved kernel log.
func ExampleCollector_Cgroup() {
	fs, err := cgroup.NewFS(cgroup.WithRoot("../cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("../cgroup/testdata/v1/proc"))
	if err != nil {
		fmt.Println(err)
		return
	}
	col := &oom.Collector{
		FS:        fs,
		KernelLog: func() ([]byte, error) { return os.ReadFile("testdata/kernel/this-host-6.18-v1-own-limit.kmsg") },
		ProcRoot:  "../cgroup/testdata/v1/proc",
	}
	ev, err := col.Cgroup("/docker/3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(ev.After), "snapshots:", ev.After[0].Path, "and its ancestors")
	fmt.Println(len(ev.Reports), "kernel reports about it")
	fmt.Println("missing:", ev.Missing)
	fmt.Println(oom.Diagnose(ev).Cause)
	// Output:
	// 3 snapshots: /docker/3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2 and its ancestors
	// 0 kernel reports about it
	// missing: [host memory: oom: read ../cgroup/testdata/v1/proc/meminfo: open ../cgroup/testdata/v1/proc/meminfo: no such file or directory]
	// container_limit
}

// Tool three of three with no glue: explain a PID for a dashboard, as
// JSON in the module's schema (oom.Diagnosis, cgroup values: bytes as
// integers, null for unknown, "max" for unlimited).
func ExampleCollector_PID() {
	fs, err := cgroup.NewFS(cgroup.WithRoot("../cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("../cgroup/testdata/v1/proc"),
		cgroup.WithClock(func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	col := &oom.Collector{FS: fs, KernelLog: func() ([]byte, error) { return nil, nil }, ProcRoot: "../cgroup/testdata/v1/proc"}
	ev, err := col.PID(4242)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := oom.Diagnose(ev)
	b, err := json.Marshal(struct {
		PID    int           `json:"pid"`
		Cgroup string        `json:"cgroup"`
		Cause  oom.Cause     `json:"cause"`
		Killed bool          `json:"killed"`
		Limit  cgroup.Limit  `json:"limit_bytes"`
		Usage  cgroup.Amount `json:"usage_bytes"`
		High   cgroup.Limit  `json:"high_bytes"`
		Sample cgroup.Sample `json:"sample"`
		Kills  cgroup.Count  `json:"oom_kills"`
		Fixes  []string      `json:"fixes"`
		Tree   []string      `json:"tree"`
		Host   *oom.MemInfo  `json:"host"`
	}{4242, ev.After[0].Path, d.Cause, d.Killed, ev.After[0].Limit, ev.After[0].Usage, ev.After[0].High,
		ev.After[0].Sample(), ev.After[0].OOMKills(), fixes(d), paths(ev.After), ev.Host})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"pid":4242,"cgroup":"/docker/3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2","cause":"container_limit","killed":true,"limit_bytes":33554432,"usage_bytes":33554432,"high_bytes":null,"sample":{"time":"2026-11-24T12:00:00Z","usage_bytes":33554432,"working_set_bytes":33419264,"non_reclaimable_bytes":33288192,"page_cache_bytes":266240,"swap_bytes":0},"oom_kills":1,"fixes":["--memory=141m"],"tree":["/docker/3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2","/docker","/"],"host":null}
}

func paths(tree []cgroup.MemorySnapshot) []string {
	var out []string
	for _, s := range tree {
		out = append(out, s.Path)
	}
	return out
}

func fixes(d oom.Diagnosis) []string {
	var out []string
	for _, r := range d.Remedies {
		if r.Setting != "" {
			out = append(out, r.Setting+"="+r.Value)
		}
	}
	return out
}
