package cgroup_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"

	"github.com/oomkit/oomkit/internal/testenv"
)

// TestRealPressureTrigger registers a real PSI trigger on the host and
// checks that it is accepted, validated, and torn down with the context.
func TestRealPressureTrigger(t *testing.T) {
	fs := realFS(t)
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		testenv.Unavailable(t, "no PSI on this kernel: %v", err)
	}
	_, err := fs.WatchPressure(context.Background(), "", "half", time.Millisecond, time.Second)
	require.Error(t, err)
	_, err = fs.WatchPressure(context.Background(), "", "some", 2*time.Second, time.Second)
	require.Error(t, err, "stall longer than the window")
	before := openFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	evs, err := fs.WatchPressure(ctx, "", "some", 150*time.Millisecond, time.Second)
	require.NoError(t, err)
	cancel()
	for range evs {
	}
	require.Eventually(t, func() bool { return openFDs(t) <= before }, 2*time.Second, 10*time.Millisecond, "descriptors released")
}

// TestPressureFixture checks the once-a-window condition on a fixture
// pressure file: a stall total growing by more than the threshold fires.
func TestPressureFixture(t *testing.T) {
	root := copyTree(t, "v1")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := fs.WatchPressure(ctx, "", "some", 100*time.Millisecond, 500*time.Millisecond)
	require.NoError(t, err)
	// 123456 us before; +300 ms of "some" stall.
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc", "pressure", "memory"),
		[]byte("some avg10=9.00 avg60=1.00 avg300=0.20 total=423456\nfull avg10=0.75 avg60=0.20 avg300=0.05 total=65432\n"), 0o644))
	e := <-evs
	require.NoError(t, e.Err)
	assert.Equal(t, 423456*time.Microsecond, e.Pressure.Some.Total)
	assert.True(t, e.Pressure.Host)
}

// TestPressureFixtureWritesNothing: on a fixture whose pressure file is
// empty, WatchPressure says it cannot parse it and writes nothing (it
// wrote its trigger into the empty file); on a good fixture file it reads
// and never writes.
func TestPressureFixtureWritesNothing(t *testing.T) {
	root := copyTree(t, "v1")
	file := filepath.Join(root, "proc", "pressure", "memory")
	good, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, nil, 0o444))
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	before := treeState(t, root)
	_, err = fs.WatchPressure(context.Background(), "", "some", 100*time.Millisecond, 500*time.Millisecond)
	var pe *cgroup.ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, file, pe.Path)
	assert.Equal(t, before, treeState(t, root), "nothing written")

	require.NoError(t, os.WriteFile(file, good, 0o444))
	before = treeState(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	evs, err := fs.WatchPressure(ctx, "", "some", 100*time.Millisecond, 500*time.Millisecond)
	require.NoError(t, err)
	time.Sleep(600 * time.Millisecond)
	cancel()
	for range evs {
	}
	assert.Equal(t, before, treeState(t, root), "nothing written")
}
