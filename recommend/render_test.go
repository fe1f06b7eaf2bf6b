package recommend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oomkit/oomkit/cgroup"
)

func sampleRec(t *testing.T, p Profile) Recommendation {
	t.Helper()
	r, err := New(WithProfile(p))
	require.NoError(t, err)
	add(t, r, t0, 200, time.Minute, func(i int) cgroup.Bytes { return 300<<20 + cgroup.Bytes(i%13)<<20 })
	rec, err := r.Recommend()
	require.NoError(t, err)
	return rec
}

func TestDockerFlags(t *testing.T) {
	rec := sampleRec(t, Batch)
	flags := strings.Fields(rec.DockerRun())
	got := map[string]string{}
	for _, f := range flags {
		if k, v, ok := strings.Cut(f, "="); ok {
			got[k] = v
		}
	}
	for k, want := range map[string]cgroup.Bytes{"--memory": rec.Memory.Bytes, "--memory-swap": rec.MemorySwap.Bytes, "--memory-reservation": rec.MemoryReservation.Bytes} {
		n, err := units.RAMInBytes(got[k])
		require.NoError(t, err, k)
		assert.Equal(t, int64(want), n, k)
	}
	assert.Equal(t, "500", got["--oom-score-adj"])
	up := rec.DockerUpdate("my app")
	assert.True(t, strings.HasPrefix(up, "docker update --memory="))
	assert.True(t, strings.HasSuffix(up, "'my app'"))
}

func TestComposeLoads(t *testing.T) {
	for _, p := range []Profile{Generic, JVM, Batch} {
		rec := sampleRec(t, p)
		y, err := rec.Compose("app")
		require.NoError(t, err)
		assert.NotContains(t, y, "memory-swap", "there is no memory-swap key in Compose")
		y = strings.Replace(y, "services:\n    app:\n", "services:\n    app:\n        image: busybox\n", 1)
		proj, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
			WorkingDir:  t.TempDir(),
			ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(y)}},
			Environment: map[string]string{},
		}, func(o *loader.Options) { o.SetProjectName("oomkit", true) })
		require.NoError(t, err, y)
		svc, err := proj.GetService("app")
		require.NoError(t, err)
		require.NotNil(t, svc.Deploy)
		assert.EqualValues(t, rec.Memory.Bytes, svc.Deploy.Resources.Limits.MemoryBytes)
		assert.EqualValues(t, rec.MemoryReservation.Bytes, svc.Deploy.Resources.Reservations.MemoryBytes)
		assert.EqualValues(t, rec.MemorySwap.Bytes, svc.MemSwapLimit)
		if p == JVM {
			require.NotNil(t, svc.Environment["JAVA_TOOL_OPTIONS"])
			assert.Regexp(t, `-Xmx\d+m`, *svc.Environment["JAVA_TOOL_OPTIONS"], "the heap in every format")
		}
	}
}

func TestKubernetes(t *testing.T) {
	rec := sampleRec(t, Go)
	k := rec.Kubernetes()
	lim := k.Limits["memory"]
	assert.Equal(t, int64(rec.Memory.Bytes), lim.Value())
	y := rec.KubernetesYAML()
	for _, l := range strings.Split(y, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "memory: "); ok {
			q, err := resource.ParseQuantity(v)
			require.NoError(t, err, v)
			assert.Positive(t, q.Value())
		}
	}
	assert.Contains(t, y, "GOMEMLIMIT")
}

func TestJSON(t *testing.T) {
	rec := sampleRec(t, Generic)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"memory_bytes", "memory_swap_bytes", "memory_reservation_bytes", "confidence", "rationale", "warnings", "leak"} {
		assert.Contains(t, m, k)
	}
	assert.Nil(t, m["leak"])
	assert.InDelta(t, float64(rec.Memory.Bytes), m["memory_bytes"], 0)
}

// TestNoLimitYetRenders: with too little history every renderer sets no
// memory and says why.
func TestNoLimitYetRenders(t *testing.T) {
	r, err := New()
	require.NoError(t, err)
	require.NoError(t, r.Add(cgroup.Sample{Time: t0, WorkingSet: cgroup.AmountOf(50 << 20)}))
	rec, err := r.Recommend()
	require.NoError(t, err)
	require.True(t, rec.NoLimitYet)
	assert.Empty(t, rec.DockerRun())
	assert.Empty(t, rec.DockerUpdate("web"))
	y, err := rec.Compose("web")
	require.NoError(t, err)
	assert.Contains(t, y, "# no limit yet: only 1 samples")
	assert.Contains(t, y, "web: {}")
	assert.NotContains(t, y, "memory")
	assert.Contains(t, rec.KubernetesYAML(), "# no limit yet")
}

// TestSmallSizes: a limit under 64 MiB is rounded finer than a MiB
// (afterkill.RoundUp) and written in KiB where a whole MiB would not say
// it, in every format, each read back to the same bytes.
func TestSmallSizes(t *testing.T) {
	rec := Recommendation{Profile: Generic,
		Memory:            Value{Bytes: roundUp(10.1 * (1 << 20))}, // 10.125 MiB
		MemorySwap:        Value{Bytes: roundUp(10.1 * (1 << 20))},
		MemoryReservation: Value{Bytes: 8 << 20}}
	require.Equal(t, cgroup.Bytes(10368<<10), rec.Memory.Bytes)
	assert.Contains(t, rec.DockerRun(), "--memory=10368k ")
	assert.Contains(t, rec.DockerRun(), "--memory-reservation=8m")
	n, err := units.RAMInBytes("10368k")
	require.NoError(t, err)
	assert.Equal(t, int64(rec.Memory.Bytes), n)
	lim := rec.Kubernetes().Limits["memory"]
	assert.Equal(t, "10368Ki", lim.String())
	c, err := rec.Compose("app")
	require.NoError(t, err)
	assert.Contains(t, c, "memory: 10368k")
}
