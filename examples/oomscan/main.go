// Command oomscan lists the OOM kills in kernel logs.
//
//	oomscan [--json] [FILE...]
//
// It reads the files given (dmesg, dmesg -T, journalctl -k, syslog or
// /dev/kmsg text, mixed with anything else), or standard input when it is a
// pipe or file; with neither, the live kernel log. It prints a table, or
// with --json one JSON object per kill (see README.md for the keys).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/oomkit/oomkit/oom"
)

// record is one kill in --json output.
type record struct {
	Time         *time.Time `json:"time"`
	Uptime       float64    `json:"uptime_s"`
	VictimPID    int        `json:"victim_pid"`
	VictimComm   string     `json:"victim_comm"`
	Constraint   string     `json:"constraint"`
	Scope        oom.Scope  `json:"scope"`
	OOMMemcg     string     `json:"oom_memcg"`
	TaskMemcg    string     `json:"task_memcg"`
	TotalVMKB    uint64     `json:"total_vm_kb"`
	AnonRSSKB    uint64     `json:"anon_rss_kb"`
	FileRSSKB    uint64     `json:"file_rss_kb"`
	ShmemRSSKB   uint64     `json:"shmem_rss_kb"`
	OOMScoreAdj  *int       `json:"oom_score_adj"`
	MemcgUsageKB uint64     `json:"memcg_usage_kb"`
	MemcgLimitKB uint64     `json:"memcg_limit_kb"`
	GroupVictims []int      `json:"group_victims"`
	Invoker      string     `json:"invoker"`
	Source       string     `json:"source"`
}

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object per kill (JSON Lines)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: oomscan [--json] [FILE...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(flag.Args(), *asJSON, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "oomscan:", err)
		os.Exit(1)
	}
}

type source struct {
	name string
	r    io.Reader
}

func inputs(args []string) ([]source, func(), error) {
	var srcs []source
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, a := range args {
		if a == "-" {
			srcs = append(srcs, source{"stdin", os.Stdin})
			continue
		}
		f, err := os.Open(a)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		files = append(files, f)
		srcs = append(srcs, source{a, f})
	}
	if len(srcs) > 0 {
		return srcs, closeAll, nil
	}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 && (st.Mode().IsRegular() || st.Mode()&os.ModeNamedPipe != 0) {
		return []source{{"stdin", os.Stdin}}, closeAll, nil
	}
	data, err := oom.ReadKernelLog()
	if err != nil {
		return nil, nil, err
	}
	return []source{{"kernel log", bytes.NewReader(data)}}, closeAll, nil
}

func run(args []string, asJSON bool, w io.Writer) error {
	srcs, done, err := inputs(args)
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "TIME\tPID\tCOMM\tSCOPE\tLIMIT HIT IN\tVICTIM CGROUP\tANON RSS\tUSAGE/LIMIT")
	}
	n := 0
	for _, s := range srcs {
		for r, err := range oom.Reports(s.r) {
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			n++
			if asJSON {
				if err := enc.Encode(toRecord(r, s.name)); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", when(r), r.Victim.PID, r.Victim.Comm, r.Scope,
				dash(r.OOMMemcg), dash(r.TaskMemcg), kib(r.Victim.AnonRSSKB), usage(r))
		}
	}
	if !asJSON {
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d OOM kill(s)\n", n)
	}
	return nil
}

func toRecord(r oom.Report, src string) record {
	rec := record{
		Uptime: r.Uptime.Seconds(), VictimPID: r.Victim.PID, VictimComm: r.Victim.Comm,
		Constraint: r.Constraint, Scope: r.Scope, OOMMemcg: r.OOMMemcg, TaskMemcg: r.TaskMemcg,
		TotalVMKB: r.Victim.TotalVMKB, AnonRSSKB: r.Victim.AnonRSSKB, FileRSSKB: r.Victim.FileRSSKB,
		ShmemRSSKB: r.Victim.ShmemRSSKB, MemcgUsageKB: r.Memcg.UsageKB, MemcgLimitKB: r.Memcg.LimitKB,
		GroupVictims: []int{}, Invoker: r.Invoker.Comm, Source: src,
	}
	if !r.Time.IsZero() {
		t := r.Time
		rec.Time = &t
	}
	if r.Victim.OOMScoreAdjKnown {
		v := r.Victim.OOMScoreAdj
		rec.OOMScoreAdj = &v
	}
	if r.Scope == oom.ScopeGlobal {
		rec.OOMMemcg = ""
	}
	for _, g := range r.GroupVictims {
		rec.GroupVictims = append(rec.GroupVictims, g.PID)
	}
	return rec
}

func when(r oom.Report) string {
	switch {
	case !r.Time.IsZero():
		return r.Time.Format("2006-01-02 15:04:05")
	case r.Uptime > 0:
		return fmt.Sprintf("+%.3fs", r.Uptime.Seconds())
	}
	return "-"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) > 60 {
		return "..." + s[len(s)-57:]
	}
	return s
}

func kib(n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/1024)
}

func usage(r oom.Report) string {
	if !r.Memcg.Known {
		return "-"
	}
	return kib(r.Memcg.UsageKB) + "/" + kib(r.Memcg.LimitKB)
}
