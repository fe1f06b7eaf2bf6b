package oom_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func reportsOf(t *testing.T, file string) []oom.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "kernel", file))
	require.NoError(t, err)
	rs, err := oom.ParseAll(strings.NewReader(string(data)), oom.WithYear(2020))
	require.NoError(t, err)
	return rs
}

func v2(path string, limit cgroup.Limit, localOOM, oomKill uint64) cgroup.MemorySnapshot {
	return cgroup.MemorySnapshot{Path: path, Version: cgroup.V2, Time: t0, Limit: limit,
		Usage:       cgroup.AmountOf(100 << 20),
		Events:      cgroup.Events{OOM: cgroup.CountOf(localOOM), OOMKill: cgroup.CountOf(oomKill)},
		LocalEvents: cgroup.Events{OOM: cgroup.CountOf(localOOM), OOMKill: cgroup.CountOf(oomKill)},
		SwapEvents:  cgroup.SwapEvents{Fail: cgroup.CountOf(0)},
	}
}

func later(ss []cgroup.MemorySnapshot, edit func([]cgroup.MemorySnapshot)) []cgroup.MemorySnapshot {
	out := append([]cgroup.MemorySnapshot{}, ss...)
	for i := range out {
		out[i].Time = t0.Add(time.Minute)
	}
	edit(out)
	return out
}

func TestDiagnoseGlobalFromPublicReport(t *testing.T) {
	d := oom.Diagnose(oom.Evidence{Reports: reportsOf(t, "pandora-49-global-journal-4.x.log")})
	assert.Equal(t, oom.CauseHostPressure, d.Cause)
	assert.Equal(t, 27438, d.VictimPID)
	assert.Empty(t, d.OOMMemcg)
	assert.Contains(t, d.Evidence[0].Line, "Killed process 27438 (R)")
}

func TestDiagnoseGlobalFromV2Counters(t *testing.T) {
	// oom_kill rose in the container, no oom event anywhere: a global OOM
	// (v2 counts global kills in memory.events oom_kill).
	before := []cgroup.MemorySnapshot{
		v2("/system.slice/docker-x.scope", cgroup.LimitOf(1<<30), 0, 0),
		v2("/system.slice", cgroup.NoLimit(), 0, 0),
		{Path: "/", Version: cgroup.V2, Time: t0, Limit: cgroup.NoLimit()},
	}
	after := later(before, func(s []cgroup.MemorySnapshot) {
		s[0].LocalEvents.OOMKill, s[0].Events.OOMKill = cgroup.CountOf(1), cgroup.CountOf(1)
	})
	d := oom.Diagnose(oom.Evidence{Before: before, After: after})
	assert.Equal(t, oom.CauseHostPressure, d.Cause, "%+v", d.Causes)
	assert.True(t, d.Killed)
}

func TestDiagnoseV2FixtureAncestor(t *testing.T) {
	fs, err := cgroup.NewFS(cgroup.WithRoot("../cgroup/testdata/v2/sys/fs/cgroup"), cgroup.WithProcRoot("../cgroup/testdata/v2/proc"))
	require.NoError(t, err)
	cg, err := fs.FindByPID(4343)
	require.NoError(t, err)
	tree, err := cg.SnapshotTree()
	require.NoError(t, err)
	d := oom.Diagnose(oom.Evidence{After: tree})
	assert.Equal(t, oom.CauseAncestorLimit, d.Cause, "%+v", d.Causes)
	assert.Equal(t, tree[1].Path, d.OOMMemcg, "the pod slice")
	assert.Equal(t, cgroup.LimitOf(512<<20), d.LimitBytes)
	require.NotEmpty(t, d.Remedies)
	assert.Contains(t, d.Remedies[0].Setting, tree[1].Path)
}

func TestDiagnoseEqualPodAndContainerLimits(t *testing.T) {
	pod, ctr := "/kubepods/pod1", "/kubepods/pod1/c1"
	tree := []cgroup.MemorySnapshot{v2(ctr, cgroup.LimitOf(256<<20), 0, 1), v2(pod, cgroup.LimitOf(256<<20), 1, 0)}
	r := oom.Report{Scope: oom.ScopeCgroup, OOMMemcg: pod, TaskMemcg: ctr, Victim: oom.Task{PID: 5, Comm: "app"}}
	d := oom.Diagnose(oom.Evidence{After: tree, Reports: []oom.Report{r}})
	assert.Equal(t, oom.CauseContainerLimit, d.Cause, "the kernel charged the pod, but the container's own size ran out: %+v", d.Causes)
}

