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
// heap that writes a 64 MiB file and re-reads it (its page cache charged to
// its cgroup) is recorded with room to spare, its working set near 80 MiB;
// run again under a 40 MiB limit it is not OOM-killed (the limit pressed
// and the kernel reclaimed the cache), and Replay under the same fixed limit
// counts no kill, where counting every working set above the limit
// (WorkingSetKills) would count one. A heap of 64 MiB is killed under the
// same limit by the kernel and by Replay alike.
func TestKillRuleOnKernel(t *testing.T) {
	hog := testenv.MemHog(t)
	fsys, err := cgroup.NewFS()
	require.NoError(t, err)
	dir := diskDir(t)
	const limit = 40 << 20 // bytes
	cache := fmt.Sprintf(`%s -step 1MiB -interval 2ms -total 16MiB -hold & dd if=/dev/zero of=%s/cache bs=1M count=64 2>/dev/null && exec %s -readfile %s/cache -interval 50ms`, hog, dir, hog, dir)
	heap := hog + " -step 1MiB -interval 5ms -total 64MiB -hold"

	tr := record(t, fsys, "cache", cache, 1500*time.Millisecond)
	peak := 0.0
	for _, s := range tr.Samples {
		peak = max(peak, s.WS)
	}
	require.Greater(t, peak, 1.5*limit, "the cache run's working set goes well over the limit (its page cache)")
	ooms, failcnt, alive := underLimit(t, "cache", cache, limit, 1500*time.Millisecond)
	assert.Zero(t, ooms, "the kernel reclaims page cache instead of killing")
	assert.Positive(t, failcnt, "the limit pressed: reclaim ran")
	assert.True(t, alive, "the cache workload runs on under the limit")
	res, err := Replay(tr, &fixed{limit: limit})
	require.NoError(t, err)
	assert.Zero(t, res.Kills, "Replay agrees with the kernel: %v", res.KillLog)
	res, err = Replay(WorkingSetKills([]Trace{tr})[0], &fixed{limit: limit})
	require.NoError(t, err)
	assert.Positive(t, res.Kills, "the working-set rule would have counted a kill the kernel does not make")

	tr = record(t, fsys, "heap", heap, time.Second)
	ooms, _, alive = underLimit(t, "heap", heap, limit, time.Second)
	assert.Positive(t, ooms, "64 MiB of heap under a 40 MiB limit is killed")
	assert.False(t, alive)
	res, err = Replay(tr, &fixed{limit: limit})
	require.NoError(t, err)
	assert.Positive(t, res.Kills, "Replay agrees with the kernel")
}

// record runs script in a memory cgroup with a 1 GiB limit for d, sampled
// every 25 ms through oomkit's cgroup reader, as the recorded traces were.
func record(t *testing.T, fsys *cgroup.FS, name, script string, d time.Duration) Trace {
	t.Helper()
	cg := testenv.NewCgroup(t, nil, "oomkit-killrule-"+name)
	cg.SetLimit(1 << 30)
	cmd := cg.Start("/bin/sh", "-c", script)
	c, err := fsys.Cgroup(cg.Path)
	require.NoError(t, err)
	tr := Trace{Name: name}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		snap, err := c.Snapshot()
		require.NoError(t, err)
		tr.Samples = append(tr.Samples, sampleOf(snap.Sample()))
	}
	stop(cmd.Process.Pid, cg)
	_ = cmd.Wait()
	require.GreaterOrEqual(t, len(tr.Samples), 10)
	last := tr.Samples[len(tr.Samples)-1]
	t.Logf("%s: %d samples, last: working set %.1f MiB, need %.1f MiB", name, len(tr.Samples), last.WS/(1<<20), (last.WS-last.Reclaimable)/(1<<20))
	return tr
}

// underLimit runs script in a memory cgroup limited to limit for d and
// returns the cgroup's OOM kills, its failcnt (how often the limit was
// hit) and whether all of the script still ran at the end.
func underLimit(t *testing.T, name, script string, limit int64, d time.Duration) (ooms, failcnt int64, alive bool) {
	t.Helper()
	cg := testenv.NewCgroup(t, nil, "oomkit-killrule-"+name+"-limited")
	cg.SetLimit(limit)
	cmd := cg.Start("/bin/sh", "-c", script)
	time.Sleep(d)
	ooms = cg.Value("memory.oom_control", "oom_kill")
	_, err := fmt.Sscan(cg.Read("memory.failcnt"), &failcnt)
	require.NoError(t, err)
	procs := strings.Fields(cg.Read("cgroup.procs"))
	alive = len(procs) >= 2 // the heap and the reader (or the one heap)
	if name == "heap" {
		alive = len(procs) >= 1
	}
	t.Logf("%s under %d MiB: %d OOM kills, failcnt %d, %d processes left", name, limit>>20, ooms, failcnt, len(procs))
	stop(cmd.Process.Pid, cg)
	_ = cmd.Wait()
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
