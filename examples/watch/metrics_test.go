package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/exporter"
	"github.com/oomkit/oomkit/internal/promtest"
	"github.com/oomkit/oomkit/internal/testenv"
)

// TestListen: watch --listen serves the kill of a real cgroup, with its
// cause, and the warnings before it; a real Prometheus scrapes them.
func TestListen(t *testing.T) {
	promtest.Binaries(t)
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "watchmetrics")
	c.SetLimit(32 << 20)
	addr := "127.0.0.1:" + strconv.Itoa(promtest.FreePort(t))
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: watch\n    static_configs:\n      - targets: [%q]\n", addr)
	prom := promtest.Start(t, t.TempDir(), cfg)
	p := startWatch(t, "--cgroup", c.Path, "--json", "--listen", addr)

	// Known before any kill: every cause at 0.
	fams := scrape(t, addr)
	require.Contains(t, fams, "oomkit_oom_kills_total")
	assert.Len(t, fams["oomkit_oom_kills_total"].GetMetric(), len(exporter.Causes))

	testenv.KernelReports(t)
	ws := c.Run(hog, "-step", "1MiB", "-interval", "20ms", "-total", "200MiB")
	require.True(t, ws.Signaled(), "memhog must be OOM-killed, got %v", ws)
	var cause string
	for cause == "" {
		var l line
		raw := p.next(t, 15*time.Second)
		require.NoError(t, json.Unmarshal([]byte(raw), &l), raw)
		if l.Kind == "oom" {
			cause = string(l.Cause)
		}
	}
	fams = scrape(t, addr)
	byCause := map[string]float64{}
	for _, m := range fams["oomkit_oom_kills_total"].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		assert.Equal(t, c.Path, labels["container"])
		byCause[labels["cause"]] = m.GetCounter().GetValue()
	}
	assert.Equal(t, 1.0, byCause[cause], "the kill under the cause printed (%s): %v", cause, byCause)
	assert.Equal(t, "container_limit", cause)
	var warned float64
	for _, m := range fams["oomkit_memory_warnings_total"].GetMetric() {
		warned += m.GetCounter().GetValue()
	}
	assert.Equal(t, 2.0, warned, "0.8 and 0.9 crossed")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := fmt.Sprintf(`oomkit_oom_kills_total{job="watch",cause=%q,container=%q}`, cause, c.Path)
	err := promtest.WaitFor(ctx, func() bool { return promValue(t, prom.URL, q) == "1" })
	require.NoError(t, err, "Prometheus never scraped the kill:\n%s", prom.Log())
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

func promValue(t *testing.T, base, q string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) != 1 {
		return ""
	}
	return fmt.Sprint(r.Data.Result[0].Value[1])
}
