package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
)

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(options{asJSON: true, noDocker: true, files: []string{
		"../../oom/testdata/kernel/docker-for-linux-1001-ubuntu-5.4-kmem-rate-limited.log",
		"../../oom/testdata/kernel/this-host-6.18-v1-parent-limit.kmsg",
	}}, &out))
	var recs []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		recs = append(recs, m)
	}
	require.Len(t, recs, 4)
	for _, k := range []string{"time", "victim_pid", "victim_comm", "constraint", "scope", "oom_memcg", "task_memcg",
		"total_vm_kb", "anon_rss_kb", "file_rss_kb", "shmem_rss_kb", "oom_score_adj", "memcg_usage_kb", "memcg_limit_kb", "group_victims"} {
		assert.Contains(t, recs[0], k)
	}
	assert.InDelta(t, 15617, recs[0]["victim_pid"], 0)
	assert.Equal(t, "cgroup", recs[0]["scope"])
	last := recs[3]
	assert.Equal(t, "memhog", last["victim_comm"])
	assert.Equal(t, "CONSTRAINT_MEMCG", last["constraint"])
	assert.InDelta(t, 24*1024, last["memcg_limit_kb"], 0)
	assert.NotEqual(t, last["oom_memcg"], last["task_memcg"], "the limit was the parent's")
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(options{noDocker: true, files: []string{"../../oom/testdata/kernel/pandora-49-global-journal-4.x.log"}}, &out))
	assert.Contains(t, out.String(), "27438")
	assert.Contains(t, out.String(), "global")
	assert.Contains(t, out.String(), "1 OOM kill(s)")
	require.Error(t, run(options{files: []string{"/nonexistent/log"}}, &out))
}

func TestElideMiddle(t *testing.T) {
	id := "8c39925900b6a1f0e2d3c4b5a6978899aabbccddeeff00112233445566778899"
	p := "/system.slice/docker-" + id + ".scope"
	assert.Equal(t, "/system.slice/docker-8c39925900b6.scope", elide(p), "the ID shortened as docker ps shows it")
	long := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-abc.scope"
	e := elide(long)
	assert.LessOrEqual(t, len(e), maxPath)
	assert.True(t, strings.HasPrefix(e, "/kubepods.slice/"), e)
	assert.True(t, strings.HasSuffix(e, "cri-containerd-abc.scope"), e)
	assert.Equal(t, id, containerID("/docker/"+id))
	assert.Equal(t, id, containerID(p))
	assert.Equal(t, id, containerID("/oomkit-ci-1/"+id+"/child"))
	assert.Empty(t, containerID("/user.slice/user-0.slice"))
}

func TestFlagErrors(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, cli([]string{"--nosuch"}, &out, &errb))
	assert.Contains(t, errb.String(), "nosuch")
	errb.Reset()
	assert.Equal(t, 2, cli([]string{"/nonexistent/log"}, &out, &errb))
	assert.Contains(t, errb.String(), "/nonexistent/log")
	errb.Reset()
	assert.Equal(t, 0, cli([]string{"--help"}, &out, &errb))
	assert.Contains(t, errb.String(), "Example:")
}

// TestRealLiveLog kills a container and finds its kill in the live kernel
// log with the container's name, its wall time (boot time + the kmsg
// stamp) within seconds of the kill.
func TestRealLiveLog(t *testing.T) {
	dc := testenv.Docker(t)
	testenv.KernelReports(t)
	ctx := context.Background()
	name := fmt.Sprintf("oomkit-scan-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	hc := &container.HostConfig{Resources: container.Resources{Memory: 32 << 20, MemorySwap: 32 << 20}, Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none"}
	c, err := dc.ContainerCreate(ctx, &container.Config{Image: testenv.Image(), Cmd: []string{"/memhog", "-total", "200MiB"}}, hc, nil, nil, name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dc.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	start := time.Now()
	require.NoError(t, dc.ContainerStart(ctx, c.ID, container.StartOptions{}))
	okC, errC := dc.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case <-okC:
	case err := <-errC:
		t.Fatal(err)
	}
	var mine map[string]any
	require.Eventually(t, func() bool { // the kernel logs the kill after it counts it
		var out bytes.Buffer
		require.NoError(t, run(options{asJSON: true}, &out))
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
			require.NotNil(t, m["time"], "the live log has a wall time for every kill: %s", sc.Text())
			if m["container_id"] == c.ID {
				mine = m
			}
		}
		return mine != nil
	}, 5*time.Second, 200*time.Millisecond)
	assert.Equal(t, name, mine["container"])
	assert.Equal(t, "boot", mine["time_from"])
	at, err := time.Parse(time.RFC3339Nano, mine["time"].(string))
	require.NoError(t, err)
	assert.WithinRange(t, at, start.Add(-2*time.Second), time.Now().Add(2*time.Second))

	var table bytes.Buffer
	require.NoError(t, run(options{}, &table))
	assert.Contains(t, table.String(), name+" ("+c.ID[:12]+")")
}
