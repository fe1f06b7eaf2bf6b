// Command diagnose explains why a container was OOM-killed, with the
// evidence, a confidence and the remedy.
//
//	diagnose                          a real kill recorded on oomkit's test machine (embedded)
//	diagnose --container NAME|ID      ask the local Docker Engine ($DOCKER_HOST)
//	diagnose --cgroup PATH            a cgroup of this host, as /proc/<pid>/cgroup names it
//	diagnose --pid N                  the cgroup of a process of this host
//	  --kernel-log FILE               read this kernel log (default: the live one when readable)
//	  --json                          print the Diagnosis as JSON
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
	"github.com/oomkit/oomkit/recommend"
)

func profileList() string {
	var ps []string
	for _, p := range recommend.Profiles() {
		ps = append(ps, string(p))
	}
	return strings.Join(ps, ", ")
}

// The embedded case: a memory cgroup with a 32 MiB limit on a cgroup v1
// host (Linux 6.18), right after the kernel OOM-killed the memhog inside:
// the memory files of the cgroup and its ancestors, the mountinfo and
// /proc/<pid>/cgroup that lead to it, and the kernel's report (kmsg.log).
//
//go:embed case
var embedded embed.FS

func main() { os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr)) }

const usageText = `diagnose explains why a container was OOM-killed (or what puts it at risk):
the verdict with its confidence, the evidence (kernel OOM reports, cgroup
counters, Docker's state and events), and a remedy you can paste.

Usage:
  diagnose                          the embedded demo: a real kill recorded on oomkit's test machine
  diagnose --container NAME|ID      one Docker container ($DOCKER_HOST or the default socket)
  diagnose --all                    every container of the Engine that was OOM-killed, exited 137
                                    or restarted after a kill, the running ones' headroom, and the
                                    host's kills that belong to no container
  diagnose --cgroup PATH            a cgroup of this host, as /proc/<pid>/cgroup names it
  diagnose --pid N                  the cgroup of a running process of this host

Inputs: the live kernel log (/dev/kmsg, else dmesg) and the cgroup files need
root; --kernel-log reads a saved log instead (dmesg, dmesg -T, journalctl -k,
syslog or /dev/kmsg text).

Output: a report; with --json the Diagnosis as one JSON object (with --all,
JSON Lines: one object per container or host kill).

Exit status: 0 a diagnosis (OOM-killed, not, or a risk); 3 cannot tell (no
report for the subject in the kernel log, counters unchanged or unknown);
1 an error, a subject that does not exist included; 2 a wrong command line.

Example:
  sudo go run ./examples/diagnose --container web-1
  sudo go run ./examples/diagnose --container web-1 --follow --html web-1.html

Flags:
`

// usageError is a wrong command line: exit status 2.
type usageError struct{ error }

