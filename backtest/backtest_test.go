package backtest

import (
	"github.com/oomkit/oomkit/internal/testenv"
	"reflect"

	"github.com/oomkit/oomkit/recommend"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allTraces returns the recorded traces and the corpus's public ones
// ($OOMKIT_CORPUS, else found as every corpus test finds it: the test is
// skipped when it is absent, and fails in CI or with OOMKIT_INTEGRATION=1).
func allTraces(t testing.TB) []Trace {
	t.Helper()
	trs, err := Recorded(RecordedDir)
	require.NoError(t, err)
	dir := PublicDir()
	if os.Getenv("OOMKIT_CORPUS") == "" {
		dir = testenv.SharedCorpus(t, "traces") // skips when absent, fails in CI
	}
	pub, err := Public(dir)
	require.NoError(t, err, "the shared corpus's traces")
	return append(trs, pub...)
}

// TestFigures checks the figures with oomkit's defaults, against
// the real VPA: on every trace no more kills than the VPA without its
// floor; in all at most half its kills; overall mean slack at most three
// quarters of its.
func TestFigures(t *testing.T) {
	trs := allTraces(t)
	tab, err := Run(trs, func() ([]Strategy, error) { return Strategies() })
	require.NoError(t, err)
	var b strings.Builder
	tab.Markdown(&b)
	t.Logf("kills / mean slack (time-weighted slack):\n%s", b.String())
	for _, f := range tab.Figures() {
		t.Logf("%-6s %s: %s", map[bool]string{true: "met", false: "MISSED"}[f.Met], f.Target, f.Detail)
		assert.True(t, f.Met, "%s: %s", f.Target, f.Detail)
	}
	ours, nf, vpa := tab.Index("oomkit"), tab.Index("vpa-no-floor"), tab.Index("vpa")
	ok, osl := tab.Total(ours)
	nk, ns := tab.Total(nf)
	_, vs := tab.Total(vpa)
	assert.LessOrEqual(t, ok, nk, "no more kills than the floorless VPA in all")
	assert.Less(t, osl, ns, "less mean slack than the floorless VPA")
	assert.Less(t, osl, vs, "less slack than the VPA")
	for j, row := range tab.Results {
		assert.GreaterOrEqual(t, row[ours].Recomputations, 20, tab.Traces[j])
	}
}

// strict says whether the ±25% table must meet the figures on every
// row (OOMKIT_FIGURES_STRICT=1); otherwise a missed row is logged as MISSED.
func strict() bool { return os.Getenv("OOMKIT_FIGURES_STRICT") != "" }

// TestSensitivity moves each constant of oomkit's rule by ±25% and checks
// the figures still hold.
func TestSensitivity(t *testing.T) {
	if testing.Short() {
		t.Skip("replays every trace 2x per constant")
	}
	trs := allTraces(t)
	tab, err := Run(trs, func() ([]Strategy, error) { return Strategies() })
	require.NoError(t, err)
	nk, ns := tab.Total(tab.Index("vpa-no-floor"))
	ps, err := Sensitivity(trs, tab, 0.75, 1.25)
	require.NoError(t, err)
	var b strings.Builder
	WriteSensitivity(&b, ps)
	t.Logf("oomkit with one constant moved (floorless VPA: %d kills, %.1f%% slack):\n%s", nk, 100*ns, b.String())
	for _, p := range ps {
		met := p.WorseThanFloorless == 0 && 2*p.Kills <= nk && p.Slack <= 0.75*ns
		assert.Equal(t, met, p.Met, "%s x%g: Met", p.Constant, p.Factor)
		assert.Len(t, p.KillsAt, p.Kills, "%s x%g: a place for each kill", p.Constant, p.Factor)
		if !met {
			t.Logf("MISSED %s x%g: %d kills (half the floorless VPA's: %d), %.1f%% slack (3/4 of its: %.1f%%), %d traces worse than it; kills at %s",
				p.Constant, p.Factor, p.Kills, nk/2, 100*p.Slack, 75*ns, p.WorseThanFloorless, strings.Join(p.KillsAt, " "))
		}
		if strict() {
			assert.True(t, met, "%s x%g", p.Constant, p.Factor)
		}
	}
	assert.Len(t, ps, 2*reflect.TypeFor[recommend.Tuning]().NumField(), "every constant moved both ways")
}

func TestReplayRefusesEmpty(t *testing.T) {
	for _, tr := range []Trace{{Name: "empty"}, {Name: "one", Samples: []Sample{{T: t0, WS: 1}}}, {Name: "instant", Samples: []Sample{{T: t0, WS: 1}, {T: t0, WS: 2}}}} {
		_, err := Replay(tr, VPA(false))
		require.ErrorIs(t, err, ErrEmpty, tr.Name)
	}
}

// TestReplaySemantics checks the replay on a made-up trace against a
// strategy whose limit is known: a fixed 100 B limit after the first
// sample.
func TestReplaySemantics(t *testing.T) {
	var tr Trace
	for i := range 100 {
		ws := 50.0
		if i == 60 {
			ws = 150 // one sample above the limit
		}
		tr.Samples = append(tr.Samples, Sample{T: t0.Add(time.Duration(i) * time.Second), WS: ws, NR: -1})
	}
	s := &fixed{limit: 100}
	r, err := Replay(tr, s)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Kills)
	assert.Equal(t, []Kill{{At: 60 * time.Second, Usage: 150, Need: 150, Limit: 100}}, r.KillLog)
	assert.Equal(t, []float64{100}, s.seenAtKill, "monitoring saw the limit at the kill, not the true 150")
	assert.GreaterOrEqual(t, r.Recomputations, Recomputations)
	// the first sample has no limit (slack 1), 98 samples at 50/100, the
	// kill at 0.
	assert.InDelta(t, (1+98*0.5)/100, r.MeanSlack, 1e-9)
	assert.InDelta(t, 0.01, r.Unlimited, 1e-9)

	// Over the limit by its working set but not by its need (the rest is
	// page cache, which the kernel reclaims): no kill, and no slack.
	tr.Samples[60].Reclaimable = 80
	s = &fixed{limit: 100}
	r, err = Replay(tr, s)
	require.NoError(t, err)
	assert.Zero(t, r.Kills)
	assert.InDelta(t, (1+98*0.5)/100, r.MeanSlack, 1e-9, "the squeezed sample has no slack")
	tr.Samples[60].Reclaimable = 30 // still over by its need: a kill
	r, err = Replay(tr, &fixed{limit: 100})
	require.NoError(t, err)
	assert.Equal(t, []Kill{{At: 60 * time.Second, Usage: 150, Need: 120, Limit: 100}}, r.KillLog)
	tr.Samples[60].Reclaimable = 80
	r, err = Replay(WorkingSetKills([]Trace{tr})[0], &fixed{limit: 100})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Kills, "counted on the working set, it is a kill")
	assert.InDelta(t, 80, tr.Samples[60].Reclaimable, 0, "WorkingSetKills copies")

	// Doing nothing is not free: no limit at all scores all slack.
	r, err = Replay(tr, &fixed{})
	require.NoError(t, err)
	assert.Zero(t, r.Kills)
	assert.InDelta(t, 1, r.MeanSlack, 1e-9)
}

