// Command watch reports memory warnings and OOM kills as they happen, with
// a diagnosis for each kill.
//
//	watch                      every running container of the local Docker Engine ($DOCKER_HOST)
//	watch --cgroup PATH ...    these cgroups of this host
//	  --json                   one JSON object per line
//	  --thresholds 0.8,0.9     fractions of the limit that warn
//	  --listen 127.0.0.1:9101  serve Prometheus metrics at /metrics (metrics.go)
//
// A container that stops is reported with its exit code and what it means
// (137 after docker kill or stop's timeout, an OOM kill, 143 after SIGTERM),
// and again when its restart policy starts it anew.
//
// Once its watches are armed it says "watching N container(s)" (or
// cgroup(s)) on stderr; a container started later is watched from its start
// event. With --cgroup it ends by itself when every watched cgroup is gone.
// Ctrl-C stops it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

type line struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Cgroup    string    `json:"cgroup"`
	Container string    `json:"container,omitempty"`
	Fraction  float64   `json:"fraction,omitempty"`
	UsageB    int64     `json:"usage_bytes"`
	LimitB    int64     `json:"limit_bytes"`
	Kills     uint64    `json:"oom_kills,omitempty"`
	Cause     oom.Cause `json:"cause,omitempty"`
	Victim    string    `json:"victim,omitempty"`
	Remedy    string    `json:"remedy,omitempty"`
	// ExitCode is the container's exit code, from the Engine's die event,
	// on the line of its cgroup's removal (kind "removed"; kind "exit" for
	// a container that was not watched); Signal the last signal the Engine sent it
	// (docker kill, docker stop) before it died.
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	Meaning  string `json:"meaning,omitempty"`
}

type cgroupList []string

func (c *cgroupList) String() string     { return strings.Join(*c, ",") }
func (c *cgroupList) Set(s string) error { *c = append(*c, s); return nil }

const usageText = `watch reports memory warnings and OOM kills as they happen, with a
diagnosis and a remedy for each kill, and each container's exit code when it
stops (or restarts).

Usage:
  watch                      every running container of the Docker Engine ($DOCKER_HOST),
                             and those started later
  watch --cgroup PATH ...    these cgroups of this host (as /proc/<pid>/cgroup names them)

Output: one line per event: WARN (a threshold), KILL (an OOM kill, its
diagnosis and remedy), REMOVED (a cgroup gone; for a container with its exit
code and what it means), RESTART (a container started again after an exit),
EXIT (an unwatched container's exit); with --json one JSON object per line
(kind threshold, oom, removed, restart, exit; exit_code, signal, meaning). It needs root for the cgroup files and the kernel log. Ctrl-C
stops it; with --cgroup it also ends when every watched cgroup is gone.

Example:
  sudo go run ./examples/watch --thresholds 0.9 --json

Flags:
`

// parseThresholds reads --thresholds: fractions of the limit, each in
// (0, 1], at least one.
func parseThresholds(th string) ([]float64, error) {
	var fracs []float64
	for _, f := range strings.Split(th, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0 && v <= 1) {
			return nil, fmt.Errorf("--thresholds %s: %q is not a fraction of the limit in (0, 1] (0.8 warns at 80%%)", th, f)
		}
		fracs = append(fracs, v)
	}
	return fracs, nil
}

