package oom_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/internal/vm"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
)

const (
	memhogPkg   = "github.com/oomkit/oomkit/internal/cmd/memhog"
	diagnosePkg = "github.com/oomkit/oomkit/examples/diagnose"
)

// TestVM boots the test VM once and runs this package's TestInVM* tests
// there: real kills on cgroup v2, a host-wide OOM and swap, each diagnosed
// by the API and by examples/diagnose --json.
func TestVM(t *testing.T) {
	vm.Run(t, vm.Config{Binaries: []string{memhogPkg, diagnosePkg}})
}

// vmRun is one workload run in a cgroup of the VM, with the state of the
// cgroup asked about before it.
type vmRun struct {
	subject *vm.Cgroup
	before  []cgroup.MemorySnapshot
	pid     int
	ws      syscall.WaitStatus
	samples []cgroup.Sample
}

func snapshotTree(t *testing.T, c *vm.Cgroup) []cgroup.MemorySnapshot {
	t.Helper()
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	cg, err := fs.Cgroup(c.Path)
	require.NoError(t, err)
	snaps, err := cg.SnapshotTree()
	require.NoError(t, err)
	require.Equal(t, cgroup.V2, snaps[0].Version)
	return snaps
}

// hog runs memhog in c until it ends, with subject's tree snapshotted
// before; every is the sampling period of subject (0: none).
func hog(t *testing.T, subject, c *vm.Cgroup, every time.Duration, args ...string) *vmRun {
	t.Helper()
	r := &vmRun{subject: subject, before: snapshotTree(t, subject)}
	cmd := c.Start(append([]string{testenv.MemHog(t)}, args...)...)
	r.pid = cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if every > 0 {
		fs, err := cgroup.NewFS()
		require.NoError(t, err)
		cg, err := fs.Cgroup(subject.Path)
		require.NoError(t, err)
		tick := time.NewTicker(every)
		defer tick.Stop()
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-tick.C:
				if s, err := cg.Snapshot(); err == nil {
					r.samples = append(r.samples, s.Sample())
				}
			}
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("memhog in %s did not end", c.Path)
	}
	r.ws = cmd.ProcessState.Sys().(syscall.WaitStatus)
	return r
}

func requireKilled(t *testing.T, r *vmRun) {
	t.Helper()
	require.True(t, r.ws.Signaled() && r.ws.Signal() == syscall.SIGKILL, "memhog (pid %d) was not SIGKILLed: %v", r.pid, r.ws)
}

