package promtest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/recommend"
)

// Epoch is the fixtures' fixed end date: every fixture ends here, so
// queries, golden answers and figures do not move with the clock.
var Epoch = time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)

// Shapes of usage the synthetic fleet mixes.
const (
	ShapeSteady    = "steady"    // daily cycle and noise
	ShapeSpiky     = "spiky"     // steady with rare spikes to 1.7x
	ShapeLeak      = "leak"      // non-reclaimable memory grows until the limit kills it, then restarts
	ShapeBurstOOM  = "burst-oom" // steady, with bursts to the limit that kill it (its own limit)
	ShapePressure  = "pressure"  // well below its limit, killed when its node runs out (host pressure)
	ShapeChild     = "child"     // a child is OOM-killed now and then; the container lives on
	ShapeEvicted   = "evicted"   // the kubelet evicts the pod (not a kernel OOM); a new pod replaces it
	ShapeUnlimited = "unlimited" // no limit at all
	ShapeTrace     = "trace"     // plays back a recorded usage trace (recommend's embedded ones, public ones)
)

// Restart is a container's death at a step; the next instance starts one
// step later.
type Restart struct {
	Step int
	OOM  bool // kube-state-metrics says OOMKilled
	// Cause is what the fixture means by the kill (oom.Cause values), for
	// tests to compare with what oomkit infers from the metrics.
	Cause string
}

// Pod is one pod (or, on a Docker host, the container) of a workload.
type Pod struct {
	Name, UID, Node, ReplicaSet string
	From, To                    int // steps [From, To)
	Evicted                     bool
	Restarts                    []Restart
	ChildOOMs                   []int // steps where a child was OOM-killed, the container living on
	DupJob                      bool  // scraped twice (kubelet and a second cAdvisor job)
	seed                        uint64
}

// Workload is a Deployment's container on Kubernetes, or a Compose service
// (or a lone container) on a Docker host.
type Workload struct {
	Docker    bool
	Namespace string
	OwnerKind string // Deployment, StatefulSet, DaemonSet
	Owner     string
	Container string
	// Docker hosts
	Project, Service, Host string
	Limit                  int64 // bytes; 0 = unlimited
	Base                   float64
	Shape                  string
	trace                  []float64 // normalised working set (and rss below) for ShapeTrace
	traceNR                []float64
	Pods                   []*Pod
}

// Node is a Kubernetes node (or a Docker host).
type Node struct {
	Name                  string
	Capacity, Allocatable int64
	Pressure              []int // steps where it ran out of memory
}

// Fleet is a synthetic fleet scraped every Step from Start for Steps steps.
type Fleet struct {
	// OldLabels writes cAdvisor's pod_name and container_name (Kubernetes
	// before 1.16) instead of pod and container.
	OldLabels bool
	Start     time.Time
	Step      time.Duration
	Steps     int
	Workloads []*Workload
	Nodes     []*Node
}

// Time returns the time of a step.
func (f *Fleet) Time(step int) time.Time { return f.Start.Add(time.Duration(step) * f.Step) }

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func unit(seed uint64, step int) float64 {
	return float64(mix(seed^uint64(step)*0x2545F4914F6CDD1D)>>11) / (1 << 53)
}

func hexID(seed uint64, n int) string {
	var b strings.Builder
	for b.Len() < n {
		seed = mix(seed)
		fmt.Fprintf(&b, "%016x", seed)
	}
	return b.String()[:n]
}

