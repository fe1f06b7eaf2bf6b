package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom"
	"github.com/oomkit/oomkit/recommend"
)

// runLabeled runs the test image as `docker run --memory=32m` would, with
// Docker's default memory-swap (twice the memory) and Compose's labels.
func runLabeled(t *testing.T, cli *client.Client, labels map[string]string, cmd ...string) (id, name string) {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("oomkit-remedy-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	hc := &container.HostConfig{Resources: container.Resources{Memory: 32 << 20}, Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none"}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: cmd, Labels: labels}, hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	require.NoError(t, cli.ContainerStart(ctx, c.ID, container.StartOptions{}))
	return c.ID, name
}

// TestRealRemedyPasteReady kills a container run with --memory=32m (so
// Docker set memory-swap to 64m) and runs the remedy's docker update
// command as printed: the bare "--memory 288m" is refused by the Engine,
// the remedy's command is accepted. The Compose override loads over a file
// using either of Compose's keys, and the Kubernetes stanza parses.
func TestRealRemedyPasteReady(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.KernelReports(t)
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Unavailable(t, "docker CLI not on PATH: %v", err)
	}
	id, name := runLabeled(t, cli, map[string]string{
		"com.docker.compose.project": "proj", "com.docker.compose.service": "web",
		"com.docker.compose.project.working_dir": "/srv/proj", "com.docker.compose.project.config_files": "/srv/proj/compose.yaml",
	}, "/memhog", "-total", "200MiB")
	waitExit(t, cli, id)
	in, err := cli.ContainerInspect(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, int64(64<<20), in.HostConfig.MemorySwap, "Docker's default memory-swap: twice --memory")

	ev, err := collector(t, cli).Container(context.Background(), id)
	require.NoError(t, err)
	d := oom.Diagnose(ev)
	require.Equal(t, oom.CauseContainerLimit, d.Cause, "causes %v", causes(d))
	require.NotNil(t, d.Apply)
	a := d.Apply
	want := recommend.LimitAfterOOM(32<<20, 32<<20)
	assert.Equal(t, int64(want), a.MemoryBytes, "the recommender's rule")
	assert.Equal(t, 2*a.MemoryBytes, a.MemorySwapBytes, "the container's swap ratio kept")
	assert.Equal(t, fmt.Sprintf("docker update --memory %dm --memory-swap %dm %s", want>>20, 2*want>>20, name), a.Docker)
	assert.Equal(t, a.Docker, d.Remedies[0].Command)
	for _, r := range d.Remedies {
		if r.Setting != "" {
			assert.NotEmpty(t, r.Value, "setting %s without a value", r.Setting)
		}
	}

	// What the old remedy said is refused; the remedy's command is not.
	bare := exec.Command("docker", "update", "--memory", fmt.Sprintf("%dm", want>>20), name)
	out, err := bare.CombinedOutput()
	require.Error(t, err, "docker update --memory alone above memory-swap: %s", out)
	out, err = exec.Command("sh", "-c", a.Docker).CombinedOutput()
	require.NoError(t, err, "%s: %s", a.Docker, out)
	in, err = cli.ContainerInspect(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, a.MemoryBytes, in.HostConfig.Memory)
	assert.Equal(t, a.MemorySwapBytes, in.HostConfig.MemorySwap)

	// Compose: the service from the labels, merged over either key.
	assert.Equal(t, "web", a.ComposeService)
	assert.Equal(t, "proj", a.ComposeProject)
	assert.Equal(t, "/srv/proj/oomkit.override.yaml", a.ComposeFile)
	assert.Equal(t, "docker compose -p proj -f /srv/proj/compose.yaml -f /srv/proj/oomkit.override.yaml up -d web", a.ComposeCommand)
	for _, base := range []string{
		"services:\n  web:\n    image: busybox\n    mem_limit: 32m\n",
		"services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          memory: 32m\n",
	} {
		p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
			WorkingDir: t.TempDir(),
			ConfigFiles: []types.ConfigFile{
				{Filename: "compose.yaml", Content: []byte(base)},
				{Filename: "compose.override.yaml", Content: []byte(a.Compose)},
			},
			Environment: map[string]string{},
		}, func(o *loader.Options) { o.SetProjectName("proj", true) })
		require.NoError(t, err, "override:\n%s\nover:\n%s", a.Compose, base)
		svc := p.Services["web"]
		assert.Equal(t, a.MemoryBytes, int64(svc.MemLimit))
		assert.Equal(t, a.MemorySwapBytes, int64(svc.MemSwapLimit))
	}

	var k struct {
		Resources struct {
			Limits struct{ Memory string } `yaml:"limits"`
		} `yaml:"resources"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(a.Kubernetes), &k))
	q, err := resource.ParseQuantity(k.Resources.Limits.Memory)
	require.NoError(t, err)
	assert.Equal(t, a.MemoryBytes, q.Value())
}

// TestRealRunaway kills children of a container four times in a row within
// seconds: raising the limit is not the remedy, and none is printed.
func TestRealRunaway(t *testing.T) {
	cli := testenv.Docker(t)
	testenv.KillBurst(t)
	id, _ := runLabeled(t, cli, nil, "sh", "-c", "for i in 1 2 3 4; do /memhog -total 200MiB; done; sleep 1")
	waitExit(t, cli, id)
	ev, err := collector(t, cli).Container(context.Background(), id)
	require.NoError(t, err)
	d := oom.Diagnose(ev)
	require.NotNil(t, d.Runaway, "causes %v, evidence %+v", causes(d), d.Evidence)
	assert.GreaterOrEqual(t, d.Runaway.Kills, 3)
	assert.LessOrEqual(t, d.Runaway.Within, 10*time.Second)
	assert.Nil(t, d.Apply, "no new limit for a runaway")
	require.NotEmpty(t, d.Remedies)
	assert.True(t, strings.HasPrefix(d.Remedies[0].Action, "raising the limit will not help"), d.Remedies[0].Action)
	if d.VictimComm != "" { // empty when the kernel's rate limit cut the report headers
		assert.Contains(t, d.Remedies[0].Action, d.VictimComm)
	}
}
