package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

const (
	cid = "3f1c0e7b9a6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2"
	kid = "9b8a7f6e5d4c3b2a19f8e7d6c5b4a39281f7e6d5c4b3a2918f7e6d5c4b3a2910"
)

var fixedTime = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fixtureFS opens one of the fixture hosts under testdata/.
func fixtureFS(t testing.TB, host string) *cgroup.FS {
	t.Helper()
	fs, err := cgroup.NewFS(
		cgroup.WithRoot(filepath.Join("testdata", host, "sys", "fs", "cgroup")),
		cgroup.WithProcRoot(filepath.Join("testdata", host, "proc")),
		cgroup.WithClock(func() time.Time { return fixedTime }),
	)
	require.NoError(t, err)
	return fs
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		host   string
		mode   cgroup.Mode
		memory cgroup.Version
		mroot  string
	}{
		{"v1", cgroup.ModeV1, cgroup.V1, "/"},
		{"hybrid", cgroup.ModeHybrid, cgroup.V1, "/"},
		{"v2", cgroup.ModeV2, cgroup.V2, "/"},
		{"nested", cgroup.ModeV1, cgroup.V1, "/docker/" + cid},
	} {
		t.Run(tc.host, func(t *testing.T) {
			l := fixtureFS(t, tc.host).Layout()
			assert.Equal(t, tc.mode, l.Mode)
			assert.Equal(t, tc.memory, l.Memory)
			assert.Equal(t, tc.mroot, l.MemoryMountRoot)
			if tc.mode == cgroup.ModeHybrid {
				assert.NotEmpty(t, l.UnifiedDir)
			}
		})
	}
}

func TestLayoutFromTreeWithoutMountinfo(t *testing.T) {
	for host, want := range map[string]cgroup.Mode{"v1": cgroup.ModeV1, "hybrid": cgroup.ModeHybrid, "v2": cgroup.ModeV2} {
		fs, err := cgroup.NewFS(
			cgroup.WithRoot(filepath.Join("testdata", host, "sys", "fs", "cgroup")),
			cgroup.WithProcRoot(t.TempDir()), // no mountinfo
		)
		require.NoError(t, err, host)
		assert.Equal(t, want, fs.Layout().Mode, host)
	}
	_, err := cgroup.NewFS(cgroup.WithRoot(t.TempDir()), cgroup.WithProcRoot(t.TempDir()))
	require.ErrorIs(t, err, cgroup.ErrNotFound)
}

