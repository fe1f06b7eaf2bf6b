package oom_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/oom"
)

// The benchmark logs are built from a real report recorded on this
// project's test machine, reprinted with dmesg stamps, and from ordinary
// kernel lines.
var unrelated = []string{
	"EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
	`audit: type=1400 audit(1716000000.123:456): apparmor="STATUS" operation="profile_load" profile="unconfined" name="docker-default" pid=2211 comm="apparmor_parser"`,
	"docker0: port 1(veth3c5e2a1) entered forwarding state",
	"IPv6: ADDRCONF(NETDEV_CHANGE): veth3c5e2a1: link becomes ready",
	"eth0: renamed from veth91be0f4",
	"systemd[1]: Started session-42.scope - Session 42 of User root.",
	"TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.",
	"nf_conntrack: default automatic helper assignment has been turned off for security reasons",
	"overlayfs: upper fs does not support RENAME_WHITEOUT.",
	"perf: interrupt took too long (2513 > 2500), lowering kernel.perf_event_max_sample_rate to 79500",
}

var (
	benchOnce        sync.Once
	benchMixed       []byte // (a) unrelated lines with a report every 1,000 lines
	benchReports     []byte // (b) nothing but reports
	benchMixedKills  int
	benchReportKills int
)

func buildBenchLogs(b *testing.B) {
	benchOnce.Do(func() {
		raw, err := os.ReadFile(filepath.Join("testdata", "kernel", "this-host-6.18-v1-own-limit.kmsg"))
		if err != nil {
			b.Fatal(err)
		}
		var report bytes.Buffer
		for l := range bytes.SplitSeq(bytes.TrimSpace(raw), []byte("\n")) {
			_, msg, _ := bytes.Cut(l, []byte(";"))
			fmt.Fprintf(&report, "[%5d.%06d] %s\n", 4305, 646216, msg)
		}
		var mixed bytes.Buffer
		t := 0
		for mixed.Len() < 100<<20 {
			for i := range 1000 {
				t++
				fmt.Fprintf(&mixed, "[%5d.%06d] %s\n", 1000+t/1000, t%1000000, unrelated[i%len(unrelated)])
			}
			mixed.Write(report.Bytes())
			benchMixedKills++
		}
		benchMixed = mixed.Bytes()
		var only bytes.Buffer
		for only.Len() < 20<<20 {
			only.Write(report.Bytes())
			benchReportKills++
		}
		benchReports = only.Bytes()
	})
}

func BenchmarkParseMixed(b *testing.B)   { benchParse(b, &benchMixed, &benchMixedKills) }
func BenchmarkParseReports(b *testing.B) { benchParse(b, &benchReports, &benchReportKills) }

func benchParse(b *testing.B, data *[]byte, kills *int) {
	buildBenchLogs(b)
	b.SetBytes(int64(len(*data)))
	b.ReportAllocs()
	defer cpuMetric(b, len(*data))()
	for b.Loop() {
		p, err := oom.NewParser(bytes.NewReader(*data))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			r, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if r.Victim.PID == 0 || r.OOMMemcg == "" || len(r.Tasks) == 0 {
				b.Fatalf("incomplete report %+v", r)
			}
			n++
		}
		if n != *kills {
			b.Fatalf("%d reports, want %d", n, *kills)
		}
	}
}

// A regexp-per-line parser in the style most tools use: a literal check for
// the header, then three regular expressions on every line of a report. It
// extracts only the victim and the two cgroup paths.
var (
	reTaskIn  = regexp.MustCompile(`Task in (.*) killed as a result of limit of (.*)`)
	reSummary = regexp.MustCompile(`oom-kill:.*,oom_memcg=(.*),task_memcg=(.*),task=(.*),pid=(\d+),uid=(\d+)`)
	reKilled  = regexp.MustCompile(`Killed process (\d+) \((.+)\)`)
	header    = []byte("invoked oom-killer:")
)

func regexpBaseline(r io.Reader) int {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	in, n := false, 0
	for sc.Scan() {
		line := sc.Bytes()
		if !in {
			in = bytes.Contains(line, header)
			continue
		}
		_ = reTaskIn.FindSubmatch(line)
		_ = reSummary.FindSubmatch(line)
		if m := reKilled.FindSubmatch(line); m != nil {
			n++
			in = false
		}
	}
	return n
}

