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

// The rule's defaults (recommend.DefaultTuning carries the same numbers).
const (
	// Jump: a kill out of a settled history is a jump of unknown size; the
	// need is taken as (1+Jump) times the limit at the kill.
	Jump = 1.0
	// Bump: a kill while usage was growing into the limit; the need is
	// taken as (1+Bump) times the limit.
	Bump = 0.2
	// Repeat multiplies the excess for each other kill still remembered.
	Repeat = 4.0
	// Margin is the headroom kept above the need.
	Margin = 0.10
)

// Rule says the rule in words, for rationales.
const Rule = "a kill out of a settled history is a jump of unknown size: the need is taken as twice the limit at the kill (or the usage, if larger), plus a 10% margin; proportional to the container, no additive step"

// Need returns the need a kill at limit shows, when the container used
// usage: above max(limit, usage) by jump (a kill out of a settled history)
// or bump (during growth), times Repeat for each of the recent kills still
// remembered (at most 4).
func Need(limit, usage float64, recent int, jumped bool, jump, bump float64) float64 {
	b := bump
	if jumped {
		b = jump
	}
	return math.Max(limit, usage) * (1 + b*math.Pow(Repeat, float64(min(max(recent, 0), 4))))
}

// Limit is the limit a container needs after an OOM kill at limit, when it
// used usage (the limit itself on a real kernel; 0 when unknown) and nothing
// else is known of it: the need of a kill out of a settled history (twice
// the larger), plus the margin; rounded up to a whole MiB, as settings are
// written. It is what a Recommender given only that kill recommends.
func Limit(limit, usage cgroup.Bytes) cgroup.Bytes {
	return RoundUp(Bytes(float64(limit), float64(usage)))
}

// Bytes is Limit before rounding.
func Bytes(limit, usage float64) float64 {
	return Need(limit, usage, 0, true, Jump, Bump) * (1 + Margin)
}

// RoundUp rounds up to a whole MiB, as settings are written (a hair of
// floating-point error above a whole MiB does not add one).
func RoundUp(b float64) cgroup.Bytes {
	return cgroup.Bytes(math.Ceil(b/(1<<20)-1e-9) * (1 << 20))
}
