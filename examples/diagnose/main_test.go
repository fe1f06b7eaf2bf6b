package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/internal/browser"
	"github.com/oomkit/oomkit/internal/testenv"
)

func TestFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string // what the error must name
	}{
		{[]string{"--pid", "0"}, "--pid 0"}, {[]string{"--pid", "-1"}, "--pid -1"},
		{[]string{"--kernel-log", "/nonexistent"}, "--kernel-log"},
		{[]string{"--container", "a", "--cgroup", "b"}, "--container and --cgroup"},
		{[]string{"--all", "--pid", "1"}, "--pid and --all"}, {[]string{"--follow"}, "--follow"},
		{[]string{"extra"}, "extra"}, {[]string{"--container", "a", "extra"}, "extra"},
		{[]string{"--container", ""}, "--container"}, {[]string{"--nosuch"}, "nosuch"},
		{[]string{"--profile", "cobol"}, "--profile \"cobol\": unknown (generic, jvm"},
	} {
		var out, errb bytes.Buffer
		code := cli(tc.args, &out, &errb)
		assert.Equal(t, 2, code, "%v: %s", tc.args, errb.String())
		assert.Empty(t, out.String(), "%v printed a result", tc.args)
		assert.Contains(t, errb.String(), tc.name, "%v: the error names it", tc.args)
	}
}

func TestHelpSaysWhat(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, cli([]string{"--help"}, &out, &errb))
	h := errb.String()
	for _, s := range []string{"OOM-killed", "--all", "embedded demo", "root", "Example:", "JSON Lines"} {
		assert.Contains(t, h, s)
	}
}

func TestEmbeddedDemo(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, cli(nil, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "container_limit")
	assert.Contains(t, out.String(), "--memory 141m")
	assert.NotContains(t, out.String(), "Now:", "the dead cgroup's leftover usage is not its use")
}

// create runs the test image with a 32 MiB limit and returns its name.
func create(t *testing.T, cli *client.Client, cmd ...string) string {
	t.Helper()
	return createWith(t, cli, container.RestartPolicy{}, cmd...)
}

func createWith(t *testing.T, cli *client.Client, restart container.RestartPolicy, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("oomkit-all-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	hc := &container.HostConfig{Resources: container.Resources{Memory: 32 << 20, MemorySwap: 32 << 20}, Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none", RestartPolicy: restart}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: cmd}, hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	require.NoError(t, cli.ContainerStart(ctx, c.ID, container.StartOptions{}))
	return name
}

func wait(t *testing.T, cli *client.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	okC, errC := cli.ContainerWait(ctx, name, container.WaitConditionNotRunning)
	select {
	case <-okC:
	case err := <-errC:
		t.Fatal(err)
	}
}

// TestRealAll: an OOM-killed container, one killed by docker kill, one
// running near its limit, each with its verdict in one --all run, as JSON
// Lines and as the table.
func TestRealAll(t *testing.T) {
	dc := testenv.Docker(t)
	testenv.KernelReports(t)
	bin := testenv.Build(t, "github.com/oomkit/oomkit/examples/diagnose")
	oomed := create(t, dc, "/memhog", "-total", "200MiB")
	killed := create(t, dc, "sleep", "600")
	near := create(t, dc, "/memhog", "-total", "29MiB", "-hold")
	// Killed at its limit, then started again by its restart policy (the
	// second run finds /tmp/x and sleeps): running, killed earlier.
	restarted := createWith(t, dc, container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2},
		"sh", "-c", "if [ -e /tmp/x ]; then exec sleep 600; else touch /tmp/x; exec /memhog -total 200MiB; fi")
	require.NoError(t, dc.ContainerKill(context.Background(), killed, "KILL"))
	wait(t, dc, oomed)
	wait(t, dc, killed)
	require.Eventually(t, func() bool {
		st, err := dc.ContainerStats(context.Background(), near, false)
		if err != nil {
			return false
		}
		defer func() { _ = st.Body.Close() }()
		var s container.StatsResponse
		return json.NewDecoder(st.Body).Decode(&s) == nil && s.MemoryStats.Usage >= 29<<20
	}, 20*time.Second, 100*time.Millisecond)

	require.Eventually(t, func() bool {
		in, err := dc.ContainerInspect(context.Background(), restarted)
		return err == nil && in.RestartCount >= 1 && in.State.Running
	}, 30*time.Second, 200*time.Millisecond, "restarted after its kill")
	out, err := exec.Command(bin, "--all", "--json").Output()
	require.NoError(t, err)
	rows := map[string]map[string]any{}
	hostKills := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		switch m["kind"] {
		case "container":
			rows[m["name"].(string)] = m
		case "host_kill":
			hostKills++
			assert.NotEmpty(t, m["time"], "a host kill from the live log has a wall time: %s", sc.Text())
		default:
			t.Errorf("unknown kind: %s", sc.Text())
		}
	}
	require.Contains(t, rows, oomed)
	assert.Equal(t, "container_limit", rows[oomed]["cause"])
	assert.Equal(t, true, rows[oomed]["killed"])
	assert.NotEmpty(t, rows[oomed]["apply"].(map[string]any)["docker"])
	require.Contains(t, rows, killed)
	assert.Equal(t, "not_oom", rows[killed]["cause"])
	assert.Equal(t, false, rows[killed]["killed"])
	require.Contains(t, rows, near)
	u := rows[near]["usage"].(map[string]any)
	assert.EqualValues(t, 32<<20, u["limit_bytes"])
	assert.GreaterOrEqual(t, u["used_percent"].(float64), 85.0)
	assert.Contains(t, u["risk"], "OOM-killed")
	assert.Contains(t, u["risk"], "examples/recommend --container "+near)

	require.Contains(t, rows, restarted)
	assert.Equal(t, "container_limit", rows[restarted]["cause"], "the main process was the victim, then restarted: not a child kill")
	assert.Equal(t, true, rows[restarted]["killed"])
	assert.Equal(t, "running", rows[restarted]["state"])
	assert.GreaterOrEqual(t, rows[restarted]["restarts"].(float64), 1.0)

	table, err := exec.Command(bin, "--all").Output()
	require.NoError(t, err)
	lines := map[string]string{}
	for _, l := range strings.Split(string(table), "\n") {
		for _, n := range []string{oomed, killed, near, restarted} {
			if strings.HasPrefix(l, n+" ") {
				lines[n] = l
			}
		}
	}
	assert.Contains(t, lines[oomed], "container_limit")
	assert.Contains(t, lines[oomed], "docker update --memory 141m --memory-swap 141m "+oomed)
	assert.Contains(t, lines[killed], "not_oom")
	assert.Contains(t, lines[near], "RISK")
	assert.Contains(t, lines[restarted], "killed earlier: container_limit")
	assert.Contains(t, string(table), "Kernel OOM kills that belong to no container")
}

