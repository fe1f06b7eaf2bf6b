package main

import (
	"fmt"
	"os"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/recommend"
)

// writeChart draws the trace (working set, and non-reclaimable memory where
// known) with the recommended limit and reservation.
func writeChart(path, name string, samples []cgroup.Sample, rec recommend.Recommendation) error {
	var ws, nr []chart.Point
	for _, s := range samples {
		if v := s.WorkingSetOrUsage(); v.Known {
			ws = append(ws, chart.Point{Time: s.Time, Bytes: float64(v.Bytes)})
		}
		if s.NonReclaimable.Known {
			nr = append(nr, chart.Point{Time: s.Time, Bytes: float64(s.NonReclaimable.Bytes)})
		}
	}
	c := chart.Chart{
		Title: "memory of " + name + " and the recommendation",
		Series: []chart.Series{
			// The working set last, on top: it is what the limit must hold.
			{Name: "non-reclaimable (anon, shmem)", Points: nr, Color: chart.Purple},
			{Name: "working set", Points: ws, Color: chart.Green},
		},
	}
	// No limit yet (too little history): no line at zero pretending one.
	if !rec.NoLimitYet && rec.Memory.Bytes > 0 {
		c.Levels = append(c.Levels, chart.Level{Name: "recommended limit", Bytes: float64(rec.Memory.Bytes), Color: chart.Red})
	}
	if rec.MemoryReservation.Bytes > 0 {
		c.Levels = append(c.Levels, chart.Level{Name: "recommended reservation", Bytes: float64(rec.MemoryReservation.Bytes), Color: chart.Orange})
	}
	lines := []string{
		fmt.Sprintf("%s, profile %s, confidence %.2f from %d samples over %s.", rec.DockerRun(), rec.Profile, rec.Confidence, rec.Samples, rec.History.Round(time.Second)),
		"Limit: " + rec.Memory.Rationale + ". Reservation: " + rec.MemoryReservation.Rationale + ".",
	}
	for _, w := range rec.Warnings {
		lines = append(lines, "Warning: "+w)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := (chart.Page{Title: "oomkit recommend: " + name, Lines: lines, Charts: []chart.Chart{c}}).WriteHTML(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return f.Close()
}
