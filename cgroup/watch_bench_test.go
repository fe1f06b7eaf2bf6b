package cgroup_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// fleet makes n empty child memory cgroups, each with a 64 MiB limit,
// under one test parent, and returns their paths.
func fleet(tb testing.TB, n int) []string {
	tb.Helper()
	parent := testenv.NewCgroup(tb, nil, "fleet")
	paths := make([]string, n)
	for i := range n {
		c := testenv.NewCgroup(tb, parent, "c"+strconv.Itoa(i))
		c.SetLimit(64 << 20)
		paths[i] = c.Path
	}
	return paths
}

// BenchmarkWatchArm1000 arms a watch of 1,000 real v1 cgroups with the
// default thresholds (0.8 and 0.9): the time until Watch is armed, every
// threshold registered. The figure: under 2 s.
//
//	go test ./cgroup -run '^$' -bench WatchArm1000 -benchtime 3x
func BenchmarkWatchArm1000(b *testing.B) {
	fs := realFS(b)
	paths := fleet(b, 1000)
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		c0 := cpuTime(b)
		ctx, cancel := context.WithCancel(context.Background())
		events, err := fs.Watch(ctx, paths)
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - c0
		b.StopTimer()
		cancel()
		for range events {
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}
