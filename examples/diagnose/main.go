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
)

// The embedded case: a memory cgroup with a 32 MiB limit on a cgroup v1
// host (Linux 6.18), right after the kernel OOM-killed the memhog inside:
// the memory files of the cgroup and its ancestors, the mountinfo and
// /proc/<pid>/cgroup that lead to it, and the kernel's report (kmsg.log).
//
//go:embed case
var embedded embed.FS

func main() {
	ctr := flag.String("container", "", "diagnose this Docker container (name or ID)")
	cgPath := flag.String("cgroup", "", "diagnose this cgroup (path from the cgroup root)")
	pid := flag.Int("pid", 0, "diagnose the cgroup of this process")
	klog := flag.String("kernel-log", "", "read OOM reports from this file instead of the live kernel log")
	asJSON := flag.Bool("json", false, "print the diagnosis as JSON")
	follow := flag.Bool("follow", false, "with --container: sample it until it exits, then diagnose (sees trends and counter deltas)")
	flag.Parse()
	d, err := run(*ctr, *cgPath, *pid, *klog, *follow)
	if d == nil {
		fmt.Fprintln(os.Stderr, "diagnose:", err)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "diagnose: warning:", err, "(concluded from the rest of the evidence)")
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			fmt.Fprintln(os.Stderr, "diagnose:", err)
			os.Exit(1)
		}
		return
	}
	print(os.Stdout, d)
}

type result struct {
	Subject string `json:"subject"`
	oom.Diagnosis
}

func run(ctr, cgPath string, pid int, klog string, follow bool) (*result, error) {
	var kernelLog func() ([]byte, error)
	if klog != "" {
		kernelLog = func() ([]byte, error) { return os.ReadFile(klog) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ev oom.Evidence
	var err error
	switch {
	case ctr != "":
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
		if follow && col.Client != nil && col.FS != nil {
			watched = followContainer(ctx, col, ctr)
		}
		ev, err = col.Container(ctx, ctr)
		if watched != nil {
			ev.Before, ev.Samples = watched.Before, append(watched.Samples, ev.Samples...)
		}
		if errors.Is(err, cgroup.ErrNotFound) {
			return nil, err // nothing else to say about a container that does not exist
		}
	case cgPath != "" || pid != 0:
		fs, ferr := cgroup.NewFS()
		if ferr != nil {
			return nil, ferr
		}
		col := &oom.Collector{FS: fs, KernelLog: kernelLog}
		if pid != 0 {
			ev, err = col.PID(pid)
		} else {
			ev, err = col.Cgroup(cgPath)
		}
	default:
		ev, err = embeddedCase(kernelLog)
		if err != nil {
			return nil, err
		}
	}
	d := oom.Diagnose(ev)
	return &result{Subject: ev.Name, Diagnosis: d}, err
}

// followContainer samples a running container's cgroup every 100 ms until
// it exits, keeping the first snapshot tree and every sample.
func followContainer(ctx context.Context, col *docker.Collector, ctr string) *oom.Evidence {
	in, err := col.Client.ContainerInspect(ctx, ctr)
	if err != nil || in.State == nil || !in.State.Running {
		return nil
	}
	cg, err := col.FS.FindContainer(in.ID)
	if err != nil {
		return nil
	}
	var ev oom.Evidence
	if ev.Before, err = cg.SnapshotTree(); err != nil {
		return nil
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
	return &ev
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

func print(w io.Writer, r *result) {
	d := r.Diagnosis
	fmt.Fprintf(w, "oomkit diagnosis: %s\n\n", r.Subject)
	verdict := "not OOM-killed"
	if d.Killed {
		verdict = "OOM-killed"
	}
	fmt.Fprintf(w, "Verdict:  %s: %s (confidence %.0f%%)\n", verdict, d.Cause, 100*d.Causes[0].Confidence)
	fmt.Fprintf(w, "          %s\n", d.Explanation)
	if d.VictimPID != 0 {
		fmt.Fprintf(w, "Victim:   %s (pid %d)\n", d.VictimComm, d.VictimPID)
	}
	if d.OOMMemcg != "" {
		fmt.Fprintf(w, "Limit hit in: %s\n", d.OOMMemcg)
	}
	if d.LimitBytes > 0 {
		fmt.Fprintf(w, "Limit:    %s\n", cgroup.Bytes(d.LimitBytes))
	}
	if len(d.Causes) > 1 {
		fmt.Fprintln(w, "\nAll causes, ranked:")
		for _, c := range d.Causes {
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
	fmt.Fprintln(w, "\nRemedies:")
	for _, m := range d.Remedies {
		if m.Setting != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", m.Setting, m.Value, m.Action)
		} else {
			fmt.Fprintf(w, "  %s\n", m.Action)
		}
	}
	if len(d.Missing) > 0 {
		fmt.Fprintln(w, "\nNot available:")
		for _, m := range d.Missing {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}
