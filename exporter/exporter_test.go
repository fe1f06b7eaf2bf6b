package exporter_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/exporter"
	"github.com/oomkit/oomkit/internal/promtest"
	"github.com/oomkit/oomkit/oom"
)

var (
	web = exporter.Target{Namespace: "shop", Pod: "web-6d4cf56db6-x2x9z", Container: "app"}
	api = exporter.Target{Container: "stack-api-1", ComposeProject: "stack", ComposeService: "api"}
)

// filled returns a Kubernetes node's exporter and a Docker host's.
func filled() (*exporter.Exporter, *exporter.Exporter) {
	k, d := exporter.New(exporter.Kubernetes), exporter.New(exporter.Docker)
	k.Kill(web, oom.CauseContainerLimit, 2)
	d.Kill(api, oom.CauseHostPressure, 1)
	d.Kill(api, "", 1)
	k.Warning(web, 0.9)
	k.Warning(web, 0.9)
	d.Recommend(api, 160<<20, 160<<20, 96<<20)
	return k, d
}

func kills(t exporter.Target, counts map[oom.Cause]int) string {
	var b strings.Builder
	for _, c := range exporter.Causes {
		if t.Pod == "" {
			fmt.Fprintf(&b, "oomkit_oom_kills_total{cause=%q,compose_project=%q,compose_service=%q,container=%q} %d\n", c, t.ComposeProject, t.ComposeService, t.Container, counts[c])
		} else {
			fmt.Fprintf(&b, "oomkit_oom_kills_total{cause=%q,container=%q,namespace=%q,pod=%q} %d\n", c, t.Container, t.Namespace, t.Pod, counts[c])
		}
	}
	return b.String()
}

const killsHelp = "# HELP oomkit_oom_kills_total OOM kills of the container's processes, by the cause oomkit diagnosed.\n# TYPE oomkit_oom_kills_total counter\n"

func TestGatherAndCompare(t *testing.T) {
	e, d := filled()
	want := killsHelp + kills(web, map[oom.Cause]int{oom.CauseContainerLimit: 2}) + `
# HELP oomkit_memory_warnings_total Times the container's memory use crossed a warning threshold (a fraction of its limit).
# TYPE oomkit_memory_warnings_total counter
oomkit_memory_warnings_total{container="app",namespace="shop",pod="web-6d4cf56db6-x2x9z",threshold="0.9"} 2
`
	require.NoError(t, testutil.GatherAndCompare(e.Registry(), strings.NewReader(want)))
	want = killsHelp + kills(api, map[oom.Cause]int{oom.CauseHostPressure: 1, oom.CauseUnknown: 1}) + `
# HELP oomkit_recommended_memory_bytes The memory setting oomkit recommends for the container, in bytes (memory_swap -1: unlimited swap).
# TYPE oomkit_recommended_memory_bytes gauge
oomkit_recommended_memory_bytes{compose_project="stack",compose_service="api",container="stack-api-1",setting="memory"} 1.6777216e+08
oomkit_recommended_memory_bytes{compose_project="stack",compose_service="api",container="stack-api-1",setting="memory_reservation"} 1.00663296e+08
oomkit_recommended_memory_bytes{compose_project="stack",compose_service="api",container="stack-api-1",setting="memory_swap"} 1.6777216e+08
`
	require.NoError(t, testutil.GatherAndCompare(d.Registry(), strings.NewReader(want)))

	// A new container's counters all start at 0, before any kill.
	e.Add(exporter.Target{Namespace: "shop", Pod: "db-0", Container: "postgres"})
	assert.Equal(t, 2*len(exporter.Causes), testutil.CollectAndCount(e.Registry(), "oomkit_oom_kills_total"))
	e.Forget(web)
	assert.Equal(t, len(exporter.Causes), testutil.CollectAndCount(e.Registry(), "oomkit_oom_kills_total"))
	assert.Zero(t, testutil.CollectAndCount(e.Registry(), "oomkit_memory_warnings_total"), "web's warnings went with it")
	e.Kill(web, oom.CauseLeak, 0)
	assert.Equal(t, len(exporter.Causes), testutil.CollectAndCount(e.Registry(), "oomkit_oom_kills_total"), "no kill, no series")
}

// TestDeps: the exporter links no Docker package (package recommend does).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/oomkit/oomkit/exporter").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		assert.NotContains(t, p, "github.com/docker/")
		assert.NotEqual(t, "github.com/oomkit/oomkit/recommend", p)
	}
}

func TestLint(t *testing.T) {
	k, e := filled()
	k.Recommend(web, 1<<30, 1<<30, 512<<20)
	e.Warning(api, 0.8)
	mfs, err := e.Registry().Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 3)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				assert.NotContains(t, strings.ToLower(l.GetName()), "pid", "no pid labels")
			}
		}
	}
	problems, err := testutil.GatherAndLint(e.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems)
	var c prometheus.Collector = e // joins other registries too
	p, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, p)
	other := prometheus.NewRegistry()
	require.NoError(t, other.Register(e))
	n, err := testutil.GatherAndCount(other, "oomkit_oom_kills_total")
	require.NoError(t, err)
	assert.Equal(t, len(exporter.Causes), n)
	p, err = testutil.CollectAndLint(k)
	require.NoError(t, err)
	assert.Empty(t, p)
}

