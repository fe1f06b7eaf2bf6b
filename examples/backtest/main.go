// Command backtest replays the embedded real usage traces (or CSV files
// given as arguments) against oomkit's recommender and the baselines, and
// prints OOM kills and mean slack per trace and strategy.
//
//	backtest [--cadence 10s] [--warmup 20s] [FILE.csv...]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

func main() {
	cadence := flag.Duration("cadence", 10*time.Second, "how often the applied limit follows the recommendation")
	warmup := flag.Duration("warmup", 20*time.Second, "observed before any limit is applied")
	flag.Parse()
	if err := run(flag.Args(), recommend.BacktestConfig{Cadence: *cadence, Warmup: *warmup}); err != nil {
		fmt.Fprintln(os.Stderr, "backtest:", err)
		os.Exit(1)
	}
}

func strategies() ([]recommend.Strategy, error) {
	ours, err := recommend.NewStrategy("oomkit", recommend.WithInterval(2*time.Second), recommend.WithLeakHorizon(time.Minute))
	if err != nil {
		return nil, err
	}
	return []recommend.Strategy{ours, recommend.VPA(true), recommend.VPA(false), recommend.MaxPlus(0.15), recommend.MedianTimes(1.2)}, nil
}

func run(files []string, cfg recommend.BacktestConfig) error {
	type trace struct {
		name    string
		samples []cgroup.Sample
	}
	var traces []trace
	if len(files) == 0 {
		for _, n := range recommend.TraceNames() {
			s, err := recommend.Trace(n, time.Unix(0, 0))
			if err != nil {
				return err
			}
			traces = append(traces, trace{n, s})
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		s, err := recommend.ReadCSV(fh, time.Unix(0, 0))
		_ = fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		traces = append(traces, trace{strings.TrimSuffix(filepath.Base(f), ".csv"), s})
	}
	ss, err := strategies()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "trace (OOMs / mean slack)")
	for _, s := range ss {
		fmt.Fprintf(tw, "\t%s", s.Name())
	}
	fmt.Fprintln(tw)
	totals := make([]float64, len(ss))
	for _, t := range traces {
		fmt.Fprint(tw, t.name)
		ss, _ := strategies() // fresh state per trace
		for i, s := range ss {
			r := recommend.Backtest(t.samples, s, cfg)
			totals[i] += r.MeanSlack
			fmt.Fprintf(tw, "\t%d / %.0f%%", r.OOMs, 100*r.MeanSlack)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "mean slack overall")
	for _, v := range totals {
		fmt.Fprintf(tw, "\t%.0f%%", 100*v/float64(len(traces)))
	}
	fmt.Fprintln(tw)
	return tw.Flush()
}
