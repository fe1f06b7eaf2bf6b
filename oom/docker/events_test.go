package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
	"github.com/oomkit/oomkit/oom/docker"
)

// privateEngine runs a dockerd of the test's own (so it can be restarted
// without disturbing anyone), on a short temp path.
type privateEngine struct {
	t        *testing.T
	dir      string
	cmd      *exec.Cmd
	host     string
	cgParent string // its containers' cgroups: /<cgParent>/<id>, removed at the end
}

func newPrivateEngine(t *testing.T) *privateEngine {
	t.Helper()
	testenv.StartDaemons(t, "a private dockerd")
	if _, err := exec.LookPath("dockerd"); err != nil {
		testenv.Unavailable(t, "dockerd not installed: %v", err)
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "dockerd needs root")
	}
	dir, err := os.MkdirTemp("", "okd")
	require.NoError(t, err)
	e := &privateEngine{t: t, dir: dir, host: "unix://" + filepath.Join(dir, "d.sock"), cgParent: "oomkit-" + filepath.Base(dir)}
	t.Cleanup(func() {
		e.stop()
		_ = exec.Command("umount", "-R", dir).Run()
		_ = os.RemoveAll(dir)
		testenv.RemoveCgroupParent(t, e.cgParent)
	})
	e.start()
	return e
}

func (e *privateEngine) start() {
	e.t.Helper()
	e.cmd = exec.Command("dockerd", "--host="+e.host, "--data-root="+filepath.Join(e.dir, "data"), "--exec-root="+filepath.Join(e.dir, "exec"),
		"--pidfile="+filepath.Join(e.dir, "pid"), "--cgroup-parent=/"+e.cgParent, "--bridge=none", "--iptables=false", "--ip6tables=false", "--storage-driver=vfs")
	logf, err := os.OpenFile(filepath.Join(e.dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(e.t, err)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	require.NoError(e.t, e.cmd.Start())
	cli := e.client()
	require.Eventually(e.t, func() bool {
		_, err := cli.Ping(context.Background())
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "private dockerd did not start")
}

func (e *privateEngine) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
	e.cmd = nil
}

func (e *privateEngine) client() *client.Client {
	cli, err := client.NewClientWithOpts(client.WithHost(e.host), client.WithAPIVersionNegotiation())
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// importBusybox makes the test image from the host's static busybox.
func importBusybox(t *testing.T, cli *client.Client) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Unavailable(t, "busybox-static not installed")
	}
	data, err := os.ReadFile(bb)
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(data))}))
	_, err = tw.Write(data)
	require.NoError(t, err)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"}))
	require.NoError(t, tw.Close())
	rc, err := cli.ImageImport(context.Background(), image.ImportSource{Source: &buf, SourceName: "-"}, "oomkit-busybox:latest", image.ImportOptions{})
	require.NoError(t, err)
	_, _ = bytes.NewBuffer(nil).ReadFrom(rc)
	_ = rc.Close()
}

func runOOM(t *testing.T, cli *client.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: "oomkit-busybox:latest", Cmd: []string{"/memhog", "-total", "200MiB"}},
		&container.HostConfig{Resources: container.Resources{Memory: 16 << 20, MemorySwap: 16 << 20}, Binds: []string{testenv.MemHog(t) + ":/memhog:ro"}, NetworkMode: "none"}, nil, nil, name)
	require.NoError(t, err)
	require.NoError(t, cli.ContainerStart(ctx, c.ID, container.StartOptions{}))
	okC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case <-okC:
	case err := <-errC:
		t.Fatal(err)
	}
	return c.ID
}

