package cgroup_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// TestJSONValues: bytes as integers, null for unknown, "max" for
// unlimited, and back.
func TestJSONValues(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{cgroup.AmountOf(5 << 20), `5242880`},
		{cgroup.Amount{}, `null`},
		{cgroup.AmountOf(0), `0`},
		{cgroup.AmountOf(-60), `-60`},
		{cgroup.LimitOf(32 << 20), `33554432`},
		{cgroup.NoLimit(), `"max"`},
		{cgroup.Limit{}, `null`},
		{cgroup.CountOf(3), `3`},
		{cgroup.Count{}, `null`},
		{cgroup.CountOf(0), `0`},
		{cgroup.V1, `"v1"`},
		{cgroup.VersionUnknown, `"unknown"`},
		{cgroup.EventOOM, `"oom"`},
		{cgroup.ModeHybrid, `"hybrid"`},
		{cgroup.Pressure{}, `null`},
	} {
		b, err := json.Marshal(tc.v)
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(b), "%#v", tc.v)
	}
	var a cgroup.Amount
	require.NoError(t, json.Unmarshal([]byte(`7`), &a))
	assert.Equal(t, cgroup.AmountOf(7), a)
	require.NoError(t, json.Unmarshal([]byte(`null`), &a))
	assert.False(t, a.Known)
	var l cgroup.Limit
	require.NoError(t, json.Unmarshal([]byte(`"max"`), &l))
	assert.Equal(t, cgroup.NoLimit(), l)
	require.Error(t, json.Unmarshal([]byte(`-1`), &l), "a negative limit")
	require.Error(t, json.Unmarshal([]byte(`"1g"`), &l))
	require.Error(t, json.Unmarshal([]byte(`1.5`), &a))
	var c cgroup.Count
	require.Error(t, json.Unmarshal([]byte(`-1`), &c))
	var v cgroup.Version
	require.Error(t, json.Unmarshal([]byte(`"v3"`), &v))
	txt, err := cgroup.NoLimit().MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "max", string(txt))
	_, err = cgroup.Limit{}.MarshalText()
	require.Error(t, err, "unknown has no text form")
}

// TestJSONSnapshot: a fixture snapshot marshals to the module's schema
// and reads back equal.
func TestJSONSnapshot(t *testing.T) {
	for _, host := range []string{"v1", "v2"} {
		t.Run(host, func(t *testing.T) {
			cg, err := fixtureFS(t, host).FindContainer(cid)
			require.NoError(t, err)
			s, err := cg.Snapshot()
			require.NoError(t, err)
			b, err := json.Marshal(s)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			assert.Equal(t, float64(32<<20), m["limit_bytes"])
			assert.Equal(t, float64(s.WorkingSet.Bytes), m["working_set_bytes"])
			assert.Equal(t, host, m["version"])
			assert.Contains(t, m, "stat")
			assert.Equal(t, float64(s.Stat.Anon.Bytes), m["stat"].(map[string]any)["anon_bytes"])
			if host == "v1" {
				assert.Nil(t, m["high_bytes"], "v1 has no memory.high: null, not 0")
				assert.Nil(t, m["events"].(map[string]any)["oom"], "v1 has no oom counter")
			} else {
				assert.Equal(t, "max", m["swap_limit_bytes"])
				assert.Nil(t, m["soft_limit_bytes"])
			}
			for k := range m {
				assert.Regexp(t, `^[a-z0-9_]+$`, k)
			}
			var back cgroup.MemorySnapshot
			require.NoError(t, json.Unmarshal(b, &back))
			assert.True(t, s.Time.Equal(back.Time))
			back.Time = s.Time
			assert.Equal(t, s, back)
		})
	}
}

// TestJSONEvent: an event's error is its message; a sample and a delta
// use the same keys as the snapshot.
func TestJSONEvent(t *testing.T) {
	e := cgroup.Event{Kind: cgroup.EventOOM, Path: "/a", Time: time.Unix(0, 0).UTC(), Err: errors.New("boom"), PIDs: []int{7},
		Delta: cgroup.Delta{Usage: cgroup.AmountOf(-4096)}}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, "oom", m["kind"])
	assert.Equal(t, "boom", m["error"])
	assert.Equal(t, []any{float64(7)}, m["pids"])
	assert.Equal(t, float64(-4096), m["delta"].(map[string]any)["usage_bytes"])
	assert.Nil(t, m["delta"].(map[string]any)["peak_bytes"])
	assert.Nil(t, m["snapshot"].(map[string]any)["limit_bytes"])
	b, err = json.Marshal(cgroup.Event{Kind: cgroup.EventRemoved})
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"error"`)
	b, err = json.Marshal(cgroup.Sample{Usage: cgroup.AmountOf(1)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"time":"0001-01-01T00:00:00Z","usage_bytes":1,"working_set_bytes":null,"non_reclaimable_bytes":null,"page_cache_bytes":null,"swap_bytes":null}`, string(b))
}