// evidence collects the subject's evidence after the run, waiting for the
// kernel's report of the victim (the kernel counts a kill before it logs).
func (r *vmRun) evidence(t *testing.T, victim int) oom.Evidence {
	t.Helper()
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	col := &oom.Collector{FS: fs}
	var ev oom.Evidence
	for range 50 {
		ev, err = col.Cgroup(r.subject.Path)
		require.NoError(t, err)
		if victim == 0 || hasVictim(ev.Reports, victim) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if victim != 0 {
		require.True(t, hasVictim(ev.Reports, victim), "no kernel report of pid %d about %s:\n%s", victim, r.subject.Path, kernelLog(t))
	}
	ev.Before = r.before
	ev.Samples = append(r.samples, ev.Samples...)
	return ev
}

func hasVictim(rs []oom.Report, pid int) bool {
	for _, r := range rs {
		if r.Victim.PID == pid {
			return true
		}
	}
	return false
}

func kernelLog(t *testing.T) string {
	t.Helper()
	data, err := oom.ReadKernelLog()
	if err != nil {
		return err.Error()
	}
	return tailLines(string(data), 80)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// cli runs examples/diagnose --json --cgroup path in the VM (a post-mortem:
// one snapshot) and returns its Diagnosis.
func cli(t *testing.T, path string) oom.Diagnosis {
	t.Helper()
	out, err := exec.Command(testenv.Build(t, diagnosePkg), "--json", "--cgroup", path).Output()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || len(out) == 0) {
		t.Fatalf("diagnose --json --cgroup %s: %v\n%s", path, err, out)
	}
	var d oom.Diagnosis
	require.NoError(t, json.Unmarshal(out, &d), "diagnose --json printed:\n%s", out)
	return d
}

func logDiagnosis(t *testing.T, name string, d oom.Diagnosis) {
	t.Helper()
	b, _ := json.MarshalIndent(struct {
		Cause       oom.Cause
		Causes      []oom.RankedCause
		Killed      bool
		Explanation string
		Evidence    []oom.Item
		VictimPID   int
		OOMMemcg    string
		Leak        *oom.LeakTrend
	}{d.Cause, d.Causes, d.Killed, d.Explanation, d.Evidence, d.VictimPID, d.OOMMemcg, d.Leak}, "", "  ")
	t.Logf("%s:\n%s", name, b)
}

// checkBoth diagnoses r's subject by the API and by examples/diagnose, logs
// both, and checks the cause and victim each gives.
func checkBoth(t *testing.T, r *vmRun, victim int, want oom.Cause) (api, post oom.Diagnosis) {
	t.Helper()
	ev := r.evidence(t, victim)
	api = oom.Diagnose(ev)
	logDiagnosis(t, "API", api)
	// The counters alone (a kernel log lost or its report rate-limited)
	// must give the same cause.
	ev.Reports = nil
	counters := oom.Diagnose(ev)
	assert.Equal(t, want, counters.Cause, "cause from the cgroup counters alone: %s", counters.Explanation)
	post = cli(t, r.subject.Path)
	logDiagnosis(t, "examples/diagnose --json", post)
	for _, d := range []struct {
		by string
		d  oom.Diagnosis
	}{{"API", api}, {"examples/diagnose", post}} {
		assert.Equal(t, want, d.d.Cause, "cause by %s", d.by)
		if victim != 0 {
			assert.True(t, d.d.Killed, "killed by %s", d.by)
			assert.Equal(t, victim, d.d.VictimPID, "victim by %s", d.by)
		}
	}
	return api, post
}

func events(t *testing.T, c *vm.Cgroup, file string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, k := range []string{"low", "high", "max", "oom", "oom_kill", "oom_group_kill"} {
		if strings.Contains(c.Read(file), k+" ") {
			m[k] = c.Value(file, k)
		}
	}
	return m
}

func TestInVMOwnLimit(t *testing.T) {
	testenv.InVM(t)
	c := vm.NewCgroup(t, nil, "own")
	c.SetMax(32 << 20)
	r := hog(t, c, c, 0, "-step", "1MiB", "-total", "200MiB")
	requireKilled(t, r)
	ev := events(t, c, "memory.events.local")
	assert.Equal(t, int64(1), ev["oom"], "memory.events.local")
	assert.Equal(t, int64(1), ev["oom_kill"], "memory.events.local")
	api, post := checkBoth(t, r, r.pid, oom.CauseContainerLimit)
	assert.Equal(t, c.Path, api.OOMMemcg)
	assert.Equal(t, c.Path, post.OOMMemcg)
	assert.Equal(t, cgroup.LimitOf(32<<20), api.LimitBytes)
}

func TestInVMAncestorLimit(t *testing.T) {
	testenv.InVM(t)
	pod := vm.NewCgroup(t, nil, "pod")
	pod.SetMax(48 << 20)
	side := vm.NewCgroup(t, pod, "side")
	ctr := vm.NewCgroup(t, pod, "ctr")
	held := side.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "16MiB", "-hold")
	defer func() { _ = held.Process.Kill(); _ = held.Wait() }()
	vm.WaitCurrent(t, side, 15<<20)
	r := hog(t, ctr, ctr, 0, "-step", "1MiB", "-total", "200MiB")
	requireKilled(t, r)
	assert.Equal(t, int64(0), events(t, ctr, "memory.events")["oom"], "ctr's own limit (none) was not hit")
	assert.Equal(t, int64(1), events(t, ctr, "memory.events")["oom_kill"])
	assert.Equal(t, int64(1), events(t, pod, "memory.events.local")["oom"], "the pod's limit was hit")
	api, post := checkBoth(t, r, r.pid, oom.CauseAncestorLimit)
	assert.Equal(t, pod.Path, api.OOMMemcg)
	assert.Equal(t, pod.Path, post.OOMMemcg)
}

// TestInVMDescendantKill asks about a pod whose container was killed at its
// own limit: the kill is the descendant's, not a limit of the pod.
func TestInVMDescendantKill(t *testing.T) {
	testenv.InVM(t)
	pod := vm.NewCgroup(t, nil, "pod2")
	ctr := vm.NewCgroup(t, pod, "ctr")
	ctr.SetMax(32 << 20)
	r := hog(t, pod, ctr, 0, "-step", "1MiB", "-total", "200MiB")
	requireKilled(t, r)
	assert.Equal(t, int64(1), events(t, pod, "memory.events")["oom_kill"], "v2 memory.events is hierarchical")
	assert.Equal(t, int64(0), events(t, pod, "memory.events.local")["oom"])
	api := oom.Diagnose(r.evidence(t, r.pid))
	logDiagnosis(t, "API", api)
	post := cli(t, pod.Path)
	logDiagnosis(t, "examples/diagnose --json", post)
	checkDescendant(t, ctr.Path, api, post)
}

