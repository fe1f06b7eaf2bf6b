package cgroup_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/internal/vm"
)

// capturedV2 holds the v2 trees captured in the test VM.
const capturedV2 = "testdata/captured-v2"

// TestVM boots the test VM once and runs this package's TestInVM* tests
// there, on a real cgroup v2 hierarchy. With -update it also recaptures
// testdata/captured-v2 there.
func TestVM(t *testing.T) {
	cfg := vm.Config{
		Binaries: []string{"github.com/oomkit/oomkit/internal/cmd/memhog"},
		Export:   []string{capturedV2},
	}
	if *update {
		cfg.Args = []string{"-update"}
	}
	vm.Run(t, cfg)
}

func TestInVMCgroup2(t *testing.T) {
	testenv.InVM(t)
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	require.NoError(t, err)
	require.Contains(t, strings.Fields(string(data)), "memory")
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	assert.Equal(t, cgroup.V2, fs.Layout().Memory)
}

// hogUntilKilled runs memhog in c until the kernel kills it.
func hogUntilKilled(t *testing.T, c *vm.Cgroup) int {
	t.Helper()
	cmd := c.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "200MiB")
	_ = cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "memhog in %s was not killed: %v", c.Path, ws)
	return cmd.Process.Pid
}

// TestInVMSnapshot reads every v2 file of a cgroup under load and checks
// the snapshot against the files themselves.
func TestInVMSnapshot(t *testing.T) {
	testenv.InVM(t)
	pod := vm.NewCgroup(t, nil, "snap")
	c := vm.NewCgroup(t, pod, "ctr")
	c.SetMax(64 << 20)
	c.Write("memory.high", "50331648")
	c.Write("memory.low", "8388608")
	c.Write("memory.min", "4194304")
	c.Write("memory.swap.max", "16777216")
	hold := c.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "20MiB", "-hold")
	defer func() { _ = hold.Process.Kill(); _ = hold.Wait() }()
	vm.WaitCurrent(t, c, 20<<20)

	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	cg, err := fs.FindByPID(hold.Process.Pid)
	require.NoError(t, err)
	assert.Equal(t, c.Path, cg.Path())
	s, err := cg.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, cgroup.V2, s.Version)
	assert.Equal(t, cgroup.LimitOf(64<<20), s.Limit)
	assert.Equal(t, cgroup.LimitOf(48<<20), s.High)
	assert.Equal(t, cgroup.LimitOf(8<<20), s.Low)
	assert.Equal(t, cgroup.LimitOf(4<<20), s.Min)
	assert.Equal(t, cgroup.LimitOf(16<<20), s.SwapLimit)
	assert.True(t, s.SwapUsage.Known, "memory.swap.current")
	assert.False(t, s.MemSwLimit.Known, "no memsw on v2")
	cur := c.Value("memory.stat", "anon")
	assert.InDelta(t, float64(cur), float64(s.Stat.Anon.Bytes), float64(2<<20), "anon")
	assert.GreaterOrEqual(t, int64(s.Usage.Bytes), int64(20<<20))
	assert.True(t, s.Peak.Known, "memory.peak (5.19+)")
	assert.GreaterOrEqual(t, s.Peak.Bytes, s.Usage.Bytes)
	assert.True(t, s.WorkingSet.Known)
	for _, ev := range []cgroup.Count{s.Events.Low, s.Events.High, s.Events.Max, s.Events.OOM, s.Events.OOMKill, s.Events.OOMGroupKill,
		s.LocalEvents.OOM, s.LocalEvents.OOMKill, s.SwapEvents.Max, s.SwapEvents.Fail} {
		assert.True(t, ev.Known, "every v2 event counter is known on 6.1")
	}
	assert.False(t, s.Failcnt.Known, "no failcnt on v2")
	assert.True(t, s.Pressure.Known && !s.Pressure.Host, "the cgroup's own memory.pressure")
	assert.False(t, s.OOMGroup)

	tree, err := cg.SnapshotTree()
	require.NoError(t, err)
	require.Len(t, tree, 3, "ctr, pod, root")
	assert.Equal(t, pod.Path, tree[1].Path)
	assert.True(t, tree[1].Limit.Unlimited)
	assert.Equal(t, "/", tree[2].Path)

	// The sampler's pread path against the same files.
	smp, err := fs.NewSampler()
	require.NoError(t, err)
	defer smp.Close()
	require.NoError(t, smp.Add(c.Path))
	var got []cgroup.Reading
	for range 3 {
		smp.Sample(func(r cgroup.Reading) { got = append(got, r) })
		time.Sleep(50 * time.Millisecond)
	}
	require.Len(t, got, 3)
	for _, r := range got {
		require.NoError(t, r.Err)
		assert.Equal(t, c.Path, r.Path)
		assert.InDelta(t, float64(s.Usage.Bytes), float64(r.Usage.Bytes), float64(2<<20), "usage")
		assert.InDelta(t, float64(s.Stat.Anon.Bytes), float64(r.Anon.Bytes), float64(2<<20), "anon")
		assert.True(t, r.Swap.Known, "swap from memory.swap.current")
		assert.True(t, r.NonReclaimable.Known)
		assert.True(t, r.WorkingSet.Known)
	}
	// Removal: the sampler drops the cgroup.
	_ = hold.Process.Kill()
	_ = hold.Wait()
	require.NoError(t, os.Remove(c.Dir))
	gone := smp.Sample(func(cgroup.Reading) {})
	assert.Equal(t, []string{c.Path}, gone)
}

