package cgroup_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

// treeState lists every file of a tree with its mode and contents.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[p] = v
		return nil
	}))
	return out
}

// TestWatchV1FixtureUnsupported: a v1 fixture cannot notify: Watch says
// ErrUnsupported, creates nothing (it created a mode-000
// cgroup.event_control and never fired) and writes nothing, with or
// without a cgroup.event_control file in the tree.
func TestWatchV1FixtureUnsupported(t *testing.T) {
	for _, withCtl := range []bool{false, true} {
		root := copyTree(t, "v1")
		dir := filepath.Join(root, "sys", "fs", "cgroup", "memory", "docker", cid)
		if withCtl {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "cgroup.event_control"), nil, 0o644))
		}
		fsys, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
		require.NoError(t, err)
		before := treeState(t, root)
		_, err = fsys.Watch(context.Background(), []string{"/docker/" + cid})
		require.ErrorIs(t, err, cgroup.ErrUnsupported, "event_control present: %v", withCtl)
		assert.Equal(t, before, treeState(t, root), "nothing created or written")
		_, err = fsys.Watch(context.Background(), []string{"/docker/" + cid}, cgroup.WithThresholds())
		require.ErrorIs(t, err, cgroup.ErrUnsupported)
		assert.Equal(t, before, treeState(t, root))
	}
}

// TestReadsWriteNothing: snapshots, finding, sampling and processes leave
// a fixture tree as it was.
func TestReadsWriteNothing(t *testing.T) {
	for _, host := range []string{"v1", "v2", "hybrid", "nested"} {
		root := copyTree(t, host)
		before := treeState(t, root)
		fsys, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
		require.NoError(t, err)
		if cg, err := fsys.FindContainer(cid); err == nil {
			_, _ = cg.SnapshotTree()
			_, _ = cg.Processes()
			_, _ = cg.Children()
			_, _, _ = cg.EffectiveLimit()
			s, err := fsys.NewSampler()
			require.NoError(t, err)
			require.NoError(t, s.Add(cg.Path()))
			s.Sample(func(cgroup.Reading) {})
			s.Close()
		}
		assert.Equal(t, before, treeState(t, root), host)
	}
}

// TestSymlinkOutsideRoot: a symlink inside a fixture root that leads out
// of it is refused (ErrOutsideRoot guarded ".." only), for a cgroup
// directory and for a file in one.
func TestSymlinkOutsideRoot(t *testing.T) {
	root := copyTree(t, "v1")
	outside := t.TempDir()
	mem := filepath.Join(root, "sys", "fs", "cgroup", "memory")
	require.NoError(t, os.CopyFS(outside, os.DirFS(filepath.Join(mem, "docker", cid))))
	require.NoError(t, os.Symlink(outside, filepath.Join(mem, "docker", "escape")))
	fsys, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	_, err = fsys.Cgroup("/docker/escape")
	require.ErrorIs(t, err, cgroup.ErrOutsideRoot)
	s, err := fsys.NewSampler()
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.Add("/docker/escape"), cgroup.ErrOutsideRoot)

	// A file that is a symlink, even to a file inside the tree.
	secret := filepath.Join(outside, "memory.stat")
	stat := filepath.Join(mem, "docker", cid, "memory.stat")
	require.NoError(t, os.Remove(stat))
	require.NoError(t, os.Symlink(secret, stat))
	cg, err := fsys.Cgroup("/docker/" + cid)
	require.NoError(t, err)
	_, err = cg.Snapshot()
	require.ErrorIs(t, err, cgroup.ErrOutsideRoot)
	require.ErrorIs(t, s.Add("/docker/"+cid), cgroup.ErrOutsideRoot)

	// A symlink that stays inside is no escape for a directory.
	require.NoError(t, os.Symlink(filepath.Join(mem, "docker"), filepath.Join(mem, "alias")))
	_, err = fsys.Cgroup("/alias")
	require.NoError(t, err)
}

// TestChildrenAndEffectiveLimit: the v2 fixture's pod limit binds its
// container; the v1 fixture's container binds itself.
func TestChildrenAndEffectiveLimit(t *testing.T) {
	fsys := fixtureFS(t, "v2")
	pod, err := fsys.Cgroup("/kubepods.slice/kubepods-burstable.slice")
	require.NoError(t, err)
	kids, err := pod.Children()
	require.NoError(t, err)
	require.NotEmpty(t, kids)
	for _, k := range kids {
		assert.Equal(t, pod.Path(), filepath.Dir(k.Path()))
		assert.DirExists(t, k.Dir())
	}
	ctr, err := fsys.FindContainer(kid)
	require.NoError(t, err)
	tree, err := ctr.SnapshotTree()
	require.NoError(t, err)
	l, by, err := ctr.EffectiveLimit()
	require.NoError(t, err)
	want, wantBy := cgroup.Limit{}, ""
	for _, s := range tree { // the smallest finite limit on the path, independently
		if s.Limit.Set() && (!want.Set() || s.Limit.Bytes < want.Bytes) {
			want, wantBy = s.Limit, s.Path
		}
	}
	require.True(t, want.Set())
	assert.Equal(t, want, l)
	assert.Equal(t, wantBy, by)
	assert.NotEqual(t, ctr.Path(), by, "the pod's limit binds the container (fixture)")

	// Unknown stays unknown; unlimited all the way is unlimited.
	unk := []cgroup.MemorySnapshot{{Path: "/a"}, {Path: "/", Limit: cgroup.NoLimit()}}
	l, _ = cgroup.EffectiveLimit(unk)
	assert.False(t, l.Known)
	free := []cgroup.MemorySnapshot{{Path: "/a", Limit: cgroup.NoLimit()}, {Path: "/"}}
	l, by = cgroup.EffectiveLimit(free)
	assert.Equal(t, cgroup.NoLimit(), l, "the root has no memory.max on v2")
	assert.Empty(t, by)
	_ = time.Second
}

// TestWatchDeduplicatesFixture: a cgroup named three ways is watched once:
// one kill, one event (on the v2 fixture, no root needed).
func TestWatchDeduplicatesFixture(t *testing.T) {
	root := copyTree(t, "v2")
	fsys, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	cg, err := fsys.FindContainer(cid)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := fsys.Watch(ctx, []string{cg.Path(), cg.Path() + "/", cg.Path() + "/./", "//" + cg.Path()[1:]})
	require.NoError(t, err)
	kill := []byte("low 0\nhigh 0\nmax 60\noom 2\noom_kill 2\noom_group_kill 0\n")
	require.NoError(t, os.WriteFile(filepath.Join(cg.Dir(), "memory.events.local"), kill, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cg.Dir(), "memory.events"), kill, 0o644))
	e := <-events
	assert.Equal(t, cgroup.EventOOM, e.Kind)
	assert.Equal(t, uint64(1), e.Delta.OOMKills().N)
	select {
	case e := <-events:
		t.Fatalf("a second event for one kill: %+v", e.Kind)
	case <-time.After(1500 * time.Millisecond):
	}
}
