package recommend_test

import (
	"fmt"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

// Feed a Recommender the samples of a trace recorded through the real
// kernel (a steady server), then render its settings.
func ExampleRecommender() {
	samples, err := recommend.Trace("steady-server", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := recommend.New(recommend.WithProfile(recommend.Go))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range samples {
		if err := r.Add(s); err != nil {
			fmt.Println(err)
			return
		}
	}
	rec, err := r.Recommend()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Samples(), "samples")
	fmt.Println(rec.DockerRun())
	// Output:
	// 1371 samples
	// --memory=136m --memory-swap=136m --memory-reservation=126m -e GOMEMLIMIT=122MiB
}

// The renderers: docker run flags, a Compose service, Kubernetes
// resources.
func ExampleRecommendation_Compose() {
	r, _ := recommend.New(recommend.WithProfile(recommend.JVM))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 720 { // an hour every 5 s, 300-340 MiB
		_ = r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * 5 * time.Second), WorkingSet: cgroup.AmountOf(cgroup.Bytes(300<<20 + (i%9)*(5<<20)))})
	}
	rec, err := r.Recommend()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.DockerUpdate("web"))
	compose, err := rec.Compose("web")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(compose)
	fmt.Print(rec.KubernetesYAML())
	// Output:
	// docker update --memory=381m --memory-swap=381m --memory-reservation=349m web
	// services:
	//     web:
	//         memswap_limit: 381m
	//         environment:
	//             JAVA_TOOL_OPTIONS: -Xmx190m
	//         deploy:
	//             resources:
	//                 limits:
	//                     memory: 381m
	//                 reservations:
	//                     memory: 349m
	// resources:
	//   requests:
	//     memory: 349Mi
	//   limits:
	//     memory: 381Mi
	// env:
	//   - name: JAVA_TOOL_OPTIONS
	//     value: "-Xmx190m"
}

// A container with no limit of its own was killed by its parent's limit
// (or the host): AddOOM takes its unlimited cgroup.Limit and the usage at
// the kill, which it needed more than.
func ExampleRecommender_AddOOM() {
	r, _ := recommend.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 120 {
		_ = r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Minute), Usage: cgroup.AmountOf(200 << 20)})
	}
	if err := r.AddOOM(t0.Add(2*time.Hour), 300<<20, cgroup.NoLimit()); err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := r.Recommend()
	fmt.Println(rec.Memory.Bytes, "-", rec.Memory.Rationale)
	// Output:
	// 1.289GiB - OOM kill at 2026-01-01T02:00:00Z with no limit of its own (an ancestor's limit or the host's memory) at usage 300MiB: the need is above it by 900MiB (decaying with the history's half-life), plus the margin
}

// Tool two of three with no glue: a Sampler feeding one Recommender per
// cgroup. Here the cgroup package's fixture host, sampled every 10 s for
// an hour (the fixture does not move: a flat trace).
func ExampleRecommender_perCgroup() {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	fs, err := cgroup.NewFS(cgroup.WithRoot("../cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("../cgroup/testdata/v1/proc"),
		cgroup.WithClock(func() time.Time { now = now.Add(10 * time.Second); return now }))
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
	recs := map[string]*recommend.Recommender{}
	var order []string
	for range 360 {
		if _, err := s.Discover(); err != nil {
			fmt.Println(err)
			return
		}
		s.Sample(func(rd cgroup.Reading) {
			if recs[rd.Path] == nil {
				recs[rd.Path], _ = recommend.New()
				order = append(order, rd.Path)
			}
			if err := recs[rd.Path].Add(rd.Sample()); err != nil {
				fmt.Println(rd.Path, err)
			}
		})
	}
	for _, p := range order {
		rec, err := recs[p].Recommend()
		if err != nil {
			fmt.Println(p, err)
			continue
		}
		fmt.Printf("%.20s %s\n", p, rec.DockerRun())
	}
	// Output:
	// /docker/3f1c0e7b9a6d --memory=36m --memory-swap=36m --memory-reservation=32m
	// /kubepods/burstable/ --memory=566m --memory-swap=566m --memory-reservation=516m
}

// Snapshots of a cgroup, as the README shows: each converts to the one
// sample type (here the cgroup package's fixture container, read once a
// minute for two hours: it does not move).
func ExampleRecommender_snapshots() {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	fs, err := cgroup.NewFS(cgroup.WithRoot("../cgroup/testdata/v1/sys/fs/cgroup"), cgroup.WithProcRoot("../cgroup/testdata/v1/proc"),
		cgroup.WithClock(func() time.Time { now = now.Add(time.Minute); return now }))
	if err != nil {
		fmt.Println(err)
		return
	}
	cg, err := fs.FindContainer("3f1c0e7b9a6d")
	if err != nil {
		fmt.Println(err)
		return
	}
	var snapshots []cgroup.MemorySnapshot
	for range 120 {
		snap, err := cg.Snapshot()
		if err != nil {
			fmt.Println(err)
			return
		}
		snapshots = append(snapshots, snap)
	}
	r, _ := recommend.New(recommend.WithProfile(recommend.JVM))
	for _, s := range snapshots {
		_ = r.Add(s.Sample())
	}
	rec, _ := r.Recommend()
	fmt.Println(rec.DockerRun())
	// Output:
	// --memory=37m --memory-swap=37m --memory-reservation=32m -e JAVA_TOOL_OPTIONS=-Xmx18m
}
