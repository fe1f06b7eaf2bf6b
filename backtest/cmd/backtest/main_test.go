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

// TestChartInBrowser replays the recorded traces with -html and opens the
// page in headless Chromium: the working set (black) and oomkit's and the
// VPA's applied limits (the palette's first two colours) are drawn, and
// the page logs nothing to the console.
func TestChartInBrowser(t *testing.T) {
	browser.Chromium(t)
	page := filepath.Join(t.TempDir(), "backtest.html")
	htmlFile = page
	t.Cleanup(func() { htmlFile = "" })
	var out bytes.Buffer
	require.NoError(t, run(&out, "../../../recommend/testdata/traces", filepath.Join(t.TempDir(), "none"), "", false, false))
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.NotContains(t, string(html), "<script")
	assert.Contains(t, string(html), "trace batch-spike")
	assert.Contains(t, string(html), "oomkit limit")
	s := browser.Screenshot(t, page, 1000, 760)
	assert.Empty(t, s.Console)
	assert.Greater(t, len(browser.Columns(s.Image, chart.Black, 40)), 500, "the working set")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Palette[0], 40)), 400, "oomkit's applied limit")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Palette[1], 40)), 250, "the second strategy's applied limit (dashed)")
	if dir := os.Getenv("OOMKIT_SCREENSHOTS"); dir != "" {
		browser.Save(t, s, filepath.Join(dir, "backtest.png"))
	}
}
