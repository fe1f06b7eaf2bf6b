// Package afterkill is the rule that sizes a memory limit after an OOM kill,
// shared by package recommend (for each OOM given to Recommender.AddOOM) and
// package oom (the remedy of a diagnosis), so that the two never disagree.
// It depends on nothing but package cgroup, so oom can use it without the
// renderers' dependencies.
package afterkill

import (
	"math"

	"github.com/oomkit/oomkit/cgroup"
)

// Limit is the limit a container needs after an OOM kill at limit, when it
// used usage (the limit itself on a real kernel; 0 when unknown): the need
// exceeded the limit by an unknown amount, so the limit backs off
// exponentially (doubled), with an additive step of at least 256 MiB for
// small containers, and never below 1.2 times the usage; rounded up to a
// whole MiB, as settings are written.
func Limit(limit, usage cgroup.Bytes) cgroup.Bytes {
	return cgroup.Bytes(math.Ceil(Bytes(float64(limit), float64(usage))/(1<<20)) * (1 << 20))
}

// Bytes is Limit before rounding.
func Bytes(limit, usage float64) float64 {
	return math.Max(math.Max(2*limit, limit+256<<20), 1.2*usage)
}
