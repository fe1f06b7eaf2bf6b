package backtest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

// t0 is where traces without a date start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RecordedDir is where oomkit's own recorded traces live, relative to this
// module.
const RecordedDir = "../recommend/testdata/traces"

// PublicDir returns the shared corpus's traces directory: $OOMKIT_CORPUS/traces
// or $OOMKIT_SHARED/corpus/traces when set, else ../../shared/corpus/traces
// relative to this module (the corpus sits beside the repository, as in CI).
func PublicDir() string {
	if d := os.Getenv("OOMKIT_CORPUS"); d != "" {
		return filepath.Join(d, "traces")
	}
	if d := os.Getenv("OOMKIT_SHARED"); d != "" {
		return filepath.Join(d, "corpus", "traces")
	}
	return "../../shared/corpus/traces"
}

// Recorded loads every trace recorded on oomkit's test machine (CSV with a
// header naming its columns, read by recommend's CSV reader).
func Recorded(dir string) ([]Trace, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("backtest: no traces in %s", dir)
	}
	slices.Sort(files)
	var out []Trace
	for _, f := range files {
		tr, err := ReadCSVTrace(f)
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, nil
}

// ReadCSVTrace reads a CSV trace through recommend's CSV reader.
func ReadCSVTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, err
	}
	defer f.Close()
	ss, err := recommend.ReadCSV(f, t0)
	if err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	tr := Trace{Name: strings.TrimSuffix(filepath.Base(path), ".csv")}
	for _, s := range ss {
		tr.Samples = append(tr.Samples, sampleOf(s))
	}
	return tr, nil
}

// sampleOf returns the replay's sample of a cgroup sample: the working set
// (usage when unknown), the non-reclaimable figure (-1 when unknown) and,
// when the sample tells what reclaim cannot free (usage minus page cache:
// anon and kernel memory; at least the non-reclaimable figure), the rest of
// the working set as reclaimable.
func sampleOf(s cgroup.Sample) Sample {
	nr := -1.0
	if s.NonReclaimable.Known {
		nr = float64(s.NonReclaimable.Bytes)
	}
	ws := float64(s.WorkingSetOrUsage().Bytes)
	hard, known := max(nr, 0), nr >= 0
	if s.Usage.Known && s.PageCache.Known {
		hard, known = max(hard, float64(s.Usage.Bytes)-float64(s.PageCache.Bytes)), true
	}
	var rec float64
	if known {
		rec = max(0, ws-hard)
	}
	return Sample{T: s.Time, WS: ws, NR: nr, Reclaimable: rec}
}

// publicMachine is the nominal machine the cluster-average traces (a share
// of machine memory) are scaled to.
const publicMachine = 8 << 30

// Public loads the shared corpus's public traces in place (see its
// SOURCES.md): FogMon's docker stats series of two containers under a
// 20 MiB and a 1 GiB limit (a sample every 3-4 s), and the Alibaba 2018 and
// Google 2019 cluster traces' mean memory utilisation per 300 s (8 and 28
// days) scaled to an 8 GiB machine. It returns os.ErrNotExist (wrapped)
// when the corpus is absent.
func Public(dir string) ([]Trace, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	var out []Trace
	for _, f := range []struct{ name, file, ctr string }{
		{"fogmon-20MiB/leader", "01-fogmon-docker-stats-20MiB-limit-timeseries.txt", "fogmon_leader_1"},
		{"fogmon-20MiB/follower", "01-fogmon-docker-stats-20MiB-limit-timeseries.txt", "fogmon_follower1_1"},
		{"fogmon-1GiB/leader", "02-fogmon-docker-stats-1GiB-limit-timeseries.txt", "fogmon_leader_1"},
		{"fogmon-1GiB/follower", "02-fogmon-docker-stats-1GiB-limit-timeseries.txt", "fogmon_follower1_1"},
	} {
		s, err := readDockerStatsText(filepath.Join(dir, f.file), f.ctr)
		if err != nil {
			return nil, err
		}
		out = append(out, Trace{Name: f.name, Samples: s})
	}
	for _, f := range []struct {
		name, file, col string
		scale           float64
	}{
		{"alibaba2018-8d", "03-alibaba2018-datacenter-avg-machine-usage-300s-days1-8.csv", "mem_util_percent", publicMachine / 100.0},
		{"google2019-28d", "04-google2019-cluster-avg-instance-usage-300s-month.csv", "avg_mem", publicMachine},
	} {
		s, err := readClusterCSV(filepath.Join(dir, f.file), f.col, f.scale)
		if err != nil {
			return nil, err
		}
		out = append(out, Trace{Name: f.name, Samples: s})
	}
	return out, nil
}

// italianMonths are the month abbreviations of `date` in an it_IT locale,
// as FogMon's script printed them ("mer 27 ott 2021, 19:07:54, UTC").
var italianMonths = map[string]time.Month{
	"gen": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"mag": time.May, "giu": time.June, "lug": time.July, "ago": time.August,
	"set": time.September, "ott": time.October, "nov": time.November, "dic": time.December,
}

// readDockerStatsText reads one container's memory use from `docker stats
// --no-stream` table lines, each sample closed by a `date -u` line. Samples
// sharing a second are spread over it so that time never stands still.
func readDockerStatsText(path, ctr string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Sample
	var pending []float64
	sc := bufio.NewScanner(f)
	var last time.Time
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 0:
		case len(fs) == 14 && fs[4] == "/":
			if fs[1] != ctr {
				continue
			}
			v, err := units.RAMInBytes(fs[3])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
			pending = append(pending, float64(v))
		case len(fs) == 6 && fs[5] == "UTC":
			t, err := italianDate(fs)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
			if !t.After(last) {
				t = last.Add(time.Millisecond)
			}
			for _, v := range pending {
				out = append(out, Sample{T: t, WS: v, NR: -1})
				last = t
			}
			pending = pending[:0]
		default:
			return nil, fmt.Errorf("%s:%d: unexpected line %q", path, line, sc.Text())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no samples of %s", path, ctr)
	}
	return out, sc.Err()
}

func italianDate(fs []string) (time.Time, error) {
	mon, ok := italianMonths[fs[2]]
	day, err1 := strconv.Atoi(fs[1])
	year, err2 := strconv.Atoi(strings.TrimSuffix(fs[3], ","))
	clock, err3 := time.Parse("15:04:05", strings.TrimSuffix(fs[4], ","))
	if !ok || err1 != nil || err2 != nil || err3 != nil {
		return time.Time{}, fmt.Errorf("bad date %q", strings.Join(fs, " "))
	}
	return time.Date(year, mon, day, clock.Hour(), clock.Minute(), clock.Second(), 0, time.UTC), nil
}

// readClusterCSV reads one column of a 300 s cluster-average trace (no time
// column: row i is i x 300 s), times scale, as working-set bytes.
func readClusterCSV(path, col string, scale float64) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	ci := slices.Index(head, col)
	if ci < 0 {
		return nil, fmt.Errorf("%s: no column %q in %v", path, col, head)
	}
	var out []Sample
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, row+2, err)
		}
		v, err := strconv.ParseFloat(rec[ci], 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: row %d: bad %s %q", path, row+2, col, rec[ci])
		}
		out = append(out, Sample{T: t0.Add(time.Duration(row) * 300 * time.Second), WS: v * scale, NR: -1})
	}
}