func TestFindByPID(t *testing.T) {
	for _, tc := range []struct {
		host string
		pid  int
		path string
	}{
		{"v1", 4242, "/docker/" + cid},
		{"v1", 4343, "/kubepods/burstable/pod6b212546-f5dd-4fdf-bcc7-72a686638102/" + kid},
		{"hybrid", 4242, "/docker/" + cid},
		{"v2", 4242, "/system.slice/docker-" + cid + ".scope"},
		{"v2", 4343, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b212546_f5dd_4fdf_bcc7_72a686638102.slice/cri-containerd-" + kid + ".scope"},
		{"nested", 1, "/docker/" + cid},
	} {
		t.Run(tc.host+"/"+strconv.Itoa(tc.pid), func(t *testing.T) {
			cg, err := fixtureFS(t, tc.host).FindByPID(tc.pid)
			require.NoError(t, err)
			assert.Equal(t, tc.path, cg.Path())
		})
	}
	_, err := fixtureFS(t, "v1").FindByPID(999999)
	require.ErrorIs(t, err, cgroup.ErrNotFound)
}

func TestFindContainer(t *testing.T) {
	for _, tc := range []struct{ host, id, path string }{
		{"v1", cid, "/docker/" + cid},
		{"v1", cid[:12], "/docker/" + cid},
		{"v1", kid[:12], "/kubepods/burstable/pod6b212546-f5dd-4fdf-bcc7-72a686638102/" + kid},
		{"v2", cid[:12], "/system.slice/docker-" + cid + ".scope"},
		{"v2", kid, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b212546_f5dd_4fdf_bcc7_72a686638102.slice/cri-containerd-" + kid + ".scope"},
	} {
		cg, err := fixtureFS(t, tc.host).FindContainer(tc.id)
		require.NoError(t, err, tc.host+" "+tc.id)
		assert.Equal(t, tc.path, cg.Path())
	}
	for _, bad := range []string{"ffff", "ab", "../x", "3f1c/../"} {
		_, err := fixtureFS(t, "v1").FindContainer(bad)
		require.ErrorIs(t, err, cgroup.ErrNotFound, bad)
	}
}

func TestCgroupOutsideRoot(t *testing.T) {
	_, err := fixtureFS(t, "v1").Cgroup("/docker/../../../etc")
	require.ErrorIs(t, err, cgroup.ErrOutsideRoot)
	_, err = fixtureFS(t, "nested").Cgroup("/kubepods")
	require.ErrorIs(t, err, cgroup.ErrOutsideRoot, "nested: only the container's own subtree is mounted")
	_, err = fixtureFS(t, "v1").Cgroup("/nope")
	require.ErrorIs(t, err, cgroup.ErrNotFound)
}

func TestSnapshotV1(t *testing.T) {
	cg, err := fixtureFS(t, "v1").FindContainer(cid)
	require.NoError(t, err)
	s, err := cg.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, cgroup.V1, s.Version)
	assert.Equal(t, fixedTime, s.Time)
	assert.Equal(t, cgroup.LimitOf(32<<20), s.Limit)
	assert.Equal(t, cgroup.AmountOf(32<<20), s.Usage)
	assert.Equal(t, cgroup.AmountOf(32<<20), s.Peak)
	assert.Equal(t, cgroup.NoLimit(), s.SoftLimit, "v1 page-rounded MaxInt64 is unlimited")
	assert.Equal(t, cgroup.NoLimit(), s.MemSwLimit)
	assert.Equal(t, cgroup.NoLimit(), s.SwapLimit)
	assert.Equal(t, cgroup.AmountOf(0), s.SwapUsage)
	assert.Equal(t, cgroup.CountOf(57), s.Failcnt)
	assert.Equal(t, cgroup.CountOf(1), s.LocalEvents.OOMKill)
	assert.Equal(t, cgroup.CountOf(1), s.OOMKills())
	assert.False(t, s.Events.OOMKill.Known, "v1 has no hierarchical oom_kill")
	assert.False(t, s.Events.OOM.Known)
	assert.False(t, s.High.Known || s.Low.Known || s.Min.Known, "v1 has no memory.high/low/min")
	assert.Equal(t, cgroup.AmountOf(33288192), s.Stat.Anon)
	assert.Equal(t, cgroup.AmountOf(266240), s.Stat.File)
	assert.Equal(t, cgroup.AmountOf(135168), s.Stat.InactiveFile)
	assert.False(t, s.Stat.Slab.Known || s.Stat.Sock.Known, "v1 memory.stat has no slab or sock")
	assert.Equal(t, cgroup.AmountOf(32<<20-135168), s.WorkingSet)
	assert.True(t, s.Pressure.Known && s.Pressure.Host)
	assert.InDelta(t, 1.25, s.Pressure.Some.Avg10, 1e-9)
	assert.Equal(t, 65432*time.Microsecond, s.Pressure.Full.Total)
}

func TestSnapshotV2(t *testing.T) {
	cg, err := fixtureFS(t, "v2").FindContainer(cid)
	require.NoError(t, err)
	s, err := cg.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, cgroup.V2, s.Version)
	assert.Equal(t, cgroup.LimitOf(32<<20), s.Limit)
	assert.Equal(t, cgroup.NoLimit(), s.High)
	assert.Equal(t, cgroup.LimitOf(0), s.Low)
	assert.Equal(t, cgroup.NoLimit(), s.SwapLimit)
	assert.Equal(t, cgroup.AmountOf(32<<20), s.Peak)
	assert.Equal(t, cgroup.CountOf(1), s.Events.OOM)
	assert.Equal(t, cgroup.CountOf(1), s.Events.OOMKill)
	assert.Equal(t, cgroup.CountOf(57), s.Events.Max)
	assert.Equal(t, cgroup.CountOf(1), s.LocalEvents.OOM)
	assert.Equal(t, cgroup.CountOf(0), s.SwapEvents.Fail)
	assert.False(t, s.Failcnt.Known, "v2 has no failcnt")
	assert.False(t, s.SoftLimit.Known, "v2 has no soft_limit_in_bytes")
	assert.Equal(t, cgroup.AmountOf(1572864), s.Stat.Slab)
	assert.Equal(t, cgroup.AmountOf(4096), s.Stat.Sock)
	assert.Equal(t, cgroup.AmountOf(0), s.Stat.Swap)
	assert.True(t, s.Pressure.Known)
	assert.False(t, s.Pressure.Host, "v2 cgroups have their own memory.pressure")
	assert.Equal(t, 4200*time.Microsecond, s.Pressure.Some.Total)
}

