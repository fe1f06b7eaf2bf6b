// Command recommend sizes a container's memory settings from its usage.
//
//	recommend                                   an embedded real trace recorded on oomkit's test machine (--trace NAME for another)
//	recommend --csv FILE                        a header row, then time,bytes rows (seconds or RFC 3339; working set)
//	recommend --container NAME --duration 5m    sample a live container through the Docker Engine API
//	  --profile generic|jvm|go|node|database|batch
//	  --format docker|compose|k8s|json  --html FILE (a chart of the trace with the recommendation)
//	recommend --prometheus URL [--selector '{namespace="x"}'] [--since 14d]   every container of a fleet (prometheus.go)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom/docker"
	"github.com/oomkit/oomkit/recommend"
)

const usageText = `recommend sizes a container's memory settings (--memory, --memory-swap,
--memory-reservation, and the runtime's heap setting for its profile) from
its usage history, and prints them for docker, Compose or Kubernetes.

Usage:
  recommend                                  an embedded real trace (a demo; --trace NAME for another)
  recommend --csv FILE                       samples from a CSV file
  recommend --container NAME [--duration 5m] sample a running container through the Docker Engine
  recommend --prometheus URL [--selector S]  every container Prometheus knows (fleet mode)

CSV: a header row, then one row per sample: time (seconds, possibly
fractional, or RFC 3339), working set in bytes; optional columns named
anon_bytes (or nonreclaimable_bytes), cache_bytes, swap_bytes. Example:
  time,bytes,anon_bytes
  2026-01-12T10:00:00Z,209715200,180355072

Profiles: %s.
Formats: docker (run flags and an update command), compose (a service
override; --container uses its com.docker.compose.service label), k8s
(a resources stanza), json. --html FILE also writes a chart of the trace
with the recommended limit and reservation (one offline HTML file).

Example:
  go run ./examples/recommend --container web-1 --duration 10m --profile jvm --format compose

Flags:
`

// usageError is a wrong command line: exit status 2.
type usageError struct{ error }

func main() {
	csvFile := flag.String("csv", "", "read samples from this CSV file (format: see above)")
	ctr := flag.String("container", "", "sample this running Docker container")
	dur := flag.Duration("duration", time.Minute, "with --container: how long to sample")
	trace := flag.String("trace", "steady-server", "with no input: the embedded trace to use ("+strings.Join(recommend.TraceNames(), ", ")+")")
	profile := flag.String("profile", "generic", "workload profile ("+profileList()+")")
	format := flag.String("format", "docker", "output: docker, compose, k8s or json")
	html := flag.String("html", "", "also write a chart of the trace with the recommended limit and reservation to this HTML file")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), usageText, profileList())
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := checkFlags(flag.CommandLine, *dur, *profile, *format, *html); err != nil {
		fmt.Fprintln(os.Stderr, "recommend:", err)
		os.Exit(2)
	}
	if prometheusMain(recommend.Profile(*profile), *format) {
		return
	}
	if err := run(os.Stdout, *csvFile, *ctr, *dur, *trace, recommend.Profile(*profile), *format, *html); err != nil {
		fmt.Fprintln(os.Stderr, "recommend:", err)
		os.Exit(1)
	}
}

func profileList() string {
	var ps []string
	for _, p := range recommend.Profiles() {
		ps = append(ps, string(p))
	}
	return strings.Join(ps, ", ")
}

// checkFlags refuses conflicting, unused and invalid flags, naming them.
func checkFlags(fs *flag.FlagSet, dur time.Duration, profile, format, html string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))}
	}
	var inputs []string
	for _, n := range []string{"csv", "container", "trace", "prometheus"} {
		if set[n] {
			inputs = append(inputs, "--"+n)
		}
	}
	if len(inputs) > 1 {
		return usageError{fmt.Errorf("%s: choose one input", strings.Join(inputs, " and "))}
	}
	for _, n := range []string{"csv", "container", "prometheus", "html"} {
		if set[n] && fs.Lookup(n).Value.String() == "" {
			return usageError{fmt.Errorf("--%s: empty value", n)}
		}
	}
	if set["duration"] && !set["container"] {
		return usageError{errors.New("--duration needs --container (it is how long to sample it)")}
	}
	if set["container"] && dur <= 0 {
		return usageError{fmt.Errorf("--duration %s: must be positive", dur)}
	}
	for _, n := range []string{"selector", "since", "end", "interval", "old-cadvisor-labels"} {
		if set[n] && !set["prometheus"] {
			return usageError{fmt.Errorf("--%s needs --prometheus", n)}
		}
	}
	if set["html"] && set["prometheus"] {
		return usageError{errors.New("--html: not in fleet mode (--prometheus); chart one container at a time")}
	}
	if !slices.Contains(recommend.Profiles(), recommend.Profile(profile)) {
		return usageError{fmt.Errorf("--profile %q: unknown (%s)", profile, profileList())}
	}
	formats := []string{"docker", "compose", "k8s", "json"}
	if set["prometheus"] {
		formats = append(formats, "table")
	}
	if !slices.Contains(formats, format) {
		return usageError{fmt.Errorf("--format %q: unknown (%s)", format, strings.Join(formats, ", "))}
	}
	if html != "" {
		if st, err := os.Stat(filepath.Dir(html)); err != nil || !st.IsDir() {
			return usageError{fmt.Errorf("--html %s: no directory %s to write it in", html, filepath.Dir(html))}
		}
	}
	if set["csv"] {
		if f, err := os.Open(fs.Lookup("csv").Value.String()); err != nil {
			return usageError{fmt.Errorf("--csv: %w", err)}
		} else {
			_ = f.Close()
		}
	}
	return nil
}

