package vm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// Mount is where the VM's init mounts cgroup2.
const Mount = "/sys/fs/cgroup"

// Cgroup is a v2 cgroup a test in the VM created; it is removed (its
// processes killed first) when the test ends.
type Cgroup struct {
	Path string // from the hierarchy root, as the kernel prints it
	Dir  string // under Mount
	t    testing.TB
}

// NewCgroup creates the cgroup name under parent (nil: the root) and
// enables the memory controller for parent's children. It fails the test
// outside the VM.
func NewCgroup(t testing.TB, parent *Cgroup, name string) *Cgroup {
	t.Helper()
	if !Inside() {
		t.Fatal("vm.NewCgroup is for tests in the VM")
	}
	ppath, pdir := "/", Mount
	if parent != nil {
		ppath, pdir = parent.Path, parent.Dir
		writeFile(t, filepath.Join(pdir, "cgroup.subtree_control"), "+memory")
	}
	dir := filepath.Join(pdir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup %s: %v", dir, err)
	}
	c := &Cgroup{Path: filepath.Join(ppath, name), Dir: dir, t: t}
	t.Cleanup(c.remove)
	return c
}

// Write writes a value to a file of the cgroup, failing the test on error.
func (c *Cgroup) Write(file, value string) {
	c.t.Helper()
	writeFile(c.t, filepath.Join(c.Dir, file), value)
}

// Read returns a file of the cgroup, failing the test on error.
func (c *Cgroup) Read(file string) string {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, file))
	if err != nil {
		c.t.Fatalf("read %s: %v", file, err)
	}
	return string(data)
}

// Value returns the number after key in a flat-keyed file (memory.events,
// memory.stat), failing the test when it is missing.
func (c *Cgroup) Value(file, key string) int64 {
	c.t.Helper()
	for line := range strings.SplitSeq(c.Read(file), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				c.t.Fatalf("%s %s: %v", file, key, err)
			}
			return n
		}
	}
	c.t.Fatalf("no %s in %s of %s", key, file, c.Path)
	return 0
}

// SetMax writes memory.max.
func (c *Cgroup) SetMax(bytes int64) {
	c.t.Helper()
	c.Write("memory.max", strconv.FormatInt(bytes, 10))
}

// Start starts argv in the cgroup (it joins before exec) and returns it.
func (c *Cgroup) Start(argv ...string) *exec.Cmd {
	c.t.Helper()
	// The test binary runs with oom_score_adj -1000 (so a host-wide OOM in
	// the VM never kills it); what it starts takes its chances again.
	script := `echo 0 > /proc/self/oom_score_adj && echo $$ > "$0/cgroup.procs" && exec "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, c.Dir}, argv...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %v in %s: %v", argv, c.Path, err)
	}
	want := strconv.Itoa(cmd.Process.Pid)
	for range 1000 {
		data, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		if err != nil || slices.Contains(strings.Fields(string(data)), want) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cmd
}

// Run runs argv in the cgroup and returns its wait status.
func (c *Cgroup) Run(argv ...string) syscall.WaitStatus {
	c.t.Helper()
	cmd := c.Start(argv...)
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("wait %v: %v", argv, err)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func (c *Cgroup) remove() {
	entries, _ := os.ReadDir(c.Dir)
	for _, e := range entries {
		if e.IsDir() {
			(&Cgroup{Path: filepath.Join(c.Path, e.Name()), Dir: filepath.Join(c.Dir, e.Name()), t: c.t}).remove()
		}
	}
	// cgroup.kill (5.14+) kills every process of the subtree at once.
	_ = os.WriteFile(filepath.Join(c.Dir, "cgroup.kill"), []byte("1"), 0o644)
	for range 250 {
		if err := os.Remove(c.Dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Errorf("could not remove test cgroup %s", c.Dir)
}

func writeFile(t testing.TB, p, v string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", v, p, err)
	}
}

// Swap turns on swap on a zram device of the given size for the rest of the
// test (the VM has no disk; zram compresses pages in RAM). It calls
// testenv.Unavailable when the kernel has no zram.
func Swap(t testing.TB, size int64) {
	t.Helper()
	dev := "/sys/block/zram0"
	if _, err := os.Stat(dev); err != nil {
		testenv.Unavailable(t, "no zram device in the VM (module zram not packed or loaded): %v", err)
	}
	writeFile(t, dev+"/disksize", strconv.FormatInt(size, 10))
	for _, argv := range [][]string{{"mkswap", "/dev/zram0"}, {"swapon", "/dev/zram0"}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("swapoff", "/dev/zram0").CombinedOutput(); err != nil {
			t.Errorf("swapoff: %v\n%s", err, out)
		}
		_ = os.WriteFile(dev+"/reset", []byte("1"), 0o644)
	})
}