func TestDiagnoseSwapExhausted(t *testing.T) {
	before := []cgroup.MemorySnapshot{v2("/c", cgroup.LimitOf(64<<20), 0, 0)}
	after := later(before, func(s []cgroup.MemorySnapshot) {
		s[0].SwapEvents.Fail = cgroup.CountOf(12)
		s[0].LocalEvents.OOM, s[0].LocalEvents.OOMKill = cgroup.CountOf(1), cgroup.CountOf(1)
	})
	d := oom.Diagnose(oom.Evidence{Before: before, After: after})
	assert.Contains(t, causesOf(d), oom.CauseSwap)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause)
	var swap *oom.Remedy
	for i := range d.Remedies {
		if d.Remedies[i].Setting == "--memory-swap" {
			swap = &d.Remedies[i]
		}
	}
	require.NotNil(t, swap)
	assert.Equal(t, "64m", swap.Value, "memory-swap = memory disables swap")
}

func TestDiagnoseDockerDisagrees(t *testing.T) {
	in := &oom.Container{
		State:  &oom.ContainerState{Running: false, ExitCode: 0, OOMKilled: true, PID: 0},
		Memory: cgroup.LimitOf(64 << 20),
	}
	d := oom.Diagnose(oom.Evidence{Container: in})
	assert.Equal(t, oom.CauseChildKilled, d.Cause)
	assert.NotEmpty(t, d.Conflicts)
	assert.Equal(t, cgroup.LimitOf(64<<20), d.LimitBytes)
}

func TestDiagnoseNothing(t *testing.T) {
	d := oom.Diagnose(oom.Evidence{Missing: []string{"kernel log: permission denied"}})
	assert.Equal(t, oom.CauseUnknown, d.Cause)
	assert.False(t, d.Killed)
	assert.Equal(t, []string{"kernel log: permission denied"}, d.Missing)
}

func TestDiagnoseLeakForecast(t *testing.T) {
	var samples []cgroup.Sample
	for i := range 60 {
		samples = append(samples, cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Minute), NonReclaimable: cgroup.AmountOf(cgroup.Bytes(100<<20 + i*(1<<20))), WorkingSet: cgroup.AmountOf(cgroup.Bytes(120<<20 + i*(1<<20)))})
	}
	tree := []cgroup.MemorySnapshot{v2("/c", cgroup.LimitOf(256<<20), 0, 0)}
	d := oom.Diagnose(oom.Evidence{After: tree, Samples: samples})
	require.NotNil(t, d.Leak)
	assert.InEpsilon(t, float64(60<<20), d.Leak.BytesPerHour, 0.01)
	assert.InDelta(t, (256.0-159.0)/60.0, d.Leak.HoursToLimit, 0.02)
	assert.Equal(t, oom.CauseLeak, d.Cause)
	// A flat trace is no leak.
	for i := range samples {
		samples[i].NonReclaimable = cgroup.AmountOf(100 << 20)
	}
	d = oom.Diagnose(oom.Evidence{After: tree, Samples: samples})
	assert.Nil(t, d.Leak)
}

// TestDiagnoseLeakThenKill: samples read after the kill (the dead cgroup,
// still there on a loaded host, or a post-mortem snapshot) are near zero;
// they end the run, they do not hide its trend. A sawtooth (drops all
// along) stays no leak.
func TestDiagnoseLeakThenKill(t *testing.T) {
	tree := []cgroup.MemorySnapshot{v2("/c", cgroup.LimitOf(96<<20), 1, 1)}
	var samples []cgroup.Sample
	for i := range 50 {
		b := cgroup.Bytes(2<<20 + i*(2<<20))
		samples = append(samples, cgroup.Sample{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), WorkingSet: cgroup.AmountOf(b), NonReclaimable: cgroup.AmountOf(b)})
	}
	for i := range 6 { // after the kill
		samples = append(samples, cgroup.Sample{Time: t0.Add(time.Duration(50+i) * 100 * time.Millisecond), WorkingSet: cgroup.AmountOf(40 << 10)})
	}
	d := oom.Diagnose(oom.Evidence{After: tree, Samples: samples})
	require.NotNil(t, d.Leak, "causes %v", d.Causes)
	assert.InEpsilon(t, float64(20<<20)*3600, d.Leak.BytesPerHour, 0.01)
	assert.Equal(t, 50, d.Leak.Samples)

	var saw []cgroup.Sample
	for i := range 60 {
		b := cgroup.Bytes(2<<20 + (i%15)*(4<<20))
		saw = append(saw, cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Second), WorkingSet: cgroup.AmountOf(b), NonReclaimable: cgroup.AmountOf(b)})
	}
	d = oom.Diagnose(oom.Evidence{After: tree, Samples: saw})
	assert.Nil(t, d.Leak, "a sawtooth is no leak")
}