// TestInVMWatchBurst: four processes killed one after the other at one
// limit, as fast as the kernel goes; Watch (inotify on memory.events) must
// count every kill across its events.
func TestInVMWatchBurst(t *testing.T) {
	testenv.InVM(t)
	// No KillBurst: the VM's kernel, and its report rate limit, are this
	// test binary's alone, and nothing here reads the reports.
	c := vm.NewCgroup(t, nil, "burst")
	c.SetMax(24 << 20)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := fs.Watch(ctx, []string{c.Path})
	require.NoError(t, err)
	const n = 4
	var cmds []*exec.Cmd
	for range n {
		cmds = append(cmds, c.Start(testenv.MemHog(t), "-step", "2MiB", "-total", "200MiB"))
	}
	for _, cmd := range cmds {
		_ = cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "pid %d: %v", cmd.Process.Pid, ws)
	}
	want := c.Value("memory.events", "oom_kill")
	require.Equal(t, int64(n), want)
	var counted int64
	var wakeups int
	deadline := time.After(10 * time.Second)
	for counted < want {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "watch ended early")
			require.NoError(t, ev.Err)
			if ev.Kind == cgroup.EventOOM {
				wakeups++
				k := ev.Delta.OOMKills()
				require.True(t, k.Known)
				counted += int64(k.N)
				assert.Equal(t, c.Path, ev.Path)
				assert.Equal(t, cgroup.V2, ev.Snapshot.Version)
			}
		case <-deadline:
			t.Fatalf("Watch counted %d of %d kills", counted, want)
		}
	}
	assert.Equal(t, want, counted, "every kill counted once")
	t.Logf("%d kills in %d OOM events", counted, wakeups)
	// Nothing more: a quiet cgroup gives no event.
	select {
	case ev := <-events:
		if ev.Kind == cgroup.EventOOM {
			assert.Zero(t, ev.Delta.OOMKills().N, "a kill counted twice: %+v", ev.Delta)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestInVMPressureTrigger: root in the VM has CAP_SYS_RESOURCE, so the
// kernel takes PSI triggers with windows under 2 s; one fires while a
// process is throttled over memory.high.
func TestInVMPressureTrigger(t *testing.T) {
	testenv.InVM(t)
	c := vm.NewCgroup(t, nil, "psi")
	c.Write("memory.high", strconv.Itoa(8<<20))
	// The kernel accepts a 500 ms window from us.
	f, err := os.OpenFile(filepath.Join(c.Dir, "memory.pressure"), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("some 50000 500000\x00"))
	require.NoError(t, err, "the kernel refused a 500 ms PSI trigger")
	_ = f.Close()

	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pe, err := fs.WatchPressure(ctx, c.Path, "some", 20*time.Millisecond, 500*time.Millisecond)
	require.NoError(t, err)
	start := time.Now()
	hold := c.Start(testenv.MemHog(t), "-step", "1MiB", "-total", "32MiB", "-hold")
	defer func() { _ = hold.Process.Kill(); _ = hold.Wait() }()
	select {
	case ev, ok := <-pe:
		require.True(t, ok, "WatchPressure ended without an event: %v", ctx.Err())
		require.NoError(t, ev.Err)
		t.Logf("fired after %v: %s some avg10=%.2f total=%v", time.Since(start).Round(time.Millisecond), ev.Source, ev.Pressure.Some.Avg10, ev.Pressure.Some.Total)
		assert.Equal(t, filepath.Join(c.Dir, "memory.pressure"), ev.Source)
		assert.Positive(t, ev.Pressure.Some.Total, "stall time recorded")
	case <-ctx.Done():
		t.Fatalf("no pressure event in 20 s; memory.events:\n%s\nmemory.pressure:\n%s", c.Read("memory.events"), c.Read("memory.pressure"))
	}
	assert.Positive(t, c.Value("memory.events", "high"), "throttled over memory.high")
}

// TestInVMCapture writes testdata/captured-v2 with -update: real v2 trees
// right after real kills, sent back to the host by vm.Export.
func TestInVMCapture(t *testing.T) {
	testenv.InVM(t)
	if !*update {
		t.Skip("run with -update (OOMKIT_START_DAEMONS=1 go test ./cgroup -run TestVM -update) to recapture testdata/captured-v2")
	}
	testenv.KernelReports(t)
	require.NoError(t, os.RemoveAll(capturedV2))
	for _, name := range []string{"own", "ancestor", "group", "swap"} {
		t.Run(name, func(t *testing.T) {
			c, subject := setupCapture(t, name)
			start := testenv.Uptime(t)
			pid := hogUntilKilled(t, c)
			writeCaptured(t, filepath.Join(capturedV2, name), subject, pid, start)
		})
	}
	vm.Export(t, capturedV2)
}

// setupCapture makes the scenario's cgroups: where the kill happens, and
// the cgroup whose tree is captured (the same, or its pod).
func setupCapture(t *testing.T, name string) (kill, subject *vm.Cgroup) {
	t.Helper()
	switch name {
	case "own":
		c := vm.NewCgroup(t, nil, "ctr-own")
		c.SetMax(32 << 20)
		c.Write("memory.swap.max", "0")
		return c, c
	case "ancestor":
		pod := vm.NewCgroup(t, nil, "pod-ancestor")
		pod.SetMax(32 << 20)
		pod.Write("memory.swap.max", "0")
		ctr := vm.NewCgroup(t, pod, "ctr")
		return ctr, ctr
	case "group":
		c := vm.NewCgroup(t, nil, "ctr-group")
		c.SetMax(32 << 20)
		c.Write("memory.swap.max", "0")
		c.Write("memory.oom.group", "1")
		s := c.Start("sleep", "600")
		t.Cleanup(func() { _ = s.Wait() })
		return c, c
	case "swap":
		vm.Swap(t, 128<<20)
		c := vm.NewCgroup(t, nil, "ctr-swap")
		c.SetMax(32 << 20)
		c.Write("memory.swap.max", strconv.Itoa(32<<20))
		return c, c
	}
	t.Fatalf("no capture %s", name)
	return nil, nil
}

// writeCaptured copies the cgroup's files and each ancestor's (to the
// root), the mountinfo cgroup2 line, the victim's /proc/<pid>/cgroup, the
// host PSI and the kernel's report into dir, laid out like a host.
func writeCaptured(t *testing.T, dir string, c *vm.Cgroup, pid int, since time.Duration) {
	t.Helper()
	copyCgroupChain(t, c.Dir, c.Path, filepath.Join(dir, "sys", "fs", "cgroup"), func(n string) bool {
		return strings.HasPrefix(n, "memory.") || strings.HasPrefix(n, "cgroup.")
	})
	proc := filepath.Join(dir, "proc")
	require.NoError(t, os.MkdirAll(filepath.Join(proc, strconv.Itoa(pid)), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "self"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "pressure"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, strconv.Itoa(pid), "cgroup"), []byte("0::"+c.Path+"\n"), 0o644))
	writeMountinfo(t, filepath.Join(proc, "self", "mountinfo"), " - cgroup2 ")
	psi, err := os.ReadFile("/proc/pressure/memory")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(proc, "pressure", "memory"), psi, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kmsg.log"), killReport(t, since, pid), 0o644))
}

// TestCapturedV2 reads the trees captured in the VM as fixture hosts.
func TestCapturedV2(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, tree []cgroup.MemorySnapshot)
	}{
		{"own", func(t *testing.T, tree []cgroup.MemorySnapshot) {
			s := tree[0]
			assert.Equal(t, cgroup.LimitOf(32<<20), s.Limit)
			assert.Equal(t, uint64(1), s.LocalEvents.OOM.N)
			assert.Equal(t, uint64(1), s.LocalEvents.OOMKill.N)
			assert.InDelta(t, float64(32<<20), float64(s.Peak.Bytes), float64(1<<20))
		}},
		{"ancestor", func(t *testing.T, tree []cgroup.MemorySnapshot) {
			s, pod := tree[0], tree[1]
			assert.True(t, s.Limit.Unlimited)
			assert.Equal(t, uint64(0), s.Events.OOM.N, "the container's own limit (none) was not hit")
			assert.Equal(t, uint64(1), s.Events.OOMKill.N)
			assert.Equal(t, cgroup.LimitOf(32<<20), pod.Limit)
			assert.Equal(t, uint64(1), pod.LocalEvents.OOM.N)
			assert.Equal(t, uint64(0), pod.LocalEvents.OOMKill.N, "the victim was in the child")
			assert.Equal(t, uint64(1), pod.Events.OOMKill.N, "hierarchical")
		}},
		{"group", func(t *testing.T, tree []cgroup.MemorySnapshot) {
			s := tree[0]
			assert.True(t, s.OOMGroup)
			assert.Equal(t, uint64(1), s.Events.OOMGroupKill.N)
			assert.GreaterOrEqual(t, s.Events.OOMKill.N, uint64(2), "the sleeper died with the victim")
		}},
		{"swap", func(t *testing.T, tree []cgroup.MemorySnapshot) {
			s := tree[0]
			assert.Equal(t, cgroup.LimitOf(32<<20), s.SwapLimit)
			assert.Positive(t, s.SwapEvents.Max.N, "swap.max reached")
			assert.Equal(t, uint64(1), s.LocalEvents.OOMKill.N)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := filepath.Join("captured-v2", tc.name)
			pidb, err := os.ReadFile(filepath.Join("testdata", host, "proc", "pid"))
			require.NoError(t, err, "testdata/captured-v2 is made in the test VM by: OOMKIT_START_DAEMONS=1 go test ./cgroup -run TestVM -update")
			pid, err := strconv.Atoi(string(bytes.TrimSpace(pidb)))
			require.NoError(t, err)
			fs := fixtureFS(t, host)
			assert.Equal(t, cgroup.V2, fs.Layout().Memory)
			cg, err := fs.FindByPID(pid)
			require.NoError(t, err)
			tree, err := cg.SnapshotTree()
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(tree), 2)
			assert.Equal(t, "/", tree[len(tree)-1].Path)
			tc.check(t, tree)
			klog, err := os.ReadFile(filepath.Join("testdata", host, "kmsg.log"))
			require.NoError(t, err)
			assert.Contains(t, string(klog), "task_memcg="+cg.Path())
		})
	}
}

