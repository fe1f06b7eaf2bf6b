package docker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// The scenarios of the diagnosis issue, run for real: a Docker Engine, the
// kernel's OOM killer, and each diagnosed both by the public API and by
// examples/diagnose --json.

const diagnosePkg = "github.com/oomkit/oomkit/examples/diagnose"

// cliDiagnosis runs examples/diagnose --json with args.
func cliDiagnosis(t *testing.T, args ...string) oom.Diagnosis {
	t.Helper()
	cmd := exec.Command(testenv.Build(t, diagnosePkg), append([]string{"--json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "examples/diagnose %v", args)
	var d oom.Diagnosis
	require.NoError(t, json.Unmarshal(out, &d), string(out))
	return d
}

// startContainer runs the test image with the memhog bound in and removes
// the container when the test ends.
func startContainer(t *testing.T, cli *client.Client, memory int64, cmd ...string) string {
	t.Helper()
	testenv.KernelReports(t)
	ctx := context.Background()
	hc := &container.HostConfig{Resources: container.Resources{Memory: memory}, Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none"}
	if memory > 0 {
		hc.MemorySwap = memory // no swap: the kill comes at the limit
	}
	name := fmt.Sprintf("oomkit-%s-%d", sanitize(t.Name()), time.Now().UnixNano()%1e6)
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: cmd}, hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	require.NoError(t, cli.ContainerStart(ctx, created.ID, container.StartOptions{}))
	return created.ID
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

func waitExit(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	okC, errC := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-okC:
	case err := <-errC:
		t.Fatalf("wait for %s: %v", id, err)
	}
}

func collector(t *testing.T, cli *client.Client) *docker.Collector {
	t.Helper()
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	return &docker.Collector{Collector: oom.Collector{FS: fs}, Client: cli}
}

func causes(d oom.Diagnosis) []oom.Cause {
	var out []oom.Cause
	for _, c := range d.Causes {
		out = append(out, c.Cause)
	}
	return out
}

func TestRealContainerLimit(t *testing.T) {
	cli := testenv.Docker(t)
	id := startContainer(t, cli, 32<<20, "/memhog", "-total", "200MiB")
	waitExit(t, cli, id)
	ev, err := collector(t, cli).Container(context.Background(), id)
	require.NoError(t, err)
	for _, d := range []oom.Diagnosis{oom.Diagnose(ev), cliDiagnosis(t, "--container", id)} {
		assert.Equal(t, oom.CauseContainerLimit, d.Cause, "causes %v", causes(d))
		assert.True(t, d.Killed)
		assert.Equal(t, "memhog", d.VictimComm)
		assert.Equal(t, cgroup.LimitOf(32<<20), d.LimitBytes)
		assert.Contains(t, d.OOMMemcg, id)
		require.NotEmpty(t, d.Remedies)
		assert.Equal(t, "--memory", d.Remedies[0].Setting)
	}
}

func TestRealLeak(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.Build(t, diagnosePkg) // now: the container leaks for seconds only, a build can take longer
	const step, interval = 1 << 20, 50 * time.Millisecond
	id := startContainer(t, cli, 96<<20, "sh", "-c", "sleep 1; exec /memhog -step 1MiB -interval 50ms -total 0")
	d := cliDiagnosis(t, "--container", id, "--follow")
	require.Contains(t, causes(d), oom.CauseLeak, "evidence %+v", d.Evidence)
	require.Contains(t, causes(d), oom.CauseContainerLimit)
	require.NotNil(t, d.Leak)
	nominal := float64(step) / interval.Hours()
	assert.InEpsilon(t, nominal, d.Leak.BytesPerHour, 0.25, "growth rate within 25%% of memhog's %s/h", cgroup.Bytes(nominal))
	assert.Equal(t, "leak", string(d.Cause), "a leak outranks the limit it runs into: %v", causes(d))
	assert.Contains(t, d.Remedies[0].Action, "fix the leak first")

	// The public API on the same evidence, gathered by the test itself.
	id2 := startContainer(t, cli, 96<<20, "sh", "-c", "sleep 1; exec /memhog -step 1MiB -interval 50ms -total 0")
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	cg, err := fs.FindContainer(id2)
	require.NoError(t, err)
	before, err := cg.SnapshotTree()
	require.NoError(t, err)
	var samples []cgroup.Sample
	for {
		s, err := cg.Snapshot()
		if err != nil {
			break
		}
		samples = append(samples, s.Sample())
		time.Sleep(100 * time.Millisecond)
	}
	waitExit(t, cli, id2)
	ev, err := collector(t, cli).Container(context.Background(), id2)
	require.NoError(t, err)
	ev.Before, ev.Samples = before, samples
	d2 := oom.Diagnose(ev)
	require.NotNil(t, d2.Leak)
	assert.Equal(t, oom.CauseLeak, d2.Cause)
	assert.Contains(t, causes(d2), oom.CauseContainerLimit)
	assert.InEpsilon(t, nominal, d2.Leak.BytesPerHour, 0.25)
}

func TestRealAncestorLimit(t *testing.T) {
	testenv.OwnMemoryCgroup(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	parent := testenv.NewCgroup(t, nil, "pod")
	parent.SetLimit(32 << 20)
	child := testenv.NewCgroup(t, parent, "ctr")
	cg, err := fs.Cgroup(child.Path)
	require.NoError(t, err)
	before, err := cg.SnapshotTree()
	require.NoError(t, err)
	testenv.KernelReports(t)
	start := testenv.Uptime(t)
	ws := child.Run(testenv.MemHog(t), "-total", "200MiB")
	require.True(t, ws.Signaled())
	klog := testenv.KernelLogSince(t, start)
	logFile := filepath.Join(t.TempDir(), "kmsg.log")
	require.NoError(t, os.WriteFile(logFile, klog, 0o644))

	col := &oom.Collector{FS: fs, KernelLog: func() ([]byte, error) { return klog, nil }}
	ev, err := col.Cgroup(child.Path)
	require.NoError(t, err)
	ev.Before = before
	exit := 137
	ev.ExitCode = &exit
	d := oom.Diagnose(ev)
	cd := cliDiagnosis(t, "--cgroup", child.Path, "--kernel-log", logFile)
	for _, d := range []oom.Diagnosis{d, cd} {
		assert.Equal(t, oom.CauseAncestorLimit, d.Cause, "causes %v", causes(d))
		assert.Equal(t, parent.Path, d.OOMMemcg, "names the parent")
		assert.True(t, d.Killed)
	}
	assert.Equal(t, cgroup.LimitOf(32<<20), d.LimitBytes, "the effective limit is the parent's")
	// Without the kernel log the counters alone say the same.
	ev.Reports = nil
	d = oom.Diagnose(ev)
	assert.Equal(t, oom.CauseAncestorLimit, d.Cause, "causes %v", causes(d))
	assert.Equal(t, parent.Path, d.OOMMemcg)
}

func TestRealNotOOM(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			id := startContainer(t, cli, 64<<20, "sh", "-c", `trap "" TERM; while :; do sleep 1; done`)
			time.Sleep(300 * time.Millisecond)
			if how == "stop" {
				timeout := 1
				require.NoError(t, cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout}))
			} else {
				require.NoError(t, cli.ContainerKill(ctx, id, "KILL"))
			}
			waitExit(t, cli, id)
			in, err := cli.ContainerInspect(ctx, id)
			require.NoError(t, err)
			require.Equal(t, 137, in.State.ExitCode)
			ev, err := collector(t, cli).Container(ctx, id)
			require.NoError(t, err)
			for _, d := range []oom.Diagnosis{oom.Diagnose(ev), cliDiagnosis(t, "--container", id)} {
				assert.Equal(t, oom.CauseNotOOM, d.Cause, "causes %v", causes(d))
				assert.False(t, d.Killed)
			}
		})
	}
}