// TestFollowDockerAcrossRestart restarts the Engine during the watch: no
// event the Engine logged is lost (a container that died while the
// follower was away is replayed) and none is doubled. A doubled event is
// the same event (time, actor, action) delivered twice; the Engine itself
// may send more than one oom event for one kill (one per OOM
// notification), and those are distinct. The Engine does not promise an
// oom event for a kill: its shim arms the cgroup's OOM notification after
// the process has started and drops one that comes after the cgroup is
// gone, so memhog killed at once often has none (then Docker's OOMKilled,
// set by that event alone, is false too). The test asserts what the
// Engine recorded: every container's start and die, and an oom event
// wherever its inspect says OOMKilled.
func TestFollowDockerAcrossRestart(t *testing.T) {
	eng := newPrivateEngine(t)
	cli := eng.client()
	importBusybox(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string]int{}  // distinct events per "name action"
	seen := map[string]int{} // deliveries per event
	exit := map[string]string{}
	var errs int
	done := make(chan error, 1)
	go func() {
		done <- docker.Follow(ctx, cli, func(m events.Message) {
			mu.Lock()
			id := fmt.Sprintf("%d %s %s %s", m.TimeNano, m.Type, m.Actor.ID, m.Action)
			name := m.Actor.Attributes["name"]
			if seen[id]++; seen[id] == 1 {
				got[name+" "+string(m.Action)]++
			}
			if m.Action == events.ActionDie {
				exit[name] = m.Actor.Attributes["exitCode"]
			}
			mu.Unlock()
		}, docker.WithSince(time.Now().Add(-time.Second)), docker.WithRetry(2*time.Second), docker.WithErrorHandler(func(error) { errs++ }))
	}()
	// arrived waits until the follower has the container's die and, when the
	// Engine recorded the kill, its oom event.
	arrived := func(name, id string) {
		t.Helper()
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if got[name+" die"] == 0 {
				return false
			}
			in, err := cli.ContainerInspect(context.Background(), id)
			return err == nil && (!in.State.OOMKilled || got[name+" oom"] > 0)
		}, 30*time.Second, 100*time.Millisecond, "%s: the events the Engine logged arrive: %v", name, got)
	}
	before := runOOM(t, cli, "before-restart")
	// Stop the Engine only once its events reached the follower: events it
	// logged but had not sent when it stopped are gone with it (its log is
	// in memory), which no follower can help.
	arrived("before-restart", before)
	eng.stop()
	eng.start()
	after := runOOM(t, cli, "after-restart") // before the follower's retry: it must be replayed
	arrived("after-restart", after)
	time.Sleep(500 * time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		assert.Equal(t, 1, n, "event %s delivered once", id)
	}
	for n, id := range map[string]string{"before-restart": before, "after-restart": after} {
		for _, a := range []string{"start", "die"} {
			assert.Equal(t, 1, got[n+" "+a], "%s %s exactly once: %v", n, a, got)
		}
		assert.Equal(t, "137", exit[n], "%s was killed", n)
		in, err := cli.ContainerInspect(context.Background(), id)
		require.NoError(t, err)
		// OOMKilled implies the Engine logged an oom event; not the reverse:
		// Docker 20.10 was seen to send the oom event and then say
		// OOMKilled false (its exit handling overwrote the flag).
		if in.State.OOMKilled {
			assert.Positive(t, got[n+" oom"], "%s: the Engine recorded the kill, its oom event arrives: %v", n, got)
		}
		if got[n+" oom"] == 0 {
			t.Logf("%s: the Engine sent no oom event (killed before its shim watched the cgroup, or after the cgroup was gone)", n)
		}
	}
	assert.Positive(t, errs, "the follower saw the Engine go away")
}

// TestRealWatchContainer watches a real container's cgroup: the kill
// arrives as an event counting it, and the container's end ends the watch.
func TestRealWatchContainer(t *testing.T) {
	cli := testenv.Docker(t)
	fs, err := cgroup.NewFS()
	require.NoError(t, err)
	id := startContainer(t, cli, 24<<20, "sh", "-c", "sleep 1; /memhog -total 200MiB; sleep 1")
	cg, err := fs.FindContainer(id)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := fs.Watch(ctx, []string{cg.Path()}, cgroup.WithThresholds())
	require.NoError(t, err)
	var kills uint64
	var last cgroup.EventKind
	for e := range evs {
		if e.Kind == cgroup.EventOOM {
			kills += e.Delta.OOMKills().N
			assert.Equal(t, cgroup.LimitOf(24<<20), e.Snapshot.Limit)
		}
		last = e.Kind
	}
	assert.Equal(t, uint64(1), kills)
	assert.Equal(t, cgroup.EventRemoved, last, "the container's cgroup went away with it")
	require.NoError(t, ctx.Err(), "the watch ended by itself")
}
