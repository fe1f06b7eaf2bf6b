package docker

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"golang.org/x/sys/unix"

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
//
// The Engine does not send an oom event for every kill: its runtime shim
// arms the cgroup's OOM notification only once the container's process
// has started, and drops a notification that arrives after the cgroup is
// gone, so a process killed at once, or a container whose death removes
// its cgroup first, gets none (and Docker's State.OOMKilled, set by that
// same event, stays false); nor is a kill at the limit of a cgroup nested
// inside the container's notified. So FollowOOMs also looks at each die
// with a non-zero exit code for which no oom event came: when Docker's
// inspect says OOMKilled, or the kernel log holds a kill since the
// container's last start that names the container's cgroup (or, its header
// rate-limited, the container's main PID as seen at its start event), fn
// gets that die event, its Action "die", with the attribute
// WitnessAttribute naming the evidence of the kill ("docker inspect",
// "kernel report"). A die with neither is no kill FollowOOMs can tell.
// WitnessAttribute is the attribute FollowOOMs adds to a die event it
// delivers for a kill the Engine sent no oom event for.
const WitnessAttribute = "oomkit.witness"

// startSlack is how long before the Engine's start event a kill still
// counts as the container's: the process runs before the Engine logs it.
const startSlack = 2 * time.Second

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
	mains := map[string]int{}             // main PID at each container's start event
	synthesized := map[string]time.Time{} // dies delivered as kills: a late oom event is folded
	lastOOM := map[string]time.Time{}     // the Engine's last oom event per container: kills up to it were delivered
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
			case events.ActionStart:
				if in, err := c.Client.ContainerInspect(ctx, id); err == nil && in.State != nil && in.State.Pid > 0 {
					mains[id] = in.State.Pid
				}
			case events.ActionOOM:
				lastOOM[id] = time.Unix(0, m.TimeNano)
				if open[id] != nil {
					continue // another notification of the same kill
				}
				if _, ok := synthesized[id]; ok {
					continue // the Engine's oom event after the die it was delivered with
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
			case events.ActionDie:
				if open[id] != nil {
					deliver(id)
				} else if code := m.Actor.Attributes["exitCode"]; code != "" && code != "0" {
					if ev, witness := c.unreported(ctx, id, mains[id], lastOOM[id]); witness != "" {
						d := m
						d.Actor.Attributes = maps.Clone(m.Actor.Attributes)
						d.Actor.Attributes[WitnessAttribute] = witness
						synthesized[id] = time.Now()
						fn(d, ev)
					}
				}
				delete(mains, id)
			case events.ActionDestroy:
				if open[id] != nil {
					deliver(id)
				}
				delete(mains, id)
				delete(synthesized, id)
				delete(lastOOM, id)
			}
		case <-tick.C:
			for id, p := range open {
				if time.Since(p.at) >= wait {
					deliver(id)
				}
			}
			for id, at := range synthesized {
				if time.Since(at) > max(10*wait, time.Minute) {
					delete(synthesized, id)
				}
			}
		}
	}
}

// unreported collects the evidence about a container that died with no oom
// event pending, and names what shows it was OOM-killed in its last run:
// Docker's OOMKilled, or a kernel report since its last start (and after
// the last oom event the Engine sent about it, whose kill was delivered)
// that names its cgroup or its main PID; "" when nothing does.
func (c *Collector) unreported(ctx context.Context, id string, mainPID int, lastOOM time.Time) (oom.Evidence, string) {
	ev, err := c.Container(ctx, id)
	if err != nil || ev.Container == nil {
		return ev, ""
	}
	if ev.MainPID == 0 {
		ev.MainPID = mainPID // inspect after the exit says 0
	}
	if st := ev.Container.State; st != nil && st.OOMKilled && lastOOM.IsZero() {
		return ev, "docker inspect" // set by an oom event FollowOOMs has not seen
	}
	var started time.Time // the last start the Engine logged
	for _, e := range ev.Events {
		if e.Action == string(events.ActionStart) && e.Time.After(started) {
			started = e.Time
		}
	}
	if started.IsZero() {
		return ev, "" // no start: a report cannot be tied to this run
	}
	since := started.Add(-startSlack)
	if lastOOM.After(since) {
		since = lastOOM
	}
	// Reports carry the kernel's clock (time since boot) or a wall time.
	sinceUptime := time.Duration(-1)
	if now, ok := monotonic(); ok {
		sinceUptime = now - time.Since(since)
	}
	for _, r := range ev.Reports {
		switch {
		case r.Uptime > 0 && sinceUptime >= 0:
			if r.Uptime < sinceUptime {
				continue
			}
		case !r.Time.IsZero():
			if r.Time.Before(since) {
				continue
			}
		default:
			continue // no time: it may be an earlier run's
		}
		if strings.Contains(r.TaskMemcg, id) || strings.Contains(r.OOMMemcg, id) ||
			(ev.MainPID > 0 && r.Victim.PID == ev.MainPID) {
			return ev, "kernel report"
		}
	}
	return ev, ""
}

// monotonic reads CLOCK_MONOTONIC, the clock of the kernel log's stamps
// (to within milliseconds).
func monotonic() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
