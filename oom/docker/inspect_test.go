package docker_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/oom/docker"
)

// TestDiagnoseCorpusInspect diagnoses the shared corpus's real docker
// inspect output (a running container without a memory limit, Docker
// Desktop 2019; skipped when the corpus is absent, failing in CI): a risk,
// not a kill.
func TestDiagnoseCorpusInspect(t *testing.T) {
	path := testenv.SharedCorpus(t, "docker", "21-becorecode-full-docker-inspect-running-docker-desktop-2019.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var ins []container.InspectResponse
	require.NoError(t, json.Unmarshal(data, &ins), path)
	require.Len(t, ins, 1)
	require.NotNil(t, ins[0].State)
	require.True(t, ins[0].State.Running)
	ctr := docker.ContainerOf(ins[0])
	d := oom.Diagnose(oom.Evidence{Container: &ctr})
	assert.Equal(t, oom.CauseNoLimit, d.Cause)
	assert.False(t, d.Killed)
	assert.Zero(t, d.LimitBytes)
	assert.Empty(t, d.Conflicts)
	assert.NotEmpty(t, d.Remedies)
}
