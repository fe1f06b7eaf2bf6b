package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
)

// Source reads a fleet's history from a Prometheus server.
type Source struct {
	api v1.API
	now func() time.Time
}

// New returns a Source for the Prometheus server at address (a URL). On a
// loopback address responses are not compressed: there gzip costs more time
// than the bytes it saves.
func New(address string) (*Source, error) {
	u, err := url.Parse(address)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("fleet: prometheus address %q is not a URL (http://host:9090)", address)
	}
	tr := api.DefaultRoundTripper.(*http.Transport).Clone()
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		tr.DisableCompression = true
	}
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: tr})
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return &Source{api: v1.NewAPI(c), now: time.Now}, nil
}

// NewFromAPI returns a Source over an existing client.
func NewFromAPI(a v1.API) *Source { return &Source{api: a, now: time.Now} }

// Workload is what one recommendation is for: a Kubernetes workload's
// container (its pods merged), a Compose service, or a lone Docker
// container.
type Workload struct {
	Kind      string `json:"kind"` // "kubernetes" or "docker"
	Namespace string `json:"namespace,omitempty"`
	OwnerKind string `json:"owner_kind,omitempty"` // Deployment, StatefulSet, DaemonSet, Job, Pod...
	Owner     string `json:"owner,omitempty"`
	Container string `json:"container"`
	// Docker hosts
	ComposeProject string `json:"compose_project,omitempty"`
	ComposeService string `json:"compose_service,omitempty"`
	Host           string `json:"host,omitempty"`
	// Pods are the pods (Docker: containers) whose series were merged.
	Pods []string `json:"pods"`
	// Nodes are where they ran (Kubernetes only).
	Nodes []string `json:"nodes,omitempty"`
}

// Name returns a short name: namespace/owner/container on Kubernetes,
// project/service or the container name on Docker hosts.
func (w Workload) Name() string {
	if w.Kind == KindDocker {
		if w.ComposeProject != "" {
			return w.ComposeProject + "/" + w.ComposeService
		}
		return w.Container
	}
	return w.Namespace + "/" + w.Owner + "/" + w.Container
}

// The workload kinds.
const (
	KindKubernetes = "kubernetes"
	KindDocker     = "docker"
)

// Event is one OOM kill, child kill or eviction seen in the metrics, with
// the cause inferred from them.
type Event struct {
	Time time.Time `json:"time"`
	Pod  string    `json:"pod,omitempty"`
	Node string    `json:"node,omitempty"`
	// Kind is "oom_kill" (the container died and restarted, reason
	// OOMKilled), "child_kill" (OOM events with no restart) or "eviction"
	// (the kubelet evicted the pod: not a kernel OOM).
	Kind       string        `json:"kind"`
	Cause      oom.Cause     `json:"cause"`
	Confidence float64       `json:"confidence"`
	Peak       cgroup.Amount `json:"peak_bytes"`  // the working set's peak around the event, as scraped
	Limit      cgroup.Limit  `json:"limit_bytes"` // the container's limit then
	Evidence   []oom.Item    `json:"evidence"`
}

// The event kinds.
const (
	EventOOMKill   = "oom_kill"
	EventChildKill = "child_kill"
	EventEviction  = "eviction"
)

// Result is one workload's answer.
type Result struct {
	Workload Workload `json:"workload"`
	// Limit is the current limit (the last seen; Known false when no
	// series says).
	Limit cgroup.Limit `json:"limit_bytes"`
	// Recommendation is nil when the workload had no usage samples in the
	// window; Err then says why.
	Recommendation *recommend.Recommendation `json:"recommendation"`
	Kills          int                       `json:"oom_kills"`
	ChildKills     int                       `json:"child_kills"`
	Evictions      int                       `json:"evictions"`
	// Cause is the commonest cause of the kills (child kills and
	// evictions when there was no kill); "" when nothing happened.
	Cause  oom.Cause `json:"cause,omitempty"`
	Events []Event   `json:"events"`
	Err    string    `json:"error,omitempty"`
}

type podKey struct{ ns, pod, container string }

type pod struct {
	key      podKey
	node     string
	w        *workload
	limit    cgroup.Limit
	events   []Event
	kills    []int // steps of OOM restarts (index into events)
	children []int
}

type workload struct {
	Workload
	pods []*pod
}

type run struct {
	s     *Source
	cfg   Config
	first time.Time // the first step (Start + Interval)
	steps int
	pods  map[podKey]*pod
	wls   []*workload
	// node pressure: node -> steps at or above 90% of capacity
	pressure  map[string]map[int]bool
	capacity  map[string]float64
	nodeKills map[string]map[int]int

	historyDone chan struct{}
	historyErr  error
}

