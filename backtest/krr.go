package backtest

import (
	"time"
)

// krr is Robusta KRR's `simple` strategy for memory, re-implemented (KRR is
// Python) from robusta_krr/strategies/simple.py and
// robusta_krr/core/abstract/strategies.py (robusta-dev/krr at d6baa74):
//
//   - calculate_memory_proposal: max(max working set x (1 +
//     memory_buffer_percentage/100), max OOM-killed limit x (1 +
//     oom_memory_buffer_percentage/100)) with memory_buffer_percentage = 15
//     and oom_memory_buffer_percentage = 25, both percentages of bytes;
//   - the OOM term only with use_oomkill_data (MaxOOMKilledMemoryLoader: the
//     container's memory limit times last_terminated_reason="OOMKilled",
//     max over the history), so "krr" ignores kills and "krr-oom" uses them;
//   - history_duration 336 h (14 days) of max working set per step;
//   - points_required = 100: fewer samples in the history and KRR gives no
//     recommendation ("Not enough data"), which here means no limit.
//
// The request and the limit are both the proposal.
type krr struct {
	name   string
	oom    bool
	window time.Duration
	// samples in the window for the windowed max: a deque of decreasing
	// values (the backtest keeps what it needs; KRR reads Prometheus).
	dq    []tv
	times []time.Time
	ooms  []tv
}

type tv struct {
	t time.Time
	v float64
}

const (
	krrBuffer         = 0.15
	krrOOMBuffer      = 0.25
	krrHistory        = 336 * time.Hour
	krrPointsRequired = 100
)

// KRR returns Robusta KRR's simple strategy; useOOM turns on its
// use_oomkill_data setting.
func KRR(useOOM bool) Strategy {
	name := "krr"
	if useOOM {
		name = "krr-oom"
	}
	return &krr{name: name, oom: useOOM, window: krrHistory}
}

func (k *krr) Name() string { return k.name }

func (k *krr) expire(now time.Time) {
	from := now.Add(-k.window)
	for len(k.dq) > 0 && k.dq[0].t.Before(from) {
		k.dq = k.dq[1:]
	}
	for len(k.times) > 0 && k.times[0].Before(from) {
		k.times = k.times[1:]
	}
	for len(k.ooms) > 0 && k.ooms[0].t.Before(from) {
		k.ooms = k.ooms[1:]
	}
}

func (k *krr) Observe(t time.Time, ws, _ float64) {
	for len(k.dq) > 0 && k.dq[len(k.dq)-1].v <= ws {
		k.dq = k.dq[:len(k.dq)-1]
	}
	k.dq = append(k.dq, tv{t, ws})
	k.times = append(k.times, t)
}

func (k *krr) Killed(t time.Time, limit float64) {
	if k.oom {
		k.ooms = append(k.ooms, tv{t, limit})
	}
}

func (k *krr) Limit(now time.Time) (float64, bool) {
	k.expire(now)
	if len(k.times) < krrPointsRequired || len(k.dq) == 0 {
		return 0, false
	}
	l := k.dq[0].v * (1 + krrBuffer)
	for _, o := range k.ooms {
		l = max(l, o.v*(1+krrOOMBuffer))
	}
	return l, true
}
