package oom

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/oomkit/oomkit/cgroup"
)

// Collector gathers Evidence on a live host: the cgroup tree, the kernel
// log and the host's memory. Each source that cannot be read is named in
// Evidence.Missing; the rest is still collected. Package oom/docker adds
// Docker's view of a container.
type Collector struct {
	// FS reads cgroups; nil means cgroup state is not collected.
	FS *cgroup.FS
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
	p, err := NewParser(bytes.NewReader(data))
	if err != nil {
		ev.Missing = append(ev.Missing, "kernel log: "+err.Error())
		return
	}
	for {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ev.Missing = append(ev.Missing, "kernel log: "+err.Error())
			break
		}
		if keep(r) || (unnamed(r) && len(ev.After) > 0) {
			ev.Reports = append(ev.Reports, r)
		}
	}
	if n := p.SkippedLines(); n > 0 {
		ev.Missing = append(ev.Missing, fmt.Sprintf("kernel log: %d line(s) longer than %d bytes skipped unread", n, DefaultMaxLineLength))
	}
}

// KeepRelated returns the report filter for a cgroup: the reports whose
// Relation to it is own, ancestor, descendant or global. Reports naming no
// cgroup are the collectors' to add (Diagnose ties them by pid).
func KeepRelated(cg string) func(Report) bool {
	cg = CleanPath(cg)
	return func(r Report) bool {
		switch r.Relation(cg) {
		case RelationOwn, RelationAncestor, RelationDescendant, RelationGlobal:
			return true
		}
		return false
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
		ev.Samples = append(ev.Samples, snaps[0].Sample())
	}
	if err != nil {
		ev.Missing = append(ev.Missing, "cgroup "+cg.Path()+": "+err.Error())
	}
}

// Complete adds to ev what the host knows around a kill: the tree of cg
// (its snapshot and its ancestors', skipped when cg is nil), the kernel
// reports keep selects (and, once ev holds a tree, those that name no
// cgroup, for Diagnose to tie by PID), and the host's memory. Collectors of
// other sources (package oom/docker) call it after filling their part.
func (c *Collector) Complete(ev *Evidence, cg *cgroup.Cgroup, keep func(Report) bool) {
	if cg != nil {
		tree(cg, ev)
	}
	c.kernelReports(ev, keep)
	c.host(ev)
}

// Cgroup collects the evidence about a cgroup path on the live host. The
// error wraps cgroup.ErrNotFound when the cgroup does not exist; the
// evidence then still holds the kernel reports about that path.
func (c *Collector) Cgroup(p string) (Evidence, error) {
	if strings.TrimSpace(p) == "" {
		return Evidence{}, errors.New("oom: no cgroup path given")
	}
	p = CleanPath(p) // one spelling for finding, matching and printing
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
	c.kernelReports(&ev, KeepRelated(p))
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
