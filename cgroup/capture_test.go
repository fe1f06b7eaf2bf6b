package cgroup_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

var update = flag.Bool("update", false, "regenerate testdata/captured from a real OOM kill on this host")

// TestCapture regenerates testdata/captured: a real OOM kill in a memory
// cgroup created here, with the memory files of the killed cgroup and of
// each ancestor copied right after the kill, the mountinfo and
// /proc/<pid>/cgroup that lead to it, and the kernel's report of the kill.
// Run with -update on a v1 host as root.
func TestCapture(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/captured from a real kill")
	}
	testenv.OwnMemoryCgroup(t)
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "captured")
	c.SetLimit(32 << 20)
	testenv.KernelReports(t)
	start := testenv.Uptime(t)
	cmd := c.Start(hog, "-step", "1MiB", "-interval", "5ms", "-total", "200MiB")
	pid := cmd.Process.Pid
	procCgroup, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	_ = cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "memhog was not killed")

	out := filepath.Join("testdata", "captured")
	require.NoError(t, os.RemoveAll(out))
	mem := filepath.Join(out, "sys", "fs", "cgroup", "memory")
	// The killed cgroup and every ancestor: regular memory.* files only;
	// pids of this host's session mean nothing elsewhere.
	copyCgroupChain(t, c.Dir, c.Path, mem, func(n string) bool {
		return (strings.HasPrefix(n, "memory.") || n == "cgroup.procs") && n != "memory.force_empty" && n != "memory.pressure_level" && !strings.HasPrefix(n, "memory.kmem.slabinfo")
	}, "cgroup.procs")
	// The process's view, rewritten to the killed pid's cgroup.
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(procCgroup)), "\n") {
		if parts := strings.SplitN(l, ":", 3); len(parts) == 3 && parts[1] == "memory" {
			l = parts[0] + ":memory:" + c.Path
		}
		lines = append(lines, l)
	}
	pdir := filepath.Join(out, "proc", "self")
	require.NoError(t, os.MkdirAll(pdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "proc", "pid"), []byte(itoa(pid)+"\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(out, "proc", itoa(pid)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "proc", itoa(pid), "cgroup"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	writeMountinfo(t, filepath.Join(pdir, "mountinfo"), " - cgroup", " /sys/fs/cgroup ")
	psi, err := os.ReadFile("/proc/pressure/memory")
	if err == nil {
		require.NoError(t, os.MkdirAll(filepath.Join(out, "proc", "pressure"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(out, "proc", "pressure", "memory"), psi, 0o644))
	}
	// The kernel's report: the records that belong to this kill.
	klog := killReport(t, start, pid)
	require.Contains(t, string(klog), "task_memcg="+c.Path, "the kernel report of the kill")
	require.NoError(t, os.WriteFile(filepath.Join(out, "kmsg.log"), klog, 0o644))
}

// copyCgroupChain copies the files keep accepts of the cgroup at dir (rel
// from the hierarchy root) and of each of its ancestors, up to the root,
// into root/rel; files that cannot be read (write-only control files) are
// left out, and those named in empty are written empty.
func copyCgroupChain(t *testing.T, dir, rel, root string, keep func(name string) bool, empty ...string) {
	t.Helper()
	for {
		dst := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(dst, 0o755))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !keep(n) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue // write-only (memory.reclaim, cgroup.kill) or unreadable
			}
			if slices.Contains(empty, n) {
				data = nil
			}
			require.NoError(t, os.WriteFile(filepath.Join(dst, n), data, 0o644))
		}
		if rel == "/" {
			return
		}
		dir, rel = filepath.Dir(dir), filepath.Dir(rel)
	}
}

// writeMountinfo writes the lines of /proc/self/mountinfo that contain one
// of match to dst, failing the test when there is none.
func writeMountinfo(t *testing.T, dst string, match ...string) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var keep []string
	for l := range strings.SplitSeq(string(mi), "\n") {
		if slices.ContainsFunc(match, func(m string) bool { return strings.Contains(l, m) }) {
			keep = append(keep, l)
		}
	}
	require.NotEmpty(t, keep, "no %q in /proc/self/mountinfo", match)
	require.NoError(t, os.WriteFile(dst, []byte(strings.Join(keep, "\n")+"\n"), 0o644))
}

// killReport waits (up to a second) for the kernel's report of the kill of
// pid in /dev/kmsg since since (time since boot) and returns its records:
// from "invoked oom-killer" to the oom_reaper's "reaped process <pid>",
// without the continuation records (that start with a space). It fails the
// test when the report never names the kill.
func killReport(t *testing.T, since time.Duration, pid int) []byte {
	t.Helper()
	killed, reaped := []byte("Killed process "+itoa(pid)), []byte("reaped process "+itoa(pid))
	var klog bytes.Buffer
	for range 50 {
		klog.Reset()
		in := false
		for rec := range bytes.SplitSeq(testenv.KernelLogSince(t, since), []byte("\n")) {
			if bytes.Contains(rec, []byte("invoked oom-killer")) {
				in = true
			}
			if in && len(rec) > 0 && rec[0] != ' ' {
				klog.Write(rec)
				klog.WriteByte('\n')
			}
			if bytes.Contains(rec, reaped) {
				in = false
			}
		}
		if bytes.Contains(klog.Bytes(), killed) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, klog.String(), string(killed), "the kernel's report of the kill")
	return klog.Bytes()
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestCaptured reads the captured real tree as a fixture host.
func TestCaptured(t *testing.T) {
	pidb, err := os.ReadFile(filepath.Join("testdata", "captured", "proc", "pid"))
	require.NoError(t, err, "testdata/captured is made by: go test ./cgroup -run TestCapture -update")
	fs := fixtureFS(t, "captured")
	assert.Equal(t, cgroup.V1, fs.Layout().Memory)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(pidb)))
	require.NoError(t, err)
	cg, err := fs.FindByPID(pid)
	require.NoError(t, err)
	tree, err := cg.SnapshotTree()
	require.NoError(t, err)
	s := tree[0]
	assert.Equal(t, cgroup.LimitOf(32<<20), s.Limit)
	assert.Equal(t, cgroup.CountOf(1), s.OOMKills())
	assert.Positive(t, s.Failcnt.N)
	assert.InDelta(t, float64(32<<20), float64(s.Peak.Bytes), float64(4<<20))
	for _, a := range tree[1:] {
		assert.True(t, a.Limit.Unlimited, "ancestor %s has no limit on this host", a.Path)
	}
	klog, err := os.ReadFile(filepath.Join("testdata", "captured", "kmsg.log"))
	require.NoError(t, err)
	assert.Contains(t, string(klog), "oom_memcg="+cg.Path())
}