// NewFleet builds a deterministic fleet of about n workloads (Kubernetes
// and, one in ten, Docker hosts) over days ending at Epoch, scraped every
// step. Every shape appears once n >= 10. publicTraces are normalised
// (0..1) usage series, e.g. from the public corpus (nil: none).
func NewFleet(n int, days int, step time.Duration, publicTraces [][]float64) *Fleet {
	steps := int(time.Duration(days) * 24 * time.Hour / step)
	f := &Fleet{Start: Epoch.Add(-time.Duration(steps-1) * step), Step: step, Steps: steps}
	nodes := max(3, n/15)
	for i := range nodes {
		f.Nodes = append(f.Nodes, &Node{Name: fmt.Sprintf("node-%d", i+1), Capacity: 16 << 30, Allocatable: 15 << 30})
	}
	pressureNode := f.Nodes[len(f.Nodes)-1]
	pressureNode.Pressure = []int{steps * 2 / 5, steps * 4 / 5}
	shapes := []string{ShapeSteady, ShapeLeak, ShapeBurstOOM, ShapePressure, ShapeSpiky, ShapeChild, ShapeEvicted, ShapeUnlimited, ShapeTrace, ShapePressure}
	traces := loadTraces(publicTraces)
	namespaces := []string{"shop", "payments", "search", "batch", "infra"}
	k8s := 0
	for i := range n {
		seed := mix(uint64(i) + 1)
		w := &Workload{Container: "app", Shape: shapes[i%len(shapes)], Base: float64(64<<20) * (1 + 4*unit(seed, 1))}
		w.Limit = int64(math.Ceil(w.Base*2/(1<<20))) << 20
		switch w.Shape {
		case ShapeUnlimited:
			w.Limit = 0
		case ShapeTrace:
			tr := traces[(i/len(shapes))%len(traces)]
			w.trace, w.traceNR = tr.ws, tr.nr
		case ShapePressure:
			w.Limit = int64(math.Ceil(w.Base*3/(1<<20))) << 20
		}
		name := fmt.Sprintf("%s-%d", strings.ReplaceAll(w.Shape, "-", ""), i)
		if i%20 == 7 || i%20 == 12 {
			// Docker hosts with Compose services and lone containers
			w.Docker = true
			w.Host = fmt.Sprintf("dockerhost-%d", 1+i%2)
			if i%20 == 7 {
				w.Container = fmt.Sprintf("lone-%d", i)
			} else {
				w.Project, w.Service = "stack"+strconv.Itoa(i%3), name
				w.Container = w.Project + "-" + w.Service + "-1"
			}
			w.Pods = []*Pod{{Name: w.Container, Node: w.Host, From: 0, To: steps, seed: seed}}
		} else {
			w.Namespace = fmt.Sprintf("%s-%d", namespaces[i%len(namespaces)], k8s/50) // shop-0...: the first 50 Kubernetes workloads
			k8s++
			w.OwnerKind, w.Owner = "Deployment", name
			if i%7 == 3 {
				w.OwnerKind = "StatefulSet"
			}
			rs := w.Owner + "-" + hexID(seed, 10)[:9]
			mk := func(k int, from, to int, node *Node) *Pod {
				ps := mix(seed + uint64(k)*977)
				p := &Pod{UID: uuid(ps), Node: node.Name, From: from, To: to, seed: ps}
				if w.OwnerKind == "StatefulSet" {
					p.Name = fmt.Sprintf("%s-%d", w.Owner, k)
				} else {
					p.ReplicaSet = rs
					p.Name = rs + "-" + hexID(ps, 5)
				}
				return p
			}
			node := f.Nodes[i%(len(f.Nodes)-1)]
			if w.Shape == ShapePressure {
				node = pressureNode
			}
			p0 := mk(0, 0, steps, node)
			w.Pods = append(w.Pods, p0)
			switch {
			case w.Shape == ShapeEvicted:
				p0.To, p0.Evicted = steps/2, true
				w.Pods = append(w.Pods, mk(1, steps/2+1, steps, f.Nodes[(i+1)%(len(f.Nodes)-1)]))
			case i%4 == 0 && w.Shape != ShapePressure:
				w.Pods = append(w.Pods, mk(1, 0, steps, f.Nodes[(i+1)%(len(f.Nodes)-1)])) // a second replica
			}
			p0.DupJob = i%6 == 1
		}
		f.simulate(w, pressureNode)
		f.Workloads = append(f.Workloads, w)
	}
	return f
}

