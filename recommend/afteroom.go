package recommend

import (
	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/recommend/afterkill"
)

// LimitAfterOOM is the limit a container needs after an OOM kill at limit,
// when it used usage: afterkill.Limit, the rule Recommend applies to each
// OOM given to AddOOM (and oom's remedies use).
func LimitAfterOOM(limit, usage cgroup.Bytes) cgroup.Bytes { return afterkill.Limit(limit, usage) }

func afterOOM(limit, usage float64) float64 { return afterkill.Bytes(limit, usage) }
