package main

// --listen ADDR serves what watch sees as Prometheus metrics at /metrics
// (package exporter): kills by cause, threshold warnings.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/oomkit/oomkit/exporter"
	"github.com/oomkit/oomkit/oom"
)

var listen = flag.String("listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9101)")

// metrics is the exporter behind --listen (nil without it).
var metrics struct {
	e   *exporter.Exporter
	cli *client.Client
	mu  sync.Mutex
	tgt map[string]exporter.Target // by container name or cgroup path
	gen map[string]int             // bumped when seen or removed
}

// startMetrics starts the /metrics server when --listen is set; it stops
// with ctx. On a Docker host, containers are labelled by name and Compose
// project/service (or by Kubernetes namespace/pod/container when the kubelet
// started them through Docker); with --cgroup, by cgroup path.
func startMetrics(ctx context.Context, cli *client.Client) error {
	if *listen == "" {
		return nil
	}
	host := exporter.Docker
	if cli == nil {
		host = exporter.Kubernetes // bare cgroups: the container label holds the path
	}
	metrics.e, metrics.cli, metrics.tgt, metrics.gen = exporter.New(host), cli, map[string]exporter.Target{}, map[string]int{}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.e.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "watch: metrics:", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "metrics on http://%s/metrics\n", l.Addr())
	return nil
}

// forgetAfter is how long a removed container's series stay.
const forgetAfter = 15 * time.Minute

func keyOf(l line) string {
	if l.Container != "" {
		return l.Container
	}
	return l.Cgroup
}

// target names a watched container in the metrics' labels.
func target(ctx context.Context, l line) exporter.Target {
	key := keyOf(l)
	metrics.mu.Lock()
	defer metrics.mu.Unlock()
	if t, ok := metrics.tgt[key]; ok {
		return t
	}
	t := exporter.Target{Container: key}
	if metrics.cli != nil && l.Container != "" {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if c, err := metrics.cli.ContainerInspect(ictx, l.Container); err == nil && c.Config != nil {
			lb := c.Config.Labels
			t.ComposeProject, t.ComposeService = lb["com.docker.compose.project"], lb["com.docker.compose.service"]
			if ns, pod := lb["io.kubernetes.pod.namespace"], lb["io.kubernetes.pod.name"]; pod != "" {
				t = exporter.Target{Namespace: ns, Pod: pod, Container: lb["io.kubernetes.container.name"]}
			}
		}
		cancel()
	}
	metrics.tgt[key] = t
	return t
}

// exportLine counts what a line reports; a container or cgroup that is
// gone leaves the metrics.
func exportLine(ctx context.Context, l line) {
	if metrics.e == nil {
		return
	}
	t := target(ctx, l)
	if l.Kind != "removed" {
		metrics.mu.Lock()
		metrics.gen[keyOf(l)]++ // alive again: a pending Forget is off
		metrics.mu.Unlock()
	}
	switch l.Kind {
	case "oom":
		n := int(l.Kills)
		if n == 0 {
			n = 1
		}
		c := l.Cause
		if c == "" {
			c = oom.CauseUnknown
		}
		metrics.e.Kill(t, c, n)
	case "threshold":
		metrics.e.Warning(t, l.Fraction)
	case "removed":
		// Kept for a while, so a scrape sees the kill that removed it
		// (and a container restarted under its name keeps counting).
		key := keyOf(l)
		metrics.mu.Lock()
		metrics.gen[key]++
		g := metrics.gen[key]
		metrics.mu.Unlock()
		time.AfterFunc(forgetAfter, func() {
			metrics.mu.Lock()
			defer metrics.mu.Unlock()
			if metrics.gen[key] == g {
				metrics.e.Forget(t)
				delete(metrics.tgt, key)
				delete(metrics.gen, key)
			}
		})
	default:
		metrics.e.Add(t)
	}
}

// exportWatched makes a newly watched container (or cgroup) known to the
// metrics: its kill counters appear at 0 before any kill.
func exportWatched(ctx context.Context, path, name string) {
	if metrics.e != nil {
		exportLine(ctx, line{Kind: "watched", Cgroup: path, Container: name})
	}
}
