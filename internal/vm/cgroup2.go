package vm

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// Mount is where the VM's init mounts cgroup2.
const Mount = "/sys/fs/cgroup"

// Cgroup is a v2 cgroup a test in the VM created (testenv.NewCgroupV2),
// removed (its processes killed first) when the test ends.
type Cgroup = testenv.Cgroup

// NewCgroup creates the cgroup name under parent (nil: the root) and
// enables the memory controller for parent's children. It fails the test
// outside the VM.
func NewCgroup(t testing.TB, parent *Cgroup, name string) *Cgroup {
	t.Helper()
	if !Inside() {
		t.Fatal("vm.NewCgroup is for tests in the VM")
	}
	return testenv.NewCgroupV2(t, Mount, parent, name)
}

// WaitCurrent waits until c's memory.current reaches n bytes, failing the
// test after 10 s.
func WaitCurrent(t testing.TB, c *Cgroup, n int64) {
	t.Helper()
	for range 500 {
		cur, _ := strconv.ParseInt(strings.TrimSpace(c.Read("memory.current")), 10, 64)
		if cur >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never reached %d bytes", c.Path, n)
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