func checkDescendant(t *testing.T, ctr string, ds ...oom.Diagnosis) {
	t.Helper()
	for _, d := range ds {
		assert.Equal(t, oom.CauseDescendantKill, d.Cause)
		assert.True(t, d.Killed)
		assert.Equal(t, ctr, d.OOMMemcg, "the limit hit is the descendant's")
		assert.NotEqual(t, oom.CauseAncestorLimit, d.Cause)
		assert.NotEqual(t, oom.CauseHostPressure, d.Cause)
		assert.Contains(t, d.Explanation+fmt.Sprint(d.Evidence), ctr, "the diagnosis names the descendant")
		for _, it := range d.Evidence {
			assert.NotContains(t, it.Text, "this cgroup's limit was hit", "the pod has no limit: %+v", it)
		}
	}
}

// TestInVMEqualLimits: pod and container limits equal, with a sibling in
// the pod, so the kernel charges the pod (oom_memcg is the pod): the
// container's own size ran out all the same.
func TestInVMEqualLimits(t *testing.T) {
	testenv.InVM(t)
	pod := vm.NewCgroup(t, nil, "pod3")
	pod.SetMax(32 << 20)
	side := vm.NewCgroup(t, pod, "side")
	ctr := vm.NewCgroup(t, pod, "ctr")
	ctr.SetMax(32 << 20)
	held := side.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "4MiB", "-hold")
	defer func() { _ = held.Process.Kill(); _ = held.Wait() }()
	vm.WaitCurrent(t, side, 4<<20)
	r := hog(t, ctr, ctr, 0, "-step", "1MiB", "-total", "200MiB")
	requireKilled(t, r)
	assert.Equal(t, int64(1), events(t, pod, "memory.events.local")["oom"], "the kernel charged the pod")
	api, post := checkBoth(t, r, r.pid, oom.CauseContainerLimit)
	assert.Equal(t, pod.Path, api.OOMMemcg)
	assert.Equal(t, pod.Path, post.OOMMemcg)
}

// TestInVMOOMGroup: memory.oom.group kills every task of the cgroup.
func TestInVMOOMGroup(t *testing.T) {
	testenv.InVM(t)
	testenv.KernelReports(t)
	c := vm.NewCgroup(t, nil, "grp")
	c.SetMax(32 << 20)
	c.Write("memory.oom.group", "1")
	var sleepers []*exec.Cmd
	for range 2 {
		sleepers = append(sleepers, c.Start("sleep", "600"))
	}
	r := hog(t, c, c, 0, "-step", "1MiB", "-total", "200MiB")
	requireKilled(t, r)
	var others []int
	for _, s := range sleepers {
		_ = s.Wait()
		ws := s.ProcessState.Sys().(syscall.WaitStatus)
		assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "sleeper %d was not killed with the group: %v", s.Process.Pid, ws)
		others = append(others, s.Process.Pid)
	}
	ev := events(t, c, "memory.events.local")
	assert.Equal(t, int64(1), ev["oom_group_kill"])
	// Every task is counted, and the victim twice on 6.1: the kernel
	// kills it, then kills it again as a member of the group.
	assert.GreaterOrEqual(t, ev["oom_kill"], int64(3), "every task is counted")
	t.Logf("memory.events.local oom_kill %d for 3 tasks", ev["oom_kill"])
	api, _ := checkBoth(t, r, r.pid, oom.CauseContainerLimit)
	require.NotEmpty(t, api.Evidence)
	rs := r.evidence(t, r.pid).Reports
	last := rs[len(rs)-1]
	assert.Equal(t, c.Path, last.GroupMemcg)
	var got []int
	for _, v := range last.GroupVictims {
		got = append(got, v.PID)
	}
	for _, p := range others {
		assert.Contains(t, got, p, "the report's group victims")
	}
}

