package afterkill

import (
	"math"
	"math/rand/v2"
	"testing"

	units "github.com/docker/go-units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

func TestRoundUp(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want int64
	}{
		{141 << 20, 141 << 20},                 // a whole MiB stays
		{140.8 * (1 << 20), 141 << 20},         // from 64 MiB: whole MiB
		{64 << 20, 64 << 20},                   //
		{63.1 * (1 << 20), 63.5 * (1 << 20)},   // 32-64 MiB: 512 KiB steps
		{10.1 * (1 << 20), 10.125 * (1 << 20)}, // 8-16 MiB: 128 KiB steps
		{(10 << 20) + 1e-7, 10 << 20},          // a hair above a step adds none
		{100 << 10, 128 << 10},                 // at least 64 KiB steps
	} {
		assert.Equal(t, tc.want, int64(RoundUp(tc.in)), "RoundUp(%v)", tc.in)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prev := 0.0
	for range 100000 {
		b := math.Exp2(16 + 20*rng.Float64()) // 64 KiB to 64 GiB
		r := float64(RoundUp(b))
		require.GreaterOrEqual(t, r, b*(1-1e-12), "RoundUp(%v) below it", b)
		require.Less(t, r-b, math.Max(b/64, 64<<10), "RoundUp(%v) = %v adds more than 1/64", b, r)
		require.Zero(t, math.Mod(r, 64<<10), "RoundUp(%v) = %v: not a whole 64 KiB", b, r)
		require.Equal(t, r, float64(RoundUp(r)), "RoundUp is idempotent at %v", r)
		if b > prev {
			require.GreaterOrEqual(t, r, float64(RoundUp(prev)))
		}
		prev = b
	}
}

func TestDockerSize(t *testing.T) {
	for b, want := range map[cgroup.Bytes]string{2 << 30: "2g", 141 << 20: "141m", 1536 << 20: "1536m", 10368 << 10: "10368k", 1000: "1000", 0: "0"} {
		got := DockerSize(b)
		assert.Equal(t, want, got, "%d", b)
		n, err := units.RAMInBytes(got)
		require.NoError(t, err, got)
		assert.Equal(t, int64(b), n, "%s read back", got)
	}
}
