package recommend

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BacktestStrategies returns the strategies compared by the backtest: ours
// (configured for traces minutes long: 2 s intervals, a 1 min leak
// horizon), VPA with and without its floor, max + 15%, and 1.2 x median.
func backtestStrategies(t testing.TB) []Strategy {
	s, err := NewStrategy("oomkit", WithInterval(2*time.Second), WithLeakHorizon(time.Minute))
	require.NoError(t, err)
	return []Strategy{s, VPA(true), VPA(false), MaxPlus(0.15), MedianTimes(1.2)}
}

// TestBacktest replays every recorded trace against every strategy and
// checks the targets: no more OOMs than VPA on any trace, and at least 30%
// less mean slack overall.
func TestBacktest(t *testing.T) {
	var table strings.Builder
	fmt.Fprintf(&table, "| trace | %s |\n", strings.Join(names(backtestStrategies(t)), " | "))
	var oursSlack, vpaSlack float64
	for _, name := range TraceNames() {
		trace, err := Trace(name, t0)
		require.NoError(t, err)
		require.Greater(t, len(trace), 1000, name)
		row, by := replay(trace, backtestStrategies(t), BacktestConfig{})
		ours, vpa := by["oomkit"], by["vpa"]
		fmt.Fprintf(&table, "| %s | %s |\n", name, strings.Join(row, " | "))
		assert.LessOrEqual(t, ours.OOMs, vpa.OOMs, "%s: no more OOMs than VPA", name)
		oursSlack += ours.MeanSlack
		vpaSlack += vpa.MeanSlack
	}
	t.Logf("OOMs / mean slack per trace and strategy:\n%s", table.String())
	assert.LessOrEqual(t, oursSlack, 0.7*vpaSlack, "at least 30%% less mean slack than VPA overall")
}

// replay runs each strategy on a trace: the table cells ("OOMs / slack")
// and the results by strategy name.
func replay(trace []cgroup.Sample, ss []Strategy, cfg BacktestConfig) ([]string, map[string]Result) {
	var row []string
	by := map[string]Result{}
	for _, s := range ss {
		res := Backtest(trace, s, cfg)
		row = append(row, fmt.Sprintf("%d / %.0f%%", res.OOMs, 100*res.MeanSlack))
		by[s.Name()] = res
	}
	return row, by
}

func names(ss []Strategy) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name())
	}
	return out
}
