package backtest

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/oomkit/oomkit/recommend"
)

// Strategies returns the strategies compared, oomkit first, each new: the
// real VPA with and without its 250 MiB floor, and KRR simple without and
// with its OOM data. opts configure oomkit (none for its defaults).
func Strategies(opts ...recommend.Option) ([]Strategy, error) {
	o, err := Oomkit("oomkit", opts...)
	if err != nil {
		return nil, err
	}
	return []Strategy{o, VPA(true), VPA(false), KRR(false), KRR(true)}, nil
}

// Table is every strategy replayed on every trace.
type Table struct {
	Strategies []string   `json:"strategies"`
	Traces     []string   `json:"traces"`
	Results    [][]Result `json:"results"` // [trace][strategy]
}

// Run replays traces with fresh strategies from mk.
func Run(trs []Trace, mk func() ([]Strategy, error)) (Table, error) {
	var t Table
	for _, tr := range trs {
		ss, err := mk()
		if err != nil {
			return t, err
		}
		if t.Strategies == nil {
			for _, s := range ss {
				t.Strategies = append(t.Strategies, s.Name())
			}
		}
		row := make([]Result, len(ss))
		for i, s := range ss {
			if row[i], err = Replay(tr, s); err != nil {
				return t, err
			}
		}
		t.Traces = append(t.Traces, tr.Name)
		t.Results = append(t.Results, row)
	}
	return t, nil
}

// Total returns strategy i's kills and its mean slack over the traces
// (each trace's mean slack weighing the same).
func (t Table) Total(i int) (kills int, slack float64) {
	for _, row := range t.Results {
		kills += row[i].Kills
		slack += row[i].MeanSlack
	}
	if len(t.Results) > 0 {
		slack /= float64(len(t.Results))
	}
	return kills, slack
}

// Index returns the column of a strategy, or -1.
func (t Table) Index(name string) int {
	for i, s := range t.Strategies {
		if s == name {
			return i
		}
	}
	return -1
}

// Markdown writes the table: kills / mean slack (time-weighted slack) per
// trace and strategy, then the totals.
func (t Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "| trace | %s |\n|---|%s\n", strings.Join(t.Strategies, " | "), strings.Repeat("---|", len(t.Strategies)))
	for j, row := range t.Results {
		var cells []string
		for _, r := range row {
			cells = append(cells, fmt.Sprintf("%d / %.0f%% (%.0f%%)", r.Kills, 100*r.MeanSlack, 100*r.TimeSlack))
		}
		fmt.Fprintf(w, "| %s | %s |\n", t.Traces[j], strings.Join(cells, " | "))
	}
	var cells []string
	for i := range t.Strategies {
		k, s := t.Total(i)
		cells = append(cells, fmt.Sprintf("**%d / %.1f%%**", k, 100*s))
	}
	fmt.Fprintf(w, "| all %d traces | %s |\n", len(t.Results), strings.Join(cells, " | "))
}

// Perturbation is oomkit's totals with one Tuning constant moved.
type Perturbation struct {
	Constant string  `json:"constant"`
	Factor   float64 `json:"factor"`
	Kills    int     `json:"kills"`
	Slack    float64 `json:"slack"`
	// WorseThanFloorless counts traces where oomkit has more kills than
	// the floorless VPA.
	WorseThanFloorless int `json:"worse_than_floorless"`
	// Met says whether the row meets all three of the targets, as
	// Table.Figures reads them: no trace worse than the floorless VPA, at most half
	// its kills, at most three quarters of its mean slack.
	Met bool `json:"met"`
	// KillsAt lists the kills, each as trace@time since the trace's start.
	KillsAt []string `json:"kills_at"`
}

// Sensitivity replays oomkit with each Tuning constant moved by each
// factor (e.g. 0.75 and 1.25), the others at their defaults; integer
// constants are rounded. base is the table with the defaults (for the
// floorless VPA's kills and slack).
func Sensitivity(trs []Trace, base Table, factors ...float64) ([]Perturbation, error) {
	return SensitivityOf(trs, base, recommend.DefaultTuning(), factors...)
}

