package cgroup_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
	// The killed cgroup and every ancestor: regular memory.* files only.
	for dir, rel := c.Dir, c.Path; ; {
		dst := filepath.Join(mem, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(dst, 0o755))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || (!strings.HasPrefix(n, "memory.") && n != "cgroup.procs") || n == "memory.force_empty" || n == "memory.pressure_level" || strings.HasPrefix(n, "memory.kmem.slabinfo") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue // write-only or unreadable control files
			}
			if n == "cgroup.procs" {
				data = nil // pids of this host's session mean nothing elsewhere
			}
			require.NoError(t, os.WriteFile(filepath.Join(dst, n), data, 0o644))
		}
		if rel == "/" {
			break
		}
		dir, rel = filepath.Dir(dir), filepath.Dir(rel)
	}
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
	mi, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var keep []string
	for l := range strings.SplitSeq(string(mi), "\n") {
		if strings.Contains(l, " - cgroup") || strings.Contains(l, " /sys/fs/cgroup ") {
			keep = append(keep, l)
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(pdir, "mountinfo"), []byte(strings.Join(keep, "\n")+"\n"), 0o644))
	psi, err := os.ReadFile("/proc/pressure/memory")
	if err == nil {
		require.NoError(t, os.MkdirAll(filepath.Join(out, "proc", "pressure"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(out, "proc", "pressure", "memory"), psi, 0o644))
	}
	// The kernel's report: the records that belong to this kill.
	var klog bytes.Buffer
	inReport := false
	for rec := range bytes.SplitSeq(testenv.KernelLogSince(t, start), []byte("\n")) {
		if bytes.Contains(rec, []byte("invoked oom-killer")) {
			inReport = true
		}
		if inReport && len(rec) > 0 && rec[0] != ' ' {
			klog.Write(rec)
			klog.WriteByte('\n')
		}
		if bytes.Contains(rec, []byte("Killed process "+itoa(pid))) || bytes.Contains(rec, []byte("reaped process "+itoa(pid))) {
			if bytes.Contains(rec, []byte("reaped")) {
				inReport = false
			}
		}
	}
	require.Contains(t, klog.String(), "task_memcg="+c.Path, "the kernel report of the kill")
	require.NoError(t, os.WriteFile(filepath.Join(out, "kmsg.log"), klog.Bytes(), 0o644))
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