// Recommend queries the fleet and calls yield once per workload, in batches
// as they complete (yield is never called concurrently). It stops at the
// first error from Prometheus or from yield.
func (s *Source) Recommend(ctx context.Context, cfg Config, yield func(Result) error) error {
	if err := cfg.fill(s.now()); err != nil {
		return err
	}
	r := &run{s: s, cfg: cfg, pods: map[podKey]*pod{}, pressure: map[string]map[int]bool{}, capacity: map[string]float64{}}
	r.first = cfg.Start.Add(cfg.Interval)
	r.steps = int(cfg.End.Sub(r.first)/cfg.Interval) + 1
	if r.steps < 1 {
		return fmt.Errorf("fleet: window %s is shorter than the interval %s", cfg.End.Sub(cfg.Start), cfg.Interval)
	}
	if err := r.discover(ctx); err != nil {
		return err
	}
	// The history (kills, evictions, node pressure) is read while the
	// batches fetch usage; a batch waits for it before its results.
	r.historyDone = make(chan struct{})
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		r.historyErr = r.history(hctx)
		close(r.historyDone)
	}()
	if err := r.batches(ctx, yield); err != nil {
		cancel()
		<-r.historyDone
		return err
	}
	<-r.historyDone
	return r.historyErr
}

func (r *run) stepOf(t time.Time) int {
	return int(math.Round(float64(t.Sub(r.first)) / float64(r.cfg.Interval)))
}

func (r *run) timeOf(step int) time.Time { return r.first.Add(time.Duration(step) * r.cfg.Interval) }

// k8sSel and dockerSel select the container series of each kind.
func (r *run) k8sSel(metric string, extra ...string) string {
	L := r.cfg.Labels
	return sel(metric, append([]string{r.cfg.Selector, L.Container + `!=""`, L.Container + `!="POD"`, L.Pod + `!=""`}, extra...)...)
}

func (r *run) dockerSel(metric string, extra ...string) string {
	L := r.cfg.Labels
	return sel(metric, append([]string{r.cfg.Selector, L.Name + `!=""`, L.Pod + `=""`, `id=~"/docker/.+|/system.slice/docker-.+"`}, extra...)...)
}

func (r *run) ksmSel(metric string, extra ...string) string {
	return sel(metric, append([]string{r.cfg.Selector}, extra...)...)
}

func (r *run) series(ctx context.Context, match string) ([]model.LabelSet, error) {
	ls, _, _, err := r.s.api.Series(ctx, []string{match}, r.cfg.Start, r.cfg.End)
	if err != nil {
		return nil, fmt.Errorf("fleet: series %s: %w", match, err)
	}
	return ls, nil
}

var podSuffix = regexp.MustCompile(`^(.+)-([a-z0-9]{5})$`)
var rsSuffix = regexp.MustCompile(`^(.+)-([a-z0-9]{6,10})$`)
var ordinal = regexp.MustCompile(`^(.+)-([0-9]+)$`)

// discover finds the containers and groups them into workloads.
func (r *run) discover(ctx context.Context) error {
	L := r.cfg.Labels
	k8s, err := r.series(ctx, r.k8sSel("container_memory_working_set_bytes"))
	if err != nil {
		return err
	}
	docker, err := r.series(ctx, r.dockerSel("container_memory_working_set_bytes"))
	if err != nil {
		return err
	}
	// Owners and nodes from kube-state-metrics, when it is there.
	owners := map[[2]string][2]string{} // ns/pod -> kind/name
	rsOwner := map[[2]string][2]string{}
	podNode := map[[2]string]string{}
	if ls, err := r.series(ctx, r.ksmSel("kube_pod_owner", `owner_is_controller="true"`)); err == nil {
		for _, l := range ls {
			owners[[2]string{string(l["namespace"]), string(l["pod"])}] = [2]string{string(l["owner_kind"]), string(l["owner_name"])}
		}
	} else {
		return err
	}
	if ls, err := r.series(ctx, r.ksmSel("kube_replicaset_owner", `owner_is_controller="true"`)); err == nil {
		for _, l := range ls {
			rsOwner[[2]string{string(l["namespace"]), string(l["replicaset"])}] = [2]string{string(l["owner_kind"]), string(l["owner_name"])}
		}
	} else {
		return err
	}
	if ls, err := r.series(ctx, r.ksmSel("kube_pod_info")); err == nil {
		for _, l := range ls {
			podNode[[2]string{string(l["namespace"]), string(l["pod"])}] = string(l["node"])
		}
	} else {
		return err
	}
	byKey := map[string]*workload{}
	add := func(wk string, w Workload, k podKey, node string) {
		wl, ok := byKey[wk]
		if !ok {
			wl = &workload{Workload: w}
			byKey[wk] = wl
		}
		if _, ok := r.pods[k]; ok {
			return
		}
		p := &pod{key: k, node: node, w: wl}
		r.pods[k] = p
		wl.pods = append(wl.pods, p)
	}
	for _, l := range k8s {
		ns, pn, c := string(l[model.LabelName(L.Namespace)]), string(l[model.LabelName(L.Pod)]), string(l[model.LabelName(L.Container)])
		kind, owner := ownerOf(owners, rsOwner, ns, pn)
		node := podNode[[2]string{ns, pn}]
		if node == "" {
			node = string(l[model.LabelName(L.Node)])
		}
		w := Workload{Kind: KindKubernetes, Namespace: ns, OwnerKind: kind, Owner: owner, Container: c}
		add("k/"+ns+"/"+kind+"/"+owner+"/"+c, w, podKey{ns, pn, c}, node)
	}
	for _, l := range docker {
		name, host := string(l[model.LabelName(L.Name)]), string(l[model.LabelName(L.Instance)])
		proj, svc := string(l[model.LabelName(L.ComposeProject)]), string(l[model.LabelName(L.ComposeService)])
		w := Workload{Kind: KindDocker, Container: name, ComposeProject: proj, ComposeService: svc, Host: host}
		wk := "d/" + host + "/" + name
		if proj != "" {
			w.Container, w.Host = svc, ""
			wk = "d/" + proj + "/" + svc
		}
		add(wk, w, podKey{"", name, host}, host)
	}
	for _, wl := range byKey {
		sort.Slice(wl.pods, func(i, j int) bool { return wl.pods[i].key.pod < wl.pods[j].key.pod })
		for _, p := range wl.pods {
			wl.Pods = append(wl.Pods, p.key.pod)
			if p.node != "" && wl.Kind == KindKubernetes && !slices.Contains(wl.Nodes, p.node) {
				wl.Nodes = append(wl.Nodes, p.node)
			}
		}
		sort.Strings(wl.Nodes)
		r.wls = append(r.wls, wl)
	}
	sort.Slice(r.wls, func(i, j int) bool {
		a, b := r.wls[i], r.wls[j]
		if a.Kind != b.Kind {
			return a.Kind > b.Kind // kubernetes first
		}
		return a.Name() < b.Name()
	})
	return nil
}