func uuid(s uint64) string {
	h := hexID(s, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

type trace struct{ ws, nr []float64 }

// loadTraces returns the recommender's embedded recordings (working set
// and anon, normalised to their peak) and the public traces given.
func loadTraces(public [][]float64) []trace {
	var out []trace
	for _, name := range recommend.TraceNames() {
		s, err := recommend.Trace(name, Epoch)
		if err != nil || len(s) == 0 {
			continue
		}
		var peak float64
		for _, x := range s {
			peak = max(peak, float64(x.WorkingSetOrUsage().Bytes))
		}
		t := trace{}
		for _, x := range s {
			t.ws = append(t.ws, float64(x.WorkingSetOrUsage().Bytes)/peak)
			nr := float64(x.WorkingSetOrUsage().Bytes)
			if x.NonReclaimable.Known {
				nr = min(float64(x.NonReclaimable.Bytes), nr)
			}
			t.nr = append(t.nr, nr/peak)
		}
		out = append(out, t)
	}
	for _, p := range public {
		var peak float64
		for _, x := range p {
			peak = max(peak, x)
		}
		if peak <= 0 {
			continue
		}
		t := trace{}
		for _, x := range p {
			t.ws = append(t.ws, x/peak)
			t.nr = append(t.nr, 0.8*x/peak)
		}
		out = append(out, t)
	}
	return out
}

// simulate decides the kills of a workload's pods.
func (f *Fleet) simulate(w *Workload, pressure *Node) {
	for _, p := range w.Pods {
		switch w.Shape {
		case ShapeLeak:
			age := 0
			for s := p.From; s < p.To; s++ {
				ws, _ := w.raw(p, s, age)
				if ws >= float64(w.Limit) {
					p.Restarts = append(p.Restarts, Restart{Step: s, OOM: true, Cause: "container_limit"})
					age = -1
				}
				age++
			}
		case ShapeBurstOOM:
			for _, frac := range []float64{0.3, 0.75} {
				if s := p.From + int(frac*float64(p.To-p.From)); s < p.To {
					p.Restarts = append(p.Restarts, Restart{Step: s, OOM: true, Cause: "container_limit"})
				}
			}
		case ShapePressure:
			for _, s := range pressure.Pressure {
				if s >= p.From && s < p.To {
					p.Restarts = append(p.Restarts, Restart{Step: s, OOM: true, Cause: "host_pressure"})
				}
			}
		case ShapeChild:
			for _, frac := range []float64{0.2, 0.5, 0.6} {
				p.ChildOOMs = append(p.ChildOOMs, p.From+int(frac*float64(p.To-p.From)))
			}
		case ShapeSteady:
			if p.seed%5 == 0 { // a restart that is not an OOM kill (a failed liveness probe)
				p.Restarts = append(p.Restarts, Restart{Step: p.From + (p.To-p.From)/3, Cause: "not_oom"})
			}
		}
	}
}

// raw is a pod's working set and non-reclaimable memory at a step, age steps
// after its container started.
func (w *Workload) raw(p *Pod, step, age int) (ws, rss float64) {
	const day = 24 * 60.0
	u := unit(p.seed, step)
	cyc := math.Sin(2 * math.Pi * float64(step) / day)
	ws = w.Base * (1 + 0.08*cyc + 0.05*(u-0.5))
	rss = 0.7 * ws
	switch w.Shape {
	case ShapeSpiky:
		if u > 0.997 {
			ws *= 1.7
			rss = 0.8 * ws
		}
	case ShapeLeak:
		rss = 0.5*w.Base + float64(age)*w.Base/2000
		ws = rss + 0.25*w.Base*(1+0.1*u)
	case ShapeTrace:
		i := step % len(w.trace)
		ws = w.Base * 1.5 * w.trace[i] * (1 + 0.02*u)
		rss = w.Base * 1.5 * w.traceNR[i]
	}
	return ws, rss
}

// Sample is one scraped value of a pod's container.
type Sample struct {
	Step       int
	Instance   int // the container's instance in the pod: 0, then +1 per restart
	WorkingSet float64
	RSS        float64
}

// Samples calls yield for each scrape of the pod's container, in time
// order: what cAdvisor reports, the same values the OpenMetrics fixture
// holds.
func (f *Fleet) Samples(w *Workload, p *Pod, yield func(Sample)) {
	inst, age, next := 0, 0, 0
	for s := p.From; s < p.To; s++ {
		ws, rss := w.raw(p, s, age)
		if next < len(p.Restarts) && p.Restarts[next].Step == s {
			r := p.Restarts[next]
			if r.OOM && r.Cause == "container_limit" {
				ws = float64(w.Limit) // the kill happens at the limit
				rss = math.Min(rss, ws)
			}
			if r.Cause == "host_pressure" {
				ws *= 1.1
			}
			yield(Sample{Step: s, Instance: inst, WorkingSet: math.Floor(ws), RSS: math.Floor(rss)})
			inst++
			next++
			age = 0
			s++ // the new instance starts one step later
			continue
		}
		if w.Limit > 0 && ws > float64(w.Limit) {
			ws = float64(w.Limit) // reclaim holds it at the limit
		}
		rss = math.Min(rss, ws)
		yield(Sample{Step: s, Instance: inst, WorkingSet: math.Floor(ws), RSS: math.Floor(rss)})
		age++
	}
}

// om writes OpenMetrics lines.
type om struct {
	w   *bufio.Writer
	f   *Fleet
	buf []byte
}

func (o *om) line(name, labels string, step int, v float64) {
	b := o.buf[:0]
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, labels...)
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendInt(b, o.f.Time(step).Unix(), 10)
	b = append(b, '\n')
	o.buf = b
	_, _ = o.w.Write(b)
}

func q(k, v string) string { return k + `="` + v + `"` }

func join(kv ...string) string { return strings.Join(kv, ",") }

func (f *Fleet) nodeIP(node string) string {
	for i, n := range f.Nodes {
		if n.Name == node {
			return fmt.Sprintf("10.0.0.%d", i+1)
		}
	}
	return "10.0.1.1"
}

// cadvisorLabels is a container's label set as kubelet's cAdvisor endpoint
// scraped by kube-prometheus gives it, or as a standalone cAdvisor on a
// Docker host gives it.
func (f *Fleet) cadvisorLabels(w *Workload, p *Pod, inst int, job string) string {
	if w.Docker {
		inst = 0 // a Docker container keeps its ID (and cgroup) across restarts
	}
	cid := hexID(p.seed^uint64(inst+1)*7919, 64)
	if w.Docker {
		l := []string{q("id", "/docker/"+cid), q("image", "registry.example/"+w.Container+":1.4"), q("instance", w.Host+":8080"), q("job", job), q("name", w.Container)}
		if w.Project != "" {
			l = append([]string{q("container_label_com_docker_compose_project", w.Project), q("container_label_com_docker_compose_service", w.Service)}, l...)
		}
		return join(l...)
	}
	podL, containerL := "pod", "container"
	if f.OldLabels {
		podL, containerL = "pod_name", "container_name"
	}
	return join(q(containerL, w.Container), q("id", "/kubepods/burstable/pod"+p.UID+"/"+cid), q("image", "registry.example/"+w.Owner+":1.4"),
		q("instance", f.nodeIP(p.Node)+":10250"), q("job", job), q("name", cid), q("namespace", w.Namespace), q("node", p.Node), q(podL, p.Name))
}

func (f *Fleet) ksm(w *Workload, p *Pod, extra ...string) string {
	l := []string{q("container", w.Container), q("instance", "10.0.9.9:8080"), q("job", "kube-state-metrics"), q("namespace", w.Namespace), q("pod", p.Name)}
	return join(append(l, extra...)...)
}

// WriteOpenMetrics writes the fleet's metrics as OpenMetrics text (with
// timestamps, each family in one block, each series in time order, ending
// in # EOF), as promtool backfills it.
func (f *Fleet) WriteOpenMetrics(out io.Writer) error {
	o := &om{w: bufio.NewWriterSize(out, 1<<20), f: f}
	// cAdvisor families: one series per container instance (and per job).
	each := func(yield func(w *Workload, p *Pod, inst int, s Sample)) {
		for _, w := range f.Workloads {
			for _, p := range w.Pods {
				f.Samples(w, p, func(s Sample) { yield(w, p, s.Instance, s) })
			}
		}
	}
	for _, fam := range []string{"container_memory_working_set_bytes", "container_memory_rss"} {
		for _, job := range []string{"kubelet", "cadvisor"} {
			var lastKey string
			var labels string
			each(func(w *Workload, p *Pod, inst int, s Sample) {
				if (job == "cadvisor") != (w.Docker || p.DupJob) {
					return
				}
				key := p.Name + "/" + strconv.Itoa(inst)
				if key != lastKey {
					labels, lastKey = f.cadvisorLabels(w, p, inst, job), key
				}
				v := s.WorkingSet
				if fam == "container_memory_rss" {
					v = s.RSS
				}
				o.line(fam, labels, s.Step, v)
			})
		}
	}
	// Node (root cgroup) working set: its pods plus the system; near
	// capacity when the node ran out.
	for _, n := range f.Nodes {
		sum := make([]float64, f.Steps)
		for _, w := range f.Workloads {
			for _, p := range w.Pods {
				if p.Node == n.Name {
					f.Samples(w, p, func(s Sample) { sum[s.Step] += s.WorkingSet })
				}
			}
		}
		labels := join(q("id", "/"), q("instance", f.nodeIP(n.Name)+":10250"), q("job", "kubelet"), q("node", n.Name))
		if strings.HasPrefix(n.Name, "dockerhost") {
			continue
		}
		for s := range f.Steps {
			v := sum[s] + 1.5*(1<<30)
			for _, ps := range n.Pressure {
				if s == ps || s == ps-1 {
					v = 0.985 * float64(n.Capacity)
				}
			}
			o.line("container_memory_working_set_bytes", labels, s, math.Floor(v))
		}
	}
	// Limits and OOM events, per container instance.
	for _, fam := range []string{"container_spec_memory_limit_bytes", "container_oom_events_total", "container_start_time_seconds"} {
		for _, job := range []string{"kubelet", "cadvisor"} {
			for _, w := range f.Workloads {
				for _, p := range w.Pods {
					if (job == "cadvisor") != (w.Docker || p.DupJob) {
						continue
					}
					var labels string
					lastInst, events, started := -1, 0, 0
					f.Samples(w, p, func(s Sample) {
						if s.Instance != lastInst {
							labels, lastInst = f.cadvisorLabels(w, p, s.Instance, job), s.Instance
							started = s.Step
							if !w.Docker {
								events = 0 // a new cgroup: the counter starts again
							}
						}
						for _, c := range p.ChildOOMs {
							if c == s.Step {
								events++
							}
						}
						for _, r := range p.Restarts {
							if r.Step == s.Step && r.OOM && w.Docker {
								events++ // a Docker container keeps its cgroup name across restarts
							}
						}
						switch fam {
						case "container_spec_memory_limit_bytes":
							o.line(fam, labels, s.Step, float64(w.Limit))
						case "container_oom_events_total":
							o.line(fam, labels, s.Step, float64(events))
						case "container_start_time_seconds":
							if w.Docker { // (oomkit reads it on Docker hosts only)
								o.line(fam, labels, s.Step, float64(f.Time(started).Unix()-2))
							}
						}
					})
				}
			}
		}
	}
	// kube-state-metrics: a series per pod for its whole life (and after
	// an eviction, as the Failed pod object stays).
	// Info series (owner, pod info, node capacity) are written every
	// infoEvery steps only: they are constant, oomkit reads them through
	// the series API or over ranges, and at every scrape they would be a
	// third of the fixture.
	infoEvery := max(1, int(10*time.Minute/f.Step))
	ksm := func(fam string, val func(w *Workload, p *Pod, s int) (float64, string, bool)) {
		every := 1
		if fam == "kube_pod_owner" || fam == "kube_pod_info" {
			every = infoEvery
		}
		for _, w := range f.Workloads {
			if w.Docker {
				continue
			}
			for _, p := range w.Pods {
				to := p.To
				if p.Evicted {
					to = f.Steps
				}
				var cur string
				for s := p.From; s < to; s++ {
					if (s-p.From)%every != 0 && s != to-1 {
						continue
					}
					v, extra, ok := val(w, p, s)
					if !ok {
						continue
					}
					_ = cur
					o.line(fam, extra, s, v)
				}
			}
		}
	}
	restartsAt := func(p *Pod, s int) (n int, last *Restart) {
		for i := range p.Restarts {
			if p.Restarts[i].Step < s {
				n++
				last = &p.Restarts[i]
			}
		}
		return
	}
	ksm("kube_pod_container_status_restarts_total", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		n, _ := restartsAt(p, s)
		return float64(n), f.ksm(w, p, q("uid", p.UID)), true
	})
	ksm("kube_pod_container_status_last_terminated_reason", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		_, last := restartsAt(p, s)
		if last == nil {
			return 0, "", false
		}
		reason := "OOMKilled"
		if !last.OOM {
			reason = "Error"
		}
		return 1, f.ksm(w, p, q("reason", reason), q("uid", p.UID)), true
	})
	ksm("kube_pod_container_resource_limits", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		if w.Limit == 0 {
			return 0, "", false
		}
		return float64(w.Limit), f.ksm(w, p, q("node", p.Node), q("resource", "memory"), q("uid", p.UID), q("unit", "byte")), true
	})
	podLabels := func(w *Workload, p *Pod, extra ...string) string {
		l := []string{q("instance", "10.0.9.9:8080"), q("job", "kube-state-metrics"), q("namespace", w.Namespace)}
		l = append(l, extra...)
		return join(append(l, q("pod", p.Name), q("uid", p.UID))...)
	}
	ksm("kube_pod_status_reason", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		if w.Container != "app" {
			return 0, "", false
		}
		v := 0.0
		if p.Evicted && s >= p.To {
			v = 1
		}
		return v, podLabels(w, p, q("reason", "Evicted")), true
	})
	ksm("kube_pod_owner", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		kind, name := "ReplicaSet", p.ReplicaSet
		if w.OwnerKind == "StatefulSet" {
			kind, name = w.OwnerKind, w.Owner
		}
		return 1, podLabels(w, p, q("owner_is_controller", "true"), q("owner_kind", kind), q("owner_name", name)), true
	})
	ksm("kube_pod_info", func(w *Workload, p *Pod, s int) (float64, string, bool) {
		return 1, podLabels(w, p, q("created_by_kind", "ReplicaSet"), q("host_ip", f.nodeIP(p.Node)), q("node", p.Node)), true
	})
	seen := map[string]bool{}
	for _, w := range f.Workloads {
		if w.Docker || w.OwnerKind != "Deployment" || seen[w.Namespace+"/"+w.Owner] {
			continue
		}
		seen[w.Namespace+"/"+w.Owner] = true
		l := join(q("instance", "10.0.9.9:8080"), q("job", "kube-state-metrics"), q("namespace", w.Namespace), q("owner_is_controller", "true"),
			q("owner_kind", "Deployment"), q("owner_name", w.Owner), q("replicaset", w.Pods[0].ReplicaSet))
		for s := 0; s < f.Steps; s += infoEvery {
			o.line("kube_replicaset_owner", l, s, 1)
		}
	}
	for _, fam := range []string{"kube_node_status_capacity", "kube_node_status_allocatable"} {
		for _, n := range f.Nodes {
			v := n.Capacity
			if fam == "kube_node_status_allocatable" {
				v = n.Allocatable
			}
			l := join(q("instance", "10.0.9.9:8080"), q("job", "kube-state-metrics"), q("node", n.Name), q("resource", "memory"), q("unit", "byte"))
			for s := range f.Steps {
				o.line(fam, l, s, float64(v))
			}
		}
	}
	_, _ = o.w.WriteString("# EOF\n")
	return o.w.Flush()
}

