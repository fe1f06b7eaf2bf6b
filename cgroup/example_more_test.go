package cgroup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Watch a cgroup v2 container for OOM kills. On a real host the kernel
// rewrites memory.events at a kill; here a copy of the v2 fixture stands
// in for it, and the example writes what the kernel would. (A v1 fixture
// cannot be watched: its kernel notifications need the real cgroupfs, and
// Watch says ErrUnsupported.)
func ExampleFS_Watch() {
	root, err := os.MkdirTemp("", "oomkit-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(root) }()
	if err := os.CopyFS(root, os.DirFS("testdata/v2")); err != nil {
		fmt.Println(err)
		return
	}
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys/fs/cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := fs.FindContainer("3f1c0e7b9a6d")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := fs.Watch(ctx, []string{cg.Path()})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The kernel counts two kills (memory.events.local, then memory.events).
	kills := []byte("low 0\nhigh 0\nmax 60\noom 3\noom_kill 3\noom_group_kill 0\n")
	_ = os.WriteFile(filepath.Join(cg.Dir(), "memory.events.local"), kills, 0o644)
	_ = os.WriteFile(filepath.Join(cg.Dir(), "memory.events"), kills, 0o644)
	e := <-events
	fmt.Println(e.Kind, "kills:", e.Delta.OOMKills(), "limit:", e.Snapshot.Limit, "pids:", e.PIDs)
	_ = os.RemoveAll(cg.Dir()) // the container goes away
	e = <-events
	fmt.Println(e.Kind)
	_, open := <-events
	fmt.Println("channel open:", open)
	// Output:
	// oom kills: 2 limit: 32MiB pids: [4242]
	// removed
	// channel open: false
}

// Sample many cgroups cheaply: one pread per file, descriptors kept open.
// Each reading converts to the module's one sample type.
func ExampleSampler() {
	fs, err := cgroup.NewFS(cgroup.WithRoot("testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("testdata/v1/proc"),
		cgroup.WithClock(func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := fs.NewSampler(cgroup.WithDiscover("/docker", "/kubepods/burstable"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	n, err := s.Discover()
	fmt.Println("discovered", n, err)
	s.Sample(func(r cgroup.Reading) {
		if r.Err != nil { // a live cgroup whose file did not parse: still sampled
			fmt.Println(r.Path, r.Err)
			return
		}
		smp := r.Sample()
		fmt.Printf("%.20s usage %s working set %s non-reclaimable %s\n", r.Path, smp.Usage, smp.WorkingSet, smp.NonReclaimable)
	})
	// Output:
	// discovered 2 <nil>
	// /docker/3f1c0e7b9a6d usage 32MiB working set 31.87MiB non-reclaimable 31.75MiB
	// /kubepods/burstable/ usage 512MiB working set 502.5MiB non-reclaimable 476.8MiB
}

// The limit that binds a cgroup may be an ancestor's: a Kubernetes pod's
// limit over its container's.
func ExampleCgroup_EffectiveLimit() {
	fs, err := cgroup.NewFS(cgroup.WithRoot("testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("testdata/v1/proc"))
	if err != nil {
		fmt.Println(err)
		return
	}
	pod, err := fs.Cgroup("/kubepods/burstable")
	if err != nil {
		fmt.Println(err)
		return
	}
	kids, err := pod.Children()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range kids {
		fmt.Printf("%.40s\n", k.Path())
		ctrs, _ := k.Children()
		for _, c := range ctrs {
			l, by, err := c.EffectiveLimit()
			fmt.Printf("  %.12s limit %s set by %.40s %v\n", filepath.Base(c.Path()), l, by, err)
		}
	}
	// Output:
	// /kubepods/burstable/pod6b212546-f5dd-4fd
	//   9b8a7f6e5d4c limit 512MiB set by /kubepods/burstable/pod6b212546-f5dd-4fd <nil>
}