// ownerOf returns a pod's controller: from kube_pod_owner (a ReplicaSet
// followed to its Deployment), or else guessed from the pod's name.
func ownerOf(owners, rsOwner map[[2]string][2]string, ns, pod string) (kind, name string) {
	if o, ok := owners[[2]string{ns, pod}]; ok {
		if o[0] == "ReplicaSet" {
			if d, ok := rsOwner[[2]string{ns, o[1]}]; ok {
				return d[0], d[1]
			}
		}
		return o[0], o[1]
	}
	if m := podSuffix.FindStringSubmatch(pod); m != nil {
		if m2 := rsSuffix.FindStringSubmatch(m[1]); m2 != nil {
			return "Deployment", m2[1]
		}
		return "DaemonSet", m[1]
	}
	if m := ordinal.FindStringSubmatch(pod); m != nil {
		return "StatefulSet", m[1]
	}
	return "Pod", pod
}

// rangeEach runs a range query over the window, split so that no series
// gets more than MaxPoints points, and hands each chunk's series to fn.
func (r *run) rangeEach(ctx context.Context, q string, fn func(model.Metric, []model.SamplePair)) error {
	per := r.cfg.MaxPoints
	for s := 0; s < r.steps; s += per {
		e := min(s+per, r.steps) - 1
		v, _, _, err := r.s.api.QueryRange(ctx, q, v1.Range{Start: r.timeOf(s), End: r.timeOf(e), Step: r.cfg.Interval})
		if err != nil {
			return fmt.Errorf("fleet: query %s: %w", q, err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return fmt.Errorf("fleet: query %s: got %s, want a matrix", q, v.Type())
		}
		for _, ss := range m {
			fn(ss.Metric, ss.Values)
		}
	}
	return nil
}

func (r *run) instant(ctx context.Context, q string) (model.Vector, error) {
	v, _, _, err := r.s.api.Query(ctx, q, r.cfg.End)
	if err != nil {
		return nil, fmt.Errorf("fleet: query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("fleet: query %s: got %s, want a vector", q, v.Type())
	}
	return vec, nil
}

func (r *run) k8sKey(m model.Metric, ksm bool) podKey {
	L := r.cfg.Labels
	if ksm {
		return podKey{string(m["namespace"]), string(m["pod"]), string(m["container"])}
	}
	return podKey{string(m[model.LabelName(L.Namespace)]), string(m[model.LabelName(L.Pod)]), string(m[model.LabelName(L.Container)])}
}

func (r *run) dockerKey(m model.Metric) podKey {
	L := r.cfg.Labels
	return podKey{"", string(m[model.LabelName(L.Name)]), string(m[model.LabelName(L.Instance)])}
}

func (r *run) by(names ...string) string { return strings.Join(names, ",") }

// history reads the fleet-wide, sparse part: limits, restarts, OOM
// events, evictions and node pressure. Range queries that join series
// step by step cost the server a lot: first one instant query over the
// whole window says which pods had anything at all (changes(), max_over_time),
// then the range queries ask about those pods only.
func (r *run) history(ctx context.Context) error {
	L := r.cfg.Labels
	I := model.Duration(r.cfg.Interval).String()
	W := model.Duration(r.cfg.End.Sub(r.cfg.Start)).String()
	ksmBy := "namespace,pod,container"
	cBy := r.by(L.Namespace, L.Pod, L.Container)
	dBy := r.by(L.Name, L.Instance)

	// First, side by side: the current limits (in order: kube-state-metrics'
	// override cAdvisor's), which pods had anything, node capacity and
	// pressure.
	var restarted, k8sEvents, dockerEvents, evicted []podKey
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, r.cfg.Parallel))
	g.Go(func() error { return r.limits(gctx) })
	var k8sPods, dockerPods, k8sPodsOnly []podKey
	seenPod := map[podKey]bool{}
	for k, p := range r.pods {
		if p.w.Kind == KindDocker {
			dockerPods = append(dockerPods, k)
			continue
		}
		k8sPods = append(k8sPods, k)
		if pk := (podKey{k.ns, k.pod, ""}); !seenPod[pk] {
			seenPod[pk] = true
			k8sPodsOnly = append(k8sPodsOnly, pk)
		}
	}
	cadv := func(keys []podKey) []string { return r.restrict(keys, L.Namespace, L.Pod) }
	ksmR := func(keys []podKey) []string { return r.restrict(keys, "namespace", "pod") }
	positive := func(dst *[]podKey, q lastQuery) {
		g.Go(func() error {
			vals, err := r.lastValues(gctx, q)
			for k, v := range vals {
				if v > 0 {
					*dst = append(*dst, k)
				}
			}
			return err
		})
	}
	ksmKey := func(m model.Metric) podKey { return r.k8sKey(m, true) }
	positive(&restarted, lastQuery{r.ksmSel, "kube_pod_container_status_restarts_total", nil, ksmBy, ksmKey, k8sPods, ksmR})
	positive(&k8sEvents, lastQuery{r.k8sSel, "container_oom_events_total", nil, cBy, func(m model.Metric) podKey { return r.k8sKey(m, false) }, k8sPods, cadv})
	positive(&dockerEvents, lastQuery{r.dockerSel, "container_oom_events_total", nil, dBy, r.dockerKey, dockerPods, r.restrictDocker})
	positive(&evicted, lastQuery{r.ksmSel, "kube_pod_status_reason", []string{`reason="Evicted"`}, "namespace,pod", func(m model.Metric) podKey {
		return podKey{string(m["namespace"]), string(m["pod"]), ""}
	}, k8sPodsOnly, ksmR})
	g.Go(func() error { return r.nodes(gctx, W) })
	if err := g.Wait(); err != nil {
		return err
	}

	// Restarts of those pods, and which of them kube-state-metrics calls
	// OOMKilled.
	restartAt := map[podKey]map[int]bool{}
	for _, m := range r.restrict(restarted, "namespace", "pod") {
		restarts := fmt.Sprintf(`(max by (%[1]s) (%[2]s) - max by (%[1]s) (%[2]s offset %[3]s)) > 0`, ksmBy, r.ksmSel("kube_pod_container_status_restarts_total", m), I)
		if err := r.rangeEach(ctx, restarts, func(m model.Metric, pts []model.SamplePair) {
			k := r.k8sKey(m, true)
			for _, pt := range pts {
				if restartAt[k] == nil {
					restartAt[k] = map[int]bool{}
				}
				restartAt[k][r.stepOf(pt.Timestamp.Time())] = true
			}
		}); err != nil {
			return err
		}
		oomRestarts := fmt.Sprintf(`max by (%s) (%s) and on (%s) (%s)`, ksmBy, r.ksmSel("kube_pod_container_status_last_terminated_reason", `reason="OOMKilled"`, m), ksmBy, restarts)
		if err := r.rangeEach(ctx, oomRestarts, func(m model.Metric, pts []model.SamplePair) {
			p := r.pods[r.k8sKey(m, true)]
			if p == nil {
				return
			}
			for _, pt := range pts {
				st := r.stepOf(pt.Timestamp.Time())
				p.kills = append(p.kills, len(p.events))
				p.events = append(p.events, Event{Time: r.timeOf(st), Pod: p.key.pod, Node: p.node, Kind: EventOOMKill, Limit: p.limit,
					Evidence: []oom.Item{{Source: "metrics", Text: fmt.Sprintf("kube_pod_container_status_restarts_total rose and kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"} is 1 between %s and %s",
						r.timeOf(st-1).UTC().Format(time.RFC3339), r.timeOf(st).UTC().Format(time.RFC3339))}}})
			}
		}); err != nil {
			return err
		}
	}
	// The limit at each kill (it may have changed since), for the killed
	// pods only.
	var killed []podKey
	for _, p := range r.pods {
		if len(p.kills) > 0 && p.key.ns != "" {
			killed = append(killed, p.key)
		}
	}
	for _, m := range r.restrict(killed, "namespace", "pod") {
		if err := r.rangeEach(ctx, fmt.Sprintf(`max by (%s) (%s)`, ksmBy, r.ksmSel("kube_pod_container_resource_limits", `resource="memory"`, m)), func(m model.Metric, pts []model.SamplePair) {
			p := r.pods[r.k8sKey(m, true)]
			if p == nil {
				return
			}
			at := map[int]float64{}
			for _, pt := range pts {
				at[r.stepOf(pt.Timestamp.Time())] = float64(pt.Value)
			}
			for _, i := range p.kills {
				if v := at[r.stepOf(p.events[i].Time)]; v > 0 {
					p.events[i].Limit = cgroup.LimitOf(cgroup.Bytes(v))
				}
			}
		}); err != nil {
			return err
		}
	}

	// OOM events (cAdvisor's counter): without a restart, a child was
	// killed. On Docker hosts a restart shows in the start time.
	childQ := func(selector, by string) string {
		return fmt.Sprintf(`max by (%[1]s) (%[2]s - %[2]s offset %[3]s) > 0`, by, selector, I)
	}
	for _, m := range r.restrict(k8sEvents, L.Namespace, L.Pod) {
		if err := r.rangeEach(ctx, childQ(r.k8sSel("container_oom_events_total", m), cBy), func(m model.Metric, pts []model.SamplePair) {
			p := r.pods[r.k8sKey(m, false)]
			if p == nil {
				return
			}
			for _, pt := range pts {
				st := r.stepOf(pt.Timestamp.Time())
				if rs := restartAt[p.key]; rs[st] || rs[st+1] || rs[st-1] {
					continue // the container died too: counted as its kill
				}
				p.addChild(r, st, int(pt.Value))
			}
		}); err != nil {
			return err
		}
	}
	for _, m := range r.restrictDocker(dockerEvents) {
		dockerRestart := map[podKey]map[int]bool{}
		if err := r.rangeEach(ctx, childQ(r.dockerSel("container_start_time_seconds", m), dBy), func(m model.Metric, pts []model.SamplePair) {
			k := r.dockerKey(m)
			if dockerRestart[k] == nil {
				dockerRestart[k] = map[int]bool{}
			}
			for _, pt := range pts {
				dockerRestart[k][r.stepOf(pt.Timestamp.Time())] = true
			}
		}); err != nil {
			return err
		}
		if err := r.rangeEach(ctx, childQ(r.dockerSel("container_oom_events_total", m), dBy), func(m model.Metric, pts []model.SamplePair) {
			p := r.pods[r.dockerKey(m)]
			if p == nil {
				return
			}
			for _, pt := range pts {
				st := r.stepOf(pt.Timestamp.Time())
				if rs := dockerRestart[p.key]; rs[st-1] || rs[st] || rs[st+1] || rs[st+2] || rs[st+3] {
					p.kills = append(p.kills, len(p.events))
					p.events = append(p.events, Event{Time: r.timeOf(st), Pod: p.key.pod, Kind: EventOOMKill, Limit: p.limit,
						Evidence: []oom.Item{{Source: "metrics", Text: "container_oom_events_total rose and container_start_time_seconds changed: the container's main process died"}}})
					continue
				}
				p.addChild(r, st, int(pt.Value))
			}
		}); err != nil {
			return err
		}
	}

	// Evictions: the first step each evicted pod shows reason="Evicted".
	podsOf := map[[2]string][]*pod{}
	for _, p := range r.pods {
		podsOf[[2]string{p.key.ns, p.key.pod}] = append(podsOf[[2]string{p.key.ns, p.key.pod}], p)
	}
	for _, m := range r.restrict(evicted, "namespace", "pod") {
		ev := r.ksmSel("kube_pod_status_reason", `reason="Evicted"`, m)
		evQ := fmt.Sprintf(`(max by (namespace,pod) (%[1]s) > 0) unless (max by (namespace,pod) (%[1]s offset %[2]s) > 0)`, ev, I)
		if err := r.rangeEach(ctx, evQ, func(m model.Metric, pts []model.SamplePair) {
			for _, p := range podsOf[[2]string{string(m["namespace"]), string(m["pod"])}] {
				for _, pt := range pts {
					p.events = append(p.events, Event{Time: pt.Timestamp.Time(), Pod: p.key.pod, Node: p.node, Kind: EventEviction, Cause: oom.CauseNotOOM, Confidence: 0.6, Limit: p.limit,
						Evidence: []oom.Item{{Source: "metrics", Text: "kube_pod_status_reason{reason=\"Evicted\"} became 1: the kubelet evicted the pod under node pressure; no kernel OOM kill"}}})
				}
			}
		}); err != nil {
			return err
		}
	}

	r.countNodeKills()
	return nil
}

