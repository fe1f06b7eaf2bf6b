package fleet_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/promtest"
	"github.com/oomkit/oomkit/recommend"
	"github.com/oomkit/oomkit/recommend/fleet"
)

// benchFleet: 224 workloads (202 on Kubernetes, the rest on Docker hosts)
// over 7 days scraped every 60 s, built once per benchmark run (it takes
// minutes: several GB of OpenMetrics backfilled).
var benchFleet = &promtest.Shared{Workloads: 224, Days: 7, Step: time.Minute}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS clears the process' peak RSS (VmHWM) so the next reading is
// the peak of what follows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for l := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

type way func(ctx context.Context, url, selector string, cfg fleet.Config) (int, error)

// oomkitWay is this package: batched server-side peaks.
func oomkitWay(ctx context.Context, url, selector string, cfg fleet.Config) (int, error) {
	src, err := fleet.New(url)
	if err != nil {
		return 0, err
	}
	cfg.Selector = selector
	n := 0
	err = src.Recommend(ctx, cfg, func(r fleet.Result) error {
		if r.Recommendation == nil {
			return fmt.Errorf("%s: %s", r.Workload.Name(), r.Err)
		}
		n++
		return nil
	})
	return n, err
}

func client(url string) (v1.API, error) {
	c, err := api.NewClient(api.Config{Address: url})
	return v1.NewAPI(c), err
}

type podC struct{ ns, pod, container string }

func containers(ctx context.Context, a v1.API, selector string, cfg fleet.Config) ([]podC, error) {
	inner := strings.Trim(selector, "{}")
	if inner != "" {
		inner += ","
	}
	ls, _, _, err := a.Series(ctx, []string{`container_memory_working_set_bytes{` + inner + `container!="",container!="POD",pod!=""}`}, cfg.Start, cfg.End)
	if err != nil {
		return nil, err
	}
	var out []podC
	for _, l := range ls {
		out = append(out, podC{string(l["namespace"]), string(l["pod"]), string(l["container"])})
	}
	slices.SortFunc(out, func(a, b podC) int { return strings.Compare(a.ns+a.pod+a.container, b.ns+b.pod+b.container) })
	return slices.Compact(out), nil
}

// parallel runs fn over items, two at a time (as the oomkit way).
func parallel[T any](items []T, fn func(T) error) error {
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// naiveWay: one raw range query per container (every sample, at the scrape
// step, gzip on as the client's default), peaks computed client-side by a
// Recommender per container.
func naiveWay(ctx context.Context, url, selector string, cfg fleet.Config) (int, error) {
	a, err := client(url)
	if err != nil {
		return 0, err
	}
	cs, err := containers(ctx, a, selector, cfg)
	if err != nil {
		return 0, err
	}
	return len(cs), parallel(cs, func(c podC) error {
		q := fmt.Sprintf(`container_memory_working_set_bytes{namespace=%q,pod=%q,container=%q}`, c.ns, c.pod, c.container)
		v, _, _, err := a.QueryRange(ctx, q, v1.Range{Start: cfg.Start, End: cfg.End, Step: time.Minute})
		if err != nil {
			return err
		}
		var all []model.SamplePair
		for _, s := range v.(model.Matrix) {
			all = append(all, s.Values...)
		}
		slices.SortFunc(all, func(x, y model.SamplePair) int { return int(x.Timestamp - y.Timestamp) })
		r, err := recommend.New(recommend.WithInterval(cfg.Interval))
		if err != nil {
			return err
		}
		for _, p := range all {
			_ = r.Add(cgroup.Sample{Time: p.Timestamp.Time(), WorkingSet: cgroup.AmountOf(cgroup.Bytes(p.Value))})
		}
		_, err = r.Recommend()
		return err
	})
}

var hashSuffix = regexp.MustCompile(`-[a-z0-9]{9}-[a-z0-9]{5}$|-[0-9]+$`)

// krrWay: Robusta KRR's simple strategy, one instant query per workload's
// container: max_over_time(...[7d:75s]) over its pods, x1.15.
func krrWay(ctx context.Context, url, selector string, cfg fleet.Config) (int, error) {
	a, err := client(url)
	if err != nil {
		return 0, err
	}
	cs, err := containers(ctx, a, selector, cfg)
	if err != nil {
		return 0, err
	}
	groups := map[string][]string{}
	for _, c := range cs {
		k := c.ns + "\x00" + hashSuffix.ReplaceAllString(c.pod, "") + "\x00" + c.container
		groups[k] = append(groups[k], c.pod)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	rng := model.Duration(cfg.End.Sub(cfg.Start)).String()
	return len(keys), parallel(keys, func(k string) error {
		f := strings.Split(k, "\x00")
		q := fmt.Sprintf(`max(max_over_time(container_memory_working_set_bytes{namespace=%q,pod=~%q,container=%q}[%s:75s]))`, f[0], strings.Join(groups[k], "|"), f[2], rng)
		v, _, _, err := a.Query(ctx, q, cfg.End)
		if err != nil {
			return err
		}
		if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value <= 0 {
			return fmt.Errorf("krr: %s: %v", q, v)
		}
		return nil
	})
}

// BenchmarkFleet recommends for 50, 100 and 200 Kubernetes workloads (7
// days at a 60 s scrape) three ways against the same local Prometheus:
// oomkit's, the naive one and KRR's. Run with
//
//	OOMKIT_START_DAEMONS=1 go test ./recommend/fleet -run '^$' -bench Fleet -benchtime 1x
//
// It reports wall time, the client's and the server's CPU time and the
// client's peak RSS.
func BenchmarkFleet(b *testing.B) {
	srv, fl := benchFleet.Get(b)
	b.Logf("fixture: %d workloads, %d MB of OpenMetrics written in %s, backfilled in %s", len(fl.Workloads), benchFleet.Bytes>>20, benchFleet.Written.Round(time.Second), benchFleet.Backfilled.Round(time.Second))
	cfg := fleet.Config{Start: fl.Start.Add(-fl.Step), End: promtest.Epoch, Interval: 5 * time.Minute} // 5m: the default for a week
	sizes := []struct {
		n   string
		sel string
	}{{"50", `{namespace=~".+-0"}`}, {"100", `{namespace=~".+-[01]"}`}, {"200", `{namespace=~".+-[0-3]"}`}}
	for _, s := range sizes {
		for _, w := range []struct {
			name string
			fn   way
		}{{"oomkit", oomkitWay}, {"naive", naiveWay}, {"krr", krrWay}} {
			b.Run(w.name+"/"+s.n, func(b *testing.B) {
				var n int
				var err error
				debug.FreeOSMemory()
				c0, s0 := cpuNow(), srv.CPU()
				resetPeakRSS()
				for b.Loop() {
					if n, err = w.fn(context.Background(), srv.URL, s.sel, cfg); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "units")
				b.ReportMetric((cpuNow()-c0).Seconds()/float64(b.N), "client-cpu-s/op")
				b.ReportMetric((srv.CPU()-s0).Seconds()/float64(b.N), "server-cpu-s/op")
				b.ReportMetric(peakRSS(), "peak-rss-MB")
			})
		}
	}
}