func TestRealChildKilled(t *testing.T) {
	cli := testenv.Docker(t)
	ctx := context.Background()
	id := startContainer(t, cli, 32<<20, "sh", "-c", "/memhog -total 200MiB; echo child died; sleep 60")
	// Docker 20.10 sets OOMKilled only at exit; the cgroup counts the kill at once.
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	cg, err := fs.FindContainer(id)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := cg.Snapshot()
		return err == nil && s.OOMKills().N > 0
	}, 30*time.Second, 50*time.Millisecond, "the child is OOM-killed")
	ev, err := collector(t, cli).Container(ctx, id)
	require.NoError(t, err)
	require.True(t, ev.Container.State.Running, "the shell lives on")
	for _, d := range []oom.Diagnosis{oom.Diagnose(ev), cliDiagnosis(t, "--container", id)} {
		assert.Equal(t, oom.CauseChildKilled, d.Cause, "causes %v", causes(d))
		assert.True(t, d.Killed)
		assert.Equal(t, "memhog", d.VictimComm)
		assert.NotEmpty(t, d.Conflicts, "Docker's OOMKilled vs the kernel's victim is reported")
	}
}

func TestRealNoLimit(t *testing.T) {
	cli := testenv.Docker(t)
	id := startContainer(t, cli, 0, "sleep", "60")
	ev, err := collector(t, cli).Container(context.Background(), id)
	require.NoError(t, err)
	for _, d := range []oom.Diagnosis{oom.Diagnose(ev), cliDiagnosis(t, "--container", id)} {
		assert.Equal(t, oom.CauseNoLimit, d.Cause, "causes %v", causes(d))
		assert.False(t, d.Killed, "a risk, not a kill")
		require.NotEmpty(t, d.Remedies)
		assert.Equal(t, "--memory", d.Remedies[0].Setting)
	}
}

