package oom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
)

// Collector gathers Evidence on a live host: the cgroup tree, the kernel
// log, Docker's view and the host's memory. Each source that cannot be read
// is named in Evidence.Missing; the rest is still collected.
type Collector struct {
	// FS reads cgroups; nil means cgroup state is not collected.
	FS *cgroup.FS
	// Docker asks a Docker Engine; nil means Docker is not asked.
	Docker client.APIClient
	// KernelLog returns the kernel log; nil means ReadKernelLog. Set it
	// to read a saved log instead.
	KernelLog func() ([]byte, error)
	// ProcRoot is where /proc/meminfo is read; "" means /proc.
	ProcRoot string
}

// kernelReports adds the reports keep wants to ev, and, once ev holds the
// subject's cgroup tree, the reports that name no cgroup (see unnamed):
// Diagnose, knowing the subject's path, takes those only when a pid ties
// them to it (Evidence.MainPID, Evidence.PIDs). Without the tree Diagnose
// would take every report as the subject's, so they are left out.
func (c *Collector) kernelReports(ev *Evidence, keep func(Report) bool) {
	read := c.KernelLog
	if read == nil {
		read = ReadKernelLog
	}
	data, err := read()
	if err != nil {
		ev.Missing = append(ev.Missing, "kernel log: "+err.Error())
		return
	}
	rs, err := ParseAll(bytes.NewReader(data))
	if err != nil {
		ev.Missing = append(ev.Missing, "kernel log: "+err.Error())
	}
	for _, r := range rs {
		if keep(r) || (unnamed(r) && len(ev.After) > 0) {
			ev.Reports = append(ev.Reports, r)
		}
	}
}

// unnamed reports whether a report names no cgroup: the kernel's rate
// limit cut its header to the "Killed process" line (or an old kernel's
// global kill printed none).
func unnamed(r Report) bool { return r.TaskMemcg == "" && r.OOMMemcg == "" }

func (c *Collector) host(ev *Evidence) {
	root := c.ProcRoot
	if root == "" {
		root = cgroup.DefaultProcRoot
	}
	m, err := ReadMemInfo(root)
	if err != nil {
		ev.Missing = append(ev.Missing, "host memory: "+err.Error())
		return
	}
	ev.Host = m
}

// tree snapshots a cgroup and its ancestors into ev.After.
func tree(cg *cgroup.Cgroup, ev *Evidence) {
	snaps, err := cg.SnapshotTree()
	if len(snaps) > 0 {
		ev.After = snaps
		ev.Samples = append(ev.Samples, SampleOf(snaps[0]))
	}
	if err != nil {
		ev.Missing = append(ev.Missing, "cgroup "+cg.Path()+": "+err.Error())
	}
}

// Cgroup collects the evidence about a cgroup path on the live host. The
// error wraps cgroup.ErrNotFound when the cgroup does not exist; the
// evidence then still holds the kernel reports about that path.
func (c *Collector) Cgroup(p string) (Evidence, error) {
	ev := Evidence{Name: p}
	var err error
	if c.FS == nil {
		err = errors.New("oom: no cgroup filesystem to read")
	} else {
		var cg *cgroup.Cgroup
		if cg, err = c.FS.Cgroup(p); err == nil {
			tree(cg, &ev)
		}
	}
	if err != nil {
		ev.Missing = append(ev.Missing, "cgroup "+p+": "+err.Error())
	}
	c.kernelReports(&ev, func(r Report) bool {
		return r.TaskMemcg == p || strings.HasPrefix(r.TaskMemcg, p+"/") || r.OOMMemcg == p
	})
	c.host(&ev)
	return ev, err
}

// PID collects the evidence about the cgroup of a live process.
func (c *Collector) PID(pid int) (Evidence, error) {
	if c.FS == nil {
		return Evidence{}, errors.New("oom: no cgroup filesystem to read")
	}
	cg, err := c.FS.FindByPID(pid)
	if err != nil {
		ev := Evidence{Name: "pid " + strconv.Itoa(pid), MainPID: pid, Missing: []string{err.Error()}}
		c.kernelReports(&ev, func(r Report) bool { return r.Victim.PID == pid })
		return ev, err
	}
	ev, err := c.Cgroup(cg.Path())
	ev.Name, ev.MainPID = fmt.Sprintf("pid %d (%s)", pid, cg.Path()), pid
	return ev, err
}

// Container collects the evidence about a Docker container, by name or ID:
// its inspect state, its events since it was created, its cgroup tree when
// it still runs, and the kernel reports that name its cgroup. The error
// wraps cgroup.ErrNotFound when the Engine does not know the container, or
// describes an Engine that cannot be reached; the evidence holds whatever
// could still be read.
func (c *Collector) Container(ctx context.Context, nameOrID string) (Evidence, error) {
	ev := Evidence{Name: nameOrID}
	id := nameOrID
	var firstErr error
	if c.Docker == nil {
		firstErr = errors.New("oom: no Docker client")
		ev.Missing = append(ev.Missing, "docker: no client configured")
	} else if in, err := c.Docker.ContainerInspect(ctx, nameOrID); err != nil {
		if cerrdefs.IsNotFound(err) {
			firstErr = fmt.Errorf("oom: container %s: %w (%w)", nameOrID, cgroup.ErrNotFound, err)
		} else {
			firstErr = fmt.Errorf("oom: docker inspect %s: %w", nameOrID, err)
		}
		ev.Missing = append(ev.Missing, "docker: "+firstErr.Error())
	} else {
		ev.Inspect = &in
		id = in.ID
		ev.Name = strings.TrimPrefix(in.Name, "/")
		if in.State != nil {
			ev.MainPID = in.State.Pid
		}
		c.dockerEvents(ctx, &ev, id, in.Created)
	}
	if c.FS != nil {
		if cg, err := c.FS.FindContainer(id); err == nil {
			tree(cg, &ev)
		} else {
			ev.Missing = append(ev.Missing, "cgroup of "+id+": "+err.Error()+" (a stopped container's cgroup is removed: counters come from the kernel log only)")
		}
	}
	if len(id) >= 12 {
		c.kernelReports(&ev, func(r Report) bool {
			return strings.Contains(r.TaskMemcg, id) || strings.Contains(r.OOMMemcg, id)
		})
	} else {
		ev.Missing = append(ev.Missing, "kernel log: no container ID to match reports with")
	}
	c.host(&ev)
	return ev, firstErr
}

// dockerEvents reads the container's past events from the Engine.
func (c *Collector) dockerEvents(ctx context.Context, ev *Evidence, id, created string) {
	since := created
	if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
		since = strconv.FormatInt(t.Add(-time.Second).Unix(), 10)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, errs := c.Docker.Events(ctx, events.ListOptions{
		Since:   since,
		Until:   strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		Filters: filters.NewArgs(filters.Arg("container", id), filters.Arg("type", "container")),
	})
	for {
		select {
		case m := <-msgs:
			ev.Events = append(ev.Events, m)
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
