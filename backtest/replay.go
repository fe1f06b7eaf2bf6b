// Package backtest judges oomkit's recommender against the real peers: the
// Kubernetes VPA's recommender code (imported) and Robusta KRR's simple
// strategy, replayed online on real usage traces with the semantics a kill
// would have. It is a module of its own so that the VPA and its Kubernetes
// dependencies stay out of oomkit's module graph.
package backtest

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Strategy is a way of choosing a memory limit from the past.
type Strategy interface {
	Name() string
	// Observe shows one monitoring sample: the working set and the
	// non-reclaimable part (negative when unknown).
	Observe(t time.Time, ws, nr float64)
	// Killed says the container was OOM-killed at t under limit.
	Killed(t time.Time, limit float64)
	// Limit is the limit the strategy sets now; false for none.
	Limit(now time.Time) (float64, bool)
}

// Sample is one point of a usage trace.
type Sample struct {
	T  time.Time
	WS float64 // working set, bytes
	NR float64 // non-reclaimable (anon), bytes; negative when unknown
	// Reclaimable is the part of the working set that reclaim frees before
	// the kernel kills: page cache, the working set minus what the trace
	// says reclaim cannot free (usage minus page cache, at least NR). 0 when
	// the trace cannot tell: the whole working set then counts as need.
	Reclaimable float64
}

// Trace is a named usage trace.
type Trace struct {
	Name    string
	Samples []Sample
}

// Result is one strategy replayed on one trace.
type Result struct {
	Strategy string `json:"strategy"`
	Trace    string `json:"trace"`
	Kills    int    `json:"kills"`
	// MeanSlack is the mean over samples of max(0, limit-usage)/limit; a
	// sample with no limit set counts as all slack (1): no limit leaves all
	// of the host unused by the container's bound.
	MeanSlack float64 `json:"mean_slack"`
	// TimeSlack weights each sample by the time to the next one.
	TimeSlack float64 `json:"time_slack"`
	// Unlimited is the share of samples replayed with no limit set.
	Unlimited      float64 `json:"unlimited"`
	Recomputations int     `json:"recomputations"`
	FinalLimit     float64 `json:"final_limit"`
	// KillLog lists each kill: when (since the trace's start), the usage
	// the container reached, what of it reclaim could not free and the
	// limit it hit.
	KillLog []Kill `json:"kill_log,omitempty"`
}

// Kill is one kill in a replay.
type Kill struct {
	At    time.Duration `json:"at_ns"`
	Usage float64       `json:"usage"` // the working set
	// Need is what reclaim could not free (the working set when the trace
	// cannot tell): above Limit, which made it a kill.
	Need  float64 `json:"need"`
	Limit float64 `json:"limit"`
}

// Recomputations is how many times per trace the replay asks each strategy
// for its limit on a regular grid (kills add one each).
const Recomputations = 50

// ErrEmpty is returned for a trace with fewer than two samples: nothing can
// be judged on it, and scoring it zero would reward doing nothing.
var ErrEmpty = errors.New("backtest: trace has fewer than two samples")

// Replay replays a trace online. The strategy's limit is recomputed on a
// grid of Recomputations points over the trace's span (the first at its
// first sample) and applied from then on: a recommendation computed from
// the samples up to t is the limit from t on, with no warm-up. A sample whose
// need (its working set less what reclaim frees: Sample.Reclaimable) is above
// the applied limit is a kill, as the kernel kills only when reclaim cannot
// bring usage under the limit (TestKillRuleOnKernel holds this on the real
// kernel): the strategy observes what monitoring saw at the kill (the limit,
// not the true sample, which a killed container never reports), is told of
// the kill, and its limit is recomputed at once, as each peer reacts to a
// kill. The trace then goes on as recorded (the restarted container needs
// the same memory again). A sample under the limit by its need but above it
// by its working set runs with its cache squeezed: no slack.
func Replay(tr Trace, s Strategy) (Result, error) {
	res := Result{Strategy: s.Name(), Trace: tr.Name}
	n := len(tr.Samples)
	if n < 2 {
		return res, fmt.Errorf("%w: %q has %d", ErrEmpty, tr.Name, n)
	}
	start, end := tr.Samples[0].T, tr.Samples[n-1].T
	span := end.Sub(start)
	if span <= 0 {
		return res, fmt.Errorf("%w: %q spans no time", ErrEmpty, tr.Name)
	}
	step := span / Recomputations
	next := start
	var limit float64
	limited := false
	var slack, tslack, tw float64
	unlimited := 0
	for i, smp := range tr.Samples {
		if i > 0 && smp.T.Before(tr.Samples[i-1].T) {
			return res, fmt.Errorf("backtest: %q sample %d out of time order", tr.Name, i)
		}
		u := smp.WS
		need := u - max(0, smp.Reclaimable)
		var sl float64
		if limited && need > limit {
			res.Kills++
			res.KillLog = append(res.KillLog, Kill{At: smp.T.Sub(start), Usage: u, Need: need, Limit: limit})
			nr := smp.NR
			if nr > limit {
				nr = limit
			}
			s.Observe(smp.T, limit, nr)
			s.Killed(smp.T, limit)
			limit, limited = s.Limit(smp.T)
			res.Recomputations++
			sl = 0
		} else {
			if limited {
				sl = math.Max(0, limit-u) / limit
			} else {
				sl = 1
				unlimited++
			}
			s.Observe(smp.T, u, smp.NR)
		}
		if !smp.T.Before(next) {
			limit, limited = s.Limit(smp.T)
			res.Recomputations++
			for !next.After(smp.T) {
				next = next.Add(step)
			}
		}
		slack += sl
		if i+1 < n {
			dt := tr.Samples[i+1].T.Sub(smp.T).Seconds()
			tslack += sl * dt
			tw += dt
		}
	}
	res.MeanSlack = slack / float64(n)
	if tw > 0 {
		res.TimeSlack = tslack / tw
	}
	res.Unlimited = float64(unlimited) / float64(n)
	if limited {
		res.FinalLimit = limit
	}
	return res, nil
}

// WorkingSetKills returns copies of trs whose samples tell nothing
// reclaimable: replayed, any working set above the limit is a kill, as if
// the kernel could not reclaim page cache. It shows how much the reclaim
// rule moves the figures.
func WorkingSetKills(trs []Trace) []Trace {
	out := make([]Trace, len(trs))
	for i, tr := range trs {
		ss := make([]Sample, len(tr.Samples))
		for j, s := range tr.Samples {
			s.Reclaimable = 0
			ss[j] = s
		}
		out[i] = Trace{Name: tr.Name, Samples: ss}
	}
	return out
}
