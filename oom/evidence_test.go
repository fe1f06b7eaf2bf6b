package oom_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/oom"
)

// TestEvidenceJSON: Evidence follows the module's schema (snake_case,
// bytes as integers, "max" for unlimited, null for unknown) and reads back.
func TestEvidenceJSON(t *testing.T) {
	ev := oom.Evidence{
		Name:      "web",
		Container: &oom.Container{ID: "abc", Memory: cgroup.NoLimit(), State: &oom.ContainerState{ExitCode: 137, PID: 4}},
		Samples:   []cgroup.Sample{{Time: t0, Usage: cgroup.AmountOf(1 << 20)}},
		MainPID:   4,
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	c := m["container"].(map[string]any)
	assert.Equal(t, "max", c["memory_bytes"])
	assert.Nil(t, c["memory_swap_bytes"])
	assert.Equal(t, float64(137), c["state"].(map[string]any)["exit_code"])
	s := m["samples"].([]any)[0].(map[string]any)
	assert.Equal(t, float64(1<<20), s["usage_bytes"])
	assert.Nil(t, s["working_set_bytes"])
	assert.Equal(t, float64(4), m["main_pid"])
	var back oom.Evidence
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, ev.Container.Memory, back.Container.Memory)
	assert.Equal(t, ev.Samples[0].Usage, back.Samples[0].Usage)
}
