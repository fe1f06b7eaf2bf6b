// Package chart draws oomkit's memory charts (usage over time, limits,
// kills, forecasts) as SVG with gonum.org/v1/plot and wraps them in one
// self-contained HTML file: the SVG and its fonts are inline, nothing is
// fetched when the page is viewed (no script, no network).
//
// gonum/plot is a maintained, pure-Go plotting library that renders SVG on
// the server: no JavaScript bundle to embed and keep up to date, and the
// page opens offline in any browser.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/oomkit/oomkit/cgroup"
)

// Point is one value at one time, in bytes.
type Point struct {
	Time  time.Time
	Bytes float64
}

// Series is a line over time.
type Series struct {
	Name   string
	Points []Point
	Color  color.RGBA
	Dashed bool
}

// Level is a horizontal line: a limit or a reservation.
type Level struct {
	Name  string
	Bytes float64
	Color color.RGBA
}

// Mark is an event at a time, drawn as a vertical line with a cross at
// its top: an OOM kill.
type Mark struct {
	Name  string // legend entry; marks of the same name share one
	Time  time.Time
	Color color.RGBA
}

// Chart is one plot: lines over time, levels and marks.
type Chart struct {
	Title  string
	Series []Series
	Levels []Level
	Marks  []Mark
	// Width and Height in points (4/3 CSS pixels each); 0 means 720 x 380.
	Width, Height float64
}

// Colours the programs use, so that a limit is the same red everywhere.
var (
	Blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // usage
	Green  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // working set
	Purple = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff} // non-reclaimable
	Red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // limit
	Orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // reservation
	Black  = color.RGBA{A: 0xff}                            // kills
	Grey   = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff} // forecasts
)

// Palette is the order in which further series are coloured.
var Palette = []color.RGBA{Blue, Green, Purple, Orange, Grey,
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, {R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, {R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}}

// ErrEmpty is returned for a chart with no point to draw.
var ErrEmpty = errors.New("chart: nothing to draw")

const mib = 1 << 20

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// SVG renders the chart, its fonts embedded.
func (c Chart) SVG() ([]byte, error) { return c.svg(true) }

func (c Chart) svg(embedFonts bool) ([]byte, error) {
	p := plot.New()
	p.Title.Text = c.Title
	zone, _ := time.Now().Zone()
	p.X.Label.Text = "time (" + zone + ")"
	p.Y.Label.Text = "MiB"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	var tMin, tMax, yMax float64 = math.Inf(1), math.Inf(-1), 0
	n := 0
	for _, s := range c.Series {
		for _, pt := range s.Points {
			x := unix(pt.Time)
			tMin, tMax = math.Min(tMin, x), math.Max(tMax, x)
			yMax = math.Max(yMax, pt.Bytes/mib)
			n++
		}
	}
	for _, m := range c.Marks {
		x := unix(m.Time)
		tMin, tMax = math.Min(tMin, x), math.Max(tMax, x)
	}
	if n == 0 {
		return nil, ErrEmpty
	}
	if tMax <= tMin {
		tMax = tMin + 1
	}
	for _, l := range c.Levels {
		yMax = math.Max(yMax, l.Bytes/mib)
	}
	// Room for the legend above the lines.
	yMax *= 1.15 + 0.05*float64(len(c.Series)+len(c.Levels)+min(len(c.Marks), 1))
	if yMax <= 0 {
		yMax = 1
	}
	span := tMax - tMin
	format := "15:04:05"
	if span > 2*86400 {
		format = "Jan 2 15:04"
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: format, Time: func(t float64) time.Time { return time.Unix(0, int64(t*1e9)).In(time.Local) }}
	p.X.Min, p.X.Max = tMin, tMax
	p.Y.Min, p.Y.Max = 0, yMax

	for _, l := range c.Levels {
		ln, err := plotter.NewLine(plotter.XYs{{X: tMin, Y: l.Bytes / mib}, {X: tMax, Y: l.Bytes / mib}})
		if err != nil {
			return nil, fmt.Errorf("chart: level %s: %w", l.Name, err)
		}
		ln.Color, ln.Width = l.Color, vg.Points(2)
		ln.Dashes = []vg.Length{vg.Points(8), vg.Points(4)}
		p.Add(ln)
		p.Legend.Add(fmt.Sprintf("%s %s", l.Name, cgroup.Size(l.Bytes)), ln)
	}
	for i, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		xy := make(plotter.XYs, len(s.Points))
		for j, pt := range s.Points {
			xy[j] = plotter.XY{X: unix(pt.Time), Y: pt.Bytes / mib}
		}
		ln, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("chart: series %s: %w", s.Name, err)
		}
		ln.Color = s.Color
		if s.Color.A == 0 {
			ln.Color = Palette[i%len(Palette)]
		}
		ln.Width = vg.Points(2)
		if s.Dashed {
			ln.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		}
		p.Add(ln)
		p.Legend.Add(s.Name, ln)
	}
	named := map[string]bool{}
	for _, m := range c.Marks {
		x := unix(m.Time)
		ln, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: yMax}})
		if err != nil {
			return nil, fmt.Errorf("chart: mark %s: %w", m.Name, err)
		}
		ln.Color, ln.Width = m.Color, vg.Points(1.5)
		sc, err := plotter.NewScatter(plotter.XYs{{X: x, Y: yMax * 0.97}})
		if err != nil {
			return nil, fmt.Errorf("chart: mark %s: %w", m.Name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: m.Color, Radius: vg.Points(5), Shape: draw.CrossGlyph{}}
		p.Add(ln, sc)
		if !named[m.Name] {
			named[m.Name] = true
			p.Legend.Add(m.Name, ln, sc)
		}
	}
	w, h := c.Width, c.Height
	if w <= 0 || h <= 0 {
		w, h = 720, 380
	}
	cv := vgsvg.NewWith(vgsvg.UseWH(vg.Points(w), vg.Points(h)), vgsvg.EmbedFonts(embedFonts))
	p.Draw(draw.New(cv))
	var buf bytes.Buffer
	if _, err := cv.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: svg: %w", err)
	}
	return buf.Bytes(), nil
}

// Page is a self-contained HTML page of charts with a few lines of text.
type Page struct {
	Title  string
	Lines  []string // shown above the charts: what was measured, the verdict
	Charts []Chart
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:1.5em;background:#fff;color:#222}h1{font-size:1.3em}p{margin:.3em 0}figure{margin:1em 0}</style>
</head><body>
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .SVGs}}<figure>{{.}}</figure>
{{end}}</body></html>
`))

// WriteHTML writes the page: inline SVG, no script, no external resource.
func (pg Page) WriteHTML(w io.Writer) error {
	var svgs []template.HTML
	for i, c := range pg.Charts {
		// The first chart's @font-face rules apply to the whole page: the
		// others use the same fonts without a copy each.
		b, err := c.svg(i == 0)
		if err != nil {
			return err
		}
		if i := bytes.Index(b, []byte("<svg")); i > 0 {
			b = b[i:] // drop the XML prolog: the SVG is inline
		}
		svgs = append(svgs, template.HTML(b)) // #nosec G203 -- our own renderer's SVG
	}
	return page.Execute(w, struct {
		Title string
		Lines []string
		SVGs  []template.HTML
	}{pg.Title, pg.Lines, svgs})
}