// TestDiagnoseV1PeakAtLimit: with docker --memory-swap equal to --memory,
// a v1 container that hits its limit leaves failcnt and memsw.failcnt at 0
// (seen on 6.18); the peak at the limit is the evidence of its own limit.
func TestDiagnoseV1PeakAtLimit(t *testing.T) {
	snap := func(peak cgroup.Bytes) []cgroup.MemorySnapshot {
		return []cgroup.MemorySnapshot{
			{Path: "/docker/abc", Version: cgroup.V1, Time: t0, Limit: cgroup.LimitOf(32 << 20), SwapLimit: cgroup.LimitOf(32 << 20),
				Usage: cgroup.AmountOf(1 << 20), Peak: cgroup.AmountOf(peak),
				LocalEvents: cgroup.Events{OOMKill: cgroup.CountOf(1)}, Failcnt: cgroup.CountOf(0), MemSwFailcnt: cgroup.CountOf(0)},
			{Path: "/docker", Version: cgroup.V1, Time: t0, Limit: cgroup.NoLimit(), Usage: cgroup.AmountOf(1 << 20),
				Failcnt: cgroup.CountOf(0), MemSwFailcnt: cgroup.CountOf(0)},
		}
	}
	d := oom.Diagnose(oom.Evidence{After: snap(32 << 20)})
	assert.Equal(t, oom.CauseContainerLimit, d.Cause, "causes %v", d.Causes)
	assert.True(t, d.Killed)
	d = oom.Diagnose(oom.Evidence{After: snap(30 << 20)}) // 94%: near, not at
	assert.NotEqual(t, oom.CauseContainerLimit, d.Cause, "causes %v", d.Causes)
}

// TestDiagnoseRateLimitedReport: when the kernel rate-limits its report's
// header, only the "Killed process" line is left, naming no cgroup; the
// processes seen in the cgroup before the kill tie it to the cgroup.
func TestDiagnoseRateLimitedReport(t *testing.T) {
	const line = "[ 3066.712025] Memory cgroup out of memory: Killed process 4321 (memhog) total-vm:108732kB, anon-rss:30728kB, file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:120kB oom_score_adj:0\n"
	rs, err := oom.ParseAll(strings.NewReader(line))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Empty(t, rs[0].TaskMemcg)
	tree := []cgroup.MemorySnapshot{{Path: "/docker/abc", Version: cgroup.V1, Time: t0, Limit: cgroup.LimitOf(32 << 20),
		Usage: cgroup.AmountOf(1 << 20), Peak: cgroup.AmountOf(32 << 20),
		LocalEvents: cgroup.Events{OOMKill: cgroup.CountOf(1)}, Failcnt: cgroup.CountOf(3), MemSwFailcnt: cgroup.CountOf(0)}}

	d := oom.Diagnose(oom.Evidence{After: tree, Reports: rs, PIDs: []int{17, 4321}})
	assert.Equal(t, 4321, d.VictimPID)
	assert.Equal(t, "memhog", d.VictimComm)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause)

	d = oom.Diagnose(oom.Evidence{After: tree, Reports: rs, PIDs: []int{17}})
	assert.Zero(t, d.VictimPID, "another cgroup's kill is not this one's")
	assert.Equal(t, oom.CauseContainerLimit, d.Cause, "the counters still tell")
}

// TestDiagnoseLaterReducedReports: the latest full report about the cgroup
// is followed in the log by reports cut to their "Killed process" line;
// without the PIDs that tie one of them to the cgroup, the diagnosis names
// the earlier victim and says it may be stale.
func TestDiagnoseLaterReducedReports(t *testing.T) {
	full := reportsOf(t, "this-host-6.18-v1-own-limit.kmsg")
	require.NotEmpty(t, full)
	path := full[0].TaskMemcg
	reduced, err := oom.ParseAll(strings.NewReader("[ 4800.100000] Memory cgroup out of memory: Killed process 4321 (memhog) total-vm:108732kB, anon-rss:30728kB, file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:120kB oom_score_adj:0\n"))
	require.NoError(t, err)
	reports := append(append([]oom.Report{}, full...), reduced...)
	tree := []cgroup.MemorySnapshot{{Path: path, Version: cgroup.V1, Time: t0, Limit: cgroup.LimitOf(24 << 20),
		Usage: cgroup.AmountOf(1 << 20), LocalEvents: cgroup.Events{OOMKill: cgroup.CountOf(2)}, Failcnt: cgroup.CountOf(9)}}

	d := oom.Diagnose(oom.Evidence{After: tree, Reports: reports})
	assert.Equal(t, full[len(full)-1].Victim.PID, d.VictimPID)
	require.NotEmpty(t, d.Conflicts)
	assert.Contains(t, d.Conflicts[len(d.Conflicts)-1], "4321")

	d = oom.Diagnose(oom.Evidence{After: tree, Reports: reports, PIDs: []int{4321}})
	assert.Equal(t, 4321, d.VictimPID)
	for _, c := range d.Conflicts {
		assert.NotContains(t, c, "rate limit")
	}
}