func main() {
	var paths cgroupList
	flag.Var(&paths, "cgroup", "watch this cgroup (repeatable)")
	asJSON := flag.Bool("json", false, "JSON Lines output")
	th := flag.String("thresholds", "0.8,0.9", "warning fractions of the limit, each in (0, 1]")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usageText)
		flag.PrintDefaults()
	}
	flag.Parse()
	fracs, err := parseThresholds(*th)
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q (flags only; --cgroup PATH for a cgroup)", flag.Arg(0))
	}
	for _, p := range paths {
		if err == nil && p == "" {
			err = errors.New("--cgroup: empty path")
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, paths, fracs, *asJSON); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, paths []string, fracs []float64, asJSON bool) error {
	fs, err := cgroup.NewFS()
	if err != nil {
		return err
	}
	col := &docker.Collector{Collector: oom.Collector{FS: fs}}
	var cli *client.Client
	if len(paths) == 0 {
		if cli, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err != nil {
			return err
		}
		defer func() { _ = cli.Close() }()
		col.Client = cli
	}
	if err := startMetrics(ctx, cli); err != nil {
		return err
	}
	print := func(l line) {
		exportLine(ctx, l)
		if asJSON {
			_ = json.NewEncoder(os.Stdout).Encode(l)
			return
		}
		who := l.Cgroup
		if l.Container != "" {
			who = l.Container
		}
		switch l.Kind {
		case "threshold":
			fmt.Printf("%s WARN %s at %.0f%% of its limit (%s of %s)\n", l.Time.Format(time.TimeOnly), who, 100*l.Fraction, cgroup.Bytes(l.UsageB), cgroup.Bytes(l.LimitB))
		case "oom":
			fmt.Printf("%s KILL %s: %d OOM kill(s), victim %s, cause %s; %s\n", l.Time.Format(time.TimeOnly), who, l.Kills, l.Victim, l.Cause, l.Remedy)
		case "exit":
			fmt.Printf("%s EXIT %s: exit code %d: %s\n", l.Time.Format(time.TimeOnly), who, *l.ExitCode, l.Meaning)
		case "removed":
			if l.ExitCode != nil {
				fmt.Printf("%s REMOVED %s: exit code %d: %s\n", l.Time.Format(time.TimeOnly), who, *l.ExitCode, l.Meaning)
			} else {
				fmt.Printf("%s REMOVED %s\n", l.Time.Format(time.TimeOnly), who)
			}
		case "restart":
			fmt.Printf("%s RESTART %s: started again after exit code %d\n", l.Time.Format(time.TimeOnly), who, *l.ExitCode)
		default:
			fmt.Printf("%s %s %s\n", l.Time.Format(time.TimeOnly), strings.ToUpper(l.Kind), who)
		}
	}

	// One watch per cgroup, so a container that starts or goes away
	// changes nothing for the others: no kill falls into a gap.
	evs := make(chan cgroup.Event)
	done := make(chan string) // a watch that ended, by path
	active := map[string]context.CancelFunc{}
	names := map[string]string{} // cgroup path -> container name
	const removedWait = 3 * time.Second
	ids := map[string]string{}     // cgroup path -> container ID
	signals := map[string]string{} // container ID -> last signal the Engine sent
	exits := map[string]int{}      // container ID -> last exit code
	pending := map[string]line{}   // removed container cgroups awaiting their die event
	exited := map[string]line{}    // container cgroups whose die event came before their removal
	watch := func(path string) error {
		if _, ok := active[path]; ok {
			return nil
		}
		wctx, cancel := context.WithCancel(ctx)
		ch, err := fs.Watch(wctx, []string{path}, cgroup.WithThresholds(fracs...))
		if err != nil {
			cancel()
			return err
		}
		active[path] = cancel
		go func() {
			for e := range ch {
				select {
				case evs <- e:
				case <-ctx.Done():
				}
			}
			select {
			case done <- path:
			case <-ctx.Done():
			}
		}()
		return nil
	}

	var dockerMsgs chan events.Message
	if cli != nil {
		// Follow the Engine before listing, so a container started in
		// between is not missed (watch ignores a path it already has).
		dockerMsgs = make(chan events.Message, 64)
		go func() {
			_ = docker.Follow(ctx, cli, func(m events.Message) {
				if m.Type == events.ContainerEventType && (m.Action == events.ActionStart || m.Action == events.ActionDie || m.Action == events.ActionKill) {
					select {
					case dockerMsgs <- m:
					case <-ctx.Done():
					}
				}
			}, docker.WithSince(time.Now()))
		}()
		list, err := cli.ContainerList(ctx, container.ListOptions{})
		if err != nil {
			return fmt.Errorf("docker: %w", err)
		}
		for _, c := range list {
			if cg, err := fs.FindContainer(c.ID); err == nil && watch(cg.Path()) == nil {
				names[cg.Path()] = strings.TrimPrefix(c.Names[0], "/")
				ids[cg.Path()] = c.ID
				exportWatched(ctx, cg.Path(), names[cg.Path()])
			}
		}
		// On stderr, so JSON Lines on stdout stay JSON; it also tells
		// scripts (and the tests) that the watch is armed.
		fmt.Fprintf(os.Stderr, "watching %d container(s)\n", len(active))
	} else {
		for _, p := range paths {
			if err := watch(p); err != nil {
				return err
			}
			exportWatched(ctx, p, "")
		}
		fmt.Fprintf(os.Stderr, "watching %d cgroup(s)\n", len(active))
	}

	// A container's cgroup going away is reported by its die event, with
	// the exit code; a removal the Engine says nothing about within
	// removedWait is reported bare.
	tick := time.NewTicker(time.Second / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			for p, l := range pending {
				if time.Since(l.Time) > removedWait {
					print(l)
					delete(pending, p)
				}
			}
			for p, l := range exited {
				if time.Since(l.Time) > removedWait {
					print(l) // its cgroup's removal never came
					delete(exited, p)
				}
			}
		case m := <-dockerMsgs:
			name := strings.TrimPrefix(m.Actor.Attributes["name"], "/")
			switch m.Action {
			case events.ActionKill:
				signals[m.Actor.ID] = m.Actor.Attributes["signal"]
				continue
			case events.ActionDie:
				code, err := strconv.Atoi(m.Actor.Attributes["exitCode"])
				if err != nil {
					continue
				}
				exits[m.Actor.ID] = code
				l := line{Time: time.Unix(0, m.TimeNano), Kind: "exit", Container: name, ExitCode: &code, Signal: signals[m.Actor.ID]}
				l.Meaning = exitMeaning(code, l.Signal, m.Actor.Attributes["oomKilled"] == "true")
				delete(signals, m.Actor.ID)
				path := ""
				for p, id := range ids {
					if id == m.Actor.ID {
						path = p
					}
				}
				if r, ok := pending[path]; ok && path != "" {
					print(withExit(r, l)) // the removal came first
					delete(pending, path)
				} else if path != "" {
					l.Cgroup = path
					exited[path] = l
				} else {
					print(l) // not watched: its exit alone
				}
				continue
			}
			if code, ok := exits[m.Actor.ID]; ok {
				print(line{Time: time.Unix(0, m.TimeNano), Kind: "restart", Container: name, ExitCode: &code})
				delete(exits, m.Actor.ID)
			}
			cg, err := fs.FindContainer(m.Actor.ID)
			if err != nil {
				continue // exited at once; its die event says the rest
			}
			if err := watch(cg.Path()); err != nil {
				fmt.Fprintln(os.Stderr, "watch:", err)
				continue
			}
			names[cg.Path()] = name
			ids[cg.Path()] = m.Actor.ID
			exportWatched(ctx, cg.Path(), names[cg.Path()])
		case path := <-done:
			if cancel, ok := active[path]; ok {
				cancel()
				delete(active, path)
				delete(names, path)
			}
			if cli == nil && len(active) == 0 {
				return nil // every watched cgroup is gone
			}
		case e := <-evs:
			l := line{Time: e.Time, Kind: e.Kind.String(), Cgroup: e.Path, Container: names[e.Path], Fraction: e.Fraction,
				UsageB: int64(e.Snapshot.Usage.Bytes), LimitB: int64(e.Snapshot.Limit.Bytes), Kills: e.Delta.OOMKills().N}
			if e.Kind == cgroup.EventOOM {
				d := diagnose(ctx, col, e)
				l.Cause, l.Victim = d.Cause, fmt.Sprintf("%s (pid %d)", d.VictimComm, d.VictimPID)
				if len(d.Remedies) > 0 {
					l.Remedy = strings.TrimSpace(d.Remedies[0].Setting + " " + d.Remedies[0].Value + ": " + d.Remedies[0].Action)
				}
			}
			if e.Kind == cgroup.EventRemoved && ids[e.Path] != "" {
				if x, ok := exited[e.Path]; ok {
					print(withExit(l, x)) // its die event came first
					delete(exited, e.Path)
					continue
				}
				pending[e.Path] = l // its die event tells how it ended
				continue
			}
			print(l)
		}
	}
}

