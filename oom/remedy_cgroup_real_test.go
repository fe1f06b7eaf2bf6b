package oom_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
)

// TestRealCgroupRemedyApplies kills a process at a 32 MiB limit with
// memory+swap limited too (when swap accounting is on) in a real v1 cgroup
// and runs the remedy's cgroup command as printed: the kernel accepts it
// (memory+swap raised first) and the new limit is the recommender's rule.
func TestRealCgroupRemedyApplies(t *testing.T) {
	c := testenv.NewCgroup(t, nil, "remedy")
	c.SetLimit(32 << 20)
	memsw := false
	if _, err := os.Stat(filepath.Join(c.Dir, "memory.memsw.limit_in_bytes")); err == nil {
		c.Write("memory.memsw.limit_in_bytes", strconv.Itoa(32<<20))
		memsw = true
	}
	testenv.KernelReports(t)
	ws := c.Run(testenv.MemHog(t), "-total", "200MiB")
	require.True(t, ws.Signaled(), "memhog must be OOM-killed, got %v", ws)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	ev, err := (&oom.Collector{FS: fs}).Cgroup(c.Path)
	require.NoError(t, err)
	d := oom.Diagnose(ev)
	require.Equal(t, oom.CauseContainerLimit, d.Cause)
	require.NotNil(t, d.Apply)
	a := d.Apply
	assert.Empty(t, a.Docker, "no Docker name for a bare cgroup")
	require.NotEmpty(t, a.Cgroup)
	if strings.HasPrefix(c.Dir, "/sys/fs/cgroup/memory/") {
		if memsw {
			assert.Contains(t, a.Cgroup, "memory.memsw.limit_in_bytes")
		}
		out, err := exec.Command("sh", "-c", a.Cgroup).CombinedOutput()
		require.NoError(t, err, "%s: %s", a.Cgroup, out)
		got, err := os.ReadFile(filepath.Join(c.Dir, "memory.limit_in_bytes"))
		require.NoError(t, err)
		assert.Equal(t, strconv.FormatInt(a.MemoryBytes, 10), strings.TrimSpace(string(got)))
	} else {
		t.Logf("cgroup at %s, not the usual mount: the command is not run", c.Dir)
	}
}
