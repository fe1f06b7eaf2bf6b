package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// Collector gathers Evidence about Docker containers: the Engine's inspect
// state and events, then what oom.Collector reads on the host (the cgroup
// tree, the kernel log, the host's memory). Each source that cannot be read
// is named in Evidence.Missing; the rest is still collected.
type Collector struct {
	oom.Collector
	// Client asks a Docker Engine; nil means Docker is not asked.
	Client client.APIClient
}

// Container collects the evidence about a Docker container, by name or ID:
// its inspect state, its events since it was created, its cgroup tree when
// it still runs, and the kernel reports that name its cgroup. The error
// wraps cgroup.ErrNotFound when the Engine does not know the container, or
// describes an Engine that cannot be reached; the evidence holds whatever
// could still be read.
func (c *Collector) Container(ctx context.Context, nameOrID string) (oom.Evidence, error) {
	ev := oom.Evidence{Name: nameOrID}
	id := nameOrID
	var firstErr error
	if c.Client == nil {
		firstErr = errors.New("oom/docker: no Docker client")
		ev.Missing = append(ev.Missing, "docker: no client configured")
	} else if in, err := c.Client.ContainerInspect(ctx, nameOrID); err != nil {
		if cerrdefs.IsNotFound(err) {
			firstErr = fmt.Errorf("oom/docker: container %s: %w (%w)", nameOrID, cgroup.ErrNotFound, err)
		} else {
			firstErr = fmt.Errorf("oom/docker: docker inspect %s: %w", nameOrID, err)
		}
		ev.Missing = append(ev.Missing, "docker: "+firstErr.Error())
	} else {
		ctr := ContainerOf(in)
		ev.Container = &ctr
		id = in.ID
		ev.Name = ctr.Name
		if ctr.State != nil {
			ev.MainPID = ctr.State.PID
		}
		c.events(ctx, &ev, id, in.Created)
	}
	var cg *cgroup.Cgroup
	if c.FS != nil {
		var err error
		if cg, err = c.FS.FindContainer(id); err != nil {
			ev.Missing = append(ev.Missing, "cgroup of "+id+": "+err.Error()+" (a stopped container's cgroup is removed: counters come from the kernel log only)")
		}
	}
	keep := func(r oom.Report) bool {
		return strings.Contains(r.TaskMemcg, id) || strings.Contains(r.OOMMemcg, id)
	}
	if len(id) < 12 {
		ev.Missing = append(ev.Missing, "kernel log: no container ID to match reports with")
		keep = func(oom.Report) bool { return false }
	}
	c.Complete(&ev, cg, keep)
	return ev, firstErr
}

// events reads the container's past events from the Engine.
func (c *Collector) events(ctx context.Context, ev *oom.Evidence, id, created string) {
	since := created
	if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
		since = strconv.FormatInt(t.Add(-time.Second).Unix(), 10)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Until now, to the nanosecond: the Engine sends what it logged and
	// closes the stream at once (a whole second, rounded up, held every
	// collection open for up to a second).
	now := time.Now()
	msgs, errs := c.Client.Events(ctx, events.ListOptions{
		Since:   since,
		Until:   fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()),
		Filters: filters.NewArgs(filters.Arg("container", id), filters.Arg("type", "container")),
	})
	for {
		select {
		case m := <-msgs:
			ev.Events = append(ev.Events, EventOf(m))
		case err := <-errs:
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				ev.Missing = append(ev.Missing, "docker events: "+err.Error())
			}
			return
		case <-ctx.Done():
			ev.Missing = append(ev.Missing, "docker events: timed out")
			return
		}
	}
}

// ContainerOf converts docker inspect's answer to oom.Container. A
// HostConfig.Memory of 0 is no limit; a MemorySwap of -1 is unlimited swap
// and 0 (not set) is unknown.
func ContainerOf(in container.InspectResponse) oom.Container {
	var out oom.Container
	if in.ContainerJSONBase == nil {
		return out
	}
	out.ID = in.ID
	out.Name = strings.TrimPrefix(in.Name, "/")
	out.Created, _ = time.Parse(time.RFC3339Nano, in.Created)
	if in.Config != nil {
		out.Labels = in.Config.Labels
	}
	if st := in.State; st != nil {
		out.State = &oom.ContainerState{Running: st.Running, ExitCode: st.ExitCode, OOMKilled: st.OOMKilled, PID: st.Pid}
	}
	if hc := in.HostConfig; hc != nil {
		switch {
		case hc.Memory > 0:
			out.Memory = cgroup.LimitOf(cgroup.Bytes(hc.Memory))
		case hc.Memory == 0:
			out.Memory = cgroup.NoLimit()
		}
		switch {
		case hc.MemorySwap > 0:
			out.MemorySwap = cgroup.LimitOf(cgroup.Bytes(hc.MemorySwap))
		case hc.MemorySwap == -1:
			out.MemorySwap = cgroup.NoLimit()
		}
	}
	return out
}

// EventOf converts one of the Engine's events to oom.EngineEvent.
func EventOf(m events.Message) oom.EngineEvent {
	t := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		t = time.Unix(m.Time, 0)
	}
	return oom.EngineEvent{Time: t, Action: string(m.Action), Attributes: m.Actor.Attributes}
}
