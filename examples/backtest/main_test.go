package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/internal/browser"
)

func TestFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	header := filepath.Join(dir, "header-only.csv")
	require.NoError(t, os.WriteFile(header, []byte("time,bytes\n"), 0o644))
	short := filepath.Join(dir, "short.csv")
	require.NoError(t, os.WriteFile(short, []byte("time,bytes\n0,1000000\n30,2000000\n60,3000000\n"), 0o644))
	for _, tc := range []struct {
		args []string
		name string
		code int
	}{
		{[]string{"--cadence", "0s"}, "--cadence 0s", 2},
		{[]string{"--cadence", "-5s"}, "--cadence", 2},
		{[]string{"--warmup", "-1s"}, "--warmup", 2},
		{[]string{"--warmup", "10m", short}, "--warmup 10m0s: trace short spans only 1m0s", 2},
		{[]string{"--warmup", "24h"}, "--warmup 24h0m0s", 2},
		{[]string{header}, "header-only.csv: 0 sample(s)", 1},
		{[]string{"/nonexistent.csv"}, "/nonexistent.csv", 2},
		{[]string{"--html", "/nonexistent/dir/x.html"}, "--html", 2},
		{[]string{"--nosuch"}, "nosuch", 2},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, tc.code, cli(tc.args, &out, &errb), "%v: %s", tc.args, errb.String())
		assert.Contains(t, errb.String(), tc.name, "%v", tc.args)
		assert.NotContains(t, out.String(), "0 / 0%", "%v: no score for testing nothing", tc.args)
	}
	var out, errb bytes.Buffer
	require.Equal(t, 0, cli([]string{"--help"}, &out, &errb))
	for _, s := range []string{"replays", "CSV files", "anon_bytes", "Example:"} {
		assert.Contains(t, errb.String(), s)
	}
}

// TestChartInBrowser replays the embedded traces and opens the chart page
// in headless Chromium: the working set (black) and oomkit's applied
// limit (the palette's first colour) are drawn for the first trace.
func TestChartInBrowser(t *testing.T) {
	browser.Chromium(t)
	page := filepath.Join(t.TempDir(), "backtest.html")
	var out, errb bytes.Buffer
	require.Equal(t, 0, cli([]string{"--html", page}, &out, &errb), errb.String())
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.NotContains(t, string(html), "<script")
	for _, s := range []string{"trace batch-spike", "oomkit limit", "vpa limit", "vpa kill"} {
		assert.Contains(t, string(html), s)
	}
	s := browser.Screenshot(t, page, 1000, 760)
	assert.Empty(t, s.Console)
	assert.Greater(t, len(browser.Columns(s.Image, chart.Palette[0], 40)), 400, "oomkit's applied limit")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Palette[1], 40)), 250, "vpa's applied limit (dotted)")
	if dir := os.Getenv("OOMKIT_SCREENSHOTS"); dir != "" {
		browser.Save(t, s, filepath.Join(dir, "backtest.png"))
	}
}
