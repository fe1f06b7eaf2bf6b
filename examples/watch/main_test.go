package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
)

// The command is run as a user runs it: built, started, read from its
// output, stopped with Ctrl-C (SIGINT).

// proc is a running examples/watch: its stdout lines and its exit.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	exit  chan error
}

// startWatch starts the command and waits until it says on stderr that it
// is watching (the watch is armed then).
func startWatch(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(testenv.Build(t, "github.com/oomkit/oomkit/examples/watch"), args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, lines: make(chan string, 100), exit: make(chan error, 1)}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	armed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("watch stderr:", sc.Text())
			if strings.HasPrefix(sc.Text(), "watching ") {
				select {
				case armed <- sc.Text():
				default:
				}
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.exit <- cmd.Wait() }()
	select {
	case <-armed:
	case err := <-p.exit:
		t.Fatalf("watch exited before watching: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not start watching in 30 s")
	}
	return p
}

// next returns the next stdout line, failing after d.
func (p *proc) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		require.True(t, ok, "watch closed its output")
		return l
	case <-time.After(d):
		t.Fatalf("no output from watch in %s", d)
		return ""
	}
}

// exited waits for the command to exit on its own and checks it succeeded.
func (p *proc) exited(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-p.exit:
		require.NoError(t, err, "watch exit")
	case <-time.After(d):
		t.Fatalf("watch still running after %s", d)
	}
}

// TestCgroupKill watches a real cgroup whose process climbs to its limit
// and is killed: the 80% and 90% warnings come first, then the kill with
// its diagnosis, as JSON Lines; when the cgroup is removed the command ends
// by itself.
func TestCgroupKill(t *testing.T) {
	hog := testenv.MemHog(t)
	c := testenv.NewCgroup(t, nil, "watch")
	c.SetLimit(32 << 20)
	p := startWatch(t, "--cgroup", c.Path, "--json")
	testenv.KernelReports(t)
	since := testenv.Uptime(t)
	ws := c.Run(hog, "-step", "1MiB", "-interval", "20ms", "-total", "200MiB")
	require.True(t, ws.Signaled(), "memhog must be OOM-killed, got %v", ws)

	var kinds []string
	var fracs []float64
	var kill line
	for kill.Kind == "" {
		raw := p.next(t, 15*time.Second)
		var l line
		require.NoError(t, json.Unmarshal([]byte(raw), &l), raw)
		assert.Equal(t, c.Path, l.Cgroup)
		kinds = append(kinds, l.Kind)
		switch l.Kind {
		case "threshold":
			fracs = append(fracs, l.Fraction)
			assert.Equal(t, int64(32<<20), l.LimitB)
			assert.GreaterOrEqual(t, float64(l.UsageB), l.Fraction*float64(32<<20)*0.99, raw)
		case "oom":
			kill = l
		}
	}
	assert.Equal(t, []float64{0.8, 0.9}, fracs, "both warnings, in order, before the kill: %v", kinds)
	assert.Equal(t, uint64(1), kill.Kills)
	assert.Equal(t, oom.CauseContainerLimit, kill.Cause)
	victimNamed(t, kill.Victim, since, c.Path)
	assert.Contains(t, kill.Remedy, "--memory")

	// Removing the only watched cgroup ends the command cleanly.
	require.NoError(t, os.Remove(c.Dir))
	for l := range p.lines {
		assert.Contains(t, l, `"kind":"removed"`)
	}
	p.exited(t, 10*time.Second)
}

// TestDockerKillAndInterrupt watches the Engine's containers: a container
// started after the watch began is picked up, its kill is reported under its
// name, and Ctrl-C ends the command at once.
func TestDockerKillAndInterrupt(t *testing.T) {
	cli := testenv.Docker(t)
	hog := testenv.MemHog(t)
	p := startWatch(t)
	ctx := context.Background()
	name := fmt.Sprintf("oomkit-watch-%d", time.Now().UnixNano()%1e6)
	hc := &container.HostConfig{
		Resources: container.Resources{Memory: 32 << 20, MemorySwap: 32 << 20},
		Binds:     []string{hog + ":/memhog:ro"}, NetworkMode: "none",
	}
	// It waits for /tmp/go, so the kill cannot come before the watch has
	// seen the container start.
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(),
		Cmd: []string{"sh", "-c", "until [ -e /tmp/go ]; do sleep 0.1; done; exec /memhog -step 1MiB -interval 10ms -total 200MiB"}},
		hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	require.NoError(t, cli.ContainerStart(ctx, created.ID, container.StartOptions{}))
	time.Sleep(2 * time.Second) // the start event reaches the watch
	// Its cgroup as the kernel names it: /docker/<id> by default, under
	// the Engine's --cgroup-parent otherwise (as in .ci/run).
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	cg, err := fs.FindContainer(created.ID)
	require.NoError(t, err)
	testenv.KernelReports(t)
	since := testenv.Uptime(t)
	exec, err := cli.ContainerExecCreate(ctx, created.ID, container.ExecOptions{Cmd: []string{"sh", "-c", "echo > /tmp/go"}})
	require.NoError(t, err)
	require.NoError(t, cli.ContainerExecStart(ctx, exec.ID, container.ExecStartOptions{Detach: true}))

	deadline := time.Now().Add(30 * time.Second)
	var killLine string
	for killLine == "" && time.Now().Before(deadline) {
		l := p.next(t, time.Until(deadline))
		if strings.Contains(l, " KILL "+name+":") {
			killLine = l
		}
	}
	require.NotEmpty(t, killLine)
	assert.Contains(t, killLine, "cause container_limit")
	victimNamed(t, killLine, since, cg.Path())

	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	p.exited(t, 5*time.Second)
	t.Logf("exited %s after SIGINT", time.Since(start).Round(time.Millisecond))
}

