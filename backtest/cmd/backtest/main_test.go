package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/backtest"
	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/internal/browser"
	"github.com/oomkit/oomkit/recommend"
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

// TestParseTuning reads -tuning: named constants change, the others keep
// their defaults, and a bad pair is an error naming the flag.
func TestParseTuning(t *testing.T) {
	tu, err := parseTuning("Margin=0.14, MaxHalfLife=12h,ColdSamples=5")
	require.NoError(t, err)
	want := recommend.DefaultTuning()
	want.Margin, want.MaxHalfLife, want.ColdSamples = 0.14, 12*time.Hour, 5
	assert.Equal(t, want, tu)
	for in, msg := range map[string]string{
		"Margn=0.1":        `no constant "Margn" (the constants: Margin, Confidence,`,
		"Margin":           `"Margin" is not Name=value`,
		"Margin=":          `"Margin=" is not Name=value`,
		"Margin=lots":      `Margin: "lots" is not a finite number`,
		"Margin=NaN":       `Margin: "NaN" is not a finite number`,
		"ColdSamples=2.5":  `ColdSamples: "2.5" is not a whole number`,
		"MaxHalfLife=12":   `MaxHalfLife: time: missing unit`,
		"Margin=5":         "recommend: ",
		"GrowthWindow=1.5": "recommend: ",
	} {
		_, err := parseTuning(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), "-tuning "+strconv.Quote(in), in)
		assert.Contains(t, err.Error(), msg, in)
	}
}

// TestRunWithTuning replays the recorded traces with a larger margin:
// oomkit's slack grows on every trace, the peers' does not move, and the
// output says the constants are not the defaults.
func TestRunWithTuning(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	var def, wide bytes.Buffer
	require.NoError(t, run(&def, "../../../recommend/testdata/traces", none, "", true, false))
	tu, err := parseTuning("Margin=0.3")
	require.NoError(t, err)
	tune = &tu
	t.Cleanup(func() { tune = nil })
	require.NoError(t, run(&wide, "../../../recommend/testdata/traces", none, "", true, false))
	var a, b struct {
		Table  backtest.Table
		Tuning *recommend.Tuning
	}
	require.NoError(t, json.Unmarshal(def.Bytes(), &a))
	require.NoError(t, json.Unmarshal(wide.Bytes(), &b))
	assert.Nil(t, a.Tuning, "the defaults: no tuning key")
	require.NotNil(t, b.Tuning)
	assert.InDelta(t, 0.3, b.Tuning.Margin, 0)
	require.Equal(t, a.Table.Traces, b.Table.Traces)
	require.NotEmpty(t, a.Table.Traces)
	for j := range a.Table.Results {
		assert.Greater(t, b.Table.Results[j][0].MeanSlack, a.Table.Results[j][0].MeanSlack, "oomkit on %s", a.Table.Traces[j])
		assert.Equal(t, a.Table.Results[j][1:], b.Table.Results[j][1:], "the peers on %s", a.Table.Traces[j])
	}
	var md bytes.Buffer
	require.NoError(t, run(&md, "../../../recommend/testdata/traces", none, "", false, false))
	assert.Contains(t, md.String(), "oomkit with -tuning (not its defaults): {Margin:0.3 ")
}
