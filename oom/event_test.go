package oom_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// TestCollectorEvent: the kernel logs a kill just after the watch sees it.
// Event waits for this kill's report (a real one, recorded here), and
// never takes an older kill's report for it.
func TestCollectorEvent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "kernel", "this-host-6.18-v1-own-limit.kmsg"))
	require.NoError(t, err)
	rs := reportsOf(t, "this-host-6.18-v1-own-limit.kmsg")
	require.Len(t, rs, 1)
	r := rs[0]
	e := cgroup.Event{Kind: cgroup.EventOOM, Path: r.OOMMemcg + "/", Monotonic: r.Uptime - 3*time.Millisecond, Victims: []int{r.Victim.PID}}

	t.Run("the report comes late", func(t *testing.T) {
		var calls atomic.Int32
		col := &oom.Collector{ProcRoot: t.TempDir(), KernelLog: func() ([]byte, error) {
			if calls.Add(1) < 4 {
				return []byte("[ 1.000000] unrelated\n"), nil
			}
			return data, nil
		}}
		start := time.Now()
		ev, err := col.Event(context.Background(), e, time.Second)
		require.NoError(t, err)
		assert.Less(t, time.Since(start), time.Second)
		require.Len(t, ev.Reports, 1)
		assert.Equal(t, r.Victim.PID, ev.Reports[0].Victim.PID)
		assert.Equal(t, oom.CleanPath(r.OOMMemcg), ev.Name)
		d := oom.Diagnose(ev)
		assert.Equal(t, r.Victim.PID, d.VictimPID)
	})
	t.Run("an older kill's report is not this kill's", func(t *testing.T) {
		other := e
		other.Victims = []int{r.Victim.PID + 1}
		other.Monotonic = r.Uptime + time.Hour
		col := &oom.Collector{ProcRoot: t.TempDir(), KernelLog: func() ([]byte, error) { return data, nil }}
		ev, err := col.Event(context.Background(), other, 100*time.Millisecond)
		require.NoError(t, err)
		assert.Empty(t, ev.Reports)
		assert.True(t, strings.Contains(strings.Join(ev.Missing, ";"), "no report of this kill"), "%v", ev.Missing)
		d := oom.Diagnose(ev)
		assert.Zero(t, d.VictimPID, "the old kill's victim is not named")
	})
	t.Run("a report cut to its kill line is tied by the victims", func(t *testing.T) {
		var kill string
		for l := range strings.SplitSeq(string(data), "\n") {
			if strings.Contains(l, "Killed process") {
				kill = l
			}
		}
		require.NotEmpty(t, kill)
		col := &oom.Collector{ProcRoot: t.TempDir(), KernelLog: func() ([]byte, error) { return []byte(kill + "\n"), nil }}
		ev, err := col.Event(context.Background(), e, 100*time.Millisecond)
		require.NoError(t, err)
		require.Len(t, ev.Reports, 1)
		assert.Empty(t, ev.Reports[0].OOMMemcg)
	})
	t.Run("the counters before the event are rebuilt from its delta", func(t *testing.T) {
		snap := cgroup.MemorySnapshot{Path: r.OOMMemcg, Version: cgroup.V1, Time: t0, Limit: cgroup.LimitOf(24 << 20),
			Failcnt: cgroup.CountOf(700), Events: cgroup.Events{OOMKill: cgroup.CountOf(3)}}
		ev2 := e
		ev2.Snapshot = snap
		ev2.Delta = cgroup.Delta{Path: r.OOMMemcg, Interval: time.Second, Failcnt: cgroup.CountOf(650), Events: cgroup.Events{OOMKill: cgroup.CountOf(1)}}
		col := &oom.Collector{ProcRoot: t.TempDir(), KernelLog: func() ([]byte, error) { return data, nil }}
		ev, err := col.Event(context.Background(), ev2, 100*time.Millisecond)
		require.NoError(t, err)
		require.Len(t, ev.Before, 1)
		assert.Equal(t, uint64(2), ev.Before[0].Events.OOMKill.N)
		assert.Equal(t, uint64(50), ev.Before[0].Failcnt.N)
		d := oom.Diagnose(ev)
		assert.Equal(t, oom.CauseContainerLimit, d.Cause)
		assert.GreaterOrEqual(t, d.Causes[0].Confidence, 0.97, "the report and the counters agree: %v", d.Causes)
	})
}
