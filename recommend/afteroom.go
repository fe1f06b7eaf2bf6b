package recommend

import (
	"fmt"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

// LimitAfterOOM is the limit a container needs after an OOM kill at limit,
// when it used usage (the limit itself on a real kernel; 0 when unknown)
// and nothing else is known of it: what a Recommender given only that kill
// recommends (afterkill.Limit). A kill out of a settled history is a jump
// of unknown size: the need is taken as Tuning.OOMJump above the larger of
// the two (four times it), plus the margin (+10%). A Recommender with the
// container's history applies the same rule with more evidence: a kill
// while usage was growing is taken as Tuning.OOMBump (+20%) above the
// limit, unless another kill is still remembered (then it is a jump again,
// four times the limit it hit, so repeated kills back off geometrically),
// and the excess decays with the history's half-life towards what the
// container is then seen to use. oom's remedies use it so that a diagnosis
// and a recommendation never disagree on the size after a kill.
func LimitAfterOOM(limit, usage cgroup.Bytes) cgroup.Bytes { return afterkill.Limit(limit, usage) }

// needAfterOOM is the need a kill shows (afterkill.Need with the tuning's
// constants).
func needAfterOOM(limit, usage float64, recent int, jump bool, tu Tuning) float64 {
	return afterkill.Need(limit, usage, recent, jump, tu.OOMJump, tu.OOMBump)
}

// SwapFactor is how much swap a profile allows beyond the limit: Docker's
// memory-swap is memory x (1 + SwapFactor); 0 means no swap. oom's
// remedies take it (oom.Evidence.SwapFactor) so that a diagnosis sizes
// swap as the recommender would for the workload.
func SwapFactor(p Profile) (float64, error) {
	spec, ok := profiles[p]
	if !ok {
		return 0, fmt.Errorf("recommend: unknown profile %q", p)
	}
	return spec.swapFactor, nil
}
