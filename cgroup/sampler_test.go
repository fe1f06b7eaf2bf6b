package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

func TestSamplerFixture(t *testing.T) {
	root := copyTree(t, "v1")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")), cgroup.WithClock(func() time.Time { return fixedTime }))
	require.NoError(t, err)
	s, err := fs.NewSampler(cgroup.WithDiscover("/docker", "/kubepods/burstable"), cgroup.WithMaxCgroups(10))
	require.NoError(t, err)
	defer s.Close()
	n, err := s.Discover()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the container and the pod")
	var got []cgroup.Reading
	gone := s.Sample(func(r cgroup.Reading) { got = append(got, r) })
	assert.Empty(t, gone)
	require.Len(t, got, 2)
	byPath := map[string]cgroup.Reading{}
	for _, r := range got {
		byPath[r.Path] = r
	}
	r := byPath["/docker/"+cid]
	assert.Equal(t, cgroup.AmountOf(32<<20), r.Usage)
	assert.Equal(t, cgroup.AmountOf(32<<20-135168), r.WorkingSet, "same working set as Snapshot")
	assert.Equal(t, cgroup.AmountOf(33288192), r.Anon)
	// A cgroup that disappears is dropped and reported once.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "sys", "fs", "cgroup", "memory", "docker", cid)))
	got = nil
	gone = s.Sample(func(r cgroup.Reading) { got = append(got, r) })
	_ = gone // on tmpfs an unlinked file still reads: removal shows through Discover's view only on a real kernel
	assert.LessOrEqual(t, s.Len(), 2)
}

func TestRealSamplerGone(t *testing.T) {
	fs := realFS(t)
	c := testenv.NewCgroup(t, nil, "sampled")
	s, err := fs.NewSampler()
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Add(c.Path))
	n := 0
	s.Sample(func(cgroup.Reading) { n++ })
	assert.Equal(t, 1, n)
	require.NoError(t, os.Remove(c.Dir))
	gone := s.Sample(func(cgroup.Reading) { t.Fatal("read a removed cgroup") })
	assert.Equal(t, []string{c.Path}, gone, "ENODEV on the kept descriptor drops it")
	assert.Equal(t, 0, s.Len())
}

// benchSampler samples n cgroups per op and reports wall time and CPU time
// (user + system, all threads, from getrusage) per cgroup-sample. On a
// virtual machine the two differ: part of each system call's wall time is
// spent in the hypervisor, not charged to the process.
func benchSampler(b *testing.B, s *cgroup.Sampler, n int) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for b.Loop() {
		s.Sample(func(cgroup.Reading) {})
	}
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cgroup")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/cgroup")
}

// cpuTime is this process's CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSampler1000 samples 1,000 cgroups: generated v1 fixture copies,
// and real child memory cgroups of this host, beside containerd/cgroups'
// Stat() of real cgroups:
//
//	go test ./cgroup -run '^$' -bench 'Sampler1000|StatReal' -benchtime 200x
func BenchmarkSampler1000(b *testing.B) {
	b.Run("fixture", func(b *testing.B) {
		root := b.TempDir()
		require.NoError(b, os.CopyFS(root, os.DirFS(filepath.Join("testdata", "v1"))))
		proto := filepath.Join(root, "sys", "fs", "cgroup", "memory", "docker", cid)
		for i := range 1000 {
			require.NoError(b, os.CopyFS(filepath.Join(root, "sys", "fs", "cgroup", "memory", "docker", fmt.Sprintf("%064x", i+1)), os.DirFS(proto)))
		}
		fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")))
		require.NoError(b, err)
		s, _ := fs.NewSampler(cgroup.WithDiscover("/docker"))
		defer s.Close()
		_, err = s.Discover()
		require.NoError(b, err)
		benchSampler(b, s, s.Len())
	})
	// The floor: one pread of memory.usage_in_bytes per cgroup, nothing
	// parsed, so the sampler's figure can be read against this machine's
	// system call cost.
	b.Run("real/pread-floor", func(b *testing.B) {
		_, parent := realParent(b)
		es, err := os.ReadDir(parent.Dir)
		require.NoError(b, err)
		var fds []int
		for _, e := range es {
			if e.IsDir() {
				fd, err := unix.Open(filepath.Join(parent.Dir, e.Name(), "memory.usage_in_bytes"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				require.NoError(b, err)
				fds = append(fds, fd)
			}
		}
		defer func() {
			for _, fd := range fds {
				_ = unix.Close(fd)
			}
		}()
		buf := make([]byte, 64)
		b.ResetTimer()
		cpu0 := cpuTime(b)
		for b.Loop() {
			for _, fd := range fds {
				_, _ = unix.Pread(fd, buf, 0)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(fds)), "ns/cgroup")
		b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N)/float64(len(fds)), "cpu-ns/cgroup")
	})
	for _, every := range []int{1, 10} {
		b.Run(fmt.Sprintf("real/stat-every-%d", every), func(b *testing.B) {
			fs, parent := realParent(b)
			s, _ := fs.NewSampler(cgroup.WithDiscover(parent.Path), cgroup.WithStatEvery(every))
			defer s.Close()
			_, err := s.Discover()
			require.NoError(b, err)
			benchSampler(b, s, s.Len())
		})
	}
}

