package fleet

import (
	"fmt"

	"github.com/oomkit/oomkit/oom"
)

// Thresholds of the causes inferred from metrics.
const (
	// nearLimit: a scraped peak at or above this share of the limit says
	// the container's own limit was reached (a scrape rarely lands on the
	// very byte of the kill).
	nearLimit = 0.9
	// nearCapacity: a node at or above this share of its capacity was
	// short of memory.
	nearCapacity = 0.9
)

// countNodeKills counts the OOM kills on each node per step.
func (r *run) countNodeKills() {
	r.nodeKills = map[string]map[int]int{}
	for _, p := range r.pods {
		if p.node == "" {
			continue
		}
		for _, i := range p.kills {
			st := r.stepOf(p.events[i].Time)
			if r.nodeKills[p.node] == nil {
				r.nodeKills[p.node] = map[int]int{}
			}
			r.nodeKills[p.node][st]++
		}
	}
}

// cause infers why the container was OOM-killed from the metrics around
// the kill: its peak against its limit, its node's use against the node's
// capacity, and other kills on the node at the same time. Confidences stay
// below the host's (0.6 at most): a scrape can miss the spike, and no
// metric says which cgroup's limit the kernel hit.
func (r *run) cause(e *Event, st int) {
	near := func(m map[int]bool) bool { return m[st] || m[st-1] || m[st+1] }
	pressure := near(r.pressure[e.Node])
	var others int
	if nk := r.nodeKills[e.Node]; nk != nil {
		others = nk[st-1] + nk[st] + nk[st+1] - 1
	}
	ratio := -1.0
	if e.Peak.Known && e.Limit.Set() {
		ratio = float64(e.Peak.Bytes) / float64(e.Limit.Bytes)
	}
	why := func(c oom.Cause, conf float64, format string, a ...any) {
		e.Cause, e.Confidence = c, conf
		e.Evidence = append(e.Evidence, oom.Item{Source: "metrics", Text: fmt.Sprintf(format, a...)})
	}
	switch {
	case ratio >= nearLimit:
		why(oom.CauseContainerLimit, 0.6, "the working set peaked at %s, %.0f%% of the container's limit %s, in the scrapes around the kill", e.Peak.Bytes, 100*ratio, e.Limit.Bytes)
	case pressure:
		why(oom.CauseHostPressure, 0.5, "node %s was at %.0f%% or more of its memory capacity around the kill while the container was %s", e.Node, 100*nearCapacity, below(e, ratio))
	case others >= 1:
		why(oom.CauseHostPressure, 0.4, "%d other container(s) on node %s were OOM-killed at the same time while this one was %s", others, e.Node, below(e, ratio))
	case !e.Peak.Known:
		why(oom.CauseUnknown, 0.1, "no working-set samples around the kill: nothing to compare with the limit")
	case !e.Limit.Set():
		why(oom.CauseUnknown, 0.2, "the container has no limit and its node was not near capacity in the metrics: a pod-level limit or a spike between scrapes; the host's kernel log would tell")
	default:
		why(oom.CauseUnknown, 0.3, "the working set peaked at %s, %.0f%% of the limit %s, and the node was not near capacity: most likely a spike between scrapes reached the limit, but the metrics cannot tell", e.Peak.Bytes, 100*ratio, e.Limit.Bytes)
	}
}

func below(e *Event, ratio float64) string {
	switch {
	case ratio >= 0:
		return fmt.Sprintf("at %.0f%% of its limit %s", 100*ratio, e.Limit.Bytes)
	case e.Limit.Known && e.Limit.Unlimited:
		return "without a limit of its own"
	}
	return "at an unknown share of its limit"
}
