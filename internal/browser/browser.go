// Package browser opens pages in a real headless Chromium for tests: a
// screenshot to look for what was drawn, and the console's messages.
package browser

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// Chromium returns the path of Debian's chromium (or chromium-browser,
// google-chrome), or calls testenv.Unavailable.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "no chromium on PATH (.ci/run installs Debian's chromium)")
	return ""
}

// Shot is what the browser made of a page.
type Shot struct {
	Image image.Image
	// Console holds the page's console messages as Chromium logged them
	// (errors and uncaught exceptions included).
	Console []string
	// Log is Chromium's whole stderr, for failure messages.
	Log string
}

// Screenshot opens the HTML file in headless Chromium with a fresh
// profile and no network service chatter, at width x height, and returns
// the screenshot and the console's messages.
func Screenshot(t testing.TB, file string, width, height int) Shot {
	t.Helper()
	bin := Chromium(t)
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
		"--hide-scrollbars", "--force-device-scale-factor=1",
		"--screenshot="+out, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"file://"+abs)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", file, err, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v\n%s", err, stderr.String())
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	s := Shot{Image: img, Log: stderr.String()}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			s.Console = append(s.Console, l)
		}
	}
	return s
}

// near reports whether two colours are within tol on every channel.
func near(a color.Color, b color.RGBA, tol int) bool {
	r, g, bl, _ := a.RGBA()
	d := func(x uint32, y uint8) bool {
		v := int(x>>8) - int(y)
		return v <= tol && v >= -tol
	}
	return d(r, b.R) && d(g, b.G) && d(bl, b.B)
}

// Count returns how many pixels of the rectangle are within tol of c.
func Count(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if near(img.At(x, y), c, tol) {
				n++
			}
		}
	}
	return n
}

// Columns returns the columns holding at least one pixel within tol of c:
// how far a line of that colour reaches across the image.
func Columns(img image.Image, c color.RGBA, tol int) []int {
	var cols []int
	b := img.Bounds()
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if near(img.At(x, y), c, tol) {
				cols = append(cols, x)
				break
			}
		}
	}
	return cols
}

// Save copies the screenshot to path (for the README's docs/).
func Save(t testing.TB, s Shot, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, s.Image); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
