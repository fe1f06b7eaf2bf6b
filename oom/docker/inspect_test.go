package docker_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
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
	assert.False(t, d.LimitBytes.Set())
	assert.Empty(t, d.Conflicts)
	assert.NotEmpty(t, d.Remedies)
}

// TestContainerOf: Docker's spellings become the module's values: a
// Memory of 0 is no limit (not a 0-byte limit), a MemorySwap of -1 is
// unlimited and 0 (not set) unknown; no inspect state is unknown.
func TestContainerOf(t *testing.T) {
	in := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{
		ID: "abc", Name: "/web", Created: "2026-11-25T10:00:00.5Z",
		State:      &container.State{Running: false, ExitCode: 137, OOMKilled: true, Pid: 0},
		HostConfig: &container.HostConfig{Resources: container.Resources{Memory: 0, MemorySwap: -1}},
	}}
	c := docker.ContainerOf(in)
	assert.Equal(t, "web", c.Name)
	assert.Equal(t, cgroup.NoLimit(), c.Memory)
	assert.Equal(t, cgroup.NoLimit(), c.MemorySwap)
	assert.True(t, c.State.OOMKilled)
	assert.Equal(t, 137, c.State.ExitCode)
	assert.Equal(t, 2026, c.Created.Year())
	in.HostConfig.Memory, in.HostConfig.MemorySwap = 64<<20, 0
	c = docker.ContainerOf(in)
	assert.Equal(t, cgroup.LimitOf(64<<20), c.Memory)
	assert.False(t, c.MemorySwap.Known, "not set: Docker's default depends on the host's swap")
	in.HostConfig.MemorySwap = 128 << 20
	assert.Equal(t, cgroup.LimitOf(128<<20), docker.ContainerOf(in).MemorySwap)
	in.HostConfig, in.State = nil, nil
	c = docker.ContainerOf(in)
	assert.False(t, c.Memory.Known)
	assert.Nil(t, c.State)
	assert.Equal(t, oom.Container{}, docker.ContainerOf(container.InspectResponse{}))
}
