package backtest

import (
	"time"

	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
)

// vpa runs the Kubernetes Vertical Pod Autoscaler's own recommender code
// (k8s.io/autoscaler/vertical-pod-autoscaler v1.8.1, imported, not
// re-implemented): one model.ContainerState feeding a
// model.AggregateContainerState (the decaying histogram of per-interval
// memory peaks: first bucket 1e7 bytes, buckets 5% apart, 24 h half-life,
// 24 h aggregation interval), its RecordOOM (max(x1.2, +100 MiB) of
// max(limit at the kill, the interval's peak)), and the estimator chain of
// logic.CreatePodResourceRecommender with the recommender's default
// configuration (p90 target, 15% safety margin, 250 MiB pod minimum). The
// limit is the memory target, as a VPA in Auto mode with the limit equal to
// the request sets it.
type vpa struct {
	name  string
	agg   *model.AggregateContainerState
	state *model.ContainerState
	rec   logic.PodResourceRecommender
	n     int
}

// VPA returns the real VPA recommender; floor false sets its pod minimum
// (--pod-recommendation-min-memory-mb, 250 by default) to zero.
//
// The configuration is the recommender's defaults, copied from
// DefaultRecommenderConfig in pkg/recommender/config/config.go of v1.8.1:
// that package is not imported because it pulls in the VPA's Prometheus
// history provider, which does not build against the client_golang version
// oomkit's own module requires (QueryRange gained a return value).
// TestVPADefaults checks the copy against the constants the model exports.
func VPA(floor bool) Strategy {
	rc := logic.RecommendationConfig{
		SafetyMarginFraction:       0.15,
		PodMinCPUMillicores:        25,
		PodMinMemoryMb:             250,
		TargetCPUPercentile:        0.9,
		LowerBoundCPUPercentile:    0.5,
		UpperBoundCPUPercentile:    0.95,
		ConfidenceIntervalCPU:      24 * time.Hour,
		TargetMemoryPercentile:     0.9,
		LowerBoundMemoryPercentile: 0.5,
		UpperBoundMemoryPercentile: 0.95,
		ConfidenceIntervalMemory:   24 * time.Hour,
	}
	name := "vpa"
	if !floor {
		rc.PodMinMemoryMb = 0
		name = "vpa-no-floor"
	}
	agg := model.NewAggregateContainerState()
	return &vpa{
		name:  name,
		agg:   agg,
		state: model.NewContainerState(model.Resources{}, agg),
		rec:   logic.CreatePodResourceRecommender(rc),
	}
}

func (v *vpa) Name() string { return v.name }

func (v *vpa) Observe(t time.Time, ws, _ float64) {
	v.state.AddSample(&model.ContainerUsageSample{MeasureStart: t, Usage: model.MemoryAmountFromBytes(ws), Resource: model.ResourceMemory})
	v.n++
}

func (v *vpa) Killed(t time.Time, limit float64) {
	// The VPA's OOM observer passes the container's memory request, which
	// here is the limit.
	_ = v.state.RecordOOM(t, model.MemoryAmountFromBytes(limit))
}

func (v *vpa) Limit(time.Time) (float64, bool) {
	if v.n == 0 {
		return 0, false
	}
	r := v.rec.GetRecommendedPodResources(model.ContainerNameToAggregateStateMap{"c": v.agg})
	m, ok := r["c"].Target[model.ResourceMemory]
	if !ok || m <= 0 {
		return 0, false
	}
	return model.BytesFromMemoryAmount(m), true
}
