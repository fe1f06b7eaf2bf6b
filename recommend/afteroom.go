package recommend

import (
	"math"

	"github.com/oomkit/oomkit/cgroup"
)

// LimitAfterOOM is the limit a container needs after an OOM kill at limit,
// when it used usage (the limit itself on a real kernel; 0 when unknown):
// the need exceeded the limit by an unknown amount, so the limit backs off
// exponentially (doubled), with an additive step of at least 256 MiB for
// small containers, and never below 1.2 times the usage. It is the rule
// Recommend applies to each OOM given to AddOOM, rounded up to a whole MiB
// as settings are written; oom's remedies use it so that a diagnosis and a
// recommendation never disagree on the size after a kill.
func LimitAfterOOM(limit, usage cgroup.Bytes) cgroup.Bytes {
	return roundUp(afterOOM(float64(limit), float64(usage)))
}

func afterOOM(limit, usage float64) float64 {
	bump := math.Max(2*limit, limit+256<<20)
	return math.Max(bump, 1.2*usage)
}