type options struct {
	ctr, cgPath, klog, html string
	pid                     int
	asJSON, follow, all     bool
	// swapFactor is the --profile's swap policy for the remedy; nil
	// keeps the container's memory-swap relation.
	swapFactor *float64
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.ctr, "container", "", "diagnose this Docker container (name or ID)")
	fs.StringVar(&o.cgPath, "cgroup", "", "diagnose this cgroup (path from the cgroup root)")
	fs.IntVar(&o.pid, "pid", 0, "diagnose the cgroup of this running process")
	fs.BoolVar(&o.all, "all", false, "every killed container of the Engine, the running ones' headroom, and host-wide kills")
	profile := fs.String("profile", "", "size the remedy's memory-swap for this workload profile ("+profileList()+"); default: keep the container's current memory-swap relation")
	fs.StringVar(&o.klog, "kernel-log", "", "read OOM reports from this file instead of the live kernel log")
	fs.BoolVar(&o.asJSON, "json", false, "print the diagnosis as JSON (JSON Lines with --all)")
	fs.BoolVar(&o.follow, "follow", false, "with --container: sample it every 100 ms until it exits, then diagnose (sees trends and counter deltas)")
	fs.StringVar(&o.html, "html", "", "with --follow: write a chart of the samples (usage, working set, non-reclaimable, limit, reservation, kills, leak forecast) to this self-contained HTML file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))}
	}
	if set["profile"] {
		f, err := recommend.SwapFactor(recommend.Profile(*profile))
		if err != nil {
			return o, usageError{fmt.Errorf("--profile %q: unknown (%s)", *profile, profileList())}
		}
		o.swapFactor = &f
	}
	var subjects []string
	for _, n := range []string{"container", "cgroup", "pid", "all"} {
		if set[n] {
			subjects = append(subjects, "--"+n)
		}
	}
	switch {
	case len(subjects) > 1:
		return o, usageError{fmt.Errorf("%s: choose one subject", strings.Join(subjects, " and "))}
	case set["container"] && o.ctr == "":
		return o, usageError{errors.New("--container: empty name")}
	case set["cgroup"] && o.cgPath == "":
		return o, usageError{errors.New("--cgroup: empty path")}
	case set["pid"] && o.pid <= 0:
		return o, usageError{fmt.Errorf("--pid %d: not a process ID (a positive number)", o.pid)}
	case set["all"] && !o.all:
		return o, usageError{errors.New("--all=false: leave the flag out instead")}
	case o.follow && o.ctr == "":
		return o, usageError{errors.New("--follow needs --container (it samples one running container)")}
	case set["html"] && !o.follow:
		return o, usageError{errors.New("--html needs --follow (the chart is drawn from the samples it takes)")}
	case set["html"] && o.html == "":
		return o, usageError{errors.New("--html: empty file name")}
	case set["kernel-log"] && o.klog == "":
		return o, usageError{errors.New("--kernel-log: empty file name")}
	}
	if o.html != "" {
		if st, err := os.Stat(filepath.Dir(o.html)); err != nil || !st.IsDir() {
			return o, usageError{fmt.Errorf("--html %s: no directory %s to write it in", o.html, filepath.Dir(o.html))}
		}
	}
	if o.klog != "" {
		if f, err := os.Open(o.klog); err != nil {
			return o, usageError{fmt.Errorf("--kernel-log: %w", err)}
		} else {
			_ = f.Close()
		}
	}
	return o, nil
}

func cli(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "diagnose:", err)
		}
		return 2
	}
	if o.all {
		if err := all(context.Background(), o, stdout); err != nil {
			fmt.Fprintln(stderr, "diagnose:", err)
			return 1
		}
		return 0
	}
	d, err := run(o)
	if d == nil {
		fmt.Fprintln(stderr, "diagnose:", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "diagnose: warning:", err, "(concluded from the rest of the evidence)")
	}
	if o.html != "" {
		if err := writeChart(o.html, d); err != nil {
			fmt.Fprintln(stderr, "diagnose:", err)
			return 1
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			fmt.Fprintln(stderr, "diagnose:", err)
			return 1
		}
		return exitCode(d)
	}
	print(stdout, d)
	return exitCode(d)
}

// exitCode is 0 for a diagnosis, 3 when the evidence cannot tell (no
// report for the subject in the kernel log, counters unchanged or
// unknown): a script must not read silence as "not OOM-killed".
func exitCode(r *result) int {
	if r.Verdict == oom.VerdictCannotTell {
		return 3
	}
	return 0
}

type result struct {
	Subject string `json:"subject"`
	oom.Diagnosis
	// Usage is the subject's memory now, when its cgroup could be read.
	Usage *usage `json:"usage,omitempty"`

	ev oom.Evidence
}

// usage is a live cgroup's memory against its limit.
type usage struct {
	UsageBytes      int64  `json:"usage_bytes"`
	WorkingSetBytes int64  `json:"working_set_bytes"`
	PeakBytes       int64  `json:"peak_bytes,omitempty"`
	LimitBytes      int64  `json:"limit_bytes,omitempty"` // 0: no limit
	HeadroomBytes   int64  `json:"headroom_bytes,omitempty"`
	UsedPercent     int    `json:"used_percent,omitempty"`
	Risk            string `json:"risk,omitempty"`
}

// riskAt is the share of the limit the working set may reach before the
// next spike is a risk worth a line.
const riskAt = 0.85

