package chart_test

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/internal/browser"
)

func testChart() chart.Chart {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.Local)
	var usage []chart.Point
	for i := range 61 {
		usage = append(usage, chart.Point{Time: t0.Add(time.Duration(i) * time.Second), Bytes: float64(10+i) * (1 << 20)})
	}
	return chart.Chart{
		Title:  "test: a rising line, a limit and a kill",
		Series: []chart.Series{{Name: "usage", Points: usage, Color: chart.Blue}},
		Levels: []chart.Level{{Name: "limit", Bytes: 100 << 20, Color: chart.Red}},
		Marks:  []chart.Mark{{Name: "OOM kill", Time: t0.Add(45 * time.Second), Color: chart.Black}},
	}
}

// SelfContained checks that a page fetches nothing: no script, no
// external reference (the SVG namespace is a name, not a fetch).
func SelfContained(t *testing.T, html []byte) {
	t.Helper()
	assert.NotContains(t, string(html), "<script")
	ext := regexp.MustCompile(`(?i)(src=|href=|url\(|@import)\s*["']?(https?:|//)`)
	assert.Nil(t, ext.Find(html), "external reference in the page")
}

func TestChartInBrowser(t *testing.T) {
	dir := t.TempDir()
	// The console check sees an error when there is one.
	probe := filepath.Join(dir, "probe.html")
	require.NoError(t, os.WriteFile(probe, []byte(`<!DOCTYPE html><html><body><script>console.error("oomkit-console-probe")</script></body></html>`), 0o644))
	s := browser.Screenshot(t, probe, 400, 300)
	require.NotEmpty(t, s.Console, "chromium's log shows no console message for a page that logs one:\n%s", s.Log)
	assert.Contains(t, s.Console[0], "oomkit-console-probe")

	var buf bytes.Buffer
	require.NoError(t, chart.Page{Title: "chart test", Lines: []string{"one line of text"}, Charts: []chart.Chart{testChart()}}.WriteHTML(&buf))
	SelfContained(t, buf.Bytes())
	page := filepath.Join(dir, "chart.html")
	require.NoError(t, os.WriteFile(page, buf.Bytes(), 0o644))
	s = browser.Screenshot(t, page, 1000, 680)
	assert.Empty(t, s.Console, "console messages")
	img := s.Image

	// The limit: a red horizontal line across most of the plot.
	red := browser.Columns(img, chart.Red, 40)
	assert.Greater(t, len(red), 500, "the red (dashed) limit line spans the plot")
	// The usage: blue, rising (lower on the screen on the left).
	b := img.Bounds()
	left := image.Rect(b.Min.X, b.Min.Y, b.Min.X+b.Dx()/3, b.Max.Y)
	right := image.Rect(b.Max.X-b.Dx()/3, b.Min.Y, b.Max.X, b.Max.Y)
	ly, ln := meanY(img, left)
	ry, rn := meanY(img, right)
	require.Positive(t, ln, "blue pixels on the left")
	require.Positive(t, rn, "blue pixels on the right")
	assert.Greater(t, ly, ry+50, "the usage line rises left to right")
	// The kill: a dark vertical line in the plot's right half.
	best := 0
	for x := b.Min.X + b.Dx()/2; x < b.Max.X-20; x++ {
		best = max(best, browser.Count(img, image.Rect(x, b.Min.Y, x+1, b.Max.Y), chart.Black, 60))
	}
	assert.Greater(t, best, 250, "a kill mark: a tall dark column")
	if os.Getenv("OOMKIT_SCREENSHOTS") != "" {
		browser.Save(t, s, filepath.Join(os.Getenv("OOMKIT_SCREENSHOTS"), "chart-test.png"))
	}
}

func meanY(img image.Image, r image.Rectangle) (float64, int) {
	var sum, n int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if browser.Count(img, image.Rect(x, y, x+1, y+1), chart.Blue, 40) == 1 {
				sum += y
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(sum) / float64(n), n
}

func TestEmpty(t *testing.T) {
	_, err := chart.Chart{Title: "none"}.SVG()
	require.ErrorIs(t, err, chart.ErrEmpty)
}
