package main

// Fleet mode: recommendations for every container Prometheus knows.
//
//	recommend --prometheus URL [--selector '{namespace="shop"}'] [--since 14d] [--end RFC3339]
//	  [--interval 5m] [--old-cadvisor-labels] [--format table|json|k8s|compose]

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/common/model"

	"github.com/oomkit/oomkit/recommend"
	"github.com/oomkit/oomkit/recommend/fleet"
)

var (
	promURL     = flag.String("prometheus", "", "fleet mode: read every container's history from this Prometheus server (http://host:9090)")
	promSel     = flag.String("selector", "", `with --prometheus: label matchers narrowing the containers, e.g. '{namespace="shop"}'`)
	promSince   = flag.String("since", "14d", "with --prometheus: how much history (Prometheus durations: 14d, 36h)")
	promEnd     = flag.String("end", "", "with --prometheus: end of the history (RFC 3339; default now)")
	promIv      = flag.Duration("interval", 0, "with --prometheus: peak interval (default: the history / 2016, at least 1m)")
	promOldLbls = flag.Bool("old-cadvisor-labels", false, "with --prometheus: cAdvisor labels pod_name/container_name (Kubernetes before 1.16)")
)

type promArgs struct {
	url, selector, since, end string
	interval                  time.Duration
	oldLabels                 bool
}

func promFlags() promArgs {
	return promArgs{*promURL, *promSel, *promSince, *promEnd, *promIv, *promOldLbls}
}

// runPrometheus writes the fleet's recommendations to w as a table (the
// default "docker" format), JSON Lines, Kubernetes server-side apply
// documents or Compose overrides; notes and progress go to ew.
func runPrometheus(ctx context.Context, w, ew io.Writer, a promArgs, profile recommend.Profile, format string) error {
	since, err := model.ParseDuration(a.since)
	if err != nil || since <= 0 {
		return fmt.Errorf("--since %q: want a duration such as 14d or 36h", a.since)
	}
	cfg := fleet.Config{Selector: a.selector, Interval: a.interval, Options: []recommend.Option{recommend.WithProfile(profile)}}
	if a.end != "" {
		if cfg.End, err = time.Parse(time.RFC3339, a.end); err != nil {
			return fmt.Errorf("--end %q: want RFC 3339 (2026-01-12T00:00:00Z)", a.end)
		}
	} else {
		cfg.End = time.Now()
	}
	cfg.Start = cfg.End.Add(-time.Duration(since))
	if a.oldLabels {
		cfg.Labels = fleet.OldCAdvisor()
	}
	if f, ok := ew.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cfg.Progress = func(done, total int) {
				fmt.Fprintf(ew, "\r%d/%d workloads", done, total)
				if done == total {
					fmt.Fprint(ew, "\r\033[K")
				}
			}
		}
	}
	src, err := fleet.New(a.url)
	if err != nil {
		return err
	}
	var out func(fleet.Result) error
	var end func() error
	var docker []fleet.Result
	n := 0
	switch format {
	case "docker", "table":
		t := fleet.NewTable(w)
		out, end = t.Write, t.Flush
	case "json":
		out = func(r fleet.Result) error { return fleet.WriteJSONLines(w, r) }
	case "k8s":
		out = func(r fleet.Result) error {
			if r.Workload.Kind != fleet.KindKubernetes {
				docker = append(docker, r)
				return nil
			}
			if err := fleet.WriteKubernetesApply(w, r); err != nil {
				fmt.Fprintf(ew, "# skipped: %v\n", err)
			}
			return nil
		}
		end = func() error {
			if len(docker) > 0 {
				fmt.Fprintf(ew, "# %d Docker workload(s) left out: --format compose writes them\n", len(docker))
			}
			return nil
		}
	case "compose":
		out = func(r fleet.Result) error {
			if r.Workload.Kind == fleet.KindDocker {
				docker = append(docker, r)
			}
			return nil
		}
		end = func() error { return fleet.WriteCompose(w, docker) }
	default:
		return fmt.Errorf("unknown format %q with --prometheus (table, json, k8s or compose)", format)
	}
	err = src.Recommend(ctx, cfg, func(r fleet.Result) error { n++; return out(r) })
	if err != nil {
		return err
	}
	if end != nil {
		if err := end(); err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("no container_memory_working_set_bytes series matched (check --selector, --since and the scrape of cAdvisor or the kubelet)")
	}
	return nil
}

// prometheusMain runs fleet mode when --prometheus is given; it reports
// whether it did.
func prometheusMain(profile recommend.Profile, format string) bool {
	a := promFlags()
	if a.url == "" {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runPrometheus(ctx, os.Stdout, os.Stderr, a, profile, format); err != nil {
		fmt.Fprintln(os.Stderr, "recommend:", err)
		os.Exit(1)
	}
	return true
}
