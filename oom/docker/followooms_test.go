package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
)

// TestRealFollowOOMs follows a real Engine while two containers hit their
// limits: one whose main process is killed (delivered at its die) and one
// whose child is killed while the shell lives on (delivered after the
// wait). Each oom event comes once, with evidence that diagnoses it.
func TestRealFollowOOMs(t *testing.T) {
	cli := testenv.Docker(t)
	col := collector(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type paired struct {
		m events.Message
		d oom.Diagnosis
	}
	out := make(chan paired, 16)
	done := make(chan error, 1)
	go func() {
		done <- col.FollowOOMs(ctx, 2*time.Second, func(m events.Message, ev oom.Evidence) {
			out <- paired{m, oom.Diagnose(ev)}
		})
	}()
	time.Sleep(300 * time.Millisecond) // following
	mainKilled := startContainer(t, cli, 32<<20, "/memhog", "-total", "200MiB")
	childKilled := startContainer(t, cli, 32<<20, "sh", "-c", "/memhog -total 200MiB; sleep 60")
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
			assert.Equal(t, events.ActionOOM, p.m.Action)
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