func usageOf(ev oom.Evidence, d oom.Diagnosis) *usage {
	if len(ev.After) == 0 || (ev.Container != nil && (ev.Container.State == nil || !ev.Container.State.Running)) {
		return nil // a stopped container's cgroup is gone
	}
	if ev.Container == nil && d.Killed {
		return nil // a bare cgroup after its kill: what is left is not its use
	}
	s := ev.After[0]
	if !s.Usage.Known {
		return nil
	}
	u := &usage{UsageBytes: int64(s.Usage.Bytes), WorkingSetBytes: int64(s.WorkingSet.Bytes)}
	if s.Peak.Known {
		u.PeakBytes = int64(s.Peak.Bytes)
	}
	var lim cgroup.Limit
	for _, a := range ev.After {
		if a.Limit.Set() && (!lim.Set() || a.Limit.Bytes < lim.Bytes) {
			lim = a.Limit
		}
	}
	if !lim.Set() {
		u.Risk = "no memory limit on the container or any ancestor: it can take the host's memory (size one: go run ./examples/recommend --container NAME)"
		return u
	}
	u.LimitBytes = int64(lim.Bytes)
	u.HeadroomBytes = int64(lim.Bytes) - u.WorkingSetBytes
	u.UsedPercent = int(100 * float64(u.WorkingSetBytes) / float64(lim.Bytes))
	if float64(u.WorkingSetBytes) >= riskAt*float64(lim.Bytes) {
		u.Risk = fmt.Sprintf("the working set is %d%% of the limit %s: a spike of %s gets it OOM-killed", u.UsedPercent, lim, cgroup.Bytes(max(u.HeadroomBytes, 0)))
		switch {
		case d.Apply != nil && d.Apply.Docker != "":
			u.Risk += "; " + d.Apply.Docker
		case ev.Container != nil && ev.Container.Name != "":
			u.Risk += "; size it from its use: go run ./examples/recommend --container " + ev.Container.Name + " --duration 10m"
		}
	}
	return u
}

func readKernelLog(path string) func() ([]byte, error) {
	if path == "" {
		return nil
	}
	return func() ([]byte, error) { return os.ReadFile(path) }
}

func run(o options) (*result, error) {
	kernelLog := readKernelLog(o.klog)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ev oom.Evidence
	var err error
	switch {
	case o.ctr != "":
		col := &docker.Collector{Collector: oom.Collector{KernelLog: kernelLog}}
		if fs, ferr := cgroup.NewFS(); ferr == nil {
			col.FS = fs
		}
		cli, cerr := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if cerr == nil {
			defer func() { _ = cli.Close() }()
			col.Client = cli
		}
		var watched *oom.Evidence
		if o.follow {
			if col.Client == nil || col.FS == nil {
				return nil, errors.New("--follow needs a reachable Engine and the cgroup files (run as root)")
			}
			if watched, err = followContainer(ctx, col, o.ctr); err != nil {
				return nil, err
			}
		}
		ev, err = col.Container(ctx, o.ctr)
		if watched != nil {
			ev.Before, ev.Samples = watched.Before, append(watched.Samples, ev.Samples...)
		}
		if errors.Is(err, cgroup.ErrNotFound) {
			return nil, err // nothing else to say about a container that does not exist
		}
	case o.cgPath != "" || o.pid != 0:
		fs, ferr := cgroup.NewFS()
		if ferr != nil {
			return nil, ferr
		}
		col := &oom.Collector{FS: fs, KernelLog: kernelLog}
		if o.pid != 0 {
			ev, err = col.PID(o.pid)
		} else {
			ev, err = col.Cgroup(o.cgPath)
		}
		if (errors.Is(err, cgroup.ErrNotFound) || errors.Is(err, cgroup.ErrOutsideRoot)) && len(ev.Reports) == 0 {
			return nil, err // no such process or cgroup, and no kill in the log names it
		}
	default:
		ev, err = embeddedCase(kernelLog)
		if err != nil {
			return nil, err
		}
	}
	ev.SwapFactor = o.swapFactor
	d := oom.Diagnose(ev)
	return &result{Subject: ev.Name, Diagnosis: d, Usage: usageOf(ev, d), ev: ev}, err
}

