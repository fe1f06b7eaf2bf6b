package main

import (
	"fmt"
	"os"
	"time"

	"github.com/oomkit/oomkit/backtest"
	"github.com/oomkit/oomkit/chart"
)

// recorder wraps a strategy to record the limit the replay applied: each
// Limit call sets the limit from then until the next call.
type recorder struct {
	backtest.Strategy
	applied []chart.Point
	kills   []time.Time
	last    float64
	set     bool
}

func (r *recorder) Limit(now time.Time) (float64, bool) {
	l, ok := r.Strategy.Limit(now)
	if r.set && (!ok || l != r.last) {
		r.applied = append(r.applied, chart.Point{Time: now, Bytes: r.last}) // the step
	}
	if ok {
		r.applied = append(r.applied, chart.Point{Time: now, Bytes: l})
	}
	r.last, r.set = l, ok
	return l, ok
}

func (r *recorder) Killed(t time.Time, limit float64) {
	r.kills = append(r.kills, t)
	r.Strategy.Killed(t, limit)
}

// recording makes fresh strategies for each trace and keeps their
// recorders, trace by trace, in the order backtest.Run asks for them.
type recording struct{ runs [][]*recorder }

func (rc *recording) make() ([]backtest.Strategy, error) {
	ss, err := backtest.Strategies(oomkitOptions()...)
	if err != nil {
		return nil, err
	}
	var row []*recorder
	out := make([]backtest.Strategy, len(ss))
	for i, s := range ss {
		r := &recorder{Strategy: s}
		row, out[i] = append(row, r), r
	}
	rc.runs = append(rc.runs, row)
	return out, nil
}

// writeChart draws, per trace, the working set and each strategy's applied
// limit with its kills.
func writeChart(path string, trs []backtest.Trace, rc *recording) error {
	pg := chart.Page{Title: "oomkit backtest", Lines: []string{
		fmt.Sprintf("Each strategy's applied limit (recomputed %d times per trace and at once after a kill, no warm-up) over the trace's working set; a vertical line in the strategy's colour marks each of its OOM kills (what reclaim cannot free above the limit: a working set above it that is page cache is no kill).", backtest.Recomputations),
	}}
	for i, tr := range trs {
		if i >= len(rc.runs) {
			break
		}
		ws := make([]chart.Point, len(tr.Samples))
		for j, s := range tr.Samples {
			ws[j] = chart.Point{Time: s.T, Bytes: s.WS}
		}
		c := chart.Chart{Title: "trace " + tr.Name, Series: []chart.Series{{Name: "working set", Points: ws, Color: chart.Black}}}
		for k, r := range rc.runs[i] {
			col := chart.Palette[k%len(chart.Palette)]
			pts := r.applied
			if r.set && len(pts) > 0 {
				pts = append(pts, chart.Point{Time: tr.Samples[len(tr.Samples)-1].T, Bytes: r.last})
			}
			c.Series = append(c.Series, chart.Series{Name: fmt.Sprintf("%s limit (%d kills)", r.Name(), len(r.kills)), Points: pts, Color: col, Dashed: k > 0})
			for _, t := range r.kills {
				c.Marks = append(c.Marks, chart.Mark{Name: r.Name() + " kill", Time: t, Color: col})
			}
		}
		pg.Charts = append(pg.Charts, c)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-html: %w", err)
	}
	if err := pg.WriteHTML(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("-html %s: %w", path, err)
	}
	return f.Close()
}
