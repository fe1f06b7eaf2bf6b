package cgroup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(es)
}

func TestRealWatchThresholdThenKillThenRemoval(t *testing.T) {
	fs := realFS(t)
	c := testenv.NewCgroup(t, nil, "watch")
	c.SetLimit(32 << 20)
	fdsBefore, gBefore := openFDs(t), runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, []string{c.Path})
	require.NoError(t, err)
	// A slow climb: warnings must come before the kill.
	cmd := c.Start(testenv.MemHog(t), "-step", "1MiB", "-interval", "20ms", "-total", "200MiB")
	var kinds []cgroup.EventKind
	var fracs []float64
	var kills uint64
	for e := range events {
		kinds = append(kinds, e.Kind)
		if e.Kind == cgroup.EventThreshold {
			fracs = append(fracs, e.Fraction)
		}
		if e.Kind == cgroup.EventOOM {
			kills += e.Delta.OOMKills().N
			assert.Equal(t, cgroup.LimitOf(32<<20), e.Snapshot.Limit, "snapshot taken at the event")
			_ = cmd.Wait()
			require.NoError(t, os.Remove(c.Dir)) // the cgroup goes away while watched
		}
		if e.Kind == cgroup.EventRemoved {
			break
		}
	}
	require.NotEmpty(t, kinds)
	assert.Equal(t, cgroup.EventRemoved, kinds[len(kinds)-1], "the watch ends cleanly on removal: %v", kinds)
	assert.Equal(t, uint64(1), kills)
	assert.Equal(t, []float64{0.8, 0.9}, fracs, "both warnings, in order, before the kill: %v", kinds)
	assert.Equal(t, cgroup.EventThreshold, kinds[0])
	cancel()
	for range events {
	}
	require.Eventually(t, func() bool { return openFDs(t) <= fdsBefore && runtime.NumGoroutine() <= gBefore+1 }, 5*time.Second, 20*time.Millisecond,
		"no descriptor or goroutine left: fds %d -> %d, goroutines %d -> %d", fdsBefore, openFDs(t), gBefore, runtime.NumGoroutine())
}

