package oom_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
)

// Issue 11's cgroup scenarios on the real kernel: a parent with no limit
// whose child is OOM-killed at its own 24 MiB limit, asked about in every
// spelling, by the API and by examples/diagnose --json; the child's kill
// through a watch (Collector.FollowCgroups); a cgroup with nothing in the
// log; a cgroup that does not exist. (The Docker scenarios are in
// oom/docker.)

const diagnoseCmd = "github.com/oomkit/oomkit/examples/diagnose"

// runDiagnose runs examples/diagnose --json and returns its diagnosis (nil
// when it printed none) and exit status.
func runDiagnose(t *testing.T, args ...string) (*oom.Diagnosis, int) {
	t.Helper()
	cmd := exec.Command(testenv.Build(t, diagnoseCmd), append([]string{"--json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, code
	}
	var d oom.Diagnosis
	require.NoError(t, json.Unmarshal(out, &d), string(out))
	return &d, code
}

func spellings(p string) []string {
	return []string{p, p + "/", strings.TrimPrefix(p, "/"), "/" + strings.ReplaceAll(p, "/", "//"), strings.Replace(p, "/", "/./", 2)}
}

func TestRealDescendantAndOwnKill(t *testing.T) {
	testenv.OwnMemoryCgroup(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	parent := testenv.NewCgroup(t, nil, "parent")
	kid := testenv.NewCgroup(t, parent, "kid")
	kid.SetLimit(24 << 20)
	kid.Write("memory.memsw.limit_in_bytes", "25165824") // no swap: the kill comes at the limit
	testenv.KernelReports(t)

	// Watch the child while the kill happens.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type got struct {
		e  cgroup.Event
		ev oom.Evidence
	}
	gotC := make(chan got, 4)
	col := &oom.Collector{FS: fs}
	armed := make(chan error, 1)
	go func() {
		armed <- col.FollowCgroups(ctx, []string{kid.Path + "/"}, 2*time.Second, func(e cgroup.Event, ev oom.Evidence) {
			if e.Kind == cgroup.EventOOM {
				select {
				case gotC <- got{e, ev}:
				default:
				}
			}
		}, cgroup.WithThresholds())
	}()
	time.Sleep(300 * time.Millisecond) // let the watch arm (it reads the tree first)
	start := testenv.Uptime(t)
	ws := kid.Run(testenv.MemHog(t), "-total", "200MiB")
	require.True(t, ws.Signaled(), "memhog was killed")
	var w got
	select {
	case w = <-gotC:
	case err := <-armed:
		t.Fatalf("the watch ended: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("no OOM event within 15 s")
	}
	cancel()
	d := oom.Diagnose(w.ev)
	assert.Equal(t, oom.CauseContainerLimit, d.Cause, "the watched child's own kill: %v", d.Causes)
	assert.Equal(t, "memhog", d.VictimComm, "the report of this kill was found: %v", w.ev.Missing)
	assert.Equal(t, kid.Path, d.Subject)
	assert.GreaterOrEqual(t, d.Causes[0].Confidence, 0.9)

	klog := testenv.KernelLogSince(t, start)
	logFile := filepath.Join(t.TempDir(), "kmsg.log")
	require.NoError(t, os.WriteFile(logFile, klog, 0o644))
	col = &oom.Collector{FS: fs, KernelLog: func() ([]byte, error) { return klog, nil }}

	// The parent, in every spelling: the child's kill, told as the child's.
	for _, sp := range spellings(parent.Path) {
		ev, err := col.Cgroup(sp)
		require.NoError(t, err, sp)
		cd, code := runDiagnose(t, "--cgroup", sp, "--kernel-log", logFile)
		require.NotNil(t, cd, sp)
		assert.Equal(t, 0, code, sp)
		for how, d := range map[string]oom.Diagnosis{"api": oom.Diagnose(ev), "cli": *cd} {
			assert.Equal(t, oom.CauseDescendantKill, d.Cause, "%s %s: %v", how, sp, d.Causes)
			assert.NotContains(t, causes(d), oom.CauseContainerLimit, "%s %s", how, sp)
			assert.False(t, d.LimitBytes.Set(), "%s %s: the parent has no limit", how, sp)
			if assert.NotNil(t, d.Descendant, "%s %s", how, sp) {
				assert.Equal(t, kid.Path, d.Descendant.Cgroup)
				assert.Equal(t, oom.CauseContainerLimit, d.Descendant.Cause)
				assert.Equal(t, cgroup.LimitOf(24<<20), d.Descendant.LimitBytes)
			}
			assert.Equal(t, parent.Path, d.Subject, "%s %s: printed in one spelling", how, sp)
			assert.Equal(t, "memhog", d.VictimComm)
		}
	}
	// The child, in every spelling: its own limit.
	for _, sp := range spellings(kid.Path) {
		ev, err := col.Cgroup(sp)
		require.NoError(t, err, sp)
		cd, _ := runDiagnose(t, "--cgroup", sp, "--kernel-log", logFile)
		require.NotNil(t, cd, sp)
		for how, d := range map[string]oom.Diagnosis{"api": oom.Diagnose(ev), "cli": *cd} {
			assert.Equal(t, oom.CauseContainerLimit, d.Cause, "%s %s: %v", how, sp, d.Causes)
			assert.Equal(t, cgroup.LimitOf(24<<20), d.LimitBytes, "%s %s", how, sp)
			assert.Equal(t, kid.Path, d.OOMMemcg, "%s %s", how, sp)
			assert.Equal(t, oom.RelationOwn, d.Relation, "%s %s", how, sp)
		}
	}
	// By the victim's pid's cgroup (a live process in the child).
	sleeper := kid.Start("/bin/sleep", "30")
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	ev, err := col.PID(sleeper.Process.Pid)
	require.NoError(t, err)
	assert.Equal(t, oom.CauseContainerLimit, oom.Diagnose(ev).Cause)
}

func TestRealSilenceAndAbsence(t *testing.T) {
	testenv.OwnMemoryCgroup(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	quiet := testenv.NewCgroup(t, nil, "quiet")
	quiet.SetLimit(64 << 20)
	klog := []byte("6,1,1,-;nothing here\n")
	logFile := filepath.Join(t.TempDir(), "kmsg.log")
	require.NoError(t, os.WriteFile(logFile, klog, 0o644))
	col := &oom.Collector{FS: fs, KernelLog: func() ([]byte, error) { return klog, nil }}

	// Nothing in the log, counters at zero: cannot tell, exit 3.
	for _, sp := range spellings(quiet.Path) {
		ev, err := col.Cgroup(sp)
		require.NoError(t, err)
		d := oom.Diagnose(ev)
		assert.Equal(t, oom.VerdictCannotTell, d.Verdict, sp)
		assert.Contains(t, d.Explanation, "cannot tell: no report for this cgroup in the kernel log")
		cd, code := runDiagnose(t, "--cgroup", sp, "--kernel-log", logFile)
		require.NotNil(t, cd)
		assert.Equal(t, 3, code, sp)
		assert.Equal(t, oom.VerdictCannotTell, cd.Verdict)
	}
	// A cgroup that does not exist: an error naming it, exit 1, no diagnosis.
	gone := quiet.Path + "/no-such-child"
	_, err = col.Cgroup(gone)
	require.ErrorIs(t, err, cgroup.ErrNotFound)
	cd, code := runDiagnose(t, "--cgroup", gone, "--kernel-log", logFile)
	assert.Nil(t, cd)
	assert.Equal(t, 1, code)
	_, code = runDiagnose(t, "--pid", "999999999", "--kernel-log", logFile)
	assert.Equal(t, 1, code)
	// No limit anywhere on the path (this process's own cgroup has none
	// here): a risk, not a kill.
	open := testenv.NewCgroup(t, nil, "nolimit")
	ev, err := col.Cgroup(open.Path)
	require.NoError(t, err)
	if d := oom.Diagnose(ev); !d.Killed {
		lim := ev.After[len(ev.After)-1].Limit
		if !lim.Set() {
			assert.Equal(t, oom.VerdictRisk, d.Verdict)
			assert.Equal(t, oom.CauseNoLimit, d.Cause)
		}
	}
}

func causes(d oom.Diagnosis) []oom.Cause {
	var out []oom.Cause
	for _, c := range d.Causes {
		out = append(out, c.Cause)
	}
	return out
}
