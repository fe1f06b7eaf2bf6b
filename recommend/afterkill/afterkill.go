// Package afterkill is the rule that sizes a memory limit after an OOM kill,
// shared by package recommend (for each OOM given to Recommender.AddOOM) and
// package oom (the remedy of a diagnosis), so that the two never disagree.
// It depends on nothing but package cgroup, so oom can use it without the
// renderers' dependencies.
package afterkill

import (
	"math"
	"strconv"

	"github.com/oomkit/oomkit/cgroup"
)

// The rule's defaults (recommend.DefaultTuning carries the same numbers).
const (
	// Jump: a kill out of a settled history is a jump of unknown size; the
	// need is taken as (1+Jump) times the limit at the kill: four times.
	// The jumps in the project's recordings and the public traces are 2.4x
	// to 5x (a page-cache burst, a batch spike, a leader election); the
	// VPA's +100 MiB is x4 to x11 for containers under 35 MiB. The excess
	// decays with the history's half-life towards what is seen after the
	// kill, so a guess too large costs for a while, not for ever.
	Jump = 3.0
	// Bump: a kill while usage was growing into the limit (the peak rose
	// by at least Bump over the growth window); the need is taken as
	// (1+Bump) times the limit: a ramp, or a leak, is not chased with ever
	// larger limits. A second kill while the first is remembered is a jump
	// whatever the growth: the bump was too small.
	Bump = 0.2
	// Margin is the headroom kept above the need.
	Margin = 0.10
)

// Rule says the rule in words, for rationales.
const Rule = "a kill out of a settled history is a jump of unknown size: the need is taken as four times the limit at the kill (or the usage, if larger), plus a 10% margin; proportional to the container, no additive step"

// Need returns the need a kill at limit shows, when the container used
// usage: above max(limit, usage) by jump when the kill came out of a
// settled history or while recent other kills are still remembered (the
// earlier answer was too small), by bump when usage was growing into the
// limit. Each kill multiplies from the limit it hit, so repeated kills
// back off geometrically.
func Need(limit, usage float64, recent int, jumped bool, jump, bump float64) float64 {
	b := bump
	if jumped || recent > 0 {
		b = jump
	}
	return math.Max(limit, usage) * (1 + b)
}

// Limit is the limit a container needs after an OOM kill at limit, when it
// used usage (the limit itself on a real kernel; 0 when unknown) and nothing
// else is known of it: the need of a kill out of a settled history (four
// times the larger), plus the margin; rounded up as settings are written
// (RoundUp). It is what a Recommender given only that kill recommends.
func Limit(limit, usage cgroup.Bytes) cgroup.Bytes {
	return RoundUp(Bytes(float64(limit), float64(usage)))
}

// Bytes is Limit before rounding.
func Bytes(limit, usage float64) float64 {
	return Need(limit, usage, 0, true, Jump, Bump) * (1 + Margin)
}

// RoundUp rounds up as settings are written: to a whole MiB from 64 MiB,
// below that to 1/64 of the power of two under b (at least 64 KiB), so that
// rounding adds less than 1/64 (1.6%) to a small container, where a whole
// MiB added up to 10% (as much as the margin itself) to a 10 MiB one. A hair of
// floating-point error above a step does not add one.
func RoundUp(b float64) cgroup.Bytes {
	step := float64(1 << 20)
	if b < 64<<20 {
		_, e := math.Frexp(b)
		step = max(math.Ldexp(1, e-1-6), 64<<10)
	}
	return cgroup.Bytes(math.Ceil(b/step-1e-9) * step)
}

// DockerSize spells a size as Docker's flags and Compose take it, parsed
// back by go-units' RAMInBytes: whole GiB ("2g"), MiB ("141m") or KiB
// ("10368k", the finer sizes RoundUp gives small limits), else bytes.
func DockerSize(b cgroup.Bytes) string {
	switch {
	case b > 0 && b%(1<<30) == 0:
		return strconv.FormatInt(int64(b)>>30, 10) + "g"
	case b > 0 && b%(1<<20) == 0:
		return strconv.FormatInt(int64(b)>>20, 10) + "m"
	case b > 0 && b%(1<<10) == 0:
		return strconv.FormatInt(int64(b)>>10, 10) + "k"
	}
	return strconv.FormatInt(int64(b), 10)
}
