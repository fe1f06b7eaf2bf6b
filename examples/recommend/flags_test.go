package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/internal/browser"
	"github.com/oomkit/oomkit/internal/testenv"
)

const pkg = "github.com/oomkit/oomkit/examples/recommend"

func runBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testenv.Build(t, pkg), args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return o.String(), e.String(), code
}

func TestFlagsRefused(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.csv")
	require.NoError(t, os.WriteFile(empty, []byte("time,bytes\n"), 0o644))
	for _, tc := range []struct {
		args []string
		name string
		code int
	}{
		{[]string{"extra"}, `"extra"`, 2},
		{[]string{"--csv", "a.csv", "--container", "b"}, "--csv and --container", 2},
		{[]string{"--trace", "slow-leak", "--csv", "a.csv"}, "--csv and --trace", 2},
		{[]string{"--duration", "5s"}, "--duration", 2},
		{[]string{"--container", "x", "--duration", "0s"}, "--duration 0s", 2},
		{[]string{"--selector", "{}"}, "--selector needs --prometheus", 2},
		{[]string{"--profile", "cobol"}, "--profile", 2},
		{[]string{"--format", "xml"}, "--format", 2},
		{[]string{"--csv", "/nonexistent.csv"}, "/nonexistent.csv", 2},
		{[]string{"--html", "/nonexistent/dir/x.html"}, "--html", 2},
		{[]string{"--csv", empty}, "no samples", 1},
	} {
		out, errOut, code := runBin(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.name, "%v", tc.args)
		assert.Empty(t, out, "%v printed a result", tc.args)
	}
}

func TestHelp(t *testing.T) {
	_, errOut, code := runBin(t, "--help")
	assert.Equal(t, 0, code)
	for _, s := range []string{"sizes a container's memory", "CSV:", "anon_bytes", "Profiles: generic, jvm, go, node, database, batch", "Example:", "com.docker.compose.service"} {
		assert.Contains(t, errOut, s)
	}
}

// TestRealComposeService: a container Compose named proj-web-1 gets its
// override under its service, web.
func TestRealComposeService(t *testing.T) {
	dc := testenv.Docker(t)
	ctx := context.Background()
	name := fmt.Sprintf("proj-web-1-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	c, err := dc.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: []string{"sleep", "60"},
		Labels: map[string]string{"com.docker.compose.project": "proj", "com.docker.compose.service": "web"}},
		&container.HostConfig{NetworkMode: "none", Resources: container.Resources{Memory: 64 << 20}}, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dc.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	require.NoError(t, dc.ContainerStart(ctx, c.ID, container.StartOptions{}))
	out, errOut, code := runBin(t, "--container", name, "--duration", "3s", "--format", "compose")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `\n    web:( \{\})?\n`, out, "the service (with no memory keys while 3 s of samples are too few for a limit)")
	assert.NotContains(t, out, name)
}

// TestChartInBrowser: the embedded trace's chart with the recommended
// limit and reservation, opened in headless Chromium.
func TestChartInBrowser(t *testing.T) {
	browser.Chromium(t)
	page := filepath.Join(t.TempDir(), "rec.html")
	out, errOut, code := runBin(t, "--trace", "slow-leak", "--html", page)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "docker run --memory=")
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.NotContains(t, string(html), "<script")
	assert.Contains(t, string(html), "recommended limit")
	s := browser.Screenshot(t, page, 1000, 780)
	assert.Empty(t, s.Console)
	assert.Greater(t, len(browser.Columns(s.Image, chart.Red, 40)), 400, "the recommended limit")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Orange, 40)), 400, "the recommended reservation")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Green, 40)), 500, "the working set over the whole trace")
	if dir := os.Getenv("OOMKIT_SCREENSHOTS"); dir != "" {
		browser.Save(t, s, filepath.Join(dir, "recommend.png"))
	}
}

// TestNoLimitYetNoBlankCommand: a history too short for a limit prints why,
// never a "docker run  ..." with nothing in it.
func TestNoLimitYetNoBlankCommand(t *testing.T) {
	f := filepath.Join(t.TempDir(), "short.csv")
	require.NoError(t, os.WriteFile(f, []byte("time,bytes\n0,100000000\n1,100000000\n2,101000000\n"), 0o644))
	out, errOut, code := runBin(t, "--csv", f)
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, out, "docker run  ")
	assert.Contains(t, out, "# no limit to set yet: ")
}