// lastQuery asks for the last value of a metric's series in the window.
type lastQuery struct {
	sel      func(metric string, extra ...string) string
	metric   string
	extra    []string
	by       string
	key      func(model.Metric) podKey
	want     []podKey
	restrict func([]podKey) []string
}

// lastValues returns the last value in the window of each wanted pod's
// series: one instant query at the end for the pods still there (cheap:
// one sample per series), then last_over_time over the window for those
// gone before it, restricted to them (a window function reads every
// sample in the window).
func (r *run) lastValues(ctx context.Context, q lastQuery) (map[podKey]float64, error) {
	out := map[podKey]float64{}
	v, err := r.instant(ctx, fmt.Sprintf(`max by (%s) (%s)`, q.by, q.sel(q.metric, q.extra...)))
	if err != nil {
		return nil, err
	}
	for _, s := range v {
		out[q.key(s.Metric)] = float64(s.Value)
	}
	var gone []podKey
	for _, k := range q.want {
		if _, ok := out[k]; !ok {
			gone = append(gone, k)
		}
	}
	W := model.Duration(r.cfg.End.Sub(r.cfg.Start)).String()
	for _, m := range q.restrict(gone) {
		v, err := r.instant(ctx, fmt.Sprintf(`max by (%s) (last_over_time(%s[%s]))`, q.by, q.sel(q.metric, append(slices.Clone(q.extra), m)...), W))
		if err != nil {
			return nil, err
		}
		for _, s := range v {
			out[q.key(s.Metric)] = float64(s.Value)
		}
	}
	return out, nil
}