// WriteFile writes the fleet's OpenMetrics to path.
func (f *Fleet) WriteFile(path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.WriteOpenMetrics(out); err != nil {
		_ = out.Close()
		return fmt.Errorf("promtest: write %s: %w", path, err)
	}
	return out.Close()
}

// PublicTraces returns the public corpus' usage traces (Google 2019 and
// Alibaba 2018 cluster averages, normalised) when the corpus is at
// <repo>/../shared/corpus/traces, and nil otherwise.
func PublicTraces() [][]float64 {
	dir := ""
	wd, _ := os.Getwd()
	for d := wd; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = filepath.Join(d, "..", "shared", "corpus", "traces")
			break
		}
	}
	if dir == "" {
		return nil
	}
	var out [][]float64
	for _, c := range []struct {
		file string
		col  string
	}{{"04-google2019-cluster-avg-instance-usage-300s-month.csv", "avg_mem"}, {"03-alibaba2018-datacenter-avg-machine-usage-300s-days1-8.csv", "mem_util_percent"}} {
		data, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		head := strings.Split(lines[0], ",")
		col := slices.Index(head, c.col)
		if col < 0 {
			continue
		}
		var vals []float64
		for _, l := range lines[1:] {
			f := strings.Split(l, ",")
			if col < len(f) {
				if v, err := strconv.ParseFloat(strings.TrimSpace(f[col]), 64); err == nil && v >= 0 {
					vals = append(vals, v)
				}
			}
		}
		if len(vals) > 0 {
			out = append(out, vals)
		}
	}
	return out
}