// TestInVMHighThrottle: over memory.high the kernel throttles and reclaims
// but never kills: high events and pressure rise, oom_kill does not.
func TestInVMHighThrottle(t *testing.T) {
	testenv.InVM(t)
	c := vm.NewCgroup(t, nil, "hi")
	c.Write("memory.high", fmt.Sprint(16<<20))
	before := c.Read("memory.pressure")
	r := &vmRun{subject: c, before: snapshotTree(t, c)}
	cmd := c.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "32MiB", "-hold")
	r.pid = cmd.Process.Pid
	// Throttled until memory.high has been crossed and the cgroup's own
	// pressure has risen (about a second under emulation), at most 10 s.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c.Value("memory.events", "high") > 0 && snapshotTree(t, c)[0].Pressure.Some.Total > r.before[0].Pressure.Some.Total {
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	ev := events(t, c, "memory.events")
	t.Logf("memory.events: %v\nmemory.pressure before:\n%safter:\n%s", ev, before, c.Read("memory.pressure"))
	assert.Positive(t, ev["high"], "high events")
	assert.Equal(t, int64(0), ev["oom_kill"])
	assert.Equal(t, int64(0), ev["oom"])
	after := snapshotTree(t, c)[0]
	require.True(t, after.Pressure.Known && !after.Pressure.Host, "the cgroup's own memory.pressure")
	assert.Greater(t, after.Pressure.Some.Total, r.before[0].Pressure.Some.Total, "some pressure rose while throttled")
	api := oom.Diagnose(r.evidence(t, 0))
	logDiagnosis(t, "API", api)
	post := cli(t, c.Path)
	logDiagnosis(t, "examples/diagnose --json", post)
	for _, d := range []oom.Diagnosis{api, post} {
		assert.False(t, d.Killed)
		assert.Zero(t, d.VictimPID)
		for _, c := range []oom.Cause{oom.CauseContainerLimit, oom.CauseAncestorLimit, oom.CauseHostPressure, oom.CauseSwap} {
			assert.NotEqual(t, c, d.Cause)
		}
	}
}

// TestInVMLeak: memory grows steadily to the limit; sampled, the diagnosis
// sees the trend.
func TestInVMLeak(t *testing.T) {
	testenv.InVM(t)
	c := vm.NewCgroup(t, nil, "leak")
	c.SetMax(48 << 20)
	r := hog(t, c, c, 50*time.Millisecond, "-step", "1MiB", "-interval", "30ms", "-total", "200MiB")
	requireKilled(t, r)
	var trace strings.Builder
	for _, s := range r.samples {
		fmt.Fprintf(&trace, "%s ws=%v nr=%v\n", s.Time.Format("05.000"), s.WorkingSetOrUsage(), s.NonReclaimable)
	}
	t.Logf("%d samples:\n%s", len(r.samples), trace.String())
	api := oom.Diagnose(r.evidence(t, r.pid))
	logDiagnosis(t, "API", api)
	assert.Equal(t, oom.CauseLeak, api.Cause)
	require.NotNil(t, api.Leak)
	assert.Greater(t, api.Leak.R2, 0.9)
	var ranked []oom.Cause
	for _, rc := range api.Causes {
		ranked = append(ranked, rc.Cause)
	}
	assert.Contains(t, ranked, oom.CauseContainerLimit, "the limit it ran into is named too")
	// examples/diagnose --cgroup is a post-mortem: one snapshot, no
	// samples, so no trend; it names the limit and claims no leak.
	post := cli(t, c.Path)
	logDiagnosis(t, "examples/diagnose --json", post)
	assert.Equal(t, oom.CauseContainerLimit, post.Cause)
	assert.Nil(t, post.Leak)
}

// TestInVMHostOOM exhausts the VM's memory with no limit reached: a global
// OOM. The victim sits in a cgroup with a limit above what the VM has, so
// it was not at its limit: host_pressure, never container_limit.
func TestInVMHostOOM(t *testing.T) {
	testenv.InVM(t)
	for _, limited := range []bool{false, true} {
		t.Run(fmt.Sprintf("limited=%v", limited), func(t *testing.T) {
			c := vm.NewCgroup(t, nil, fmt.Sprintf("host-%v", limited))
			if limited {
				c.SetMax(2 << 30)
			}
			r := hog(t, c, c, 0, "-step", "4MiB", "-total", "0")
			requireKilled(t, r)
			ev := events(t, c, "memory.events.local")
			assert.Equal(t, int64(1), ev["oom_kill"])
			assert.Equal(t, int64(0), ev["oom"], "no cgroup limit was hit")
			api, post := checkBoth(t, r, r.pid, oom.CauseHostPressure)
			rs := r.evidence(t, r.pid).Reports
			last := rs[len(rs)-1]
			assert.Equal(t, oom.ScopeGlobal, last.Scope)
			assert.Equal(t, "CONSTRAINT_NONE", last.Constraint)
			assert.Equal(t, c.Path, last.TaskMemcg)
			assert.Empty(t, api.OOMMemcg)
			assert.Empty(t, post.OOMMemcg)
		})
	}
}

