// Command backtest replays usage traces online through oomkit's
// recommender (default options) and the real peers: the Kubernetes VPA's
// recommender code with and without its 250 MiB floor, and Robusta KRR's
// simple strategy without and with its OOM data. It prints kills and slack
// per trace, and with -sensitivity oomkit's totals with each constant of its
// rule moved by ±25%.
//
//	cd backtest && go run ./cmd/backtest                 recorded traces + the shared corpus's public ones
//	go run ./cmd/backtest -csv FILE[,FILE...]            your own traces (CSV with a header naming its columns)
//	go run ./cmd/backtest -json                          results as JSON
//	go run ./cmd/backtest -html backtest.html            also a chart per trace: each strategy's applied limit and kills
//	go run ./cmd/backtest -kill-on-working-set           count a kill at any working set above the limit (page cache included)
//	go run ./cmd/backtest -tuning Margin=0.14 -sensitivity   oomkit with other constants (recommend.Tuning), and ±25% around them
//
// A kill is a sample whose need, what reclaim cannot free (usage minus page
// cache when the trace records them, else the working set), is above the
// limit applied then: the kernel reclaims page cache before it kills.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/backtest"
	"github.com/oomkit/oomkit/recommend"
)

func main() {
	recorded := flag.String("recorded", backtest.RecordedDir, "directory of oomkit's recorded traces")
	corpus := flag.String("public", backtest.PublicDir(), "the shared corpus's traces directory (skipped when absent)")
	csvs := flag.String("csv", "", "comma-separated CSV traces to replay instead")
	asJSON := flag.Bool("json", false, "print JSON")
	sens := flag.Bool("sensitivity", false, "also move each constant of oomkit's rule by ±25%")
	wsk := flag.Bool("kill-on-working-set", false, "count a kill whenever the working set is above the limit, as if the kernel could not reclaim page cache")
	html := flag.String("html", "", "also write, per trace, each strategy's applied limit and its kills as a chart to this HTML file (offline, self-contained)")
	tuning := flag.String("tuning", "", "replay oomkit with these constants of its rule instead of the defaults: Name=value[,Name=value...], names as in recommend.Tuning (e.g. Margin=0.14,MaxHalfLife=12h)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "backtest: unexpected argument %q (traces are given with -csv FILE[,FILE...])\n", flag.Arg(0))
		os.Exit(2)
	}
	if *html != "" {
		if st, err := os.Stat(filepath.Dir(*html)); err != nil || !st.IsDir() {
			fmt.Fprintf(os.Stderr, "backtest: -html %s: no directory %s to write it in\n", *html, filepath.Dir(*html))
			os.Exit(2)
		}
	}
	htmlFile = *html
	wsKills = *wsk
	if *tuning != "" {
		tu, err := parseTuning(*tuning)
		if err != nil {
			fmt.Fprintln(os.Stderr, "backtest:", err)
			os.Exit(2)
		}
		tune = &tu
	}
	if err := run(os.Stdout, *recorded, *corpus, *csvs, *asJSON, *sens); err != nil {
		fmt.Fprintln(os.Stderr, "backtest:", err)
		os.Exit(1)
	}
}

// htmlFile is -html: where run also writes the chart ("" for none).
var htmlFile string

// wsKills is -kill-on-working-set.
var wsKills bool

// tune is -tuning: oomkit's constants (nil for the defaults).
var tune *recommend.Tuning

// oomkitOptions returns the options oomkit is replayed with.
func oomkitOptions() []recommend.Option {
	if tune == nil {
		return nil
	}
	return []recommend.Option{recommend.WithTuning(*tune)}
}