func BenchmarkRegexpBaselineMixed(b *testing.B)   { benchRegexp(b, &benchMixed, &benchMixedKills) }
func BenchmarkRegexpBaselineReports(b *testing.B) { benchRegexp(b, &benchReports, &benchReportKills) }

func benchRegexp(b *testing.B, data *[]byte, kills *int) {
	buildBenchLogs(b)
	b.SetBytes(int64(len(*data)))
	b.ReportAllocs()
	for b.Loop() {
		if n := regexpBaseline(bytes.NewReader(*data)); n != *kills {
			b.Fatalf("%d kills, want %d", n, *kills)
		}
	}
}

// TestNoAllocationsPerUnrelatedLine checks that the cost of unrelated lines
// in allocations is zero: parsing 100 or 20,000 of them allocates the same.
func TestNoAllocationsPerUnrelatedLine(t *testing.T) {
	mk := func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "[%5d.%06d] %s\n", i/1000, i%1000000, unrelated[i%len(unrelated)])
		}
		return b.Bytes()
	}
	allocs := func(data []byte) float64 {
		return testing.AllocsPerRun(5, func() {
			p, _ := oom.NewParser(bytes.NewReader(data))
			if _, err := p.Next(); !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(mk(100)), allocs(mk(20000))
	if large != small {
		t.Fatalf("20,000 unrelated lines allocate %v times, 100 lines %v times", large, small)
	}
}

// benchTestdataFiles are the real reports in testdata when the parser's
// speed was first measured on them (issue 11's baseline): the benchmark log
// keeps to this list so that later figures compare with the same input.
var benchTestdataFiles = []string{
	"docker-for-linux-1001-ubuntu-5.4-kmem-rate-limited.log",
	"doris-3525-centos7-3.10-memcg-syslog.log",
	"kubernetes-56891-el7-3.10-kubepods-dmesg-T.log",
	"pandora-49-global-journal-4.x.log",
	"this-host-6.18-v1-own-limit.kmsg",
	"this-host-6.18-v1-parent-limit.kmsg",
}

var (
	benchTestdataOnce  sync.Once
	benchTestdata      []byte // testdata's real reports, repeated to 20 MiB
	benchTestdataKills int
)

// BenchmarkParseTestdata parses a log built from the real reports in
// testdata (each file as saved, one after the other, repeated).
func BenchmarkParseTestdata(b *testing.B) {
	benchTestdataOnce.Do(func() {
		var one bytes.Buffer
		for _, name := range benchTestdataFiles {
			raw, err := os.ReadFile(filepath.Join("testdata", "kernel", name))
			if err != nil {
				b.Fatal(err)
			}
			one.Write(bytes.TrimRight(raw, "\n"))
			one.WriteByte('\n')
		}
		rs, err := oom.ParseAll(bytes.NewReader(one.Bytes()), oom.WithYear(2020))
		if err != nil {
			b.Fatal(err)
		}
		var all bytes.Buffer
		for all.Len() < 20<<20 {
			all.Write(one.Bytes())
			benchTestdataKills += len(rs)
		}
		benchTestdata = all.Bytes()
	})
	b.SetBytes(int64(len(benchTestdata)))
	b.ReportAllocs()
	defer cpuMetric(b, len(benchTestdata))()
	for b.Loop() {
		rs, err := oom.ParseAll(bytes.NewReader(benchTestdata), oom.WithYear(2020))
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != benchTestdataKills {
			b.Fatalf("%d reports, want %d", len(rs), benchTestdataKills)
		}
	}
}

// cpuMetric reports the process's CPU time per operation and the
// throughput on it (cpu-MB/s): on a host shared with other work, wall
// time swings two-fold between runs, CPU time much less.
func cpuMetric(b *testing.B, size int) func() {
	var start syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	return func() {
		var end syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &end)
		cpu := time.Duration(end.Utime.Nano()+end.Stime.Nano()-start.Utime.Nano()-start.Stime.Nano()) / time.Duration(b.N)
		b.ReportMetric(float64(cpu.Nanoseconds()), "cpu-ns/op")
		b.ReportMetric(float64(size)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}