// limits reads the current limits: kube-state-metrics' where there is one,
// cAdvisor's otherwise (0 there means unlimited).
func (r *run) limits(ctx context.Context) error {
	L := r.cfg.Labels
	var k8s, docker []podKey
	for k, p := range r.pods {
		if p.w.Kind == KindDocker {
			docker = append(docker, k)
		} else {
			k8s = append(k8s, k)
		}
	}
	cadv, err := r.lastValues(ctx, lastQuery{r.k8sSel, "container_spec_memory_limit_bytes", nil, r.by(L.Namespace, L.Pod, L.Container),
		func(m model.Metric) podKey { return r.k8sKey(m, false) }, k8s, func(k []podKey) []string { return r.restrict(k, L.Namespace, L.Pod) }})
	if err != nil {
		return err
	}
	dock, err := r.lastValues(ctx, lastQuery{r.dockerSel, "container_spec_memory_limit_bytes", nil, r.by(L.Name, L.Instance), r.dockerKey, docker, r.restrictDocker})
	if err != nil {
		return err
	}
	kube, err := r.lastValues(ctx, lastQuery{r.ksmSel, "kube_pod_container_resource_limits", []string{`resource="memory"`}, "namespace,pod,container",
		func(m model.Metric) podKey { return r.k8sKey(m, true) }, k8s, func(k []podKey) []string { return r.restrict(k, "namespace", "pod") }})
	if err != nil {
		return err
	}
	for _, vals := range []map[podKey]float64{cadv, dock} {
		for k, v := range vals {
			if p := r.pods[k]; p != nil {
				p.limit = limitOf(v)
			}
		}
	}
	for k, v := range kube {
		if p := r.pods[k]; p != nil && v > 0 {
			p.limit = cgroup.LimitOf(cgroup.Bytes(v))
		}
	}
	return nil
}