// TestV2FixturesMatchCaptured checks the hand-written v2 fixture tree
// against the trees captured from a real kernel: every file it has exists
// in a real cgroup of the same kind (root or not), and flat-keyed files
// list their keys in the kernel's order (the fixture may leave keys out, as
// an older kernel would, but never reorder or invent them).
func TestV2FixturesMatchCaptured(t *testing.T) {
	real := map[bool]map[string]string{true: {}, false: {}} // root? -> file name -> content of a captured one
	caps, err := filepath.Glob(filepath.Join("testdata", "captured-v2", "*", "sys", "fs", "cgroup"))
	require.NoError(t, err)
	require.NotEmpty(t, caps, "testdata/captured-v2 is made in the test VM by: OOMKIT_START_DAEMONS=1 go test ./cgroup -run TestVM -update")
	for _, root := range caps {
		require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			isRoot := filepath.Dir(p) == root
			if old, ok := real[isRoot][d.Name()]; !ok || len(data) > len(old) {
				real[isRoot][d.Name()] = string(data)
			}
			return nil
		}))
	}
	fixRoot := filepath.Join("testdata", "v2", "sys", "fs", "cgroup")
	checked := 0
	require.NoError(t, filepath.WalkDir(fixRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		isRoot := filepath.Dir(p) == fixRoot
		rel, _ := filepath.Rel(fixRoot, p)
		want, ok := real[isRoot][d.Name()]
		if v, newer := newerThanCaptured[d.Name()]; newer && !ok {
			t.Logf("fixture %s: a file of Linux %s, newer than the captured kernel", rel, v)
			return nil
		}
		if !assert.True(t, ok, "fixture %s: a real v2 %s has no such file", rel, map[bool]string{true: "root", false: "cgroup"}[isRoot]) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		if keys(want) == nil {
			return nil // not flat-keyed (a single value)
		}
		assertKeyOrder(t, rel, keys(string(data)), keys(want))
		return nil
	}))
	assert.Positive(t, checked)

	// And the other way: each non-root fixture cgroup has every memory
	// file of a real one but those oomkit never reads.
	unread := map[string]bool{"memory.numa_stat": true, "memory.zswap.current": true, "memory.zswap.max": true, "memory.reclaim": true}
	require.NoError(t, filepath.WalkDir(fixRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == fixRoot {
			return err
		}
		for name := range real[false] {
			if strings.HasPrefix(name, "memory.") && !unread[name] {
				assert.FileExists(t, filepath.Join(p, name), "a real v2 cgroup has it")
			}
		}
		return nil
	}))
}

// newerThanCaptured are files the fixture may have that the VM's kernel
// (Debian's 6.1) does not, with the kernel that added them.
var newerThanCaptured = map[string]string{
	"memory.swap.peak": "6.5",
}

// keys returns the first field of each line when the file is flat-keyed
// ("key value" or PSI's "some avg10=..."), nil for single-value files.
func keys(s string) []string {
	var ks []string
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil
		}
		if _, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			return nil // numbers, not keys
		}
		ks = append(ks, f[0])
	}
	return ks
}

// assertKeyOrder checks that got's keys appear in want in the same order.
func assertKeyOrder(t *testing.T, name string, got, want []string) {
	t.Helper()
	pos := map[string]int{}
	for i, k := range want {
		pos[k] = i
	}
	last := -1
	for _, k := range got {
		i, ok := pos[k]
		if !assert.True(t, ok, "%s: key %q is not in the real file (keys %v)", name, k, want) {
			continue
		}
		assert.Greater(t, i, last, "%s: key %q out of the kernel's order %v", name, k, want)
		last = i
	}
}
