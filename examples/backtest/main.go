// Command backtest replays the embedded real usage traces (or CSV files
// given as arguments) against oomkit's recommender and the baselines, and
// prints OOM kills and mean slack per trace and strategy.
//
//	backtest [--cadence 10s] [--warmup 20s] [--html FILE] [FILE.csv...]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

const usageText = `backtest replays memory usage traces against oomkit's recommender and
baselines (the Kubernetes VPA's algorithm with and without its floor, max
+ 15%%, median x 1.2): at each sample a strategy has seen only the samples
before it, its limit is applied every --cadence after a --warmup, and a
working set above the applied limit is an OOM kill. It prints, per trace
and strategy, the kills and the mean slack (the share of the limit unused).

Inputs: the embedded real traces (%s), or CSV files: a header row, then
one row per sample: time (seconds, possibly fractional, or RFC 3339),
working set in bytes; optional columns anon_bytes (or
nonreclaimable_bytes), cache_bytes, swap_bytes.

--html FILE also writes, per trace, each strategy's applied limit and its
kills over the working set (one offline HTML file).

Example:
  go run ./examples/backtest --cadence 30s --html backtest.html usage.csv

Flags:
`

// usageError is a wrong command line: exit status 2.
type usageError struct{ error }

type options struct {
	cfg   recommend.BacktestConfig
	html  string
	files []string
}

func main() { os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr)) }

func cli(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usageText, strings.Join(recommend.TraceNames(), ", "))
		fs.PrintDefaults()
	}
	var o options
	fs.DurationVar(&o.cfg.Cadence, "cadence", 10*time.Second, "how often the applied limit follows the recommendation (> 0)")
	fs.DurationVar(&o.cfg.Warmup, "warmup", 20*time.Second, "observed before any limit is applied (>= 0, shorter than every trace)")
	fs.StringVar(&o.html, "html", "", "also write a chart per trace (each strategy's applied limit and kills) to this HTML file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.files = fs.Args()
	err := check(fs, o)
	if err == nil {
		err = run(stdout, o)
	}
	if err != nil {
		fmt.Fprintln(stderr, "backtest:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func check(fs *flag.FlagSet, o options) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case o.cfg.Cadence <= 0:
		return usageError{fmt.Errorf("--cadence %s: must be positive", o.cfg.Cadence)}
	case o.cfg.Warmup < 0:
		return usageError{fmt.Errorf("--warmup %s: must not be negative", o.cfg.Warmup)}
	case set["html"] && o.html == "":
		return usageError{errors.New("--html: empty file name")}
	}
	if o.html != "" {
		if st, err := os.Stat(filepath.Dir(o.html)); err != nil || !st.IsDir() {
			return usageError{fmt.Errorf("--html %s: no directory %s to write it in", o.html, filepath.Dir(o.html))}
		}
	}
	return nil
}

func strategies() ([]recommend.Strategy, error) {
	ours, err := recommend.NewStrategy("oomkit", recommend.WithInterval(2*time.Second), recommend.WithLeakHorizon(time.Minute))
	if err != nil {
		return nil, err
	}
	return []recommend.Strategy{ours, recommend.VPA(true), recommend.VPA(false), recommend.MaxPlus(0.15), recommend.MedianTimes(1.2)}, nil
}

type trace struct {
	name    string
	samples []cgroup.Sample
}

func load(files []string) ([]trace, error) {
	var traces []trace
	if len(files) == 0 {
		for _, n := range recommend.TraceNames() {
			s, err := recommend.Trace(n, time.Unix(0, 0))
			if err != nil {
				return nil, err
			}
			traces = append(traces, trace{n, s})
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, usageError{err}
		}
		s, err := recommend.ReadCSV(fh, time.Unix(0, 0))
		_ = fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(s) < 2 {
			return nil, fmt.Errorf("%s: %d sample(s): nothing to replay (a header row, then one row per sample)", f, len(s))
		}
		traces = append(traces, trace{strings.TrimSuffix(filepath.Base(f), ".csv"), s})
	}
	return traces, nil
}

func run(w io.Writer, o options) error {
	traces, err := load(o.files)
	if err != nil {
		return err
	}
	for _, t := range traces {
		if span := t.samples[len(t.samples)-1].Time.Sub(t.samples[0].Time); o.cfg.Warmup >= span {
			return usageError{fmt.Errorf("--warmup %s: trace %s spans only %s: no limit would ever be applied, every strategy would score 0 kills for testing nothing", o.cfg.Warmup, t.name, span)}
		}
	}
	ss, err := strategies()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "trace (OOMs / mean slack)")
	for _, s := range ss {
		fmt.Fprintf(tw, "\t%s", s.Name())
	}
	fmt.Fprintln(tw)
	totals := make([]float64, len(ss))
	var replays []replay
	for _, t := range traces {
		fmt.Fprint(tw, t.name)
		ss, _ := strategies() // fresh state per trace
		rp := replay{trace: t}
		for i, s := range ss {
			rec := &recorder{Strategy: s}
			r := recommend.Backtest(t.samples, rec, o.cfg)
			totals[i] += r.MeanSlack
			fmt.Fprintf(tw, "\t%d / %.0f%%", r.OOMs, 100*r.MeanSlack)
			rp.runs = append(rp.runs, rec)
		}
		replays = append(replays, rp)
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "mean slack overall")
	for _, v := range totals {
		fmt.Fprintf(tw, "\t%.0f%%", 100*v/float64(len(traces)))
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.html != "" {
		return writeChart(o.html, o.cfg, replays)
	}
	return nil
}