// TestRealWatchLateLook: the climb, the kill and the victim's exit all
// happen while the watch is held back (its channel full and unread), as a
// loaded machine can hold it for a few tens of milliseconds. Both
// crossings are still reported, before the kill: the kernel counted them,
// though the usage is back under both fractions when they are read. (A
// watch that went by the usage it read then reported none: CI saw the 0.9
// one missed after a 20 ms-step climb.)
func TestRealWatchLateLook(t *testing.T) {
	fs := realFS(t)
	hog := testenv.MemHog(t)
	parent := testenv.NewCgroup(t, nil, "late")
	c := testenv.NewCgroup(t, parent, "climb")
	c.SetLimit(32 << 20)
	paths := []string{c.Path}
	var fillers []*testenv.Cgroup
	for i := range 70 {
		f := testenv.NewCgroup(t, parent, fmt.Sprintf("filler%d", i))
		fillers = append(fillers, f)
		paths = append(paths, f.Path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, paths)
	require.NoError(t, err)
	for _, f := range fillers { // 70 removals: more than the channel holds
		require.NoError(t, os.Remove(f.Dir))
	}
	require.Eventually(t, func() bool { return len(events) == cap(events) }, 10*time.Second, 5*time.Millisecond, "the watch is held back")
	c.Run(hog, "-total", "200MiB")
	data, err := os.ReadFile(filepath.Join(c.Dir, "memory.usage_in_bytes"))
	require.NoError(t, err)
	var usage uint64
	_, err = fmt.Sscan(string(data), &usage)
	require.NoError(t, err)
	require.Less(t, usage, uint64(32<<20)*8/10, "the usage is back under both fractions before the watch looks")
	var kinds []cgroup.EventKind
	var fracs []float64
	for e := range events {
		if e.Path != c.Path {
			continue
		}
		require.NoError(t, e.Err)
		kinds = append(kinds, e.Kind)
		if e.Kind == cgroup.EventThreshold {
			fracs = append(fracs, e.Fraction)
		}
		if e.Kind == cgroup.EventOOM {
			assert.Equal(t, uint64(1), e.Delta.OOMKills().N)
			break
		}
	}
	assert.Equal(t, []float64{0.8, 0.9}, fracs, "both crossings, in order: %v", kinds)
	assert.Equal(t, []cgroup.EventKind{cgroup.EventThreshold, cgroup.EventThreshold, cgroup.EventOOM}, kinds)
}

func TestRealWatchBurst(t *testing.T) {
	fs := realFS(t)
	hog := testenv.MemHog(t)
	testenv.KillBurst(t) // 50 kills: more than the kernel reports in five seconds
	const groups, each = 10, 5
	var paths []string
	var cgs []*testenv.Cgroup
	for range groups {
		c := testenv.NewCgroup(t, nil, "burst")
		c.SetLimit(16 << 20)
		cgs = append(cgs, c)
		paths = append(paths, c.Path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := fs.Watch(ctx, paths, cgroup.WithThresholds())
	require.NoError(t, err)
	counted := make(chan uint64, 1)
	go func() {
		var total uint64
		for e := range events {
			if e.Kind == cgroup.EventOOM {
				total += e.Delta.OOMKills().N
			}
		}
		counted <- total
	}()
	var wg sync.WaitGroup
	for _, c := range cgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cmds []interface{ Wait() error }
			for range each { // all at once: kills coalesce
				cmds = append(cmds, c.Start(hog, "-total", "100MiB"))
			}
			for _, cmd := range cmds {
				_ = cmd.Wait()
			}
		}()
	}
	wg.Wait()
	time.Sleep(1500 * time.Millisecond) // the watch re-reads for a second after a kill
	cancel()
	total := <-counted
	var want uint64
	for _, c := range cgs {
		data, err := os.ReadFile(filepath.Join(c.Dir, "memory.oom_control"))
		require.NoError(t, err)
		want += countOOMKill(t, data)
	}
	assert.Equal(t, uint64(groups*each), want, "the kernel killed every memhog")
	assert.Equal(t, want, total, "every kill is counted by the watch")
}

// countOOMKill reads oom_kill from memory.oom_control text, independently
// of the package's parser.
func countOOMKill(t *testing.T, data []byte) uint64 {
	t.Helper()
	for _, l := range strings.Split(string(data), "\n") {
		var v uint64
		if _, err := fmt.Sscanf(l, "oom_kill %d", &v); err == nil {
			return v
		}
	}
	t.Fatalf("no oom_kill line in %q", data)
	return 0
}

func TestWatchV2Fixture(t *testing.T) {
	root := copyTree(t, "v2")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	cg, err := fs.FindContainer(cid)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, []string{cg.Path()})
	require.NoError(t, err)
	// The kernel rewrites memory.events when a counter moves: two kills at once.
	require.NoError(t, os.WriteFile(filepath.Join(cg.Dir(), "memory.events.local"), []byte("low 0\nhigh 0\nmax 60\noom 3\noom_kill 3\noom_group_kill 0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cg.Dir(), "memory.events"), []byte("low 0\nhigh 0\nmax 60\noom 3\noom_kill 3\noom_group_kill 0\n"), 0o644))
	e := <-events
	assert.Equal(t, cgroup.EventOOM, e.Kind)
	assert.Equal(t, uint64(2), e.Delta.OOMKills().N, "coalesced kills counted")
	pids, err := cg.PIDs()
	require.NoError(t, err)
	require.NotEmpty(t, pids)
	assert.Equal(t, pids, e.PIDs, "the processes in the cgroup at the notification")
	require.NoError(t, os.RemoveAll(cg.Dir()))
	e = <-events
	assert.Equal(t, cgroup.EventRemoved, e.Kind)
	_, open := <-events
	assert.False(t, open, "the channel closes when nothing is left to watch")
}

// TestWatchVictimLingers: a victim still listed in cgroup.procs (a zombie,
// or exiting slowly under CPU load) when the next kill comes is not named
// again; an event whose victim cannot be found then says VictimMissed.
func TestWatchVictimLingers(t *testing.T) {
	root := copyTree(t, "v2")
	proc := filepath.Join(root, "proc")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(proc))
	require.NoError(t, err)
	cg, err := fs.FindContainer(cid)
	require.NoError(t, err)
	// Files are replaced whole (renamed over, memory.events rewritten in
	// place at the same length: it is watched), as the kernel serves them:
	// a read never sees one half-written.
	put := func(name, text string) {
		require.NoError(t, os.WriteFile(name+".new", []byte(text), 0o644))
		require.NoError(t, os.Rename(name+".new", name))
	}
	status := func(pid int, state, sigpnd string) {
		dir := filepath.Join(proc, fmt.Sprint(pid))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		put(filepath.Join(dir, "status"), "Name:\tmemhog\nState:\t"+state+"\nSigPnd:\t"+sigpnd+"\nShdPnd:\t0000000000000000\n")
	}
	procs := func(pids string) { put(filepath.Join(cg.Dir(), "cgroup.procs"), pids) }
	kills := func(n int) {
		b := fmt.Sprintf("low 0\nhigh 0\nmax 60\noom %d\noom_kill %d\noom_group_kill 0\n", n, n)
		put(filepath.Join(cg.Dir(), "memory.events.local"), b)
		f, err := os.OpenFile(filepath.Join(cg.Dir(), "memory.events"), os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte(b), 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	status(100, "S (sleeping)", "0000000000000000")
	status(200, "S (sleeping)", "0000000000000000")
	procs("100\n200\n")
	require.NoError(t, os.WriteFile(filepath.Join(cg.Dir(), "memory.events"), []byte("low 0\nhigh 0\nmax 60\noom 1\noom_kill 1\noom_group_kill 0\n"), 0o644))
	kills(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, []string{cg.Path()})
	require.NoError(t, err)
	// The two files are written one after the other, so a kill can come
	// as two events (one per file): step gathers the events up to the
	// n-th kill.
	counted := uint64(1)
	type step struct {
		victims, pids []int
		missed        bool
	}
	next := func(n uint64) step {
		t.Helper()
		var s step
		for counted < n {
			select {
			case e := <-events:
				require.Equal(t, cgroup.EventOOM, e.Kind)
				counted += e.Delta.OOMKills().N
				s.victims = append(s.victims, e.Victims...)
				s.pids = append(s.pids, e.PIDs...)
				s.missed = s.missed || e.VictimMissed
			case <-ctx.Done():
				t.Fatalf("no event for kill %d", n)
			}
		}
		return s
	}

	status(200, "Z (zombie)", "0000000000000000")
	kills(2)
	s := next(2)
	assert.Equal(t, []int{200}, s.victims)
	assert.False(t, s.missed)

	// 200 lingers in cgroup.procs, a zombie; 300 starts and is killed.
	status(300, "R (running)", "0000000000000100") // SIGKILL pending
	procs("100\n200\n300\n")
	kills(3)
	s = next(3)
	assert.Equal(t, []int{300}, s.victims, "the earlier victim is not named again")
	assert.NotContains(t, s.pids, 200)
	assert.False(t, s.missed)

	// A kill whose victim was never seen: only the lingering ones are dying.
	status(300, "Z (zombie)", "0000000000000000")
	kills(4)
	s = next(4)
	assert.Empty(t, s.victims)
	assert.True(t, s.missed, "a kill without a victim found says so")

	// Once gone from cgroup.procs, a pid is forgotten: reused, it is a new
	// process whose kill is named.
	procs("100\n")
	status(200, "S (sleeping)", "0000000000000000")
	kills(5) // a kill that a read finds with 200 gone
	s = next(5)
	assert.True(t, s.missed)
	procs("100\n200\n")
	status(200, "R (running)", "0000000000000100")
	kills(6)
	s = next(6)
	assert.Equal(t, []int{200}, s.victims, "a reused pid is a new process")
}
