package recommend

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// BenchmarkAdd is one sample into a Recommender as a sampler feeds it: one
// container sampled every 100 ms for as long as the benchmark runs (hours
// to weeks of history, so intervals open and close as they do in
// production), with the values of the real steady-server recording in turn
// (working set, usage, non-reclaimable and page cache as recorded; swap
// known and 0, as a cgroup v2 Sampler reports it). The samples are built
// before the timer runs (a time.Time.Add per sample would cost a third of
// Add): 8 copies of the recording, 18 minutes, 1.1 MB; when they are used
// up, their times move on by that much with the timer stopped. The copy of
// each 104-byte Sample into Add's arguments is timed, as every caller pays
// it. It reports the state size per container as state-B and the
// process's CPU time per Add while the timer runs as cpu-ns/op: on this
// shared machine wall time swings with the load, CPU time much less.
//
//	go test ./recommend -run '^$' -bench 'Add$' -benchmem
func BenchmarkAdd(b *testing.B) {
	rec, err := Trace("steady-server", t0)
	if err != nil {
		b.Fatal(err)
	}
	var ss []cgroup.Sample
	for range 8 {
		ss = append(ss, rec...)
	}
	const step = 100 * time.Millisecond
	for i := range ss {
		ss[i].Time, ss[i].Swap = t0.Add(time.Duration(i)*step), cgroup.AmountOf(0)
	}
	r, _ := New()
	b.ReportAllocs()
	var cpu time.Duration
	from, i := cpuTime(), 0
	for b.Loop() {
		if i == len(ss) {
			cpu += cpuTime() - from
			b.StopTimer()
			for j := range ss {
				ss[j].Time = ss[j].Time.Add(time.Duration(len(ss)) * step)
			}
			i = 0
			b.StartTimer()
			from = cpuTime()
		}
		if err := r.Add(ss[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cpu += cpuTime() - from
	b.ReportMetric(float64(r.StateBytes()), "state-B")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkAddShort is BenchmarkAdd on short histories: the first 37 s of
// the recording (370 samples, 100 ms apart: the short trace) into
// a fresh Recommender each time, so an interval closes (histogram,
// series, decay clock) on half the samples.
//
//	go test ./recommend -run '^$' -bench 'AddShort$' -benchmem
func BenchmarkAddShort(b *testing.B) {
	rec, err := Trace("steady-server", t0)
	if err != nil {
		b.Fatal(err)
	}
	ss := rec[:370]
	for i := range ss {
		ss[i].Time, ss[i].Swap = t0.Add(time.Duration(i)*100*time.Millisecond), cgroup.AmountOf(0)
	}
	fresh, _ := New()
	r := *fresh
	b.ReportAllocs()
	from, i := cpuTime(), 0
	for b.Loop() {
		if i == len(ss) {
			r, i = *fresh, 0 // the next container
		}
		if err := r.Add(ss[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-from).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// csvGen produces a usage CSV of n rows on the fly, so the benchmark holds
// none of it.
type csvGen struct {
	n, i int
	buf  []byte
}

func (g *csvGen) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, "time_s,usage_bytes,working_set_bytes,anon_bytes,limit_bytes,oom\n"...)
		} else {
			ws := 200<<20 + (g.i%1000)<<14
			g.buf = fmt.Appendf(g.buf, "%d.%d,%d,%d,%d,%d,0\n", g.i/10, g.i%10, ws+50<<20, ws, ws-20<<20, 1<<30)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	k := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[k:])]
	return k, nil
}

func maxRSS() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // KiB -> MiB
}

// BenchmarkCSV10M streams 10 million CSV rows into a Recommender and
// reports the process's peak RSS (maxrss-MiB, the whole test binary's) and
// rows per second.
//
//	go test ./recommend -run '^$' -bench CSV10M -benchtime 1x
func BenchmarkCSV10M(b *testing.B) {
	const rows = 10_000_000
	for b.Loop() {
		r, _ := New()
		st, err := r.AddCSV(&csvGen{n: rows}, t0)
		if err != nil {
			b.Fatal(err)
		}
		if st.Rows != rows || r.Samples() != rows {
			b.Fatalf("read %d rows, %d samples", st.Rows, r.Samples())
		}
	}
	b.ReportMetric(maxRSS(), "maxrss-MiB")
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func FuzzReadCSV(f *testing.F) {
	f.Add("time_s,working_set_bytes\n0,100\n0.1,200\n")
	f.Add("time,bytes\n2026-01-01T00:00:00Z,1e6\n")
	f.Add("t,b,anon_bytes\n1,-5,3\nNaN,Inf,\n")
	f.Add("time,usage_bytes,working_set_bytes,oom,limit_bytes\n1,5,4,0,9\n2,9,9,1,9\n1,3,3,0,9\n")
	f.Fuzz(func(t *testing.T, data string) {
		r, _ := New()
		st, err := r.AddCSV(strings.NewReader(data), t0)
		var ce *CSVError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error %v is not a CSVError naming the line", err)
		}
		if int64(st.Rows-st.Skipped) != r.Samples() {
			t.Fatalf("%d rows, %d skipped, %d samples", st.Rows, st.Skipped, r.Samples())
		}
		if r.Samples() > 0 {
			if _, rerr := r.Recommend(); rerr != nil {
				t.Fatal(rerr)
			}
		}
	})
}
