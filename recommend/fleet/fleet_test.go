package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/promtest"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
	"github.com/oomkit/oomkit/recommend/fleet"
)

// fixture: 20 containers over two days scraped every minute, with every
// shape of the synthetic fleet (OOM kills at the limit, host pressure,
// child kills, an eviction, leaks, restarts that are not OOMs, replicas,
// a second scrape job, Docker hosts with Compose); backfills in seconds.
var fixture = &promtest.Shared{Workloads: 20, Days: 2, Step: time.Minute}

func TestMain(m *testing.M) {
	code := m.Run()
	fixture.Close()
	benchFleet.Close()
	os.Exit(code)
}

// name is the fixture workload's name as fleet.Workload.Name gives it.
func name(w *promtest.Workload) string {
	switch {
	case w.Docker && w.Project != "":
		return w.Project + "/" + w.Service
	case w.Docker:
		return w.Container
	}
	return w.Namespace + "/" + w.Owner + "/" + w.Container
}

func collect(t *testing.T, url string, cfg fleet.Config) map[string]fleet.Result {
	t.Helper()
	src, err := fleet.New(url)
	require.NoError(t, err)
	out := map[string]fleet.Result{}
	require.NoError(t, src.Recommend(context.Background(), cfg, func(r fleet.Result) error {
		if _, dup := out[r.Workload.Name()]; dup {
			return fmt.Errorf("workload %s twice", r.Workload.Name())
		}
		out[r.Workload.Name()] = r
		return nil
	}))
	return out
}

// window covers every sample of the fixture: the first interval ends at
// its first scrape.
func window(fl *promtest.Fleet, interval time.Duration) fleet.Config {
	return fleet.Config{Start: fl.Start.Add(-fl.Step), End: promtest.Epoch, Interval: interval}
}

func TestKillsAndCauses(t *testing.T) {
	srv, fl := fixture.Get(t)
	got := collect(t, srv.URL, window(fl, 0))
	require.Len(t, got, len(fl.Workloads))
	shapes := map[string]bool{}
	for _, w := range fl.Workloads {
		shapes[w.Shape] = true
		r, ok := got[name(w)]
		if !assert.True(t, ok, "workload %s missing", name(w)) {
			continue
		}
		var causes []string
		child, evicted := 0, 0
		for _, p := range w.Pods {
			for _, rs := range p.Restarts {
				if rs.OOM {
					causes = append(causes, rs.Cause)
				}
			}
			child += len(p.ChildOOMs)
			if p.Evicted {
				evicted++
			}
		}
		var gotCauses []string
		for _, e := range r.Events {
			if e.Kind == fleet.EventOOMKill {
				gotCauses = append(gotCauses, string(e.Cause))
			}
			assert.LessOrEqual(t, e.Confidence, 0.6, "%s: a cause from metrics is never as sure as on the host", name(w))
			require.NotEmpty(t, e.Evidence)
			for _, it := range e.Evidence {
				assert.Equal(t, "metrics", it.Source)
			}
		}
		sort.Strings(causes)
		sort.Strings(gotCauses)
		assert.Equal(t, causes, gotCauses, "%s (%s): OOM kills and their causes", name(w), w.Shape)
		assert.Equal(t, child, r.ChildKills, "%s: child kills", name(w))
		assert.Equal(t, evicted, r.Evictions, "%s: evictions", name(w))
		if w.Limit == 0 {
			assert.Equal(t, cgroup.NoLimit(), r.Limit, "%s", name(w))
		} else {
			assert.Equal(t, cgroup.LimitOf(cgroup.Bytes(w.Limit)), r.Limit, "%s", name(w))
		}
		require.NotNil(t, r.Recommendation, "%s: %s", name(w), r.Err)
		if w.Shape == promtest.ShapeLeak {
			assert.NotNil(t, r.Recommendation.Leak, "%s: rss grows steadily", name(w))
		}
		if w.Shape == promtest.ShapeEvicted {
			assert.Equal(t, oom.CauseNotOOM, r.Cause, "%s: an eviction is not a kernel OOM", name(w))
		}
		switch {
		case w.Docker:
			assert.Equal(t, fleet.KindDocker, r.Workload.Kind)
		default:
			assert.Equal(t, w.OwnerKind, r.Workload.OwnerKind, "%s", name(w))
			assert.Len(t, r.Workload.Pods, len(w.Pods), "%s: pods merged into the workload", name(w))
		}
	}
	for _, s := range []string{promtest.ShapeLeak, promtest.ShapeBurstOOM, promtest.ShapePressure, promtest.ShapeChild, promtest.ShapeEvicted, promtest.ShapeTrace} {
		assert.True(t, shapes[s], "the fixture lacks shape %s", s)
	}
}

