package recommend

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestCSVColumnsByName: the working set is found by its header, whatever
// its position; usage, anon, limit and oom columns too.
func TestCSVColumnsByName(t *testing.T) {
	in := "time,usage_bytes,working_set_bytes,rss_bytes,limit_bytes,oom\n0,900,100,80,1000,0\n1,950,200,90,1000,1\n"
	c, err := NewCSVReader(strings.NewReader(in), t0)
	require.NoError(t, err)
	assert.Empty(t, c.Warnings())
	row, err := c.Next()
	require.NoError(t, err)
	assert.Equal(t, cgroup.AmountOf(100), row.WorkingSet, "sized on working_set_bytes, not column 2")
	assert.Equal(t, cgroup.AmountOf(900), row.Usage)
	assert.Equal(t, cgroup.AmountOf(80), row.NonReclaimable)
	assert.False(t, row.OOM)
	row, err = c.Next()
	require.NoError(t, err)
	assert.True(t, row.OOM)
	assert.Equal(t, cgroup.AmountOf(1000), row.Limit)

	// Only usage: read, with a warning.
	c, err = NewCSVReader(strings.NewReader("time_s,usage_bytes\n0,5\n"), t0)
	require.NoError(t, err)
	require.Len(t, c.Warnings(), 1)
	assert.Contains(t, c.Warnings()[0], "usage_bytes")
}

// TestCSVOutOfOrder: a row older than the one before is an error naming
// its line; ReadCSVSorted sorts them and says how many moved.
func TestCSVOutOfOrder(t *testing.T) {
	in := "time_s,working_set_bytes\n0,1\n2,2\n1,3\n3,4\n"
	_, err := ReadCSV(strings.NewReader(in), t0)
	var ce *CSVError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4, ce.Line)
	assert.True(t, errors.Is(err, ErrOutOfOrder))
	assert.Contains(t, err.Error(), "line 4")

	r, _ := New()
	st, err := r.AddCSV(strings.NewReader(in), t0)
	require.ErrorAs(t, err, &ce, "streamed: the same error")
	assert.Equal(t, 2, st.Rows)

	ss, warn, err := ReadCSVSorted(strings.NewReader(in), t0)
	require.NoError(t, err)
	require.Len(t, ss, 4)
	for i := 1; i < len(ss); i++ {
		assert.False(t, ss[i].Time.Before(ss[i-1].Time))
	}
	require.Len(t, warn, 1)
	assert.Contains(t, warn[0], "1 of 4 rows were out of time order")
}

// TestCSVKills: rows marked oom become kills at their limit.
func TestCSVKills(t *testing.T) {
	var b strings.Builder
	b.WriteString("time_s,working_set_bytes,limit_bytes,oom\n")
	for i := range 200 {
		oom := 0
		if i == 150 {
			oom = 1
		}
		b.WriteString(strings.Join([]string{itoa(i), itoa(40 << 20), itoa(64 << 20), itoa(oom)}, ",") + "\n")
	}
	r, _ := New()
	st, err := r.AddCSV(strings.NewReader(b.String()), t0)
	require.NoError(t, err)
	assert.Equal(t, 1, st.OOMs)
	rec, err := r.Recommend()
	require.NoError(t, err)
	assert.Contains(t, rec.Memory.Rationale, "OOM kill")
	assert.GreaterOrEqual(t, rec.Memory.Bytes, cgroup.Bytes(64<<20), "above the limit it was killed at")
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestRuntimeSettingsHold: the JVM heap from the observed heap, -Xmx in
// every format, and warnings where the container's own settings would
// override the recommendation.
func TestRuntimeSettingsHold(t *testing.T) {
	mk := func(p Profile, h RuntimeHints) Recommendation {
		r, err := New(WithProfile(p), WithRuntime(h))
		require.NoError(t, err)
		add(t, r, t0, 200, time.Minute, func(int) cgroup.Bytes { return 1000 << 20 })
		rec, err := r.Recommend()
		require.NoError(t, err)
		return rec
	}
	rec := mk(JVM, RuntimeHints{Heap: cgroup.AmountOf(400 << 20), Env: map[string]string{"JAVA_OPTS": "-Xmx2g -Dfoo=1"}})
	assert.Equal(t, "-Xmx500m", rec.Runtime["JAVA_TOOL_OPTIONS"], "observed heap + 25%")
	assert.Contains(t, strings.Join(rec.Warnings, "\n"), "JAVA_OPTS already sets -Xmx2g, which overrides -XX:MaxRAMPercentage")
	assert.Contains(t, rec.DockerRun(), "JAVA_TOOL_OPTIONS=-Xmx500m")
	y, err := rec.Compose("app")
	require.NoError(t, err)
	assert.Contains(t, y, "JAVA_TOOL_OPTIONS: -Xmx500m")
	assert.Contains(t, rec.KubernetesYAML(), `value: "-Xmx500m"`)

	rec = mk(JVM, RuntimeHints{Env: map[string]string{"JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=80 -Dx=y"}})
	assert.Regexp(t, `^-Dx=y -Xmx\d+m$`, rec.Runtime["JAVA_TOOL_OPTIONS"], "other options kept, the heap setting replaced")

	rec = mk(Go, RuntimeHints{Env: map[string]string{"GOMEMLIMIT": "4GiB"}})
	assert.Contains(t, strings.Join(rec.Warnings, "\n"), "GOMEMLIMIT is set today to 4GiB")
	rec = mk(Node, RuntimeHints{Env: map[string]string{"NODE_OPTIONS": "--max-old-space-size=4096 --inspect"}})
	assert.Regexp(t, `^--inspect --max-old-space-size=\d+$`, strings.TrimSpace(rec.Runtime["NODE_OPTIONS"]))
	assert.Contains(t, strings.Join(rec.Warnings, "\n"), "NODE_OPTIONS already sets --max-old-space-size=4096")
}
