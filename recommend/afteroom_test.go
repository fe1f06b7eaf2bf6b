package recommend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestLimitAfterOOMIsRecommendsRule checks that the exported rule is the
// one Recommend applies: a short, small history with one kill must come out
// at exactly LimitAfterOOM.
func TestLimitAfterOOMIsRecommendsRule(t *testing.T) {
	for _, tc := range []struct{ limit, usage, want cgroup.Bytes }{
		{32 << 20, 32 << 20, 141 << 20},    // small: need four times the limit, +10% margin: proportional (not +256 MiB)
		{1 << 30, 1 << 30, 4506 << 20},     // large: the same proportion
		{100 << 20, 400 << 20, 1760 << 20}, // usage above the limit (a report from an earlier limit): from the usage
	} {
		require.Equal(t, tc.want, LimitAfterOOM(tc.limit, tc.usage), "limit %s usage %s", tc.limit, tc.usage)
		r, err := New()
		require.NoError(t, err)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 10 {
			require.NoError(t, r.Add(cgroup.Sample{Time: t0.Add(time.Duration(i) * time.Second), WorkingSet: cgroup.AmountOf(8 << 20)}))
		}
		require.NoError(t, r.AddOOM(t0.Add(5*time.Second), tc.usage, cgroup.LimitOf(tc.limit)))
		rec, err := r.Recommend()
		require.NoError(t, err)
		require.Equal(t, tc.want, rec.Memory.Bytes)
	}
}