func TestSnapshotTreeV2PodLimit(t *testing.T) {
	// The pod's limit was hit (local oom 1) and the container lost a task
	// (local oom_kill 1) with no limit of its own: the ancestor-limit shape.
	cg, err := fixtureFS(t, "v2").FindContainer(kid)
	require.NoError(t, err)
	tree, err := cg.SnapshotTree()
	require.NoError(t, err)
	require.Len(t, tree, 5)
	assert.Equal(t, "/", tree[4].Path)
	ctr, pod := tree[0], tree[1]
	assert.True(t, ctr.Limit.Unlimited)
	assert.Equal(t, cgroup.CountOf(0), ctr.LocalEvents.OOM)
	assert.Equal(t, cgroup.CountOf(1), ctr.LocalEvents.OOMKill)
	assert.Equal(t, cgroup.LimitOf(512<<20), pod.Limit)
	assert.Equal(t, cgroup.LimitOf(256<<20), pod.Low)
	assert.Equal(t, cgroup.CountOf(1), pod.LocalEvents.OOM)
	assert.Equal(t, cgroup.CountOf(0), pod.LocalEvents.OOMKill)
	assert.True(t, tree[4].Limit.Unlimited, "the v2 root is unlimited")
}

func TestSnapshotNested(t *testing.T) {
	fs := fixtureFS(t, "nested")
	cg, err := fs.FindByPID(1)
	require.NoError(t, err)
	s, err := cg.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, cgroup.LimitOf(32<<20), s.Limit)
	assert.Nil(t, cg.Parent(), "the container cannot see above its own cgroup")
}

func TestProcessesFixture(t *testing.T) {
	cg, err := fixtureFS(t, "v1").Cgroup("/")
	require.NoError(t, err)
	procs, err := cg.Processes()
	require.NoError(t, err)
	require.Len(t, procs, 1)
	assert.Equal(t, "systemd", procs[0].Comm)
	cg, err = fixtureFS(t, "v2").FindByPID(4242)
	require.NoError(t, err)
	procs, err = cg.Processes()
	require.NoError(t, err)
	require.Len(t, procs, 1)
	assert.Equal(t, "java app", procs[0].Comm)
	assert.Equal(t, cgroup.AmountOf(32250*1024), procs[0].Anon)
}

func TestDiff(t *testing.T) {
	b := cgroup.MemorySnapshot{Path: "/a", Version: cgroup.V2, Time: fixedTime,
		Usage:  cgroup.AmountOf(100),
		Events: cgroup.Events{OOM: cgroup.CountOf(1), OOMKill: cgroup.CountOf(5)},
	}
	a := b
	a.Time = fixedTime.Add(time.Minute)
	a.Usage = cgroup.AmountOf(40)
	a.Events.OOM = cgroup.CountOf(3)
	a.Events.OOMKill = cgroup.CountOf(2) // went backwards: recreated
	d, err := cgroup.Diff(b, a)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, d.Interval)
	assert.Equal(t, cgroup.CountOf(2), d.Events.OOM)
	assert.Equal(t, cgroup.CountOf(2), d.Events.OOMKill)
	assert.Equal(t, []string{"oom_kill"}, d.Reset)
	assert.Equal(t, cgroup.AmountOf(-60), d.Usage)
	assert.False(t, d.Failcnt.Known)

	_, err = cgroup.Diff(b, cgroup.MemorySnapshot{Path: "/b", Version: cgroup.V2, Time: a.Time})
	require.ErrorIs(t, err, cgroup.ErrMismatch)
	_, err = cgroup.Diff(a, b)
	require.ErrorIs(t, err, cgroup.ErrMismatch)
}

