// Package fleet recommends memory settings for every container of a fleet
// from the history Prometheus already keeps (cAdvisor or the kubelet, and
// kube-state-metrics), and tells from the metrics alone why each container
// was OOM-killed.
//
// The server computes the peaks: each query asks for
// max_over_time(container_memory_working_set_bytes[I]) at step I, so every
// raw sample counts once and only one value per interval crosses the wire.
// A container's series are merged across restarts and scrape jobs (max by
// namespace, pod and container), and pods are grouped into workloads
// (namespace + owner + container on Kubernetes; Compose project and service,
// or the container name, on Docker hosts). Workloads are queried in batches,
// each range split under Prometheus' 11,000 points per series, and results
// are handed out as each batch completes: memory stays bounded by the batch,
// not the fleet.
//
// Causes inferred from metrics are less certain than on the host (a scrape
// every minute can miss the spike that reached the limit; no metric says
// which cgroup's limit the kernel hit): confidences stay at or below 0.6 and
// every evidence item says it comes from "metrics".
//
// Measured on oomkit's 2-core test machine (shared, load 5-15) against a
// local Prometheus 2.42 holding 224 synthetic workloads over 7 days at a
// 60 s scrape (OOMKIT_START_DAEMONS=1 go test ./recommend/fleet -run '^$'
// -bench Fleet -benchtime 1x): 200 workloads in 5.9 s (4.3 s of server
// CPU, 1.2 s of client CPU, 54 MB peak RSS); one raw range query per
// container takes 11 s (6.8 + 4.2 s CPU); KRR's max_over_time([7d:75s]),
// which yields a maximum and nothing else, 1.1 s. The cost grows with
// containers x days.
package fleet

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oomkit/oomkit/recommend"
)

// ErrSelector reports a --selector that is not a PromQL label matcher list
// in braces.
var ErrSelector = errors.New("fleet: bad selector")

// Labels names the labels a Prometheus setup uses. The defaults are those
// of current cAdvisor, the kubelet and kube-state-metrics; OldCAdvisor
// returns the pod_name/container_name spelling of cAdvisor before
// Kubernetes 1.16.
type Labels struct {
	Namespace string
	Pod       string
	Container string
	Node      string // on cAdvisor series (kube-prometheus relabels it in)
	// Name is cAdvisor's container name: the identity of a Docker container.
	Name string
	// Instance tells Docker hosts apart.
	Instance       string
	ComposeProject string
	ComposeService string
}

// DefaultLabels returns the label names of current cAdvisor, kubelet and
// kube-state-metrics.
func DefaultLabels() Labels {
	return Labels{
		Namespace: "namespace", Pod: "pod", Container: "container", Node: "node", Name: "name", Instance: "instance",
		ComposeProject: "container_label_com_docker_compose_project",
		ComposeService: "container_label_com_docker_compose_service",
	}
}

// OldCAdvisor returns the labels with cAdvisor's pre-1.16 pod_name and
// container_name (kube-state-metrics keeps pod and container).
func OldCAdvisor() Labels {
	l := DefaultLabels()
	l.Pod, l.Container = "pod_name", "container_name"
	return l
}

// Config says what to query.
type Config struct {
	// Selector narrows the containers, as PromQL label matchers in braces:
	// `{namespace="shop"}`. It applies to the container and
	// kube-state-metrics series (not to node series).
	Selector string
	// Start and End bound the history (End zero: now; Start zero: 14 days
	// before End).
	Start, End time.Time
	// Interval is the peak interval I: the server returns
	// max_over_time(...[I]) at step I. Zero picks max(1m, (End-Start)/2016)
	// rounded to a minute: 5 minutes for a week.
	Interval time.Duration
	// Labels are the label names (zero value: DefaultLabels).
	Labels Labels
	// Batch is the number of workloads per query (default 32) and Parallel
	// the number of queries in flight (default 2).
	Batch, Parallel int
	// MaxPoints is the most points a range query may return per series
	// (default 11,000, Prometheus' limit); longer ranges are split.
	MaxPoints int
	// Options configure each workload's Recommender. Fleet adds the peak
	// interval (recommend.WithInterval(Interval)) first.
	Options []recommend.Option
	// Progress, when set, is called after each batch with the workloads
	// done and the total.
	Progress func(done, total int)
}

func (c *Config) fill(now time.Time) error {
	if c.End.IsZero() {
		c.End = now
	}
	if c.Start.IsZero() {
		c.Start = c.End.Add(-14 * 24 * time.Hour)
	}
	if !c.Start.Before(c.End) {
		return fmt.Errorf("fleet: start %s is not before end %s", c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339))
	}
	if c.Interval == 0 {
		c.Interval = max(time.Minute, (c.End.Sub(c.Start) / 2016).Round(time.Minute))
	}
	if c.Interval < time.Second {
		return fmt.Errorf("fleet: interval %s below 1s", c.Interval)
	}
	if c.Labels == (Labels{}) {
		c.Labels = DefaultLabels()
	}
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.Parallel <= 0 {
		c.Parallel = 2
	}
	if c.MaxPoints <= 0 {
		c.MaxPoints = 11000
	}
	sel, err := matchers(c.Selector)
	if err != nil {
		return err
	}
	c.Selector = sel
	return nil
}

// matchers returns the selector's matchers without braces ("" for none),
// or ErrSelector. It checks the shape (braces, quotes balanced), the server
// checks the rest.
func matchers(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return "", fmt.Errorf("%w %q: want label matchers in braces, e.g. {namespace=\"shop\"}", ErrSelector, s)
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	inQuote, esc := false, false
	for _, r := range inner {
		switch {
		case esc:
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == '{' || r == '}' || r == '[' || r == '(' || r == ')'):
			return "", fmt.Errorf("%w %q: unexpected %q", ErrSelector, s, r)
		}
	}
	if inQuote {
		return "", fmt.Errorf("%w %q: unterminated string", ErrSelector, s)
	}
	return strings.TrimSuffix(inner, ","), nil
}

// sel builds metric{matchers...}, leaving out empty ones.
func sel(metric string, ms ...string) string {
	var keep []string
	for _, m := range ms {
		if m != "" {
			keep = append(keep, m)
		}
	}
	return metric + "{" + strings.Join(keep, ",") + "}"
}
