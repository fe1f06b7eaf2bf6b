package docker

import (
	"context"
	"errors"
	"time"

	"github.com/docker/docker/api/types/events"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// FollowOOMs follows the Engine's container events (as Follow does,
// across restarts) and pairs each container's oom event with its evidence.
// At the oom event, while the container's cgroup still exists, it
// snapshots the cgroup tree (kept as Evidence.After if the cgroup is gone
// when the rest is collected; the Engine's event comes after the kernel's
// notification, often after the kill, so it is no "before") and notes the
// processes in it and the main PID, which tie a rate-limited kernel report
// to the container. When the container dies, or after wait if it lives on (a
// child was killed, not the main process), it collects the rest with
// Container: Docker's inspect and events, the kernel's report (logged by
// then), the host's memory. fn gets the oom event and the evidence, for
// Diagnose; the Engine's extra oom events for the same kill are folded
// into the first. It returns when ctx is done, with ctx's error, or with
// an error when the Collector has no Docker client.
func (c *Collector) FollowOOMs(ctx context.Context, wait time.Duration, fn func(events.Message, oom.Evidence), opts ...FollowOption) error {
	if c.Client == nil {
		return errors.New("oom/docker: FollowOOMs needs a Docker client")
	}
	if wait <= 0 {
		wait = 5 * time.Second
	}
	msgs := make(chan events.Message, 64)
	errc := make(chan error, 1)
	go func() {
		errc <- Follow(ctx, c.Client, func(m events.Message) {
			select {
			case msgs <- m:
			case <-ctx.Done():
			}
		}, opts...)
	}()
	type pending struct {
		msg     events.Message
		at      time.Time
		tree    []cgroup.MemorySnapshot
		pids    []int
		mainPID int
	}
	open := map[string]*pending{}
	deliver := func(id string) {
		p := open[id]
		delete(open, id)
		ev, _ := c.Container(ctx, id) // what could not be read is in ev.Missing
		if len(ev.After) == 0 {
			ev.After = p.tree // the cgroup went with the container
		}
		ev.PIDs = p.pids
		if ev.MainPID == 0 {
			ev.MainPID = p.mainPID // inspect after the exit says 0
		}
		fn(p.msg, ev)
	}
	tick := time.NewTicker(min(wait/4, 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case m := <-msgs:
			id := m.Actor.ID
			switch m.Action {
			case events.ActionOOM:
				if open[id] != nil {
					continue // another notification of the same kill
				}
				p := &pending{msg: m, at: time.Now()}
				if c.FS != nil {
					if cg, err := c.FS.FindContainer(id); err == nil {
						p.pids, _ = cg.PIDs()
						p.tree, _ = cg.SnapshotTree()
					}
				}
				if in, err := c.Client.ContainerInspect(ctx, id); err == nil && in.State != nil {
					p.mainPID = in.State.Pid
				}
				open[id] = p
			case events.ActionDie, events.ActionDestroy:
				if open[id] != nil {
					deliver(id)
				}
			}
		case <-tick.C:
			for id, p := range open {
				if time.Since(p.at) >= wait {
					deliver(id)
				}
			}
		}
	}
}