// parseTuning reads -tuning: Name=value pairs, comma-separated, each a
// field of recommend.Tuning (a number, or a duration such as 12h), the
// others at their defaults. The result is validated as recommend.New
// validates it.
func parseTuning(s string) (recommend.Tuning, error) {
	tu := recommend.DefaultTuning()
	v := reflect.ValueOf(&tu).Elem()
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || name == "" || val == "" {
			return tu, fmt.Errorf("-tuning %q: %q is not Name=value", s, kv)
		}
		sf, ok := v.Type().FieldByName(name)
		if !ok || !sf.IsExported() {
			var names []string
			for i := range v.NumField() {
				names = append(names, v.Type().Field(i).Name)
			}
			return tu, fmt.Errorf("-tuning %q: no constant %q (the constants: %s)", s, name, strings.Join(names, ", "))
		}
		f := v.FieldByIndex(sf.Index)
		switch {
		case f.Type() == reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(val)
			if err != nil {
				return tu, fmt.Errorf("-tuning %q: %s: %w", s, name, err)
			}
			f.SetInt(int64(d))
		case f.Kind() == reflect.Float64:
			x, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return tu, fmt.Errorf("-tuning %q: %s: %q is not a finite number", s, name, val)
			}
			f.SetFloat(x)
		case f.Kind() == reflect.Int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return tu, fmt.Errorf("-tuning %q: %s: %q is not a whole number", s, name, val)
			}
			f.SetInt(int64(n))
		default:
			return tu, fmt.Errorf("-tuning %q: %s has a type (%s) the flag cannot set", s, name, f.Type())
		}
	}
	if _, err := recommend.New(recommend.WithTuning(tu)); err != nil {
		return tu, fmt.Errorf("-tuning %q: %w", s, err)
	}
	return tu, nil
}

func run(w io.Writer, recorded, corpus, csvs string, asJSON, sens bool) error {
	var trs []backtest.Trace
	if csvs != "" {
		for _, f := range strings.Split(csvs, ",") {
			tr, err := backtest.ReadCSVTrace(f)
			if err != nil {
				return err
			}
			trs = append(trs, tr)
		}
	} else {
		r, err := backtest.Recorded(recorded)
		if err != nil {
			return err
		}
		trs = r
		p, err := backtest.Public(corpus)
		switch {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(os.Stderr, "backtest: no public traces at %s (-public DIR): recorded traces only\n", corpus)
		case err != nil:
			return err
		default:
			trs = append(trs, p...)
		}
	}
	rule := "a kill: what reclaim cannot free (usage - page cache) above the limit, the working set where a trace lacks it"
	if wsKills {
		trs = backtest.WorkingSetKills(trs)
		rule = "a kill: the working set above the limit (-kill-on-working-set)"
	}
	mk := func() ([]backtest.Strategy, error) { return backtest.Strategies(oomkitOptions()...) }
	rc := &recording{}
	if htmlFile != "" {
		mk = rc.make
	}
	tab, err := backtest.Run(trs, mk)
	if err != nil {
		return err
	}
	if htmlFile != "" {
		if err := writeChart(htmlFile, trs, rc); err != nil {
			return err
		}
	}
	var ps []backtest.Perturbation
	if sens {
		def := recommend.DefaultTuning()
		if tune != nil {
			def = *tune
		}
		if ps, err = backtest.SensitivityOf(trs, tab, def, 0.75, 1.25); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Table       backtest.Table          `json:"table"`
			Sensitivity []backtest.Perturbation `json:"sensitivity,omitempty"`
			// Tuning is -tuning's constants; absent for the defaults.
			Tuning *recommend.Tuning `json:"tuning,omitempty"`
		}{tab, ps, tune})
	}
	fmt.Fprintf(w, "kills / mean slack (time-weighted slack); %d recomputations per trace, no warm-up; %s\n\n", backtest.Recomputations, rule)
	if tune != nil {
		fmt.Fprintf(w, "oomkit with -tuning (not its defaults): %+v\n\n", *tune)
	}
	tab.Markdown(w)
	if sens {
		fmt.Fprintln(w)
		backtest.WriteSensitivity(w, ps)
	}
	return nil
}
