package cgroup_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

// TestRealWatchDeduplicates: the same cgroup named twice ("p", "p/") is
// watched once: one kill, one event (it was reported twice).
func TestRealWatchDeduplicates(t *testing.T) {
	fs := realFS(t)
	testenv.KernelReports(t)
	c := testenv.NewCgroup(t, nil, "dedup")
	c.SetLimit(16 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, []string{c.Path, c.Path + "/", c.Path + "/."}, cgroup.WithThresholds())
	require.NoError(t, err)
	c.Run(testenv.MemHog(t), "-total", "100MiB")
	time.Sleep(1500 * time.Millisecond) // the watch re-reads for a second after a kill
	cancel()
	var kills uint64
	n := 0
	for e := range events {
		if e.Kind == cgroup.EventOOM {
			n++
			kills += e.Delta.OOMKills().N
		}
	}
	assert.Equal(t, uint64(1), kills)
	assert.Equal(t, 1, n)
}

// TestRealWatchCancelWhileArming: a context that ends while a large watch
// is being armed stops the arming: Watch returns its error soon, with no
// descriptor or goroutine left.
func TestRealWatchCancelWhileArming(t *testing.T) {
	fs := realFS(t)
	paths := fleet(t, 300)
	fds, gs := openFDs(t), runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	_, err := fs.Watch(ctx, paths)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 2*time.Second, "arming stops at the cancel")
	if !assert.Eventually(t, func() bool { return openFDs(t) <= fds && runtime.NumGoroutine() <= gs+1 }, 5*time.Second, 20*time.Millisecond) {
		t.Logf("fds %d -> %d, goroutines %d -> %d", fds, openFDs(t), gs, runtime.NumGoroutine())
		buf := make([]byte, 1<<16)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}
	// Already done: nothing is armed at all.
	_, err = fs.Watch(ctx, paths)
	require.ErrorIs(t, err, context.Canceled)
}

// TestRealWatchDescriptors: a v1 cgroup costs two descriptors and one per
// threshold (four with the default two), as the doc says.
func TestRealWatchDescriptors(t *testing.T) {
	fs := realFS(t)
	paths := fleet(t, 20)
	for _, tc := range []struct {
		opts []cgroup.WatchOption
		per  int
	}{{nil, 4}, {[]cgroup.WatchOption{cgroup.WithThresholds()}, 2}, {[]cgroup.WatchOption{cgroup.WithThresholds(0.5, 0.7, 0.9)}, 5}} {
		before := openFDs(t)
		ctx, cancel := context.WithCancel(context.Background())
		events, err := fs.Watch(ctx, paths, tc.opts...)
		require.NoError(t, err)
		assert.Equal(t, before+3+tc.per*len(paths), openFDs(t), "epoll, a pipe, %d per cgroup", tc.per)
		cancel()
		for range events {
		}
	}
}

// TestRealWatchChildren: WithChildrenOf watches the children there at
// the start and those created later (Watch could not discover them; the
// Sampler could): a kill in a new child is reported.
func TestRealWatchChildren(t *testing.T) {
	fs := realFS(t)
	testenv.KernelReports(t)
	parent := testenv.NewCgroup(t, nil, "parent")
	old := testenv.NewCgroup(t, parent, "old")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, nil, cgroup.WithChildrenOf(parent.Path))
	require.NoError(t, err)
	young := testenv.NewCgroup(t, parent, "young")
	young.SetLimit(16 << 20)
	var added []string
	sawKill := false
	for e := range events {
		switch e.Kind {
		case cgroup.EventAdded:
			require.NoError(t, e.Err)
			added = append(added, e.Path)
			if e.Path == young.Path {
				go young.Run(testenv.MemHog(t), "-total", "100MiB")
			}
		case cgroup.EventOOM:
			assert.Equal(t, young.Path, e.Path)
			assert.Equal(t, uint64(1), e.Delta.OOMKills().N)
			sawKill = true
			cancel()
		}
	}
	assert.Equal(t, []string{young.Path}, added, "the old child was watched from the start, the new one announced")
	_ = old
	assert.True(t, sawKill, "the new child's kill was seen")
}

// TestRealWatchVictimPIDs: every OOM event of a series of kills holds its
// victim in PIDs and Victims, or says VictimMissed; none holds an earlier
// kill's victim (PIDs read at a notification that led to no event were
// kept for the next one: the victim was missed in 2-14% of real kills).
func TestRealWatchVictimPIDs(t *testing.T) {
	fs := realFS(t)
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "victims")
	c.SetLimit(16 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A process in the cgroup when the watch starts, that exits by itself
	// long before the kills: no victim.
	early := c.Start("/bin/sleep", "0.3")
	events, err := fs.Watch(ctx, []string{c.Path}, cgroup.WithThresholds())
	require.NoError(t, err)
	require.NoError(t, early.Wait())
	time.Sleep(6 * time.Second) // past the watch's refresh of its processes
	testenv.KillBurst(t)        // 12 kills: more report headers than the kernel prints in five seconds
	got := make(chan []cgroup.Event, 1)
	go func() {
		var es []cgroup.Event
		for e := range events {
			if e.Kind == cgroup.EventOOM {
				es = append(es, e)
			}
		}
		got <- es
	}()
	const kills = 12
	var victims []int
	for i := range kills {
		// A shell lives on beside each victim, and half the victims start
		// at once and fill the cgroup fast: the hard case.
		args := []string{"-total", "100MiB"}
		if i%2 == 1 {
			args = append(args, "-step", "8MiB")
		}
		cmd := c.Start(append([]string{hog}, args...)...)
		victims = append(victims, cmd.Process.Pid)
		_ = cmd.Wait()
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	es := <-got
	data, err := os.ReadFile(filepath.Join(c.Dir, "memory.oom_control"))
	require.NoError(t, err)
	require.Equal(t, uint64(kills), countOOMKill(t, data), "every memhog was killed")
	var counted uint64
	missed := 0
	reported := map[int]bool{}
	for _, e := range es {
		counted += e.Delta.OOMKills().N
		for _, v := range e.Victims {
			assert.Contains(t, e.PIDs, v)
			assert.False(t, reported[v], "pid %d, an earlier kill's victim, reported again", v)
			reported[v] = true
		}
		if e.VictimMissed {
			missed++
			continue
		}
		assert.Len(t, e.Victims, int(e.Delta.OOMKills().N), "one victim per kill: %+v", e.Victims)
	}
	assert.Equal(t, uint64(kills), counted)
	for _, v := range victims {
		if !reported[v] {
			assert.Positive(t, missed, "victim %d in no event and no event says it missed one", v)
		}
	}
	for v := range reported {
		assert.True(t, slices.Contains(victims, v), "victim %d is one of ours", v)
	}
	assert.False(t, reported[early.Process.Pid], "a process that exited long before is no victim")
	t.Logf("%d kills, %d events, %d said VictimMissed, %d victims named", kills, len(es), missed, len(reported))
}