// TestHandlerCache: a scrape after a change shows it; one without a change
// gives the same bytes.
func TestHandlerCache(t *testing.T) {
	e, _ := filled()
	h := e.Handler()
	get := func(enc string) (string, http.Header) {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code)
		return w.Body.String(), w.Header()
	}
	a, _ := get("identity")
	b, _ := get("identity")
	assert.Equal(t, a, b)
	line := `oomkit_oom_kills_total{cause="leak",container="app",namespace="shop",pod="web-6d4cf56db6-x2x9z"} `
	assert.Contains(t, a, line+"0\n")
	e.Kill(web, oom.CauseLeak, 3)
	c, _ := get("identity")
	assert.Contains(t, c, line+"3\n")
	z, hz := get("gzip")
	assert.Equal(t, "gzip", hz.Get("Content-Encoding"))
	zr, err := gzip.NewReader(strings.NewReader(z))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, c, string(plain), "each encoding cached apart")
	e.Forget(web)
	d, _ := get("identity")
	assert.NotContains(t, d, `pod="web-6d4cf56db6-x2x9z"`)
}

// TestScrapedByPrometheus: a real Prometheus scrapes the handler and its
// queries see the causes.
func TestScrapedByPrometheus(t *testing.T) {
	_, e := filled()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: oomkit\n    static_configs:\n      - targets: [%q]\n", l.Addr().String())
	prom := promtest.Start(t, t.TempDir(), cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := `sum by (cause) (oomkit_oom_kills_total{job="oomkit"})`
	var got map[string]string
	err = promtest.WaitFor(ctx, func() bool {
		got = query(t, prom.URL, q)
		return len(got) == len(exporter.Causes)
	})
	require.NoError(t, err, "Prometheus never saw the series:\n%s", prom.Log())
	assert.Equal(t, "0", got["container_limit"])
	assert.Equal(t, "1", got["host_pressure"])
	assert.Equal(t, "1", got["unknown"])
	assert.Equal(t, "0", got["child_killed"])
	up := query(t, prom.URL, `up{job="oomkit"}`)
	assert.Equal(t, "1", up[""])
}

// query runs an instant query and returns each series' value by its cause
// label.
func query(t *testing.T, base, q string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	out := map[string]string{}
	for _, s := range r.Data.Result {
		out[s.Metric["cause"]] = fmt.Sprint(s.Value[1])
	}
	return out
}

func fill1000() *exporter.Exporter {
	e := exporter.New(exporter.Kubernetes)
	for i := range 1000 {
		tg := target1000(i)
		e.Kill(tg, oom.CauseContainerLimit, 1+i%3)
		e.Warning(tg, 0.9)
		e.Recommend(tg, cgroup.Bytes(i)<<20, cgroup.Bytes(i)<<20, cgroup.Bytes(i)<<19)
	}
	return e
}

func target1000(i int) exporter.Target {
	return exporter.Target{Namespace: fmt.Sprintf("ns%d", i%20), Pod: fmt.Sprintf("web-%d-abcde", i), Container: "app"}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// promAccept is what Prometheus 2.42 sends.
const promAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// BenchmarkScrape1000 serves /metrics for 1,000 containers' series (10
// causes each, a warning threshold, three recommended settings) as
// Prometheus asks for it (its Accept, gzip): after one container was
// killed, after one crossed a warning threshold, after every container
// changed, and with nothing changed. Beside it, in the same run, the
// registry's way (promhttp over Gather, which the handler did before) and
// the parts of it: Gather alone, the text encoding alone. The machine is
// shared: CPU time per scrape is reported beside wall time.
func BenchmarkScrape1000(b *testing.B) {
	e := fill1000()
	series := testutil.CollectAndCount(e.Registry())
	i := 0
	for _, c := range []struct {
		name, enc string
		h         http.Handler
		change    func()
	}{
		{"one-kill-gzip", "gzip", e.Handler(), func() { i++; e.Kill(target1000(i%1000), oom.CauseDescendantKill, 1) }},
		{"one-kill-identity", "identity", e.Handler(), func() { i++; e.Kill(target1000(i%1000), oom.CauseLeak, 1) }},
		{"one-warning-gzip", "gzip", e.Handler(), func() { i++; e.Warning(target1000(i%1000), 0.8) }},
		{"all-changed-gzip", "gzip", e.Handler(), func() {
			for j := range 1000 {
				e.Kill(target1000(j), oom.CauseContainerLimit, 1)
			}
		}},
		{"unchanged-gzip", "gzip", e.Handler(), nil},
		{"registry-one-kill-gzip", "gzip", promhttp.HandlerFor(e.Registry(), promhttp.HandlerOpts{}), func() { i++; e.Kill(target1000(i%1000), oom.CauseLeak, 1) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", promAccept)
			req.Header.Set("Accept-Encoding", c.enc)
			b.ReportAllocs()
			var n int64
			var cpu time.Duration
			for b.Loop() {
				if c.change != nil {
					b.StopTimer()
					c.change() // something changed since the last scrape
					b.StartTimer()
				}
				c0 := cpuTime()
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
				n, _ = io.Copy(io.Discard, w.Body)
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(n), "bytes/scrape")
		})
	}
	b.Run("registry-gather", func(b *testing.B) {
		c0 := cpuTime()
		for b.Loop() {
			if _, err := e.Registry().Gather(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
	})
	b.Run("registry-encode", func(b *testing.B) {
		mfs, err := e.Registry().Gather()
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuTime()
		for b.Loop() {
			for _, mf := range mfs {
				if _, err := expfmt.MetricFamilyToText(io.Discard, mf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/op")
	})
}