// nodes reads the nodes' capacity and the steps where a node's working
// set was at or above nearCapacity of it.
func (r *run) nodes(ctx context.Context, W string) error {
	L := r.cfg.Labels
	I := model.Duration(r.cfg.Interval - time.Millisecond).String()
	nodeWS := fmt.Sprintf(`max by (%s) (max_over_time(%s[%s]))`, L.Node, sel("container_memory_working_set_bytes", `id="/"`), I)
	if L.Node != "node" {
		nodeWS = fmt.Sprintf(`label_replace(%s, "node", "$1", %q, "(.*)")`, nodeWS, L.Node)
	}
	cv, err := r.instant(ctx, fmt.Sprintf(`max by (node) (last_over_time(kube_node_status_capacity{resource="memory"}[%s]))`, W))
	if err != nil {
		return err
	}
	for _, s := range cv {
		r.capacity[string(s.Metric["node"])] = float64(s.Value)
	}
	return r.rangeEach(ctx, fmt.Sprintf(`%s / on (node) max by (node) (kube_node_status_capacity{resource="memory"}) >= %g`, nodeWS, nearCapacity), func(m model.Metric, pts []model.SamplePair) {
		n := string(m["node"])
		if r.pressure[n] == nil {
			r.pressure[n] = map[int]bool{}
		}
		for _, pt := range pts {
			r.pressure[n][r.stepOf(pt.Timestamp.Time())] = true
		}
	})
}

// restrict returns matchers selecting the given pods, a hundred pods per
// matcher (nil for none).
func (r *run) restrict(keys []podKey, nsLabel, podLabel string) []string {
	var out []string
	for i := 0; i < len(keys); i += 100 {
		var nss, pods []string
		for _, k := range keys[i:min(i+100, len(keys))] {
			nss, pods = append(nss, k.ns), append(pods, k.pod)
		}
		out = append(out, nsLabel+"=~"+alt(nss)+","+podLabel+"=~"+alt(pods))
	}
	return out
}

