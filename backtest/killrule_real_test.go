package backtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

// TestKillRuleOnKernel holds the replay's kill rule against the real kernel
// (cgroup v1, memory cgroups made here and removed): a workload of 16 MiB of
// heap that re-reads a 64 MiB file (its page cache charged to its cgroup) is
// recorded with room to spare, its working set near 80 MiB; run again under
// a 40 MiB limit it is not OOM-killed (the limit pressed and the kernel
// reclaimed the cache), and Replay under the same fixed limit counts no
// kill, where counting every working set above the limit (WorkingSetKills)
// would count one. A heap of 64 MiB is killed under the same limit by the
// kernel and by Replay alike. The file is written, synced and dropped from
// the cache by the test before each run, so that each cgroup reads it in
// afresh and clean (dirty pages are another matter: the recording wrote its
// file in its cgroup).
func TestKillRuleOnKernel(t *testing.T) {
	hog := testenv.MemHog(t)
	fsys, err := cgroup.NewFS()
	require.NoError(t, err)
	file := filepath.Join(diskDir(t), "cache")
	require.NoError(t, os.WriteFile(file, make([]byte, 64<<20), 0o600))
	const limit = 40 << 20 // bytes
	cache := fmt.Sprintf(`%s -step 1MiB -interval 2ms -total 16MiB -hold & exec %s -readfile %s -interval 50ms`, hog, hog, file)
	heap := "exec " + hog + " -step 1MiB -interval 5ms -total 64MiB -hold"

	uncache(t, file)
	tr := record(t, fsys, "cache", cache, 1.5*limit)
	uncache(t, file)
	pressed := func(cg *testenv.Cgroup) bool { return strings.TrimSpace(cg.Read("memory.failcnt")) != "0" }
	ooms, failcnt, alive := underLimit(t, "cache", cache, limit, pressed, time.Second)
	assert.Zero(t, ooms, "the kernel reclaims page cache instead of killing")
	assert.Positive(t, failcnt, "the limit pressed: reclaim ran")
	assert.True(t, alive, "the cache workload runs on under the limit")
	res, err := Replay(tr, &fixed{limit: limit})
	require.NoError(t, err)
	assert.Zero(t, res.Kills, "Replay agrees with the kernel: %v", res.KillLog)
	res, err = Replay(WorkingSetKills([]Trace{tr})[0], &fixed{limit: limit})
	require.NoError(t, err)
	assert.Positive(t, res.Kills, "the working-set rule would have counted a kill the kernel does not make")

	tr = record(t, fsys, "heap", heap, 1.5*limit)
	killed := func(cg *testenv.Cgroup) bool { return cg.Value("memory.oom_control", "oom_kill") > 0 }
	ooms, _, _ = underLimit(t, "heap", heap, limit, killed, 0)
	assert.Positive(t, ooms, "64 MiB of heap under a 40 MiB limit is killed")
	res, err = Replay(tr, &fixed{limit: limit})
	require.NoError(t, err)
	assert.Positive(t, res.Kills, "Replay agrees with the kernel")
}

// settle bounds every wait of TestKillRuleOnKernel: the workloads take well
// under a second on a quiet machine; a loaded one (image builds writing to
// the same disk) is given this long.
const settle = 30 * time.Second

// record runs script in a memory cgroup with a 1 GiB limit, sampled every
// 25 ms through oomkit's cgroup reader (as the recorded traces were) until
// its working set has been over reach for 20 samples.
func record(t *testing.T, fsys *cgroup.FS, name, script string, reach float64) Trace {
	t.Helper()
	cg := testenv.NewCgroup(t, nil, "oomkit-killrule-"+name)
	cg.SetLimit(1 << 30)
	cmd := cg.Start("/bin/sh", "-c", script)
	defer func() { stop(cmd.Process.Pid, cg); _ = cmd.Wait() }()
	c, err := fsys.Cgroup(cg.Path)
	require.NoError(t, err)
	tr := Trace{Name: name}
	over := 0
	for end := time.Now().Add(settle); over < 20; time.Sleep(25 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "%s: the working set did not reach %.0f MiB in %s", name, reach/(1<<20), settle)
		snap, err := c.Snapshot()
		require.NoError(t, err)
		s := sampleOf(snap.Sample())
		tr.Samples = append(tr.Samples, s)
		if s.WS > reach {
			over++
		}
	}
	last := tr.Samples[len(tr.Samples)-1]
	t.Logf("%s: %d samples, last: working set %.1f MiB, need %.1f MiB", name, len(tr.Samples), last.WS/(1<<20), (last.WS-last.Reclaimable)/(1<<20))
	return tr
}

// underLimit runs script in a memory cgroup limited to limit until ready
// holds (polled, at most settle) and then for after more, and returns the
// cgroup's OOM kills, its failcnt (how often the limit was hit) and
// whether two processes (the cache workload's heap and reader) still run.
func underLimit(t *testing.T, name, script string, limit int64, ready func(*testenv.Cgroup) bool, after time.Duration) (ooms, failcnt int64, alive bool) {
	t.Helper()
	cg := testenv.NewCgroup(t, nil, "oomkit-killrule-"+name+"-limited")
	cg.SetLimit(limit)
	cmd := cg.Start("/bin/sh", "-c", script)
	defer func() { stop(cmd.Process.Pid, cg); _ = cmd.Wait() }()
	for end := time.Now().Add(settle); time.Now().Before(end) && !ready(cg); {
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(after) // the cache workload's reader goes on through reclaim
	ooms = cg.Value("memory.oom_control", "oom_kill")
	_, err := fmt.Sscan(cg.Read("memory.failcnt"), &failcnt)
	require.NoError(t, err)
	procs := strings.Fields(cg.Read("cgroup.procs"))
	alive = len(procs) >= 2 // the cache workload's heap and reader
	t.Logf("%s under %d MiB: %d OOM kills, failcnt %d, %d processes left", name, limit>>20, ooms, failcnt, len(procs))
	return ooms, failcnt, alive
}

// stop kills every process of cg.
func stop(pid int, cg *testenv.Cgroup) {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, p := range strings.Fields(cg.Read("cgroup.procs")) {
		var n int
		if _, err := fmt.Sscan(p, &n); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// uncache syncs file and drops its pages from the page cache, so that the
// next reader's cgroup is charged for reading it in.
func uncache(t *testing.T, file string) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Sync())
	require.NoError(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
}

// diskDir returns a directory on a disk-backed file system, removed after
// the test: on tmpfs the file's pages would be shmem, which reclaim cannot
// free without swap.
func diskDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	for _, base := range []string{os.TempDir(), "/var/tmp", wd} {
		var st unix.Statfs_t
		if unix.Statfs(base, &st) != nil || st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
			continue
		}
		d, err := os.MkdirTemp(base, "oomkit-killrule-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		return filepath.Clean(d)
	}
	testenv.Unavailable(t, "no disk-backed directory for a page-cache file (temp dir, /var/tmp and the working directory are tmpfs)")
	return ""
}
