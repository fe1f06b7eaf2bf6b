package oom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// DefaultReportWait is how long Collector.Event waits for the kernel's
// report of a kill: the kernel counts a kill (and a watch sees it) just
// before it logs the report.
const DefaultReportWait = time.Second

// reportWindow is how far before an event's CLOCK_MONOTONIC stamp a report
// stamped by /dev/kmsg (the kernel's local clock, milliseconds apart) may
// be and still be the event's own: the kill comes before its notification.
const reportWindow = 2 * time.Second

// Event collects the evidence of one OOM event of a watched cgroup
// (cgroup.FS.Watch): the cgroup tree (the event's own snapshot, and the
// counters before the event rebuilt from its Delta, so Diagnose compares
// them), the host's memory, and the kernel's report of this kill. It waits
// up to wait (DefaultReportWait when 0) for the report, matched by the
// event's victims (cgroup.Event.Victims: a report cut to its "Killed
// process" line is tied by them) or, when the watch could not tell its
// victims, by the report's relation to the cgroup and its stamp. Reports
// after this kill's are left out, and so is an older kill's report when
// this one's never came: Diagnose then says what the counters say, and
// Evidence.Missing says the report was not found.
func (c *Collector) Event(ctx context.Context, e cgroup.Event, wait time.Duration) (Evidence, error) {
	p := CleanPath(e.Path)
	ev := Evidence{Name: p, PIDs: slices.Clone(e.PIDs)}
	if wait <= 0 {
		wait = DefaultReportWait
	}
	var cg *cgroup.Cgroup
	if c.FS != nil {
		var err error
		if cg, err = c.FS.Cgroup(p); err != nil {
			ev.Missing = append(ev.Missing, "cgroup "+p+": "+err.Error()+" (the event's own snapshot is used)")
		}
	}
	if cg != nil {
		tree(cg, &ev)
	}
	if e.Err == nil && e.Snapshot.Path != "" {
		// The event's own view of the cgroup, which its Delta is about.
		if len(ev.After) == 0 {
			ev.After = []cgroup.MemorySnapshot{e.Snapshot}
		} else {
			ev.After[0] = e.Snapshot
		}
		if e.Delta.Interval > 0 {
			ev.Before = []cgroup.MemorySnapshot{beforeOf(e.Snapshot, e.Delta)}
		}
	}
	c.host(&ev)

	deadline := time.Now().Add(wait)
	for {
		rs, err := c.readReports()
		if err != nil {
			ev.Missing = append(ev.Missing, "kernel log: "+err.Error())
			return ev, nil
		}
		if got, ok := eventReports(rs, p, e); ok {
			ev.Reports = got
			return ev, nil
		}
		if time.Now().After(deadline) {
			ev.Reports = recentReports(rs, p, e)
			ev.Missing = append(ev.Missing, fmt.Sprintf("kernel log: no report of this kill within %v (its lines may be lost to the kernel's rate limit or a full log buffer)", wait))
			return ev, nil
		}
		select {
		case <-ctx.Done():
			ev.Reports = recentReports(rs, p, e)
			return ev, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// readReports reads and parses the kernel log.
func (c *Collector) readReports() ([]Report, error) {
	read := c.KernelLog
	if read == nil {
		read = ReadKernelLog
	}
	data, err := read()
	if err != nil {
		return nil, err
	}
	p, err := NewParser(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var rs []Report
	for {
		r, err := p.Next()
		if errors.Is(err, io.EOF) {
			return rs, nil
		}
		if err != nil {
			return rs, err
		}
		rs = append(rs, r)
	}
}

// eventReports finds the report of the event's kill and returns it with
// the earlier reports about the cgroup (history, for runaway kills).
func eventReports(rs []Report, p string, e cgroup.Event) ([]Report, bool) {
	keep := KeepRelated(p)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if !ofEvent(r, p, e, keep) {
			continue
		}
		var out []Report
		for _, o := range rs[:i] {
			if keep(o) {
				out = append(out, o)
			}
		}
		return append(out, r), true
	}
	return nil, false
}

// ofEvent reports whether r is the report of the event's kill: its victim
// is one of the event's victims, or (the watch not knowing them all) it
// relates to the cgroup and was logged around the event.
func ofEvent(r Report, p string, e cgroup.Event, keep func(Report) bool) bool {
	if r.Victim.PID != 0 && slices.Contains(e.Victims, r.Victim.PID) {
		return unnamed(r) || keep(r)
	}
	if len(e.Victims) > 0 && !e.VictimMissed {
		return false
	}
	return keep(r) && near(r, e)
}

// near reports whether a report's stamp falls around the event.
func near(r Report, e cgroup.Event) bool {
	if r.Uptime > 0 && e.Monotonic > 0 {
		return r.Uptime >= e.Monotonic-reportWindow && r.Uptime <= e.Monotonic+reportWindow+DefaultReportWait
	}
	if !r.Time.IsZero() && !e.Time.IsZero() {
		return !r.Time.Before(e.Time.Add(-reportWindow))
	}
	return false
}

// recentReports are the reports about the cgroup logged around the event:
// never an older kill's report standing in for this one's.
func recentReports(rs []Report, p string, e cgroup.Event) []Report {
	keep := KeepRelated(p)
	var out []Report
	for _, r := range rs {
		if keep(r) && near(r, e) {
			out = append(out, r)
		}
	}
	return out
}

// beforeOf rebuilds the snapshot before an event from the one at it and
// the event's Delta: the counters less their increase. What the Delta
// does not hold (usage, stat) is the later value.
func beforeOf(s cgroup.MemorySnapshot, d cgroup.Delta) cgroup.MemorySnapshot {
	b := s
	b.Time = s.Time.Add(-d.Interval)
	sub := func(c *cgroup.Count, by cgroup.Count) {
		if c.Known && by.Known {
			c.N -= min(c.N, by.N)
		}
	}
	for _, pair := range [...][2]*cgroup.Events{{&b.Events, &d.Events}, {&b.LocalEvents, &d.LocalEvents}} {
		x, by := pair[0], pair[1]
		sub(&x.Low, by.Low)
		sub(&x.High, by.High)
		sub(&x.Max, by.Max)
		sub(&x.OOM, by.OOM)
		sub(&x.OOMKill, by.OOMKill)
		sub(&x.OOMGroupKill, by.OOMGroupKill)
	}
	sub(&b.SwapEvents.High, d.SwapEvents.High)
	sub(&b.SwapEvents.Max, d.SwapEvents.Max)
	sub(&b.SwapEvents.Fail, d.SwapEvents.Fail)
	sub(&b.Failcnt, d.Failcnt)
	sub(&b.MemSwFailcnt, d.MemSwFailcnt)
	return b
}

// FollowCgroups watches cgroups (cgroup.FS.Watch, with its options) and
// calls fn with each OOM event and its evidence (Event): the cgroup
// counterpart of docker.Collector.FollowOOMs. Other events are passed to
// fn with empty evidence. It returns when ctx is done (nil) or the watch
// cannot start.
func (c *Collector) FollowCgroups(ctx context.Context, paths []string, wait time.Duration, fn func(cgroup.Event, Evidence), opts ...cgroup.WatchOption) error {
	if c.FS == nil {
		return errors.New("oom: FollowCgroups needs a cgroup filesystem")
	}
	clean := make([]string, len(paths))
	for i, p := range paths {
		clean[i] = CleanPath(p)
	}
	events, err := c.FS.Watch(ctx, clean, opts...)
	if err != nil {
		return err
	}
	for e := range events {
		if e.Kind != cgroup.EventOOM {
			fn(e, Evidence{})
			continue
		}
		ev, err := c.Event(ctx, e, wait)
		if err != nil && ctx.Err() != nil {
			return nil
		}
		fn(e, ev)
	}
	return nil
}