// TestRealFollowChart follows a leaking container to its kill and opens
// the chart in headless Chromium: the limit (red), the reservation
// (orange), the working set (green) and the kill (a dark vertical line)
// are drawn, and the page logs nothing to the console.
func TestRealFollowChart(t *testing.T) {
	dc := testenv.Docker(t)
	testenv.KernelReports(t)
	browser.Chromium(t)
	bin := testenv.Build(t, "github.com/oomkit/oomkit/examples/diagnose")
	ctx := context.Background()
	name := fmt.Sprintf("oomkit-chart-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	hc := &container.HostConfig{Resources: container.Resources{Memory: 96 << 20, MemorySwap: 96 << 20, MemoryReservation: 48 << 20},
		Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none"}
	c, err := dc.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: []string{"sh", "-c", "sleep 1; exec /memhog -step 1MiB -interval 40ms -total 0"}}, hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dc.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	require.NoError(t, dc.ContainerStart(ctx, c.ID, container.StartOptions{}))
	page := filepath.Join(t.TempDir(), "follow.html")
	out, err := exec.Command(bin, "--container", name, "--follow", "--html", page, "--json").Output()
	require.NoError(t, err)
	var d map[string]any
	require.NoError(t, json.Unmarshal(out, &d))
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.NotContains(t, string(html), "<script")
	assert.Contains(t, string(html), "limit 96MiB")
	assert.Contains(t, string(html), "reservation 48MiB")
	assert.Contains(t, string(html), "OOM kill")
	if d["leak"] != nil {
		assert.Contains(t, string(html), "leak forecast")
	}

	s := browser.Screenshot(t, page, 1000, 800)
	assert.Empty(t, s.Console)
	assert.Greater(t, len(browser.Columns(s.Image, chart.Red, 40)), 400, "limit line")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Orange, 40)), 400, "reservation line")
	assert.Greater(t, len(browser.Columns(s.Image, chart.Green, 40)), 300, "working set line")
	b := s.Image.Bounds()
	best := 0
	for x := b.Min.X + b.Dx()/3; x < b.Max.X-20; x++ {
		best = max(best, browser.Count(s.Image, image.Rect(x, b.Min.Y+100, x+1, b.Max.Y), chart.Black, 60))
	}
	assert.Greater(t, best, 250, "the kill: a tall dark column")
	if dir := os.Getenv("OOMKIT_SCREENSHOTS"); dir != "" {
		browser.Save(t, s, filepath.Join(dir, "diagnose-follow.png"))
	}
}

// TestRealTextReport: the report a person reads. A healthy running
// container shows its use and headroom (not "unknown, confidence 0%"); a
// stopped one says plainly why its cgroup is not read; a child's kill
// never sets Docker's OOMKilled=false beside "Docker says OOMKilled".
func TestRealTextReport(t *testing.T) {
	dc := testenv.Docker(t)
	testenv.KernelReports(t)
	bin := testenv.Build(t, "github.com/oomkit/oomkit/examples/diagnose")
	healthy := create(t, dc, "sleep", "600")
	child := create(t, dc, "sh", "-c", "/memhog -total 200MiB; sleep 1")
	wait(t, dc, child)
	text := func(name string) string {
		out, err := exec.Command(bin, "--container", name).Output()
		require.NoError(t, err)
		return string(out)
	}
	h := text(healthy)
	assert.NotContains(t, h, "confidence 0%")
	assert.Contains(t, h, "no OOM kill found")
	assert.Contains(t, h, "Now:      working set")
	assert.Contains(t, h, "limit 32MiB, headroom")
	assert.NotContains(t, h, "Not read")

	c := text(child)
	assert.Contains(t, c, "child_killed")
	assert.NotContains(t, c, "Not available")
	assert.Contains(t, c, "Not read (the container has stopped, so its cgroup is gone")
	if strings.Contains(c, "OOMKilled=false") {
		assert.NotContains(t, c, "Docker says OOMKilled", "Docker's state said false:\n%s", c)
	}
	for _, l := range strings.Split(c, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--memory") {
			assert.Regexp(t, `--memory \d+m: `, l, "a setting always has its value")
		}
	}
}
