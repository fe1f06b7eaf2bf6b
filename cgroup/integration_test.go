package cgroup_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

// realFS returns the live host's FS, or skips (fails under
// OOMKIT_INTEGRATION=1) when this host has no cgroup v1 memory controller
// the test can write to.
func realFS(t testing.TB) *cgroup.FS {
	t.Helper()
	testenv.OwnMemoryCgroup(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	return fs
}

func TestRealLimitHit(t *testing.T) {
	fs := realFS(t)
	assert.Equal(t, cgroup.V1, fs.Layout().Memory)
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "limit")
	const limit = 24 << 20
	c.SetLimit(limit)

	cg, err := fs.Cgroup(c.Path)
	require.NoError(t, err)
	before, err := cg.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, cgroup.LimitOf(limit), before.Limit)
	assert.Equal(t, cgroup.CountOf(0), before.OOMKills())

	ws := c.Run(hog, "-total", "200MiB")
	require.True(t, ws.Signaled(), "memhog should have been killed, exited with %v", ws)
	require.Equal(t, syscall.SIGKILL, ws.Signal())

	after, err := cg.Snapshot()
	require.NoError(t, err)
	d, err := cgroup.Diff(before, after)
	require.NoError(t, err)
	assert.Equal(t, cgroup.CountOf(1), d.OOMKills(), "one OOM kill")
	assert.Positive(t, after.Failcnt.N, "the limit was hit")
	require.True(t, after.Peak.Known)
	assert.InDelta(t, float64(limit), float64(after.Peak.Bytes), float64(limit)/10, "peak usage near the limit")
	assert.True(t, after.Pressure.Known && after.Pressure.Host, "host PSI on v1")
}

func TestRealAncestorLimitHit(t *testing.T) {
	fs := realFS(t)
	hog := testenv.MemHog(t)
	parent := testenv.NewCgroup(t, nil, "pod")
	const limit = 24 << 20
	parent.SetLimit(limit)
	child := testenv.NewCgroup(t, parent, "ctr")

	cg, err := fs.Cgroup(child.Path)
	require.NoError(t, err)
	pcg := cg.Parent()
	require.NotNil(t, pcg)
	require.Equal(t, parent.Path, pcg.Path())

	before, err := cg.SnapshotTree()
	require.NoError(t, err)
	ws := child.Run(hog, "-total", "200MiB")
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "memhog should have been killed: %v", ws)
	after, err := cg.SnapshotTree()
	require.NoError(t, err)
	require.Len(t, after, len(before))

	dc, err := cgroup.Diff(before[0], after[0])
	require.NoError(t, err)
	dp, err := cgroup.Diff(before[1], after[1])
	require.NoError(t, err)

	assert.True(t, after[0].Limit.Known && after[0].Limit.Unlimited, "the child has no limit of its own")
	assert.Equal(t, cgroup.CountOf(1), dc.OOMKills(), "the child lost a task to the OOM killer")
	assert.Equal(t, cgroup.CountOf(0), dc.Failcnt, "the child's own limit was never hit")
	assert.Positive(t, dp.Failcnt.N, "the parent's limit was hit")
	assert.Equal(t, cgroup.LimitOf(limit), after[1].Limit)
	assert.Equal(t, cgroup.CountOf(0), dp.OOMKills(), "v1 oom_kill is local: no task of the parent itself died")
}

func TestRealFindByPIDAndProcesses(t *testing.T) {
	fs := realFS(t)
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "procs")
	cmd := c.Start(hog, "-total", "16MiB", "-hold")
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var procs []cgroup.Process
	cg, err := fs.FindByPID(cmd.Process.Pid)
	require.NoError(t, err)
	assert.Equal(t, c.Path, cg.Path())
	require.Eventually(t, func() bool {
		procs, err = cg.Processes()
		return err == nil && len(procs) == 1 && procs[0].Anon.Bytes >= 16<<20
	}, 10*1e9, 50*1e6, "memhog should show 16 MiB of anonymous RSS")
	assert.Equal(t, cmd.Process.Pid, procs[0].PID)
	assert.Equal(t, "memhog", procs[0].Comm)

	own, err := fs.FindByPID(os.Getpid())
	require.NoError(t, err)
	ownPath, _ := testenv.OwnMemoryCgroup(t)
	assert.Equal(t, ownPath, own.Path())
}

func TestRealGone(t *testing.T) {
	fs := realFS(t)
	c := testenv.NewCgroup(t, nil, "gone")
	cg, err := fs.Cgroup(c.Path)
	require.NoError(t, err)
	require.NoError(t, os.Remove(c.Dir))
	_, err = cg.Snapshot()
	require.ErrorIs(t, err, cgroup.ErrGone)
}
