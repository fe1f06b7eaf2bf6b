package docker_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// The collectors' bad input: each names what is missing and keeps what the
// rest still says.

const fixtureCID = "3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2"

func fixtureFS(t *testing.T) *cgroup.FS {
	t.Helper()
	fs, err := cgroup.NewFS(cgroup.WithRoot("../../cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("../../cgroup/testdata/v1/proc"))
	require.NoError(t, err)
	return fs
}

// noKernelLog is what reading the log as a user without CAP_SYSLOG gives.
func noKernelLog() ([]byte, error) {
	return nil, &fs.PathError{Op: "open", Path: "/dev/kmsg", Err: syscall.EPERM}
}

func TestCollectorEngineNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock") // nothing listens there
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	col := &docker.Collector{Collector: oom.Collector{FS: fixtureFS(t), KernelLog: noKernelLog, ProcRoot: "../../cgroup/testdata/v1/proc"}, Client: cli}
	ev, err := col.Container(ctx, fixtureCID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "docker inspect "+fixtureCID, "the error names what failed")
	assert.NotErrorIs(t, err, cgroup.ErrNotFound, "an Engine that does not answer is not a missing container")
	require.NotEmpty(t, ev.After, "the cgroup tree is still read")
	assert.Contains(t, ev.After[0].Path, fixtureCID)
	assert.Contains(t, ev.Missing, "kernel log: open /dev/kmsg: operation not permitted")
	d := oom.Diagnose(ev)
	assert.True(t, d.Killed, "the counters still tell of a kill: %v", d.Causes)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause)
	assert.Equal(t, ev.Missing, d.Missing, "the diagnosis says what it lacked")
}

func TestCollectorVanishedCgroup(t *testing.T) {
	log, err := os.ReadFile(filepath.Join("..", "testdata", "kernel", "this-host-6.18-v1-own-limit.kmsg"))
	require.NoError(t, err)
	rs, err := oom.ParseAll(bytes.NewReader(log))
	require.NoError(t, err)
	require.NotEmpty(t, rs)
	gone := rs[0].TaskMemcg // a real kill's cgroup, long removed, on a fixture host
	require.NotEmpty(t, gone)
	// A later kill elsewhere whose report the kernel's rate limit cut: it
	// names no cgroup and must not be taken for this one's.
	later := append(append([]byte{}, log...), "6,99999,9999999999,-;Out of memory: Killed process 999 (other) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n"...)
	col := &oom.Collector{FS: fixtureFS(t), KernelLog: func() ([]byte, error) { return later, nil }, ProcRoot: "../../cgroup/testdata/v1/proc"}
	ev, err := col.Cgroup(gone)
	require.ErrorIs(t, err, cgroup.ErrNotFound)
	assert.Contains(t, err.Error(), gone, "the error names the cgroup")
	assert.Empty(t, ev.After)
	require.Len(t, ev.Reports, len(rs), "the kernel's reports about it are kept, the unnamed one is not")
	d := oom.Diagnose(ev)
	assert.Equal(t, rs[0].Victim.PID, d.VictimPID)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause, "from the report alone: %v", d.Causes)
	assert.NotEmpty(t, d.Missing)
}
