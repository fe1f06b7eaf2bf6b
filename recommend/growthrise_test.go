package recommend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestGrowthRiseInBytes: the growth test provisions the rise it saw in
// bytes. A level that rose from 10 to 15 MiB, under a 30 MiB spike that is
// over, rose 5 MiB: the limit is 30 MiB plus the margin plus 5 MiB, not
// the x1.5 ratio applied to the spike (10 MiB).
func TestGrowthRiseInBytes(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	at := time.Unix(1_700_000_000, 0)
	const mib = 1 << 20
	for i := range 2000 {
		v := 10.0 * mib
		switch {
		case i >= 1000:
			v = 15 * mib
		}
		if i >= 1500 && i < 1510 {
			v = 30 * mib
		}
		require.NoError(t, r.Add(cgroup.Sample{Time: at.Add(time.Duration(i) * time.Second), WorkingSet: cgroup.AmountOf(cgroup.Bytes(v))}))
	}
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.Equal(t, roundUp(30*mib*(1+DefaultTuning().Margin)+5*mib), rec.Memory.Bytes, rec.Memory.Rationale)
}
