package docker_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// TestRealFollowOOMs follows a real Engine while two containers hit their
// limits: one whose main process is killed (delivered at its die) and one
// whose child is killed while the shell lives on (delivered after the
// wait). Each kill comes once, with evidence that diagnoses it: as the
// Engine's oom event, or, when the Engine sent none (the main process can
// be killed, and its cgroup removed, before the Engine's shim reads the
// notification), as the die FollowOOMs found the kill for.
func TestRealFollowOOMs(t *testing.T) {
	cli := testenv.Docker(t)
	col := collector(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type paired struct {
		m events.Message
		d oom.Diagnosis
	}
	out := make(chan paired, 64)
	done := make(chan error, 1)
	go func() {
		done <- col.FollowOOMs(ctx, 2*time.Second, func(m events.Message, ev oom.Evidence) {
			select { // other tests' kills on a shared Engine come too
			case out <- paired{m, oom.Diagnose(ev)}:
			case <-ctx.Done():
			}
		})
	}()
	time.Sleep(300 * time.Millisecond) // following
	mainKilled := startContainer(t, cli, 32<<20, "/memhog", "-total", "200MiB")
	// The child is killed a second after the start, when the Engine's shim
	// watches the cgroup: the container lives on, so only an oom event can
	// tell of it.
	childKilled := startContainer(t, cli, 32<<20, "sh", "-c", "sleep 1; /memhog -total 200MiB; sleep 60")
	want := map[string]oom.Cause{mainKilled: oom.CauseContainerLimit, childKilled: oom.CauseChildKilled}
	seen := map[string]int{}
	deadline := time.After(60 * time.Second)
	for len(want) > 0 {
		select {
		case p := <-out:
			id := p.m.Actor.ID
			seen[id]++
			cause, ok := want[id]
			if !ok {
				continue // another test's container
			}
			delete(want, id)
			if p.m.Action != events.ActionOOM {
				assert.Equal(t, events.ActionDie, p.m.Action)
				assert.NotEmpty(t, p.m.Actor.Attributes[docker.WitnessAttribute], "a die is delivered only with its witness")
				t.Logf("%s: the Engine sent no oom event; delivered at its die, witness %q", id[:12], p.m.Actor.Attributes[docker.WitnessAttribute])
			}
			assert.Equal(t, cause, p.d.Cause, "%s: causes %v, evidence %v", id[:12], p.d.Causes, p.d.Evidence)
			assert.True(t, p.d.Killed)
			assert.Equal(t, "memhog", p.d.VictimComm)
		case <-deadline:
			t.Fatalf("no paired oom for %v", want)
		}
	}
	time.Sleep(500 * time.Millisecond) // an extra oom event would be folded, not delivered
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(out)
	for p := range out {
		seen[p.m.Actor.ID]++
	}
	assert.Equal(t, 1, seen[mainKilled], "delivered once")
	assert.Equal(t, 1, seen[childKilled], "delivered once")
}

// TestRealFollowOOMsUnreported kills a container's main process at the
// limit of a cgroup nested in the container's: the kernel notifies that
// cgroup only, so the Engine sends no oom event (and its OOMKilled stays
// false), as for a process killed before the Engine's shim watched its
// cgroup. FollowOOMs still delivers the kill, once, at the container's
// die, with the kernel's report as its witness.
func TestRealFollowOOMsUnreported(t *testing.T) {
	cli := testenv.Docker(t)
	col := collector(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan events.Message, 64)
	evs := map[string]oom.Evidence{}
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- col.FollowOOMs(ctx, 2*time.Second, func(m events.Message, ev oom.Evidence) {
			mu.Lock()
			evs[m.Actor.ID] = ev
			mu.Unlock()
			select {
			case out <- m:
			case <-ctx.Done():
			}
		})
	}()
	time.Sleep(300 * time.Millisecond) // following
	id := startContainer(t, cli, 64<<20, "sh", "-c", "until [ -e /tmp/go ]; do sleep 0.1; done; exec /memhog -total 200MiB")
	in, err := cli.ContainerInspect(context.Background(), id)
	require.NoError(t, err)
	cg, err := col.FS.FindContainer(id)
	require.NoError(t, err)
	// The nested cgroup is removed before the container's, which the
	// Engine could not remove while it had a child.
	ctrDir := filepath.Join(testenv.V1MemoryMount, cg.Path())
	t.Cleanup(func() { _ = os.Remove(ctrDir) })
	nested := testenv.NewCgroup(t, &testenv.Cgroup{Path: cg.Path(), Dir: ctrDir}, "nested")
	nested.SetLimit(16 << 20)
	nested.Write("memory.memsw.limit_in_bytes", strconv.Itoa(16<<20))
	nested.Write("cgroup.procs", strconv.Itoa(in.State.Pid))
	exec, err := cli.ContainerExecCreate(context.Background(), id, container.ExecOptions{Cmd: []string{"sh", "-c", "echo > /tmp/go"}})
	require.NoError(t, err)
	require.NoError(t, cli.ContainerExecStart(context.Background(), exec.ID, container.ExecStartOptions{Detach: true}))
	waitExit(t, cli, id)

	var got []events.Message
	deadline := time.After(30 * time.Second)
	for len(got) == 0 {
		select {
		case m := <-out:
			if m.Actor.ID == id {
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("the kill of %s was not delivered", id[:12])
		}
	}
	time.Sleep(2500 * time.Millisecond) // past FollowOOMs' wait: a second delivery would come now
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	close(out)
	for m := range out {
		if m.Actor.ID == id {
			got = append(got, m)
		}
	}
	after, err := cli.ContainerInspect(context.Background(), id)
	require.NoError(t, err)
	require.False(t, after.State.OOMKilled, "the Engine saw this kill: the test no longer makes an unreported one")
	require.Len(t, got, 1, "delivered once: %v", got)
	m := got[0]
	assert.Equal(t, events.ActionDie, m.Action)
	assert.Equal(t, "137", m.Actor.Attributes["exitCode"])
	assert.Equal(t, "kernel report", m.Actor.Attributes[docker.WitnessAttribute])
	mu.Lock()
	d := oom.Diagnose(evs[id])
	mu.Unlock()
	assert.True(t, d.Killed, "causes %v, evidence %v", d.Causes, d.Evidence)
	assert.Equal(t, in.State.Pid, d.VictimPID)
}