// restrictDocker is restrict for Docker containers (name and host).
func (r *run) restrictDocker(keys []podKey) []string {
	var out []string
	for i := 0; i < len(keys); i += 100 {
		var names, hosts []string
		for _, k := range keys[i:min(i+100, len(keys))] {
			names, hosts = append(names, k.pod), append(hosts, k.container)
		}
		out = append(out, r.cfg.Labels.Name+"=~"+alt(names)+","+r.cfg.Labels.Instance+"=~"+alt(hosts))
	}
	return out
}

func (p *pod) addChild(r *run, st, n int) {
	p.children = append(p.children, len(p.events))
	p.events = append(p.events, Event{Time: r.timeOf(st), Pod: p.key.pod, Node: p.node, Kind: EventChildKill, Cause: oom.CauseChildKilled, Confidence: 0.5, Limit: p.limit,
		Evidence: []oom.Item{{Source: "metrics", Text: fmt.Sprintf("container_oom_events_total rose by %d with no restart of the container: a child process was OOM-killed, the main process lived", n)}}})
}

func limitOf(v float64) cgroup.Limit {
	if v <= 0 || v >= 1<<62 {
		return cgroup.NoLimit()
	}
	return cgroup.LimitOf(cgroup.Bytes(v))
}

// batches queries the usage of the workloads, a batch at a time, with up
// to Parallel batches in flight, and yields their results.
func (r *run) batches(ctx context.Context, yield func(Result) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type out struct {
		res []Result
		err error
	}
	var groups [][]*workload
	for i := 0; i < len(r.wls); {
		j := i + 1
		for j < len(r.wls) && j-i < r.cfg.Batch && r.wls[j].Kind == r.wls[i].Kind {
			j++
		}
		groups = append(groups, r.wls[i:j])
		i = j
	}
	results := make(chan out)
	sem := make(chan struct{}, r.cfg.Parallel)
	var wg sync.WaitGroup
	go func() {
		for _, g := range groups {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				goto done
			}
			wg.Add(1)
			go func(g []*workload) {
				defer wg.Done()
				res, err := r.batch(ctx, g)
				<-sem
				select {
				case results <- out{res, err}:
				case <-ctx.Done():
				}
			}(g)
		}
	done:
		wg.Wait()
		close(results)
	}()
	done := 0
	var first error
	for o := range results {
		if first != nil {
			continue
		}
		if o.err != nil {
			first = o.err
			cancel()
			continue
		}
		for _, res := range o.res {
			if err := yield(res); err != nil {
				first = err
				cancel()
				break
			}
		}
		done += len(o.res)
		if r.cfg.Progress != nil && first == nil {
			r.cfg.Progress(done, len(r.wls))
		}
	}
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// alt returns a regular expression matching exactly the given values.
func alt(vals []string) string {
	vals = slices.Clone(vals)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = regexp.QuoteMeta(v)
	}
	return fmt.Sprintf("%q", strings.Join(q, "|"))
}

