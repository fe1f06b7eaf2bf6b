package main

import (
	"fmt"
	"os"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/chart"
	"github.com/oomkit/oomkit/recommend"
)

// recorder wraps a strategy to record what the replay applied: Backtest
// asks Limit before it shows the strategy each sample, so the last limit
// returned when a sample is observed is the limit applied at that sample.
type recorder struct {
	recommend.Strategy
	last    cgroup.Bytes
	applied []chart.Point
	kills   []time.Time
}

func (r *recorder) Limit() cgroup.Bytes {
	r.last = r.Strategy.Limit()
	return r.last
}

func (r *recorder) Observe(s cgroup.Sample) {
	if r.last > 0 {
		r.applied = append(r.applied, chart.Point{Time: s.Time, Bytes: float64(r.last)})
	}
	r.Strategy.Observe(s)
}

func (r *recorder) OOM(t time.Time, limit cgroup.Bytes) {
	r.kills = append(r.kills, t)
	r.Strategy.OOM(t, limit)
}

type replay struct {
	trace trace
	runs  []*recorder
}

// The replays start at the Unix epoch: the chart shows time since the
// trace's start.
func writeChart(path string, cfg recommend.BacktestConfig, replays []replay) error {
	pg := chart.Page{Title: "oomkit backtest", Lines: []string{
		fmt.Sprintf("Each strategy's applied limit (updated every %s after a %s warm-up, at once after a kill) over the trace's working set; a cross marks each of its OOM kills. Times are from the trace's start (00:00:00).", cfg.Cadence, cfg.Warmup),
	}}
	for _, rp := range replays {
		var ws []chart.Point
		t0 := rp.trace.samples[0].Time
		for _, s := range rp.trace.samples {
			if v := s.WorkingSetOrUsage(); v.Known {
				ws = append(ws, chart.Point{Time: shift(s.Time, t0), Bytes: float64(v.Bytes)})
			}
		}
		c := chart.Chart{Title: "trace " + rp.trace.name, Series: []chart.Series{{Name: "working set", Points: ws, Color: chart.Black}}}
		for i, r := range rp.runs {
			col := chart.Palette[i%len(chart.Palette)]
			pts := make([]chart.Point, len(r.applied))
			for j, p := range r.applied {
				pts[j] = chart.Point{Time: shift(p.Time, t0), Bytes: p.Bytes}
			}
			c.Series = append(c.Series, chart.Series{Name: fmt.Sprintf("%s limit (%d kills)", r.Name(), len(r.kills)), Points: pts, Color: col, Dashed: i > 0})
			for _, k := range r.kills {
				c.Marks = append(c.Marks, chart.Mark{Name: r.Name() + " kill", Time: shift(k, t0), Color: col})
			}
		}
		pg.Charts = append(pg.Charts, c)
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

// shift places t at a midnight plus its offset from t0, so the
// chart's clock reads the time since the trace's start.
func shift(t, t0 time.Time) time.Time {
	mid := time.Date(2000, 1, 1, 0, 0, 0, 0, time.Local)
	return mid.Add(t.Sub(t0))
}
