package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// maxHostKills is how many host kills the table shows.
const maxHostKills = 20

// row is one container of --all (a JSON Lines object with kind
// "container").
type row struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	ID       string `json:"id"`
	State    string `json:"state"`
	ExitCode int    `json:"exit_code"`
	Restarts int    `json:"restarts"`
	*result
}

// hostKill is a kernel OOM kill that belongs to no container of the Engine
// (kind "host_kill").
type hostKill struct {
	Kind       string     `json:"kind"`
	Time       *time.Time `json:"time"`
	Uptime     int64      `json:"uptime_ns"`
	VictimPID  int        `json:"victim_pid"`
	VictimComm string     `json:"victim_comm"`
	Scope      oom.Scope  `json:"scope"`
	OOMMemcg   string     `json:"oom_memcg"`
	TaskMemcg  string     `json:"task_memcg"`
}

// all diagnoses every container of the Engine that was killed (exit 137,
// an OOM kill in any source, a restart after one) and shows the running
// ones' headroom, then the kernel's kills that belong to no container.
func all(ctx context.Context, o options, w io.Writer) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("--all: docker client: %w", err)
	}
	defer func() { _ = cli.Close() }()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return fmt.Errorf("--all: list containers at %s: %w", cli.DaemonHost(), err)
	}
	// Read the kernel log once for every container.
	read := readKernelLog(o.klog)
	if read == nil {
		read = oom.ReadKernelLog
	}
	klog, kerr := read()
	col := &docker.Collector{Collector: oom.Collector{KernelLog: func() ([]byte, error) { return klog, kerr }}, Client: cli}
	if fs, err := cgroup.NewFS(); err == nil {
		col.FS = fs
	}
	var rows []row
	others := 0
	for _, c := range list {
		ev, err := col.Container(ctx, c.ID)
		if err != nil && ev.Container == nil {
			continue // removed meanwhile
		}
		ev.SwapFactor = o.swapFactor
		d := oom.Diagnose(ev)
		st := ev.Container.State
		running := st != nil && st.Running
		exit137 := st != nil && !st.Running && st.ExitCode == 137
		if !running && !exit137 && !d.Killed {
			others++
			continue
		}
		r := row{Kind: "container", Name: ev.Name, ID: c.ID[:12], State: c.State, Restarts: restarts(ev)}
		if st != nil {
			r.ExitCode = st.ExitCode
		}
		r.result = &result{Subject: ev.Name, Diagnosis: d, Usage: usageOf(ev, d), ev: ev}
		rows = append(rows, r)
	}
	// Killed first, then the running by how little headroom is left.
	slices.SortStableFunc(rows, func(a, b row) int {
		ka, kb := a.Killed || a.ExitCode == 137, b.Killed || b.ExitCode == 137
		switch {
		case ka != kb && ka:
			return -1
		case ka != kb:
			return 1
		}
		return used(b) - used(a)
	})
	var host []hostKill
	if kerr == nil {
		rs, _ := oom.ParseAll(strings.NewReader(string(klog)))
		boot := oom.BootTime()
		for _, r := range rs {
			if belongs(r, list) {
				continue
			}
			h := hostKill{Kind: "host_kill", Uptime: int64(r.Uptime), VictimPID: r.Victim.PID, VictimComm: r.Victim.Comm, Scope: r.Scope, OOMMemcg: r.OOMMemcg, TaskMemcg: r.TaskMemcg}
			if t := wallTime(r, boot, o.klog == ""); !t.IsZero() {
				h.Time = &t
			}
			host = append(host, h)
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		for _, h := range host {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSTATE\tVERDICT\tLIMIT\tNOW/PEAK\tHEADROOM\tNEXT STEP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.ID, stateText(r), verdictText(r), limitText(r), nowText(r), headroomText(r), nextStep(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d container(s) listed; %d other stopped container(s) exited without a kill\n", len(rows), others)
	if kerr != nil {
		fmt.Fprintf(w, "\nKernel log not read (%v): kills are known from Docker's state only; run as root\n", kerr)
		return nil
	}
	fmt.Fprintf(w, "\nKernel OOM kills that belong to no container of this Engine: %d\n", len(host))
	if len(host) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tPID\tCOMM\tSCOPE\tVICTIM CGROUP")
		shown := host
		if len(shown) > maxHostKills {
			fmt.Fprintf(w, "(the latest %d; --json lists them all)\n", maxHostKills)
			shown = shown[len(shown)-maxHostKills:]
		}
		for _, h := range shown {
			t := fmt.Sprintf("%.3fs after boot", time.Duration(h.Uptime).Seconds())
			if h.Time != nil {
				t = h.Time.Local().Format("2006-01-02 15:04:05")
			}
			cg := h.TaskMemcg
			if cg == "" {
				cg = "- (report cut to its kill line by the kernel's rate limit)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t, h.VictimPID, h.VictimComm, h.Scope, cg)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nOne container in full: go run ./examples/diagnose --container NAME")
	return nil
}

func restarts(ev oom.Evidence) int {
	n := 0
	for _, e := range ev.Events {
		if e.Action == "restart" || e.Action == "start" {
			n++
		}
	}
	return max(n-1, 0)
}

func belongs(r oom.Report, list []container.Summary) bool {
	for _, c := range list {
		if strings.Contains(r.TaskMemcg, c.ID) || strings.Contains(r.OOMMemcg, c.ID) {
			return true
		}
	}
	return false
}

// wallTime is the report's own wall stamp, or for the live log the boot
// time plus its uptime stamp.
func wallTime(r oom.Report, boot time.Time, live bool) time.Time {
	switch {
	case !r.Time.IsZero():
		return r.Time
	case live && r.Uptime > 0 && !boot.IsZero():
		return boot.Add(r.Uptime)
	}
	return time.Time{}
}

func used(r row) int {
	if r.Usage == nil {
		return -1
	}
	return r.Usage.UsedPercent
}

func stateText(r row) string {
	switch {
	case r.State == "running" && r.Restarts > 0:
		return fmt.Sprintf("running (%d restarts)", r.Restarts)
	case r.State == "running":
		return "running"
	}
	return fmt.Sprintf("%s (%d)", r.State, r.ExitCode)
}

func verdictText(r row) string {
	d := r.Diagnosis
	switch d.Verdict {
	case oom.VerdictNoKill:
		return "no kill"
	case oom.VerdictCannotTell:
		return "cannot tell"
	case oom.VerdictRisk:
		return string(d.Cause) + " (risk)"
	}
	s := fmt.Sprintf("%s %.0f%%", d.Cause, 100*d.Causes[0].Confidence)
	if d.Killed && r.State == "running" {
		s = "killed earlier: " + s
	}
	if d.Runaway != nil {
		s += " runaway"
	}
	return s
}

func limitText(r row) string {
	if r.Usage != nil && r.Usage.LimitBytes > 0 {
		return cgroup.Bytes(r.Usage.LimitBytes).String()
	}
	if r.LimitBytes.Set() {
		return r.LimitBytes.String()
	}
	return "none"
}

func nowText(r row) string {
	if u := r.Usage; u != nil {
		s := cgroup.Bytes(u.WorkingSetBytes).String()
		if u.PeakBytes > 0 {
			s += "/" + cgroup.Bytes(u.PeakBytes).String()
		}
		return s
	}
	return "-"
}

func headroomText(r row) string {
	if u := r.Usage; u != nil && u.LimitBytes > 0 {
		s := fmt.Sprintf("%s (%d%% used)", cgroup.Bytes(max(u.HeadroomBytes, 0)), u.UsedPercent)
		if u.Risk != "" {
			s += " RISK"
		}
		return s
	}
	return "-"
}

func nextStep(r row) string {
	d := r.Diagnosis
	switch {
	case d.Apply != nil && d.Apply.Docker != "" && d.Killed:
		return d.Apply.Docker
	case len(d.Remedies) > 0 && d.Killed || d.Cause == oom.CauseNotOOM:
		a := d.Remedies[0].Action
		if i := strings.IndexAny(a, ":;("); i > 0 {
			a = a[:i]
		}
		return a
	case r.Usage != nil && r.Usage.Risk != "":
		return "near its limit: diagnose --container " + r.Name
	}
	return "-"
}
