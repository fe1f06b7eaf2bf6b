package main

import (
	"fmt"
	"os"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/oom"
)

// followChart draws what --follow sampled: usage, working set and
// non-reclaimable memory, the limit and the reservation, each OOM kill,
// and the leak's forecast to the limit.
func followChart(r *result) (chart.Page, error) {
	ev, d := r.ev, r.Diagnosis
	if len(ev.Samples) < 2 {
		return chart.Page{}, fmt.Errorf("--html: %d sample(s): nothing to draw (was the container running?)", len(ev.Samples))
	}
	var use, ws, nr []chart.Point
	for _, s := range ev.Samples {
		if s.Usage.Known {
			use = append(use, chart.Point{Time: s.Time, Bytes: float64(s.Usage.Bytes)})
		}
		if s.WorkingSet.Known {
			ws = append(ws, chart.Point{Time: s.Time, Bytes: float64(s.WorkingSet.Bytes)})
		}
		if s.NonReclaimable.Known {
			nr = append(nr, chart.Point{Time: s.Time, Bytes: float64(s.NonReclaimable.Bytes)})
		}
	}
	c := chart.Chart{Title: "memory of " + r.Subject, Series: []chart.Series{
		{Name: "usage (with page cache)", Points: use, Color: chart.Blue},
		{Name: "working set", Points: ws, Color: chart.Green},
		{Name: "non-reclaimable (anon, shmem)", Points: nr, Color: chart.Purple},
	}}
	if d.LimitBytes.Set() {
		c.Levels = append(c.Levels, chart.Level{Name: "limit", Bytes: float64(d.LimitBytes.Bytes), Color: chart.Red})
	}
	if res := reservation(ev); res.Set() && (!d.LimitBytes.Set() || res.Bytes < d.LimitBytes.Bytes) {
		c.Levels = append(c.Levels, chart.Level{Name: "reservation", Bytes: float64(res.Bytes), Color: chart.Orange})
	}
	for _, t := range killTimes(ev) {
		c.Marks = append(c.Marks, chart.Mark{Name: "OOM kill", Time: t, Color: chart.Black})
	}
	if l := d.Leak; l != nil && d.LimitBytes.Set() && l.BytesPerHour > 0 {
		// From the last sample before the first kill (the kill resets
		// usage), at the fitted rate, up to the limit; never stretching
		// the time axis to more than twice the samples' span.
		i := len(ev.Samples) - 1
		for i > 0 && len(c.Marks) > 0 && !ev.Samples[i].Time.Before(c.Marks[0].Time) {
			i--
		}
		s := ev.Samples[i]
		v := s.NonReclaimable
		if !v.Known {
			v = s.WorkingSet
		}
		if v.Known && v.Bytes < d.LimitBytes.Bytes {
			h := float64(d.LimitBytes.Bytes-v.Bytes) / l.BytesPerHour
			span := ev.Samples[len(ev.Samples)-1].Time.Sub(ev.Samples[0].Time)
			until := min(time.Duration(h*float64(time.Hour)), span)
			c.Series = append(c.Series, chart.Series{Name: fmt.Sprintf("leak forecast (%s/h)", cgroup.Size(l.BytesPerHour)), Dashed: true, Color: chart.Grey,
				Points: []chart.Point{{Time: s.Time, Bytes: float64(v.Bytes)}, {Time: s.Time.Add(until), Bytes: float64(v.Bytes) + l.BytesPerHour*until.Hours()}}})
		}
	}
	verdict := fmt.Sprintf("Verdict: %s (%.0f%%): %s", d.Cause, 100*d.Causes[0].Confidence, d.Explanation)
	lines := []string{verdict, fmt.Sprintf("%d samples every 100 ms from %s to %s.", len(ev.Samples),
		ev.Samples[0].Time.Local().Format("15:04:05"), ev.Samples[len(ev.Samples)-1].Time.Local().Format("15:04:05"))}
	if d.Apply != nil && d.Apply.Docker != "" {
		lines = append(lines, "Remedy: "+d.Apply.Docker)
	} else if len(d.Remedies) > 0 {
		lines = append(lines, "Remedy: "+d.Remedies[0].Action)
	}
	return chart.Page{Title: "oomkit diagnose: " + r.Subject, Lines: lines, Charts: []chart.Chart{c}}, nil
}

// reservation is the container's --memory-reservation: v1's soft limit,
// v2's memory.low.
func reservation(ev oom.Evidence) cgroup.Limit {
	for _, tree := range [][]cgroup.MemorySnapshot{ev.Before, ev.After} {
		if len(tree) == 0 {
			continue
		}
		if s := tree[0]; s.SoftLimit.Set() {
			return s.SoftLimit
		} else if s.Low.Set() && s.Low.Bytes > 0 {
			return s.Low
		}
	}
	return cgroup.Limit{}
}

// killTimes are the Engine's oom events, else the wall times of the kernel
// reports about the container's cgroup.
func killTimes(ev oom.Evidence) []time.Time {
	var ts []time.Time
	for _, e := range ev.Events {
		if e.Action == "oom" {
			ts = append(ts, e.Time)
		}
	}
	if len(ts) > 0 {
		return ts
	}
	path := ""
	if len(ev.Before) > 0 {
		path = ev.Before[0].Path
	}
	boot := oom.BootTime()
	related := oom.KeepRelated(path)
	for _, r := range ev.Reports {
		if path == "" || !related(r) {
			continue
		}
		if t := wallTime(r, boot, true); !t.IsZero() {
			ts = append(ts, t)
		}
	}
	return ts
}

func writeChart(path string, r *result) error {
	pg, err := followChart(r)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := pg.WriteHTML(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return f.Close()
}