// victimNamed checks that the kill names memhog as its victim, unless the
// kernel's report never named the cgroup: the kernel rate-limits the
// report's header (ten per five seconds, shared with every test that kills
// beside this one) and keeps only the "Killed process" line, which names no
// cgroup.
func victimNamed(t *testing.T, victim string, since time.Duration, cgroupPath string) {
	t.Helper()
	if strings.Contains(victim, "memhog") {
		return
	}
	log := string(testenv.KernelLogSince(t, since))
	require.NotContains(t, log, "task_memcg="+cgroupPath+",", "the kernel's report names the cgroup, yet no victim was named: %s", victim)
	require.Contains(t, log, "(memhog)", "the kill is in the kernel log")
	t.Logf("the kernel's report header was rate-limited: no victim named (%s)", victim)
}

func TestFlagsRefused(t *testing.T) {
	bin := testenv.Build(t, "github.com/oomkit/oomkit/examples/watch")
	for _, tc := range []struct {
		args []string
		name string
	}{
		{[]string{"--thresholds", "5,-1"}, "--thresholds 5,-1"},
		{[]string{"--thresholds", "0.8,"}, "--thresholds"},
		{[]string{"--thresholds", "0"}, "--thresholds"},
		{[]string{"extra"}, `"extra"`},
		{[]string{"--cgroup", ""}, "--cgroup"},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v", tc.args)
		assert.Equal(t, 2, ee.ExitCode(), "%v", tc.args)
		assert.Contains(t, string(ee.Stderr), tc.name, "%v", tc.args)
		assert.Empty(t, out)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "Example:")
	assert.Contains(t, string(out), "exit code")
}

// TestDockerExitCodes: docker kill, docker stop (on a process that ignores
// SIGTERM) and a restart policy each get their exit code and meaning on
// their REMOVED line (not a bare REMOVED), and the restart its own line.
func TestDockerExitCodes(t *testing.T) {
	cli := testenv.Docker(t)
	p := startWatch(t, "--json")
	ctx := context.Background()
	run := func(suffix string, policy container.RestartPolicyMode, cmd ...string) string {
		name := fmt.Sprintf("oomkit-exit-%s-%d", suffix, time.Now().UnixNano()%1e9)
		hc := &container.HostConfig{NetworkMode: "none", RestartPolicy: container.RestartPolicy{Name: policy, MaximumRetryCount: 1}}
		if policy == "" {
			hc.RestartPolicy = container.RestartPolicy{}
		}
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: cmd}, hc, nil, nil, name)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		require.NoError(t, cli.ContainerStart(ctx, c.ID, container.StartOptions{}))
		return name
	}
	killed := run("kill", "", "sleep", "600")
	stopped := run("stop", "", "sleep", "600")
	looped := run("restart", container.RestartPolicyOnFailure, "sh", "-c", "sleep 2; exit 3")
	time.Sleep(time.Second)
	require.NoError(t, cli.ContainerKill(ctx, killed, "KILL"))
	timeout := 1
	require.NoError(t, cli.ContainerStop(ctx, stopped, container.StopOptions{Timeout: &timeout}))

	got := map[string][]line{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (len(got[killed]) == 0 || len(got[stopped]) == 0 || len(got[looped]) < 3) {
		raw := p.next(t, time.Until(deadline))
		var l line
		require.NoError(t, json.Unmarshal([]byte(raw), &l), raw)
		if l.Kind == "removed" && l.ExitCode == nil && (l.Container == killed || l.Container == stopped || l.Container == looped) {
			t.Errorf("bare removed line for a container: %s", raw)
		}
		if l.Kind == "removed" || l.Kind == "restart" {
			got[l.Container] = append(got[l.Container], l)
		}
	}
	require.NotEmpty(t, got[killed])
	k := got[killed][0]
	require.NotNil(t, k.ExitCode)
	assert.Equal(t, 137, *k.ExitCode)
	assert.Contains(t, k.Meaning, "docker kill")
	assert.Contains(t, k.Meaning, "not an OOM kill")
	require.NotEmpty(t, got[stopped])
	assert.Equal(t, 137, *got[stopped][0].ExitCode, "sleep as PID 1 ignores SIGTERM: stop's timeout kills it")
	require.GreaterOrEqual(t, len(got[looped]), 3, "exit, restart, exit: %+v", got[looped])
	assert.Equal(t, "removed", got[looped][0].Kind)
	assert.Equal(t, 3, *got[looped][0].ExitCode)
	assert.Equal(t, "restart", got[looped][1].Kind)
	assert.Equal(t, 3, *got[looped][1].ExitCode)
	assert.Contains(t, got[looped][0].Meaning, "own error")
}