// SensitivityOf is Sensitivity around the constants def instead of the
// defaults: each moved by each factor, the others at def.
func SensitivityOf(trs []Trace, base Table, def recommend.Tuning, factors ...float64) ([]Perturbation, error) {
	v := reflect.ValueOf(def)
	nf := base.Index("vpa-no-floor")
	if nf < 0 {
		return nil, errors.New("backtest: the base table has no vpa-no-floor column")
	}
	nk, ns := base.Total(nf)
	var out []Perturbation
	for i := range v.NumField() {
		for _, f := range factors {
			tu := def
			fv := reflect.ValueOf(&tu).Elem().Field(i)
			switch fv.Kind() {
			case reflect.Float64:
				fv.SetFloat(fv.Float() * f)
			case reflect.Int, reflect.Int64:
				if fv.Type() == reflect.TypeFor[time.Duration]() {
					fv.SetInt(int64(float64(fv.Int()) * f))
				} else {
					fv.SetInt(int64(float64(fv.Int())*f + 0.5))
				}
			}
			// Shares must stay shares.
			tu.LeakConsistency = min(tu.LeakConsistency, 1)
			tu.GrowthWindow = min(tu.GrowthWindow, 0.99)
			p := Perturbation{Constant: v.Type().Field(i).Name, Factor: f}
			for j, tr := range trs {
				s, err := Oomkit("oomkit", recommend.WithTuning(tu))
				if err != nil {
					return nil, fmt.Errorf("%s x%g: %w", p.Constant, f, err)
				}
				r, err := Replay(tr, s)
				if err != nil {
					return nil, err
				}
				p.Kills += r.Kills
				p.Slack += r.MeanSlack / float64(len(trs))
				if r.Kills > base.Results[j][nf].Kills {
					p.WorseThanFloorless++
				}
				for _, k := range r.KillLog {
					p.KillsAt = append(p.KillsAt, fmt.Sprintf("%s@%s", tr.Name, k.At.Round(100*time.Millisecond)))
				}
			}
			m := targets(p.WorseThanFloorless, p.Kills, p.Slack, nk, ns)
			p.Met = m[0] && m[1] && m[2]
			out = append(out, p)
		}
	}
	return out, nil
}

// WriteSensitivity writes the perturbation table.
func WriteSensitivity(w io.Writer, ps []Perturbation) {
	fmt.Fprintf(w, "| constant | x | kills | mean slack | traces worse than floorless VPA | targets |\n|---|---|---|---|---|---|\n")
	for _, p := range ps {
		fmt.Fprintf(w, "| %s | %g | %d | %.1f%% | %d | %s |\n", p.Constant, p.Factor, p.Kills, 100*p.Slack, p.WorseThanFloorless, map[bool]string{true: "met", false: "missed"}[p.Met])
	}
}

// Figure is one of issue #15's targets for oomkit's defaults and whether
// the table meets it.
type Figure struct {
	Target string `json:"target"`
	Met    bool   `json:"met"`
	Detail string `json:"detail"`
}

// Figures checks the targets: on every trace no more kills than the
// floorless VPA; in all at most half its kills; overall mean slack at most
// three quarters of its.
func (t Table) Figures() []Figure {
	ours, nf := t.Index("oomkit"), t.Index("vpa-no-floor")
	var worse []string
	for j, row := range t.Results {
		if row[ours].Kills > row[nf].Kills {
			worse = append(worse, fmt.Sprintf("%s %d > %d", t.Traces[j], row[ours].Kills, row[nf].Kills))
		}
	}
	ok, os := t.Total(ours)
	nk, ns := t.Total(nf)
	m := targets(len(worse), ok, os, nk, ns)
	return []Figure{
		{"on every trace no more kills than the floorless VPA", m[0], fmt.Sprintf("%d traces worse: %s", len(worse), strings.Join(worse, ", "))},
		{"in all at most half the floorless VPA's kills", m[1], fmt.Sprintf("%d kills against %d", ok, nk)},
		{"mean slack at most 3/4 of the floorless VPA's", m[2], fmt.Sprintf("%.1f%% against %.1f%% (3/4: %.1f%%)", 100*os, 100*ns, 75*ns)},
	}
}

// targets checks the three targets, in Figures' order, for oomkit's
// results (traces worse than the floorless VPA, kills, mean slack) against
// the floorless VPA's totals (nk kills, ns mean slack).
func targets(worse, kills int, slack float64, nk int, ns float64) [3]bool {
	return [3]bool{worse == 0, 2*kills <= nk, slack <= 0.75*ns}
}