// followContainer samples a running container's cgroup every 100 ms until
// it exits, keeping the first snapshot tree and every sample.
func followContainer(ctx context.Context, col *docker.Collector, ctr string) (*oom.Evidence, error) {
	in, err := col.Client.ContainerInspect(ctx, ctr)
	if err != nil {
		return nil, fmt.Errorf("--follow %s: %w", ctr, err)
	}
	if in.State == nil || !in.State.Running {
		return nil, fmt.Errorf("--follow %s: the container is not running: nothing to follow (leave out --follow to diagnose what happened)", ctr)
	}
	cg, err := col.FS.FindContainer(in.ID)
	if err != nil {
		return nil, fmt.Errorf("--follow %s: %w", ctr, err)
	}
	var ev oom.Evidence
	if ev.Before, err = cg.SnapshotTree(); err != nil {
		return nil, fmt.Errorf("--follow %s: %w", ctr, err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		s, err := cg.Snapshot()
		if err != nil {
			break // the cgroup is gone: the container exited
		}
		ev.Samples = append(ev.Samples, s.Sample())
	}
	// Wait until the Engine has recorded the exit, so inspect sees it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	waitC, errC := col.Client.ContainerWait(wctx, in.ID, "not-running")
	select {
	case <-waitC:
	case err := <-errC:
		_ = err // the exit will show in inspect, or be named missing
	}
	return &ev, nil
}

// embeddedCase unpacks the recorded case into a temporary host root and
// reads it with the same code as a live host.
func embeddedCase(kernelLog func() ([]byte, error)) (oom.Evidence, error) {
	dir, err := os.MkdirTemp("", "oomkit-case-")
	if err != nil {
		return oom.Evidence{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	sub, err := fs.Sub(embedded, "case")
	if err != nil {
		return oom.Evidence{}, err
	}
	if err := os.CopyFS(dir, sub); err != nil {
		return oom.Evidence{}, err
	}
	cfs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(dir, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(dir, "proc")))
	if err != nil {
		return oom.Evidence{}, err
	}
	pidb, err := os.ReadFile(filepath.Join(dir, "proc", "pid"))
	if err != nil {
		return oom.Evidence{}, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidb)))
	if err != nil {
		return oom.Evidence{}, fmt.Errorf("embedded case: proc/pid: %w", err)
	}
	if kernelLog == nil {
		kernelLog = func() ([]byte, error) { return os.ReadFile(filepath.Join(dir, "kmsg.log")) }
	}
	col := &oom.Collector{FS: cfs, KernelLog: kernelLog, ProcRoot: filepath.Join(dir, "proc")}
	cg, err := cfs.FindByPID(pid)
	if err != nil {
		return oom.Evidence{}, err
	}
	ev, err := col.Cgroup(cg.Path())
	ev.Name = "embedded case: memhog in " + cg.Path() + " (recorded on oomkit's test machine)"
	// The recording has no /proc/meminfo: that is expected, not missing.
	var keep []string
	for _, m := range ev.Missing {
		if !strings.HasPrefix(m, "host memory:") {
			keep = append(keep, m)
		}
	}
	ev.Missing = keep
	return ev, err
}

// risks are causes that did not kill: they rank after what did.
func isRisk(c oom.Cause) bool { return c == oom.CauseNoLimit }