func TestRealUnknownContainer(t *testing.T) {
	cli := testenv.Docker(t)
	ev, err := collector(t, cli).Container(context.Background(), "no-such-container-oomkit")
	require.ErrorIs(t, err, cgroup.ErrNotFound)
	assert.NotEmpty(t, ev.Missing)
}

// TestMainJobEmbeddedCase runs the README's first command: examples/diagnose
// with no arguments diagnoses the real kill recorded on the test machine.
func TestMainJobEmbeddedCase(t *testing.T) {
	d := cliDiagnosis(t)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause)
	assert.True(t, d.Killed)
	assert.Equal(t, "memhog", d.VictimComm)
	assert.Equal(t, cgroup.LimitOf(32<<20), d.LimitBytes)
	assert.NotEmpty(t, d.OOMMemcg)
	assert.Empty(t, d.Missing, "the embedded case is complete")
}

// TestRealRateLimitedReport kills more often than the kernel reports (ten
// report headers per five seconds): a kill whose report is reduced to its
// "Killed process" line still gets its victim, through the processes the
// watch saw in the cgroup at the OOM notification.
func TestRealRateLimitedReport(t *testing.T) {
	testenv.OwnMemoryCgroup(t)
	hog := testenv.MemHog(t)
	testenv.KillBurst(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	c := testenv.NewCgroup(t, nil, "ratelimit")
	c.SetLimit(16 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := fs.Watch(ctx, []string{c.Path}, cgroup.WithThresholds())
	require.NoError(t, err)
	since := testenv.Uptime(t)
	for kill := 1; kill <= 25; kill++ {
		cmd := c.Start(hog, "-total", "100MiB")
		pid := cmd.Process.Pid
		_ = cmd.Wait()
		var e cgroup.Event
		for e.Delta.OOMKills().N == 0 {
			select {
			case e = <-evs:
			case <-time.After(10 * time.Second):
				t.Fatalf("kill %d: no watch event", kill)
			}
		}
		var rep *oom.Report
		var reports []oom.Report
		for try := 0; try < 50 && rep == nil; try++ {
			reports, err = oom.ParseAll(bytes.NewReader(testenv.KernelLogSince(t, since)))
			require.NoError(t, err)
			for i := range reports {
				if reports[i].Victim.PID == pid {
					rep = &reports[i]
				}
			}
			if rep == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
		require.NotNil(t, rep, "kill %d: no kernel report for pid %d", kill, pid)
		if rep.TaskMemcg != "" || !slices.Contains(e.PIDs, pid) {
			continue // a full report, or the watch woke after the kill: kill again
		}
		ev := oom.Evidence{After: []cgroup.MemorySnapshot{e.Snapshot}, Reports: reports}
		// Without the PIDs the reduced report is nobody's: the victim named is
		// an earlier kill's, from the last full report about the cgroup.
		stale := oom.Diagnose(ev)
		assert.NotEqual(t, pid, stale.VictimPID)
		require.NotEmpty(t, stale.Conflicts, "the diagnosis says its victim may be stale")
		assert.Contains(t, stale.Conflicts[len(stale.Conflicts)-1], strconv.Itoa(pid))
		ev.PIDs = e.PIDs
		d := oom.Diagnose(ev)
		assert.Equal(t, pid, d.VictimPID, "kill %d", kill)
		assert.Equal(t, "memhog", d.VictimComm)
		assert.Equal(t, oom.CauseContainerLimit, d.Cause, "causes %v", d.Causes)
		t.Logf("kill %d: report header rate-limited, victim %d named through the watch's PIDs", kill, pid)
		return
	}
	t.Fatal("25 kills and no rate-limited report with the victim seen by the watch")
}
