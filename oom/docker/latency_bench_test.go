package docker_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

func nowMono() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// killedAt returns the /dev/kmsg stamp of "Killed process PID (" in log.
func killedAt(log []byte, pid int) (time.Duration, bool) {
	needle := []byte("Killed process " + strconv.Itoa(pid) + " (")
	for l := range bytes.SplitSeq(log, []byte("\n")) {
		if !bytes.Contains(l, needle) {
			continue
		}
		f := bytes.SplitN(l, []byte(","), 4)
		if len(f) < 3 {
			continue
		}
		us, err := strconv.ParseInt(string(f[2]), 10, 64)
		if err == nil {
			return time.Duration(us) * time.Microsecond, true
		}
	}
	return 0, false
}

func percentiles(b *testing.B, name string, ds []time.Duration) {
	b.Logf("%s: %d kills measured", name, len(ds))
	if len(ds) == 0 {
		b.Fatalf("%s: no measurements", name)
	}
	slices.Sort(ds)
	at := func(q float64) float64 { // nearest rank
		k := int(math.Ceil(q*float64(len(ds)))) - 1
		return float64(ds[max(0, min(len(ds)-1, k))].Microseconds()) / 1000
	}
	b.Logf("%s: slowest %v", name, ds[max(0, len(ds)-5):])
	b.ReportMetric(at(0.5), name+"-p50-ms")
	b.ReportMetric(at(0.9), name+"-p90-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
}

// BenchmarkKillToEvent measures, over real kills, the time from the
// kernel's kill (the /dev/kmsg stamp of its "Killed process" line) to the
// Watch event that counts it; and, in the same run, to the Engine's oom
// event on the Docker events stream for kills in containers.
//
//	go test ./oom -run '^$' -bench KillToEvent -benchtime 1x
func BenchmarkKillToEvent(b *testing.B) {
	testenv.KillBurst(b) // 120 kills
	for b.Loop() {
		fs, err := cgroup.NewFS()
		if err != nil {
			b.Fatal(err)
		}
		hog := testenv.MemHog(b)
		c := testenv.NewCgroup(b, nil, "latency")
		c.SetLimit(16 << 20)
		ctx, cancel := context.WithCancel(context.Background())
		evs, err := fs.Watch(ctx, []string{c.Path}, cgroup.WithThresholds())
		if err != nil {
			b.Fatal(err)
		}
		// Event.Monotonic and nowMono are CLOCK_MONOTONIC; kill stamps are
		// on the kmsg clock, which runs apart from it.
		off := testenv.KmsgOffset(b)
		b.Logf("kmsg clock is %s ahead of CLOCK_MONOTONIC", off)
		var watchLat []time.Duration
		for range 100 {
			start := testenv.Uptime(b)
			cmd := c.Start(hog, "-total", "100MiB")
			_ = cmd.Wait()
			var e cgroup.Event
			select {
			case e = <-evs:
			case <-time.After(5 * time.Second):
				b.Fatal("no event for a kill")
			}
			if at, ok := killedAt(testenv.KernelLogSince(b, start), cmd.Process.Pid); ok {
				watchLat = append(watchLat, e.Monotonic+off-at)
			}
		}
		cancel()
		percentiles(b, "watch", watchLat)

		cli := testenv.Docker(b)
		type arrival struct {
			id string
			at time.Duration
		}
		arrivals := make(chan arrival, 64)
		dctx, dcancel := context.WithCancel(context.Background())
		go func() {
			_ = docker.Follow(dctx, cli, func(m events.Message) {
				if m.Action == "oom" {
					arrivals <- arrival{m.Actor.ID, nowMono()}
				}
			})
		}()
		time.Sleep(200 * time.Millisecond)
		var dockerLat []time.Duration
		for range 20 {
			start := testenv.Uptime(b)
			id := startBenchContainer(b, cli, hog)
			// The Engine can send more than one oom event for a kill (one
			// per OOM notification): the extras of earlier containers are
			// passed over.
			var a arrival
			timeout := time.After(20 * time.Second)
			for a.id != id {
				select {
				case a = <-arrivals:
				case <-timeout:
					b.Fatal("no oom event from the Engine")
				}
			}
			// The Engine's oom event comes from the OOM notification, which
			// the kernel sends before it kills: wait for the kill line.
			found := false
			for try := 0; try < 100 && !found; try++ {
				log := testenv.KernelLogSince(b, start)
				rs, _ := oom.ParseAll(bytes.NewReader(log))
				for _, r := range rs {
					if bytes.Contains([]byte(r.TaskMemcg), []byte(id)) {
						if at, ok := killedAt(log, r.Victim.PID); ok {
							dockerLat = append(dockerLat, a.at+off-at)
							found = true
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		dcancel()
		percentiles(b, "docker", dockerLat)
	}
}

func startBenchContainer(b *testing.B, cli *client.Client, hog string) string {
	b.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: []string{"/memhog", "-total", "100MiB"}},
		&container.HostConfig{Resources: container.Resources{Memory: 16 << 20, MemorySwap: 16 << 20}, Binds: []string{hog + ":/memhog:ro"}, NetworkMode: "none", AutoRemove: true}, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		b.Fatal(err)
	}
	return c.ID
}
