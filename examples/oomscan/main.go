// Command oomscan lists the OOM kills in kernel logs.
//
//	oomscan [--json] [--this-boot] [--no-docker] [FILE...]
//
// It reads the files given (dmesg, dmesg -T, journalctl -k, syslog or
// /dev/kmsg text, mixed with anything else), or standard input when it is a
// pipe or file; with neither, the live kernel log (root, or
// kernel.dmesg_restrict=0). It prints a table, or with --json one JSON
// object per kill (see README.md for the keys).
//
// Times are wall-clock: the log's own stamps (dmesg -T, syslog, journal),
// or for the live log's uptime stamps the boot time plus the stamp (as
// dmesg -T computes it). A file or pipe with uptime stamps only gets wall
// times with --this-boot (it says the log is this host's, since its boot).
// Cgroup paths that name a Docker container (/docker/<id>,
// docker-<id>.scope) get the container's name and short ID when the Engine
// at $DOCKER_HOST (a unix socket) answers.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
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
	// ContainerID is the full ID a Docker cgroup path names; Container its
	// name when the Engine knows it.
	ContainerID string `json:"container_id,omitempty"`
	Container   string `json:"container,omitempty"`
	// TimeFrom says where Time comes from: "log" (the log's own stamp),
	// "boot" (boot time + uptime stamp); absent when Time is null.
	TimeFrom string `json:"time_from,omitempty"`
}

const usageText = `oomscan lists the OOM kills in kernel logs: when, which process, which
cgroup's limit was hit (or the whole host), how big the victim was.

Usage:
  oomscan [--json] [--this-boot] [--no-docker] [FILE...]

Inputs: the FILEs (dmesg, dmesg -T, journalctl -k, syslog or /dev/kmsg text;
"-" for standard input), else standard input when it is a pipe or file, else
the live kernel log (/dev/kmsg or dmesg: root, or kernel.dmesg_restrict=0).

Output: a table (TIME, PID, COMM, SCOPE, CONTAINER, LIMIT HIT IN, VICTIM
CGROUP, ANON RSS, USAGE/LIMIT), or with --json one JSON object per kill
(JSON Lines). Times are wall-clock: the log's own, or boot time + uptime
stamp for the live log (and for files with --this-boot).

Example:
  sudo go run ./examples/oomscan
  journalctl -k --since yesterday | go run ./examples/oomscan --json

Flags:
`

func main() { os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	asJSON, thisBoot, noDocker bool
	files                      []string
}

func cli(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("oomscan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per kill (JSON Lines)")
	fs.BoolVar(&o.thisBoot, "this-boot", false, "the FILEs or standard input are this host's log since its boot: place uptime stamps on the wall clock")
	fs.BoolVar(&o.noDocker, "no-docker", false, "do not ask the Docker Engine for container names")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.files = fs.Args()
	if err := run(o, stdout); err != nil {
		fmt.Fprintln(stderr, "oomscan:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

type source struct {
	name string
	r    io.Reader
	live bool // this host's log since boot
}

func inputs(o options) ([]source, func(), error) {
	var srcs []source
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for _, a := range o.files {
		if a == "-" {
			srcs = append(srcs, source{"stdin", os.Stdin, o.thisBoot})
			continue
		}
		f, err := os.Open(a)
		if err != nil {
			closeAll()
			return nil, nil, usageError{err}
		}
		files = append(files, f)
		srcs = append(srcs, source{a, f, o.thisBoot})
	}
	if len(srcs) > 0 {
		return srcs, closeAll, nil
	}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 && (st.Mode().IsRegular() || st.Mode()&os.ModeNamedPipe != 0) {
		return []source{{"stdin", os.Stdin, o.thisBoot}}, closeAll, nil
	}
	if o.thisBoot {
		return nil, nil, usageError{errors.New("--this-boot: the live kernel log is this boot's already (the flag is for FILEs or standard input)")}
	}
	data, err := oom.ReadKernelLog()
	if err != nil {
		return nil, nil, err
	}
	return []source{{"kernel log", bytes.NewReader(data), true}}, closeAll, nil
}

func run(o options, w io.Writer) error {
	srcs, done, err := inputs(o)
	if err != nil {
		return err
	}
	defer done()
	boot := oom.BootTime()
	var names map[string]string
	if !o.noDocker {
		names = containerNames() // nil when no Engine answers
	}
	enc := json.NewEncoder(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !o.asJSON {
		fmt.Fprintln(tw, "TIME\tPID\tCOMM\tSCOPE\tCONTAINER\tLIMIT HIT IN\tVICTIM CGROUP\tANON RSS\tUSAGE/LIMIT")
	}
	n := 0
	for _, s := range srcs {
		for r, err := range oom.Reports(s.r) {
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			n++
			rec := toRecord(r, s.name)
			if !r.Time.IsZero() {
				rec.TimeFrom = "log"
			} else if s.live && r.Uptime > 0 && !boot.IsZero() {
				t := boot.Add(r.Uptime)
				rec.Time, rec.TimeFrom = &t, "boot"
			}
			rec.ContainerID = containerID(r.TaskMemcg)
			if rec.ContainerID == "" {
				rec.ContainerID = containerID(r.OOMMemcg)
			}
			if rec.ContainerID != "" && names != nil {
				rec.Container = names[rec.ContainerID]
			}
			if o.asJSON {
				if err := enc.Encode(rec); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(rec), r.Victim.PID, r.Victim.Comm, r.Scope,
				ctrText(rec, names != nil), elide(r.OOMMemcg), elide(r.TaskMemcg), kib(r.Victim.AnonRSSKB), usage(r))
		}
	}
	if !o.asJSON {
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

// dockerID finds a container ID in a cgroup path: /docker/<id>,
// /system.slice/docker-<id>.scope, a --cgroup-parent's /<parent>/<id>.
var dockerID = regexp.MustCompile(`(?:^|/|docker-)([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

func containerID(path string) string {
	if m := dockerID.FindStringSubmatch(path); m != nil {
		return m[1]
	}
	return ""
}

func ctrText(r record, asked bool) string {
	switch {
	case r.ContainerID == "":
		return "-"
	case r.Container != "":
		return r.Container + " (" + r.ContainerID[:12] + ")"
	case asked:
		return r.ContainerID[:12] + " (removed)"
	}
	return r.ContainerID[:12]
}

func when(r record) string {
	switch {
	case r.Time != nil:
		return r.Time.Local().Format("2006-01-02 15:04:05")
	case r.Uptime > 0:
		return fmt.Sprintf("%.3fs after boot", r.Uptime)
	}
	return "-"
}

// maxPath is the widest cgroup path the table prints.
const maxPath = 60

// elide shortens a long cgroup path in the middle, keeping its start (the
// slice or runtime) and its end (the container or service); a 64-digit
// container ID is shortened to the 12 that docker ps shows.
func elide(s string) string {
	if s == "" {
		return "-"
	}
	if id := containerID(s); id != "" && len(s) > maxPath {
		s = replaceOnce(s, id, id[:12])
	}
	if len(s) <= maxPath {
		return s
	}
	head := maxPath / 3
	tail := maxPath - head - 3
	return s[:head] + "..." + s[len(s)-tail:]
}

func replaceOnce(s, old, repl string) string {
	i := bytes.Index([]byte(s), []byte(old))
	if i < 0 {
		return s
	}
	return s[:i] + repl + s[i+len(old):]
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
