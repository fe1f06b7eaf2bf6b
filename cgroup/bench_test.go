package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/oomkit/oomkit/cgroup"
	"github.com/oomkit/oomkit/internal/testenv"
)

// benchCgroup makes a real child memory cgroup with a process using 32 MiB
// in it, so both readers see a populated memory.stat.
func benchCgroup(b *testing.B) (*cgroup.FS, *testenv.Cgroup) {
	b.Helper()
	testenv.OwnMemoryCgroup(b)
	fs, err := cgroup.NewFS()
	if err != nil {
		b.Fatal(err)
	}
	c := testenv.NewCgroup(b, nil, "bench")
	c.SetLimit(256 << 20)
	cmd := c.Start(testenv.MemHog(b), "-total", "32MiB", "-hold")
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return fs, c
}

// BenchmarkSnapshotV1Real is a full MemorySnapshot of one real v1 cgroup;
// BenchmarkContainerdStatV1Real reads the same cgroup with
// containerd/cgroups' Stat(). Run them together:
//
//	go test ./cgroup -run '^$' -bench 'V1Real' -benchmem
func BenchmarkSnapshotV1Real(b *testing.B) {
	fs, c := benchCgroup(b)
	cg, err := fs.Cgroup(c.Path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cg.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContainerdStatV1Real(b *testing.B) {
	_, c := benchCgroup(b)
	ctl, err := cgroup1.Load(cgroup1.StaticPath(c.Path), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		return []cgroup1.Subsystem{cgroup1.NewMemory(cgroup.DefaultRoot)}, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ctl.Stat(cgroup1.IgnoreNotExist); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotFixture1000 snapshots 1,000 containers of a generated v1
// fixture tree; ns/op and allocs/op are per cgroup.
func BenchmarkSnapshotFixture1000(b *testing.B) {
	for _, host := range []string{"v1", "v2"} {
		b.Run(host, func(b *testing.B) {
			root := b.TempDir()
			src := filepath.Join("testdata", host)
			if err := os.CopyFS(root, os.DirFS(src)); err != nil {
				b.Fatal(err)
			}
			cgRoot := filepath.Join(root, "sys", "fs", "cgroup")
			var proto, parent string
			if host == "v1" {
				proto = filepath.Join(cgRoot, "memory", "docker", cid)
				parent = filepath.Join(cgRoot, "memory", "docker")
			} else {
				proto = filepath.Join(cgRoot, "system.slice", "docker-"+cid+".scope")
				parent = filepath.Join(cgRoot, "system.slice")
			}
			fs, err := cgroup.NewFS(cgroup.WithRoot(cgRoot), cgroup.WithProcRoot(filepath.Join(root, "proc")))
			if err != nil {
				b.Fatal(err)
			}
			cgs := make([]*cgroup.Cgroup, 1000)
			for i := range cgs {
				id := fmt.Sprintf("%064x", i+1)
				name := id
				if host == "v2" {
					name = "docker-" + id + ".scope"
				}
				if err := os.CopyFS(filepath.Join(parent, name), os.DirFS(proto)); err != nil {
					b.Fatal(err)
				}
				if cgs[i], err = fs.FindContainer(id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := cgs[i%len(cgs)].Snapshot(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