// direct feeds a fixture workload's samples (every pod, every restart, in
// time order) straight into a Recommender, as the host would.
func direct(t *testing.T, fl *promtest.Fleet, w *promtest.Workload, interval time.Duration) recommend.Recommendation {
	t.Helper()
	type smp struct {
		step    int
		ws, rss float64
	}
	var all []smp
	for _, p := range w.Pods {
		fl.Samples(w, p, func(s promtest.Sample) { all = append(all, smp{s.Step, s.WorkingSet, s.RSS}) })
	}
	slices.SortStableFunc(all, func(a, b smp) int { return a.step - b.step })
	opts := []recommend.Option{recommend.WithInterval(interval)}
	if !w.Docker {
		opts = append(opts, recommend.WithHost(16<<30, 0, 0)) // the fixture's nodes
	}
	r, err := recommend.New(opts...)
	require.NoError(t, err)
	for _, s := range all {
		require.NoError(t, r.Add(cgroup.Sample{Time: fl.Time(s.step), WorkingSet: cgroup.AmountOf(cgroup.Bytes(s.ws)), NonReclaimable: cgroup.AmountOf(cgroup.Bytes(s.rss))}))
	}
	for _, p := range w.Pods {
		for _, rs := range p.Restarts {
			if rs.OOM && rs.Cause == string(oom.CauseContainerLimit) {
				require.NoError(t, r.AddOOM(fl.Time(rs.Step), cgroup.Bytes(w.Limit), cgroup.LimitOf(cgroup.Bytes(w.Limit))))
			}
		}
	}
	rec, err := r.Recommend()
	require.NoError(t, err)
	return rec
}

// TestSameAsDirect: the recommendations from Prometheus' per-interval
// peaks equal, within 2%, those from the same samples fed directly.
func TestSameAsDirect(t *testing.T) {
	srv, fl := fixture.Get(t)
	for _, iv := range []time.Duration{time.Minute, 5 * time.Minute} {
		got := collect(t, srv.URL, window(fl, iv))
		for _, w := range fl.Workloads {
			r := got[name(w)]
			require.NotNil(t, r.Recommendation, "%s: %s", name(w), r.Err)
			want := direct(t, fl, w, iv)
			for _, c := range []struct {
				what      string
				got, want cgroup.Bytes
			}{{"memory", r.Recommendation.Memory.Bytes, want.Memory.Bytes}, {"reservation", r.Recommendation.MemoryReservation.Bytes, want.MemoryReservation.Bytes}} {
				assert.InDelta(t, 1, float64(c.got)/float64(c.want), 0.02, "%s at %s peaks: %s %s from Prometheus, %s fed directly (%s / %s)",
					name(w), iv, c.what, c.got, c.want, r.Recommendation.Memory.Rationale, want.Memory.Rationale)
			}
			assert.Equal(t, want.Leak != nil, r.Recommendation.Leak != nil, "%s: leak", name(w))
		}
	}
}

