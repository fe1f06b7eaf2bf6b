package recommend

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/oomkit/oomkit/cgroup"
)

// BenchmarkAdd is one sample into a Recommender (samples 100 ms apart,
// 1-minute intervals); BenchmarkAddVPA the same into a VPA-style decaying
// exponential histogram with VPA's constants, which adds every sample.
// Each reports its state size per container as state-B.
//
//	go test ./recommend -run '^$' -bench 'Add' -benchmem
func BenchmarkAdd(b *testing.B) {
	r, _ := New()
	s := cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(300 << 20), NonReclaimable: cgroup.AmountOf(250 << 20)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Time = s.Time.Add(100 * time.Millisecond)
		s.WorkingSet = cgroup.AmountOf(cgroup.Bytes(300<<20 + (i%97)<<16))
		if err := r.Add(s); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(r.StateBytes()), "state-B")
}

func BenchmarkAddVPA(b *testing.B) {
	var h vpaHist
	tm := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tm = tm.Add(100 * time.Millisecond)
		h.add(float64(300<<20+(i%97)<<16), 1, tm)
		i++
	}
	b.ReportMetric(float64(unsafe.Sizeof(h)), "state-B")
}

func FuzzReadCSV(f *testing.F) {
	f.Add("time_s,working_set_bytes\n0,100\n0.1,200\n")
	f.Add("time,bytes\n2026-01-01T00:00:00Z,1e6\n")
	f.Add("t,b,anon_bytes\n1,-5,3\nNaN,Inf,\n")
	f.Fuzz(func(t *testing.T, data string) {
		ss, err := ReadCSV(strings.NewReader(data), t0)
		r, _ := New()
		for _, s := range ss {
			if !s.WorkingSet.Known || s.WorkingSet.Bytes < 0 || s.WorkingSet.Bytes >= absurd {
				t.Fatalf("bad sample accepted: %+v", s)
			}
			_ = r.Add(s)
		}
		if err == nil && len(ss) > 0 {
			if _, rerr := r.Recommend(); rerr != nil && r.Samples() > 0 {
				t.Fatal(rerr)
			}
		}
	})
}
