package oom_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
)

var update = flag.Bool("update", false, "rewrite golden files (and, with a real kernel, the recorded real reports)")

// realKill OOM-kills a memhog in child (the limit is wherever the caller
// set it) and returns its pid and the kernel log since just before.
func realKill(t *testing.T, child *testenv.Cgroup) (int, []byte) {
	t.Helper()
	hog := testenv.MemHog(t)
	testenv.KernelReports(t)
	start := testenv.Uptime(t)
	cmd := child.Start(hog, "-total", "200MiB")
	pid := cmd.Process.Pid
	_ = cmd.Wait()
	require.False(t, cmd.ProcessState.Success(), "memhog survived")
	var log []byte
	for range 50 { // the report is printed before the kill completes; be patient anyway
		log = testenv.KernelLogSince(t, start)
		if bytes.Contains(log, []byte("Killed process "+itoa(pid))) {
			break
		}
	}
	return pid, log
}

// TestRealKernelReports parses the live kernel log after real kills: a
// cgroup's own limit, and a parent's limit with none on the child.
func TestRealKernelReports(t *testing.T) {
	own := testenv.NewCgroup(t, nil, "oomparse")
	own.SetLimit(24 << 20)
	pid, log := realKill(t, own)
	r := findVictim(t, log, pid)
	assert.Equal(t, oom.ScopeCgroup, r.Scope)
	assert.Equal(t, "CONSTRAINT_MEMCG", r.Constraint)
	assert.Equal(t, own.Path, r.OOMMemcg)
	assert.Equal(t, own.Path, r.TaskMemcg)
	assert.Equal(t, "memhog", r.Victim.Comm)
	assert.Equal(t, uint64(24<<10), r.Memcg.LimitKB)
	assert.Positive(t, r.Victim.AnonRSSKB)
	assert.NotEmpty(t, r.Tasks)
	record(t, "this-host-6.18-v1-own-limit.kmsg", log, own.Path)

	parent := testenv.NewCgroup(t, nil, "oomparent")
	parent.SetLimit(24 << 20)
	child := testenv.NewCgroup(t, parent, "child")
	pid, log = realKill(t, child)
	r = findVictim(t, log, pid)
	assert.Equal(t, oom.ScopeCgroup, r.Scope)
	assert.Equal(t, parent.Path, r.OOMMemcg, "the parent's limit was hit")
	assert.Equal(t, child.Path, r.TaskMemcg)
	record(t, "this-host-6.18-v1-parent-limit.kmsg", log, parent.Path)
}

func findVictim(t *testing.T, log []byte, pid int) oom.Report {
	t.Helper()
	rs, err := oom.ParseAll(bytes.NewReader(log))
	require.NoError(t, err)
	for _, r := range rs {
		if r.Victim.PID == pid {
			return r
		}
	}
	t.Fatalf("no report for pid %d among %d in %d bytes of kernel log", pid, len(rs), len(log))
	return oom.Report{}
}

// record keeps, with -update, the /dev/kmsg records of this kill (those
// naming our cgroup, plus the report lines around them) as testdata.
func record(t *testing.T, name string, log []byte, cg string) {
	t.Helper()
	if !*update {
		return
	}
	var out bytes.Buffer
	in := false
	for l := range bytes.SplitSeq(log, []byte("\n")) {
		if len(l) == 0 || l[0] == ' ' {
			continue // kmsg dictionary lines
		}
		if bytes.Contains(l, []byte("invoked oom-killer")) {
			in = true
		}
		if in {
			out.Write(l)
			out.WriteByte('\n')
		}
		if bytes.Contains(l, []byte("Killed process")) {
			in = false
		}
	}
	require.Contains(t, out.String(), cg)
	require.NoError(t, os.WriteFile(filepath.Join("testdata", "kernel", name), out.Bytes(), 0o644))
}