func causesOf(d oom.Diagnosis) []oom.Cause {
	var out []oom.Cause
	for _, c := range d.Causes {
		out = append(out, c.Cause)
	}
	return out
}

// TestDiagnoseSamplesUsageOnly: samples whose working set is unknown (no
// memory.stat) are read by their usage, and samples with neither are left
// out, never taken as 0.
func TestDiagnoseSamplesUsageOnly(t *testing.T) {
	var samples []cgroup.Sample
	for i := range 60 {
		at := t0.Add(time.Duration(i) * time.Minute)
		samples = append(samples, cgroup.Sample{Time: at, Usage: cgroup.AmountOf(cgroup.Bytes(120<<20 + i*(1<<20)))})
		samples = append(samples, cgroup.Sample{Time: at.Add(time.Second)}) // nothing known
	}
	tree := []cgroup.MemorySnapshot{v2("/c", cgroup.LimitOf(256<<20), 0, 0)}
	d := oom.Diagnose(oom.Evidence{After: tree, Samples: samples})
	require.NotNil(t, d.Leak, "causes %v", d.Causes)
	assert.InEpsilon(t, float64(60<<20), d.Leak.BytesPerHour, 0.01)
	assert.Equal(t, 60, d.Leak.Samples)
}

// TestDiagnoseDescendantKill: issue 11's first case. A cgroup with no limit
// whose child (limit 24 MiB) had a task killed: the kill is the child's,
// with the child's own cause; the parent never gets container_limit, nor
// the child's limit as its own.
func TestDiagnoseDescendantKill(t *testing.T) {
	parent, kid := "/oomkit/parent", "/oomkit/parent/kid"
	r := oom.Report{Scope: oom.ScopeCgroup, OOMMemcg: kid, TaskMemcg: kid, Victim: oom.Task{PID: 41, Comm: "memhog"},
		Memcg: oom.Counter{UsageKB: 24 << 10, LimitKB: 24 << 10, Known: true}}
	for _, sp := range []string{parent, parent + "/", "oomkit/parent", "//oomkit//parent", "/oomkit/./parent"} {
		tree := []cgroup.MemorySnapshot{{Path: sp, Version: cgroup.V1, Limit: cgroup.NoLimit()}, {Path: "/oomkit", Version: cgroup.V1, Limit: cgroup.NoLimit()}}
		d := oom.Diagnose(oom.Evidence{After: tree, Reports: []oom.Report{r}})
		assert.Equal(t, oom.CauseDescendantKill, d.Cause, sp)
		assert.NotContains(t, causesOf(d), oom.CauseContainerLimit, sp)
		assert.Equal(t, cgroup.NoLimit(), d.LimitBytes, "the parent has no limit, none on its path: %s", sp)
		require.NotNil(t, d.Descendant, sp)
		assert.Equal(t, kid, d.Descendant.Cgroup)
		assert.Equal(t, oom.CauseContainerLimit, d.Descendant.Cause)
		assert.Equal(t, cgroup.LimitOf(24<<20), d.Descendant.LimitBytes)
		assert.Equal(t, oom.RelationDescendant, d.Relation)
		assert.Equal(t, parent, d.Subject)
		assert.Equal(t, oom.VerdictOOMKill, d.Verdict)
		assert.Contains(t, d.Explanation, kid)
	}
}

// TestDiagnoseHonestHeadlines: silence is "cannot tell", not "not killed";
// a report about another cgroup is no evidence.
func TestDiagnoseHonestHeadlines(t *testing.T) {
	tree := []cgroup.MemorySnapshot{{Path: "/c", Version: cgroup.V1, Limit: cgroup.LimitOf(64 << 20)}}
	d := oom.Diagnose(oom.Evidence{After: tree, Reports: []oom.Report{{Scope: oom.ScopeCgroup, OOMMemcg: "/other", TaskMemcg: "/other", Victim: oom.Task{PID: 3}}}})
	assert.Equal(t, oom.VerdictCannotTell, d.Verdict)
	assert.Equal(t, oom.CauseUnknown, d.Cause)
	assert.Contains(t, d.Explanation, "cannot tell: no report for this cgroup in the kernel log")
	assert.Zero(t, d.VictimPID)

	before := []cgroup.MemorySnapshot{v2("/c", cgroup.LimitOf(64<<20), 0, 0)}
	d = oom.Diagnose(oom.Evidence{Before: before, After: later(before, func([]cgroup.MemorySnapshot) {})})
	assert.Equal(t, oom.VerdictNoKill, d.Verdict, "counters compared and unchanged: no kill")

	d = oom.Diagnose(oom.Evidence{Before: before, After: later(before, func([]cgroup.MemorySnapshot) {}), ExitCode: ptr(137)})
	assert.Equal(t, oom.VerdictNotOOM, d.Verdict)
	assert.Equal(t, oom.CauseNotOOM, d.Cause)
}