func print(w io.Writer, r *result) {
	d := r.Diagnosis
	fmt.Fprintf(w, "oomkit diagnosis: %s\n\n", r.Subject)
	switch {
	case d.Verdict == oom.VerdictCannotTell:
		fmt.Fprintf(w, "Verdict:  %s\n", d.Explanation)
	case d.Cause == oom.CauseUnknown && !d.Killed:
		fmt.Fprintln(w, "Verdict:  no OOM kill found: none in the kernel log, the cgroup counters or Docker's state")
	default:
		verdict := "not OOM-killed"
		if d.Killed {
			verdict = "OOM-killed"
		}
		fmt.Fprintf(w, "Verdict:  %s: %s (confidence %.0f%%)\n", verdict, d.Cause, 100*d.Causes[0].Confidence)
		fmt.Fprintf(w, "          %s\n", d.Explanation)
	}
	if d.VictimPID != 0 {
		fmt.Fprintf(w, "Victim:   %s (pid %d)\n", d.VictimComm, d.VictimPID)
	}
	if d.OOMMemcg != "" {
		fmt.Fprintf(w, "Limit hit in: %s\n", d.OOMMemcg)
	}
	if u := r.Usage; u != nil {
		line := fmt.Sprintf("Now:      working set %s (usage %s with page cache)", cgroup.Bytes(u.WorkingSetBytes), cgroup.Bytes(u.UsageBytes))
		if u.PeakBytes > 0 {
			line += fmt.Sprintf(", peak usage %s", cgroup.Bytes(u.PeakBytes))
		}
		if u.LimitBytes > 0 {
			line += fmt.Sprintf("; limit %s, headroom %s (%d%% used)", cgroup.Bytes(u.LimitBytes), cgroup.Bytes(max(u.HeadroomBytes, 0)), u.UsedPercent)
		}
		fmt.Fprintln(w, line)
		if u.Risk != "" {
			fmt.Fprintf(w, "Risk:     %s\n", u.Risk)
		}
	} else if d.LimitBytes.Set() {
		fmt.Fprintf(w, "Limit:    %s\n", d.LimitBytes)
	}
	var causes, risks []oom.RankedCause
	for _, c := range d.Causes {
		if isRisk(c.Cause) && len(d.Causes) > 1 {
			risks = append(risks, c)
		} else if c.Cause != oom.CauseUnknown {
			causes = append(causes, c)
		}
	}
	if len(causes) > 1 {
		fmt.Fprintln(w, "\nCauses, most likely first:")
		for _, c := range causes {
			fmt.Fprintf(w, "  %-16s %3.0f%%  %s\n", c.Cause, 100*c.Confidence, c.Explanation)
		}
	}
	if len(risks) > 0 {
		fmt.Fprintln(w, "\nRisks (did not cause this, but matter):")
		for _, c := range risks {
			fmt.Fprintf(w, "  %-16s %3.0f%%  %s\n", c.Cause, 100*c.Confidence, c.Explanation)
		}
	}
	fmt.Fprintln(w, "\nEvidence:")
	for _, e := range d.Evidence {
		where := e.Source
		if e.Cgroup != "" {
			where += " " + e.Cgroup
		}
		fmt.Fprintf(w, "  [%s] %s\n", where, e.Text)
		if e.Line != "" {
			fmt.Fprintf(w, "      > %s\n", e.Line)
		}
	}
	for _, c := range d.Conflicts {
		fmt.Fprintf(w, "  [conflict] %s\n", c)
	}
	if len(d.Remedies) > 0 {
		fmt.Fprintln(w, "\nRemedies:")
	}
	for _, m := range d.Remedies {
		if m.Setting != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", m.Setting, m.Value, m.Action)
		} else {
			fmt.Fprintf(w, "  %s\n", m.Action)
		}
	}
	if a := d.Apply; a != nil {
		fmt.Fprintf(w, "\nApply (limit %s, memory-swap %s):\n", cgroup.Bytes(a.MemoryBytes), swapText(a.MemorySwapBytes))
		if a.Docker != "" {
			fmt.Fprintf(w, "  now:        %s\n", a.Docker)
		}
		if a.Cgroup != "" {
			fmt.Fprintf(w, "  now:        %s\n", a.Cgroup)
		}
		fmt.Fprintf(w, "  docker run: %s\n", a.DockerRun)
		if a.ComposeCommand != "" {
			fmt.Fprintf(w, "  Compose (save as %s, then: %s):\n", a.ComposeFile, a.ComposeCommand)
		} else {
			fmt.Fprintln(w, "  Compose (the service's settings, should it run under Compose):")
		}
		fmt.Fprint(w, indent(a.Compose, "    "))
		fmt.Fprintln(w, "  Kubernetes (the container's spec):")
		fmt.Fprint(w, indent(a.Kubernetes, "    "))
	}
	if len(d.Missing) > 0 {
		stopped := r.ev.Container != nil && r.ev.Container.State != nil && !r.ev.Container.State.Running
		if stopped {
			fmt.Fprintln(w, "\nNot read (the container has stopped, so its cgroup is gone: the kernel log and Docker's record tell the rest):")
		} else {
			fmt.Fprintln(w, "\nNot read:")
		}
		for _, m := range d.Missing {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}

func swapText(b int64) string {
	if b < 0 {
		return "unlimited"
	}
	return cgroup.Bytes(b).String()
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(pre + l)
		}
	}
	return b.String()
}