// BenchmarkContainerdStatReal is containerd/cgroups' Stat() over the same
// kind of real cgroups, per cgroup.
func BenchmarkContainerdStatReal(b *testing.B) {
	_, parent := realParent(b)
	es, _ := os.ReadDir(parent.Dir)
	var ctls []cgroup1.Cgroup
	for _, e := range es {
		if e.IsDir() && len(ctls) < 100 {
			ctl, err := cgroup1.Load(cgroup1.StaticPath(parent.Path+"/"+e.Name()), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
				return []cgroup1.Subsystem{cgroup1.NewMemory(cgroup.DefaultRoot)}, nil
			}))
			require.NoError(b, err)
			ctls = append(ctls, ctl)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for b.Loop() {
		for _, c := range ctls {
			_, _ = c.Stat(cgroup1.IgnoreNotExist)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ctls)), "ns/cgroup")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N)/float64(len(ctls)), "cpu-ns/cgroup")
}

// realParent makes a parent with 1,000 child memory cgroups (one holds a
// process with 8 MiB, the rest are empty), removed at the end.
func realParent(b *testing.B) (*cgroup.FS, *testenv.Cgroup) {
	b.Helper()
	testenv.OwnMemoryCgroup(b)
	fs, err := cgroup.NewFS()
	require.NoError(b, err)
	parent := testenv.NewCgroup(b, nil, "many")
	for i := range 1000 {
		require.NoError(b, os.Mkdir(filepath.Join(parent.Dir, fmt.Sprintf("c%04d", i)), 0o755))
	}
	return fs, parent
}

// TestSamplerBadValues: a live cgroup whose usage is beyond int64, whose
// memory.stat does not parse or reads empty gets a Reading with a
// ParseError naming the file, never a negative size, and is still sampled
// (it was dropped as gone).
func TestSamplerBadValues(t *testing.T) {
	root := copyTree(t, "v1")
	dir := filepath.Join(root, "sys", "fs", "cgroup", "memory", "docker", cid)
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")), cgroup.WithClock(func() time.Time { return fixedTime }))
	require.NoError(t, err)
	s, err := fs.NewSampler()
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Add("/docker/"+cid))
	for _, tc := range []struct{ file, content, text string }{
		{"memory.usage_in_bytes", "9223372036854775808\n", "9223372036854775808"},
		{"memory.usage_in_bytes", "18446744073709551615\n", "18446744073709551615"},
		{"memory.stat", "total_rss 18446744073709551615\n", "total_rss 18446744073709551615"},
		{"memory.stat", "total_rss lots\n", "total_rss lots"},
		{"memory.stat", "", ""},
	} {
		orig, err := os.ReadFile(filepath.Join(dir, tc.file))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644))
		var got []cgroup.Reading
		gone := s.Sample(func(r cgroup.Reading) { got = append(got, r) })
		assert.Empty(t, gone, "%s %q: a live cgroup is not gone", tc.file, tc.content)
		require.Len(t, got, 1)
		var pe *cgroup.ParseError
		require.ErrorAs(t, got[0].Err, &pe, "%s %q", tc.file, tc.content)
		assert.Equal(t, filepath.Join(dir, tc.file), pe.Path)
		assert.Equal(t, tc.text, pe.Text)
		for _, a := range []cgroup.Amount{got[0].Usage, got[0].WorkingSet, got[0].Anon, got[0].NonReclaimable} {
			assert.False(t, a.Known && a.Bytes < 0, "never a negative size: %+v", got[0])
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), orig, 0o644))
		got = nil
		s.Sample(func(r cgroup.Reading) { got = append(got, r) })
		require.Len(t, got, 1, "still sampled")
		assert.NoError(t, got[0].Err)
		assert.Equal(t, cgroup.AmountOf(32<<20), got[0].Usage)
		assert.True(t, got[0].WorkingSet.Known)
	}
	// (a real removal, whose reads answer ENODEV, is TestRealSamplerGone)
}

// TestSamplerAllocFree holds the Sampler's promise of no allocation per
// sample, memory.stat included (an errors.As target that escaped cost one
// per read).
func TestSamplerAllocFree(t *testing.T) {
	root := copyTree(t, "v1")
	fs, err := cgroup.NewFS(cgroup.WithRoot(filepath.Join(root, "sys", "fs", "cgroup")), cgroup.WithProcRoot(filepath.Join(root, "proc")), cgroup.WithClock(func() time.Time { return fixedTime }))
	require.NoError(t, err)
	s, err := fs.NewSampler(cgroup.WithDiscover("/docker", "/kubepods/burstable"), cgroup.WithMaxCgroups(10))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Discover()
	require.NoError(t, err)
	n := 0
	fn := func(cgroup.Reading) { n++ }
	allocs := testing.AllocsPerRun(20, func() { s.Sample(fn) })
	require.Positive(t, n)
	assert.Zero(t, allocs, "allocations per Sample of 2 cgroups")
}