// batch queries one batch's peaks and non-reclaimable memory and builds
// the results.
func (r *run) batch(ctx context.Context, g []*workload) ([]Result, error) {
	L := r.cfg.Labels
	// Prometheus 2 includes both ends of a range ([t-I, t]); one
	// millisecond less makes the windows tile, each sample counted once
	// (Prometheus 3 leaves the start out anyway).
	I := model.Duration(r.cfg.Interval - time.Millisecond).String()
	type arrays struct{ ws, rss []float32 }
	arr := map[*workload]*arrays{}
	podPeak := map[podKey][]float32{} // pods with kills: their own peaks
	var nss, pods, names, hosts []string
	for _, w := range g {
		a := &arrays{ws: make([]float32, r.steps), rss: make([]float32, r.steps)}
		for i := range a.ws {
			a.ws[i], a.rss[i] = float32(math.NaN()), float32(math.NaN())
		}
		arr[w] = a
		for _, p := range w.pods {
			if w.Kind == KindDocker {
				names, hosts = append(names, p.key.pod), append(hosts, p.key.container)
			} else {
				nss, pods = append(nss, p.key.ns), append(pods, p.key.pod)
			}
			podPeak[p.key] = make([]float32, r.steps) // for the kills' peaks

		}
	}
	var selFn func(string) string
	var by string
	var key func(model.Metric) podKey
	if g[0].Kind == KindDocker {
		selFn = func(m string) string {
			return r.dockerSel(m, L.Name+"=~"+alt(names), L.Instance+"=~"+alt(hosts))
		}
		by, key = r.by(L.Name, L.Instance), r.dockerKey
	} else {
		selFn = func(m string) string {
			return r.k8sSel(m, L.Namespace+"=~"+alt(nss), L.Pod+"=~"+alt(pods))
		}
		by = r.by(L.Namespace, L.Pod, L.Container)
		key = func(m model.Metric) podKey { return r.k8sKey(m, false) }
	}
	for _, metric := range []string{"container_memory_working_set_bytes", "container_memory_rss"} {
		q := fmt.Sprintf(`max by (%s) (max_over_time(%s[%s]))`, by, selFn(metric), I)
		if err := r.rangeEach(ctx, q, func(m model.Metric, pts []model.SamplePair) {
			p := r.pods[key(m)]
			if p == nil {
				return
			}
			a := arr[p.w]
			if a == nil {
				return
			}
			dst := a.ws
			if metric == "container_memory_rss" {
				dst = a.rss
			}
			own := podPeak[p.key]
			for _, pt := range pts {
				i := r.stepOf(pt.Timestamp.Time())
				if i < 0 || i >= r.steps {
					continue
				}
				v := float32(pt.Value)
				if math.IsNaN(float64(dst[i])) || v > dst[i] {
					dst[i] = v
				}
				if own != nil && metric == "container_memory_working_set_bytes" {
					own[i] = v
				}
			}
		}); err != nil {
			return nil, err
		}
	}
	select {
	case <-r.historyDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.historyErr != nil {
		return nil, r.historyErr
	}
	res := make([]Result, 0, len(g))
	for _, w := range g {
		res = append(res, r.result(w, arr[w].ws, arr[w].rss, podPeak))
	}
	return res, nil
}

// result infers each event's cause and runs the workload's Recommender.
func (r *run) result(w *workload, ws, rss []float32, podPeak map[podKey][]float32) Result {
	res := Result{Workload: w.Workload, Events: []Event{}}
	// the current limit: the largest of its pods' (they share a template)
	for _, p := range w.pods {
		if !res.Limit.Known || (p.limit.Known && (p.limit.Unlimited || (!res.Limit.Unlimited && p.limit.Bytes > res.Limit.Bytes))) {
			if p.limit.Known {
				res.Limit = p.limit
			}
		}
	}
	// kills on each node per step, for "several kills at once"
	for _, p := range w.pods {
		for _, i := range p.kills {
			e := &p.events[i]
			st := r.stepOf(e.Time)
			if own := podPeak[p.key]; own != nil {
				var peak float32
				for s := st - 2; s <= st; s++ {
					if s >= 0 && s < r.steps {
						peak = max(peak, own[s])
					}
				}
				if peak > 0 {
					e.Peak = cgroup.AmountOf(cgroup.Bytes(peak))
				}
			}
			r.cause(e, st)
		}
		res.Events = append(res.Events, p.events...)
	}
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].Time.Before(res.Events[j].Time) })
	counts := map[oom.Cause]int{}
	for _, e := range res.Events {
		switch e.Kind {
		case EventOOMKill:
			res.Kills++
			counts[e.Cause] += 1000
		case EventChildKill:
			res.ChildKills++
			counts[e.Cause]++
		case EventEviction:
			res.Evictions++
			counts[e.Cause]++
		}
	}
	best := 0
	for c, n := range counts {
		if n > best || (n == best && c < res.Cause) {
			res.Cause, best = c, n
		}
	}

	opts := append([]recommend.Option{recommend.WithInterval(r.cfg.Interval)}, r.cfg.Options...)
	if alloc := r.allocatable(w); alloc > 0 {
		opts = append(opts, recommend.WithHost(cgroup.Bytes(alloc), 0, 0))
	}
	rec, err := recommend.New(opts...)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	for i := range ws {
		if math.IsNaN(float64(ws[i])) {
			continue
		}
		s := cgroup.Sample{Time: r.timeOf(i), WorkingSet: cgroup.AmountOf(cgroup.Bytes(ws[i]))}
		if !math.IsNaN(float64(rss[i])) {
			s.NonReclaimable = cgroup.AmountOf(cgroup.Bytes(min(rss[i], ws[i])))
		}
		_ = rec.Add(s)
	}
	for _, e := range res.Events {
		if e.Kind == EventOOMKill && e.Cause == oom.CauseContainerLimit && e.Limit.Set() {
			usage := e.Limit.Bytes
			if e.Peak.Known {
				usage = max(usage, e.Peak.Bytes)
			}
			_ = rec.AddOOM(e.Time, usage, e.Limit)
		}
	}
	out, err := rec.Recommend()
	if err != nil {
		if errors.Is(err, recommend.ErrNoData) {
			res.Err = "no container_memory_working_set_bytes samples in the window"
		} else {
			res.Err = err.Error()
		}
		return res
	}
	res.Recommendation = &out
	return res
}

// allocatable returns the smallest capacity among the workload's nodes
// (0: unknown): no recommendation may exceed what a node has.
func (r *run) allocatable(w *workload) float64 {
	var m float64
	for _, n := range w.Nodes {
		if c, ok := r.capacity[n]; ok && (m == 0 || c < m) {
			m = c
		}
	}
	return m
}