// TestInVMSwap: a container with swap (zram) swaps up to memory.swap.max
// before it is killed: the diagnosis says swap, with the figures; the
// database profile's recommendation turns swap off and says why.
func TestInVMSwap(t *testing.T) {
	testenv.InVM(t)
	vm.Swap(t, 256<<20)
	c := vm.NewCgroup(t, nil, "swap")
	c.SetMax(32 << 20)
	c.Write("memory.swap.max", fmt.Sprint(48<<20))
	r := hog(t, c, c, 100*time.Millisecond, "-step", "1MiB", "-total", "300MiB")
	requireKilled(t, r)
	var maxSwap cgroup.Bytes
	for _, s := range r.samples {
		if s.Swap.Known && s.Swap.Bytes > maxSwap {
			maxSwap = s.Swap.Bytes
		}
	}
	swapEvents := c.Read("memory.swap.events")
	t.Logf("memory.swap.events:\n%speak swap sampled %s; memory.events:\n%s", swapEvents, maxSwap, c.Read("memory.events"))
	assert.Greater(t, maxSwap, cgroup.Bytes(16<<20), "it swapped heavily")
	// memory.swap.events max/fail count failed swap charges only: reclaim
	// stops trying to swap once memory.swap.current is at memory.swap.max
	// (vmscan's can_reclaim_anon_pages), so when the last batch fills swap
	// to the page no charge ever fails and both stay 0, a kernel timing
	// outcome, not ours. That swap was full is asserted below on the
	// kernel's report ("swap: usage 49152kB, limit 49152kB"), which is
	// always printed; the counter is checked when the kernel raised it.
	swapFails := c.Value("memory.swap.events", "fail")
	api := oom.Diagnose(r.evidence(t, r.pid))
	logDiagnosis(t, "API", api)
	post := cli(t, c.Path)
	logDiagnosis(t, "examples/diagnose --json", post)
	for _, d := range []oom.Diagnosis{api, post} {
		// The kill is at the container's limit with its swap full: both
		// are named, the swap with its figures.
		var ranked []oom.Cause
		for _, rc := range d.Causes {
			ranked = append(ranked, rc.Cause)
		}
		assert.Contains(t, ranked, oom.CauseSwap)
		assert.Contains(t, []oom.Cause{oom.CauseSwap, oom.CauseContainerLimit}, d.Cause)
		assert.Contains(t, fmt.Sprint(d.Evidence), "swap was full at the kill: 49152kB of 49152kB", "the kernel's swap figures")
	}
	if swapFails > 0 {
		assert.Contains(t, fmt.Sprint(api.Evidence), "swap allocation failed", "memory.swap.events fail rose")
	} else {
		t.Logf("memory.swap.events fail stayed 0 (swap filled to the page before a charge failed): no 'swap allocation failed' item expected")
		assert.NotContains(t, fmt.Sprint(api.Evidence), "swap allocation failed", "no failure counted, none claimed")
	}

	rec, err := recommend.New(recommend.WithProfile(recommend.Database))
	require.NoError(t, err)
	for _, s := range r.samples {
		require.NoError(t, rec.Add(s))
	}
	require.NoError(t, rec.AddOOM(time.Now(), cgroup.Bytes(32<<20), cgroup.LimitOf(32<<20)))
	got, err := rec.Recommend()
	require.NoError(t, err)
	b, _ := json.MarshalIndent(got, "", "  ")
	t.Logf("database recommendation:\n%s", b)
	assert.Equal(t, got.Memory.Bytes, got.MemorySwap.Bytes, "no swap for a database")
	assert.Contains(t, strings.ToLower(got.MemorySwap.Rationale), "never swap")
	assert.Contains(t, strings.Join(got.Warnings, "\n"), "of swap; memory-swap = memory stops that", "says what turning swap off costs")
	assert.GreaterOrEqual(t, got.Memory.Bytes, cgroup.Bytes(80<<20), "the limit holds memory and the swap it used")
}