type fixed struct {
	limit      float64
	seen       float64
	seenAtKill []float64
}

func (f *fixed) Name() string                       { return "fixed" }
func (f *fixed) Observe(_ time.Time, ws, _ float64) { f.seen = ws }
func (f *fixed) Killed(time.Time, float64)          { f.seenAtKill = append(f.seenAtKill, f.seen) }
func (f *fixed) Limit(time.Time) (float64, bool)    { return f.limit, f.limit > 0 }

func TestDebugKills(t *testing.T) {
	if os.Getenv("BACKTEST_DEBUG") == "" {
		t.Skip("BACKTEST_DEBUG=1 lists every kill")
	}
	for _, tr := range allTraces(t) {
		ss, err := Strategies()
		require.NoError(t, err)
		for _, s := range ss[:3] {
			r, err := Replay(tr, s)
			require.NoError(t, err)
			for _, k := range r.KillLog {
				t.Logf("%-22s %-13s at %-12s usage %6.1f MiB need %6.1f MiB limit %6.1f MiB", tr.Name, s.Name(), k.At.Round(time.Millisecond), k.Usage/(1<<20), k.Need/(1<<20), k.Limit/(1<<20))
			}
		}
	}
}

// TestVPADefaults checks that the VPA runs with its own defaults: the
// aggregation constants come from its model package, and the estimator's
// from the copy in VPA (see there): a 24 h half-life and aggregation
// interval, OOM bump x1.2 or +100 MiB, and the 250 MiB floor in MiB.
func TestVPADefaults(t *testing.T) {
	c := model.GetAggregationsConfig()
	assert.Equal(t, 24*time.Hour, c.MemoryHistogramDecayHalfLife)
	assert.Equal(t, 24*time.Hour, c.MemoryAggregationIntervalDuration)
	assert.InDelta(t, 1.2, c.OOMBumpUpRatio, 1e-12)
	assert.InDelta(t, 100*1024*1024, c.OOMMinBumpUp, 1e-6, "100 MiB, not 100 MB")
	// One sample of 100 MiB: the target is p90 (the bucket's end, 5%
	// buckets) + 15%; with the floor, 250 MiB.
	for _, tc := range []struct {
		floor    bool
		min, max float64
	}{{false, 100 << 20 * 1.15, 100 << 20 * 1.15 * 1.06}, {true, 250 << 20, 250 << 20}} {
		v := VPA(tc.floor)
		v.Observe(t0, 100<<20, -1)
		l, ok := v.Limit(t0)
		require.True(t, ok)
		assert.GreaterOrEqual(t, l, tc.min, "floor %v", tc.floor)
		assert.LessOrEqual(t, l, tc.max, "floor %v", tc.floor)
	}
}