// withExit is a removal line with the exit code its die event gave.
func withExit(removed, exit line) line {
	removed.ExitCode, removed.Signal, removed.Meaning = exit.ExitCode, exit.Signal, exit.Meaning
	if removed.Container == "" {
		removed.Container = exit.Container
	}
	return removed
}

// exitMeaning says what a container's exit code means, with the signal
// the Engine sent before it (docker kill, docker stop) when there was one.
func exitMeaning(code int, signal string, oomKilled bool) string {
	switch {
	case code == 0:
		return "it ended normally"
	case code == 137 && oomKilled:
		return "SIGKILL from the OOM killer (see the KILL line)"
	case code == 137 && (signal == "9" || signal == "KILL" || signal == "SIGKILL"):
		return "SIGKILL sent by the Engine (docker kill, or docker stop after its timeout): not an OOM kill"
	case code == 137:
		return "SIGKILL (an OOM kill of the main process, or a kill from outside the Engine)"
	case code == 143:
		return "SIGTERM (docker stop, or a kill from outside) and it exited on it"
	case code > 128 && code < 160:
		return "killed by signal " + strconv.Itoa(code-128)
	}
	if signal != "" {
		return "exited with this code after the Engine sent signal " + signal
	}
	return "exited with this code (the program's own error)"
}

// diagnose diagnoses an OOM event: Collector.Event waits for this kill's
// report (the kernel counts a kill just before it logs it) and ties a
// report cut by the kernel's rate limit by the event's victims.
func diagnose(ctx context.Context, col *docker.Collector, e cgroup.Event) oom.Diagnosis {
	ev, _ := col.Event(ctx, e, 0)
	return oom.Diagnose(ev)
}