// TestSplitRanges: ranges split into many short queries give the same
// answers as one query per series.
func TestSplitRanges(t *testing.T) {
	srv, fl := fixture.Get(t)
	cfg := window(fl, 0)
	whole := collect(t, srv.URL, cfg)
	cfg.MaxPoints, cfg.Batch, cfg.Parallel = 97, 3, 3
	var calls, last, total int
	cfg.Progress = func(done, n int) { calls, last, total = calls+1, done, n }
	split := collect(t, srv.URL, cfg)
	require.Equal(t, len(whole), len(split))
	for k, a := range whole {
		b := split[k]
		require.NotNil(t, b.Recommendation, k)
		assert.Equal(t, a.Recommendation.Memory.Bytes, b.Recommendation.Memory.Bytes, k)
		assert.Equal(t, a.Recommendation.Samples, b.Recommendation.Samples, k)
		assert.Equal(t, a.Kills, b.Kills, k)
		assert.Equal(t, a.ChildKills, b.ChildKills, k)
	}
	assert.Greater(t, calls, 5, "progress after each batch")
	assert.Equal(t, len(whole), last)
	assert.Equal(t, len(whole), total)
}

func TestSelector(t *testing.T) {
	srv, fl := fixture.Get(t)
	cfg := window(fl, 0)
	cfg.Selector = `{namespace="shop-0"}`
	got := collect(t, srv.URL, cfg)
	want := 0
	for _, w := range fl.Workloads {
		if w.Namespace == "shop-0" {
			want++
		}
	}
	require.NotZero(t, want)
	assert.Len(t, got, want)
	for _, r := range got {
		assert.Equal(t, "shop-0", r.Workload.Namespace)
	}
}

func TestErrors(t *testing.T) {
	srv, fl := fixture.Get(t)
	src, err := fleet.New(srv.URL)
	require.NoError(t, err)
	nop := func(fleet.Result) error { return nil }
	ctx := context.Background()
	for _, s := range []string{`namespace="x"`, `{namespace="x"`, `{namespace="x}`, `{a="b"}[5m]`} {
		cfg := window(fl, 0)
		cfg.Selector = s
		assert.ErrorIs(t, src.Recommend(ctx, cfg, nop), fleet.ErrSelector, s)
	}
	cfg := window(fl, 0)
	cfg.Selector = `{namespace=~"("}` // the server refuses it
	assert.Error(t, src.Recommend(ctx, cfg, nop))
	cfg = window(fl, 0)
	cfg.Start, cfg.End = cfg.End, cfg.Start
	assert.Error(t, src.Recommend(ctx, cfg, nop))
	_, err = fleet.New("localhost:9090")
	assert.Error(t, err, "no scheme")
	down, err := fleet.New(fmt.Sprintf("http://127.0.0.1:%d", promtest.FreePort(t)))
	require.NoError(t, err)
	assert.Error(t, down.Recommend(ctx, window(fl, 0), nop), "nothing listens there")
	stop := errors.New("stop")
	assert.ErrorIs(t, src.Recommend(ctx, window(fl, 0), func(fleet.Result) error { return stop }), stop)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, src.Recommend(cctx, window(fl, 0), nop), context.Canceled)
}

// TestOldLabels: cAdvisor before Kubernetes 1.16 said pod_name and
// container_name; with fleet.OldCAdvisor the same fleet gives the same
// answers.
func TestOldLabels(t *testing.T) {
	fl := promtest.NewFleet(10, 1, time.Minute, nil)
	fl.OldLabels = true
	srv := promtest.Serve(t, fl)
	cfg := window(fl, 0)
	cfg.Labels = fleet.OldCAdvisor()
	got := collect(t, srv.URL, cfg)
	require.Len(t, got, len(fl.Workloads))
	kills := 0
	for _, w := range fl.Workloads {
		r := got[name(w)]
		require.NotNil(t, r.Recommendation, "%s: %s", name(w), r.Err)
		assert.Equal(t, direct(t, fl, w, 5*time.Minute).Memory.Bytes > 0, true)
		kills += r.Kills
	}
	assert.Positive(t, kills)
	// With the current names nothing of Kubernetes matches.
	cfg.Labels = fleet.DefaultLabels()
	now := collect(t, srv.URL, cfg)
	for _, r := range now {
		assert.Equal(t, fleet.KindDocker, r.Workload.Kind)
	}
}