func run(w io.Writer, csvFile, ctr string, dur time.Duration, trace string, profile recommend.Profile, format, html string) error {
	r, err := recommend.New(recommend.WithProfile(profile)) // time scales from the samples themselves
	if err != nil {
		return err
	}
	var samples []cgroup.Sample
	var name, service string
	switch {
	case csvFile != "":
		f, err := os.Open(csvFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if samples, err = recommend.ReadCSV(f, time.Now()); err != nil {
			return fmt.Errorf("%s: %w", csvFile, err)
		}
		name = strings.TrimSuffix(filepath.Base(csvFile), filepath.Ext(csvFile))
	case ctr != "":
		name = ctr
		if samples, service, err = sampleContainer(ctr, dur); err != nil {
			return err
		}
	default:
		if samples, err = recommend.Trace(trace, time.Now()); err != nil {
			return err
		}
		name = trace
	}
	if len(samples) == 0 {
		return errors.New("no samples: nothing to recommend from")
	}
	skipped := 0
	for _, s := range samples {
		if err := r.Add(s); err != nil {
			skipped++
		}
	}
	rec, err := r.Recommend()
	if err != nil {
		return err
	}
	if skipped > 0 {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("%d samples skipped (out of order or invalid)", skipped))
	}
	if html != "" {
		if err := writeChart(html, name, samples, rec); err != nil {
			return err
		}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	case "compose":
		svc := name
		if service != "" {
			svc = service // the service's name in its Compose file, not the container's
		}
		y, err := rec.Compose(svc)
		if err != nil {
			return err
		}
		fmt.Fprint(w, y)
	case "k8s":
		fmt.Fprint(w, rec.KubernetesYAML())
	case "docker":
		if rec.NoLimitYet {
			// No blank command: say why there is none yet.
			fmt.Fprintf(w, "# no limit to set yet: %s\n\n", rec.Memory.Rationale)
		} else {
			fmt.Fprintf(w, "docker run %s ...\n", rec.DockerRun())
			fmt.Fprintf(w, "%s\n\n", rec.DockerUpdate(name))
		}
		for _, l := range rec.Rationale {
			fmt.Fprintf(w, "# %s\n", l)
		}
		fmt.Fprintf(w, "# memory-swap: %s\n# memory-reservation: %s\n# confidence %.2f from %d samples over %s\n",
			rec.MemorySwap.Rationale, rec.MemoryReservation.Rationale, rec.Confidence, rec.Samples, rec.History.Round(time.Second))
		for _, l := range rec.Warnings {
			fmt.Fprintf(w, "# warning: %s\n", l)
		}
	default:
		return fmt.Errorf("unknown format %q (docker, compose, k8s or json)", format)
	}
	return nil
}

// sampleContainer reads the Engine's stats stream for dur; it also
// returns the container's Compose service (its com.docker.compose.service
// label), "" when it has none.
func sampleContainer(name string, dur time.Duration) ([]cgroup.Sample, string, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = cli.Close() }()
	in, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		return nil, "", fmt.Errorf("--container %s: %w", name, err)
	}
	if in.State == nil || !in.State.Running {
		return nil, "", fmt.Errorf("--container %s: not running: nothing to sample", name)
	}
	service := ""
	if in.Config != nil {
		service = in.Config.Labels["com.docker.compose.service"]
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	st, err := cli.ContainerStats(ctx, in.ID, true)
	if err != nil {
		return nil, "", fmt.Errorf("docker stats %s: %w", name, err)
	}
	defer func() { _ = st.Body.Close() }()
	dec := json.NewDecoder(st.Body)
	var out []cgroup.Sample
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				break
			}
			return out, "", fmt.Errorf("docker stats %s: %w", name, err)
		}
		if smp, err := docker.SampleOf(s); err == nil {
			out = append(out, smp)
		}
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("docker stats %s: no samples in %s (did it stop?)", name, dur)
	}
	return out, service, nil
}
