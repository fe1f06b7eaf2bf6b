// Command recommend sizes a container's memory settings from its usage.
//
//	recommend                                   an embedded real trace recorded on oomkit's test machine (--trace NAME for another)
//	recommend --csv FILE                        a header row, then time,bytes rows (seconds or RFC 3339; working set)
//	recommend --container NAME --duration 5m    sample a live container through the Docker Engine API
//	  --profile generic|jvm|go|node|database|batch
//	  --format docker|compose|k8s|json
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
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend"
)

func main() {
	csvFile := flag.String("csv", "", "read samples from this CSV file")
	ctr := flag.String("container", "", "sample this Docker container")
	dur := flag.Duration("duration", time.Minute, "with --container: how long to sample")
	trace := flag.String("trace", "steady-server", "with no input: the embedded trace to use ("+strings.Join(recommend.TraceNames(), ", ")+")")
	profile := flag.String("profile", "generic", "workload profile")
	format := flag.String("format", "docker", "output: docker, compose, k8s or json")
	flag.Parse()
	if prometheusMain(recommend.Profile(*profile), *format) {
		return
	}
	if err := run(os.Stdout, *csvFile, *ctr, *dur, *trace, recommend.Profile(*profile), *format); err != nil {
		fmt.Fprintln(os.Stderr, "recommend:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, csvFile, ctr string, dur time.Duration, trace string, profile recommend.Profile, format string) error {
	r, err := recommend.New(recommend.WithProfile(profile), recommend.WithInterval(intervalFor(csvFile, ctr, dur)))
	if err != nil {
		return err
	}
	var samples []cgroup.Sample
	name := "app"
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
	case ctr != "":
		name = ctr
		if samples, err = sampleContainer(ctr, dur); err != nil {
			return err
		}
	default:
		if samples, err = recommend.Trace(trace, time.Now()); err != nil {
			return err
		}
		name = trace
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
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	case "compose":
		y, err := rec.Compose(name)
		if err != nil {
			return err
		}
		fmt.Fprint(w, y)
	case "k8s":
		fmt.Fprint(w, rec.KubernetesYAML())
	case "docker":
		fmt.Fprintf(w, "docker run %s ...\n", rec.DockerRun())
		fmt.Fprintf(w, "%s\n\n", rec.DockerUpdate(name))
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

// intervalFor picks the peak interval: a minute for long histories, a
// couple of seconds for the few minutes a live sampling or a short trace
// covers.
func intervalFor(csvFile, ctr string, dur time.Duration) time.Duration {
	if ctr != "" && dur < time.Hour {
		return 2 * time.Second
	}
	if csvFile == "" && ctr == "" {
		return 2 * time.Second // the embedded traces are minutes long
	}
	return time.Minute
}

// sampleContainer reads the Engine's stats stream for dur.
func sampleContainer(name string, dur time.Duration) ([]cgroup.Sample, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	st, err := cli.ContainerStats(ctx, name, true)
	if err != nil {
		return nil, fmt.Errorf("docker stats %s: %w", name, err)
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
			return out, fmt.Errorf("docker stats %s: %w", name, err)
		}
		if smp, err := recommend.FromDockerStats(s); err == nil {
			out = append(out, smp)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("docker stats %s: no samples in %s (is it running?)", name, dur)
	}
	return out, nil
}