// copyTree copies a fixture host so a test can damage it.
func copyTree(t *testing.T, host string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("testdata", host)
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

func TestSnapshotBadInput(t *testing.T) {
	ctr := filepath.Join("sys", "fs", "cgroup", "memory", "docker", cid)
	for _, tc := range []struct {
		name, file, content string
		check               func(t *testing.T, err error)
	}{
		{"malformed limit", "memory.limit_in_bytes", "lots\n", func(t *testing.T, err error) {
			var pe *cgroup.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Path, "memory.limit_in_bytes")
			assert.Equal(t, "lots", pe.Text)
		}},
		{"negative usage", "memory.usage_in_bytes", "-5\n", nil},
		{"truncated stat", "memory.stat", "cache 1\nrss 2\ntotal_rs", func(t *testing.T, err error) {
			var pe *cgroup.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 3, pe.Line)
		}},
		{"stat bad number", "memory.stat", "cache 1\nrss 2,000\n", nil},
		{"stat beyond int64", "memory.stat", "total_cache 1\ntotal_rss 18446744073709551615\n", func(t *testing.T, err error) {
			var pe *cgroup.ParseError
			require.ErrorAs(t, err, &pe, "a counter at 2^64-1 is no size (it was Anon -1 B)")
			assert.Equal(t, 2, pe.Line)
			require.ErrorIs(t, err, strconv.ErrRange)
		}},
		{"stat at 2^63", "memory.stat", "total_inactive_file 9223372036854775808\n", func(t *testing.T, err error) {
			require.ErrorIs(t, err, strconv.ErrRange)
		}},
		{"usage at 2^63", "memory.usage_in_bytes", "9223372036854775808\n", func(t *testing.T, err error) {
			require.ErrorIs(t, err, strconv.ErrRange)
		}},
		{"oom_control missing keys", "memory.oom_control", "oom_kill 3\n", nil},
		{"usage missing", "memory.usage_in_bytes", "", func(t *testing.T, err error) {
			require.ErrorIs(t, err, cgroup.ErrNotFound)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, "v1")
			p := filepath.Join(root, ctr, tc.file)
			if tc.content == "" {
				require.NoError(t, os.Remove(p))
			} else {
				require.NoError(t, os.WriteFile(p, []byte(tc.content), 0o644))
			}
			fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
			require.NoError(t, err)
			cg, err := fs.FindContainer(cid)
			require.NoError(t, err)
			_, err = cg.Snapshot()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.file, "the error names the file")
			if tc.check != nil {
				tc.check(t, err)
			} else {
				var pe *cgroup.ParseError
				require.ErrorAs(t, err, &pe)
			}
		})
	}
}

func TestSnapshotGoneFixture(t *testing.T) {
	root := copyTree(t, "v1")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
	require.NoError(t, err)
	cg, err := fs.FindContainer(cid)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(cg.Dir()))
	_, err = cg.Snapshot()
	require.ErrorIs(t, err, cgroup.ErrGone)
}

func TestOptionsValidated(t *testing.T) {
	_, err := cgroup.NewFS(cgroup.WithRoot(""))
	require.Error(t, err)
	_, err = cgroup.NewFS(cgroup.WithProcRoot(""))
	require.Error(t, err)
	_, err = cgroup.NewFS(cgroup.WithClock(nil))
	require.Error(t, err)
}

// TestSnapshotLargeFile reads a memory.stat longer than the reader's first
// buffer (kernels add keys): what comes after the first 16 KiB still counts.
func TestSnapshotLargeFile(t *testing.T) {
	ctr := filepath.Join("sys", "fs", "cgroup", "memory", "docker", cid)
	root := copyTree(t, "v1")
	snap := func() cgroup.MemorySnapshot {
		fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
		require.NoError(t, err)
		cg, err := fs.FindContainer(cid)
		require.NoError(t, err)
		s, err := cg.Snapshot()
		require.NoError(t, err)
		return s
	}
	want := snap()
	require.True(t, want.Stat.InactiveFile.Known)
	p := filepath.Join(root, ctr, "memory.stat")
	orig, err := os.ReadFile(p)
	require.NoError(t, err)
	var pad strings.Builder
	for i := 0; pad.Len() < 40<<10; i++ {
		fmt.Fprintf(&pad, "future_key_%d %d\n", i, i)
	}
	require.NoError(t, os.WriteFile(p, append([]byte(pad.String()), orig...), 0o644))
	got := snap()
	assert.Equal(t, want.Stat, got.Stat)
	assert.Equal(t, want.WorkingSet, got.WorkingSet)
}
