// Package testenv holds what oomkit's integration tests share: the rule that
// a missing component skips a test (or fails it under OOMKIT_INTEGRATION=1),
// child memory cgroups that are always removed, the memhog helper binary and
// the Docker Engine the CI starts.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"
)

// Integration reports whether OOMKIT_INTEGRATION=1: missing components then
// fail tests instead of skipping them.
func Integration() bool { return os.Getenv("OOMKIT_INTEGRATION") == "1" }

// Unavailable skips the test with the reason, or fails it under
// OOMKIT_INTEGRATION=1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Integration() {
		t.Fatalf("OOMKIT_INTEGRATION=1 but %s", msg)
	}
	t.Skip(msg)
}

// V1MemoryMount is where the v1 memory controller is mounted on the hosts
// oomkit is tested on.
const V1MemoryMount = "/sys/fs/cgroup/memory"

// OwnMemoryCgroup returns the v1 memory cgroup path of this process (as in
// /proc/self/cgroup) and its directory, or calls Unavailable.
func OwnMemoryCgroup(t testing.TB) (path, dir string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		Unavailable(t, "memory cgroups need Linux")
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "creating memory cgroups needs root")
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		Unavailable(t, "read /proc/self/cgroup: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			if c == "memory" {
				dir = filepath.Join(V1MemoryMount, parts[2])
				if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err != nil {
					Unavailable(t, "own memory cgroup %s is not readable: %v", dir, err)
				}
				return parts[2], dir
			}
		}
	}
	Unavailable(t, "no cgroup v1 memory controller in /proc/self/cgroup")
	return "", ""
}

// Cgroup is a v1 memory cgroup a test created; it is removed when the test
// ends, its processes killed first, also when the test fails.
type Cgroup struct {
	Path string // as the kernel prints it, from the hierarchy root
	Dir  string // its directory under V1MemoryMount
	t    testing.TB
}

// NewCgroup creates a child memory cgroup under parent (nil: under this
// process's own memory cgroup), or calls Unavailable.
func NewCgroup(t testing.TB, parent *Cgroup, name string) *Cgroup {
	t.Helper()
	var ppath, pdir string
	if parent == nil {
		ppath, pdir = OwnMemoryCgroup(t)
	} else {
		ppath, pdir = parent.Path, parent.Dir
	}
	name = fmt.Sprintf("%s-%d-%d", name, os.Getpid(), time.Now().UnixNano()%1e9)
	dir := filepath.Join(pdir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		Unavailable(t, "create memory cgroup %s: %v", dir, err)
	}
	c := &Cgroup{Path: filepath.Join(ppath, name), Dir: dir, t: t}
	t.Cleanup(c.remove)
	return c
}

// SetLimit writes memory.limit_in_bytes.
func (c *Cgroup) SetLimit(bytes int64) {
	c.t.Helper()
	c.Write("memory.limit_in_bytes", strconv.FormatInt(bytes, 10))
}

// Write writes a value to a file of the cgroup, failing the test on error.
func (c *Cgroup) Write(file, value string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, file), []byte(value), 0o644); err != nil {
		c.t.Fatalf("write %s to %s: %v", value, file, err)
	}
}

// Start starts argv as a process inside the cgroup (it joins before exec)
// and returns it; the caller waits for it.
func (c *Cgroup) Start(argv ...string) *exec.Cmd {
	c.t.Helper()
	script := `echo $$ > "$0/cgroup.procs" && exec "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, c.Dir}, argv...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %v in %s: %v", argv, c.Path, err)
	}
	// The shell moves itself (the same pid after exec) into the cgroup:
	// wait until it is there, so callers can look the process up at once.
	want := strconv.Itoa(cmd.Process.Pid)
	for range 500 {
		data, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		if err != nil {
			break
		}
		if slices.Contains(strings.Fields(string(data)), want) {
			return cmd
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cmd
}

// Run runs argv inside the cgroup and returns its wait status.
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
	// Children first: the kernel refuses to remove a cgroup that has any.
	entries, _ := os.ReadDir(c.Dir)
	for _, e := range entries {
		if e.IsDir() {
			(&Cgroup{Path: filepath.Join(c.Path, e.Name()), Dir: filepath.Join(c.Dir, e.Name()), t: c.t}).remove()
		}
	}
	for range 50 {
		data, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
		if err != nil {
			return // already gone
		}
		pids := strings.Fields(string(data))
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := os.Remove(c.Dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Errorf("could not remove test cgroup %s", c.Dir)
}

type built struct {
	once sync.Once
	path string
	err  error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*built{}
)

// Build builds a package of this module once per test binary (static, with
// cgo off, so it also runs inside a busybox container) and returns the
// binary's path; a failed build fails the test.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	b, ok := builds[pkg]
	if !ok {
		b = &built{}
		builds[pkg] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "oomkit-build-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// MemHog builds internal/cmd/memhog once per test binary and returns its
// path.
func MemHog(t testing.TB) string {
	t.Helper()
	return Build(t, "github.com/oomkit/oomkit/internal/cmd/memhog")
}

// DefaultImage is the image .ci/run imports from a busybox rootfs.
const DefaultImage = "oomkit-busybox:latest"

// Image returns the test image name: $OOMKIT_TEST_IMAGE or DefaultImage.
func Image() string {
	if s := os.Getenv("OOMKIT_TEST_IMAGE"); s != "" {
		return s
	}
	return DefaultImage
}

// Docker returns a client for the Engine at $DOCKER_HOST (or the default
// socket) after checking that it answers and has the test image, or calls
// Unavailable.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		Unavailable(t, "docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		Unavailable(t, "no Docker Engine at %s: %v", cli.DaemonHost(), err)
	}
	if _, err := cli.ImageInspect(ctx, Image()); err != nil {
		Unavailable(t, "test image %s missing (made by .ci/run): %v", Image(), err)
	}
	return cli
}

// KernelLogSince returns the kernel log lines from /dev/kmsg whose
// timestamps are at or after since (time since boot), read without
// blocking. It calls Unavailable when /dev/kmsg cannot be read.
func KernelLogSince(t testing.TB, since time.Duration) []byte {
	t.Helper()
	// Raw non-blocking reads: os.File would park on the poller instead of
	// returning EAGAIN at the end of the buffer.
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		Unavailable(t, "read /dev/kmsg: %v", err)
	}
	defer unix.Close(fd)
	var out bytes.Buffer
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) { // records overwritten under us: keep reading
			continue
		}
		if err != nil || n <= 0 {
			break // EAGAIN: the end
		}
		rec := buf[:n]
		if at, ok := kmsgStamp(rec); ok && at >= since {
			out.Write(rec)
		}
	}
	return out.Bytes()
}

// Uptime returns the time on the clock of /dev/kmsg stamps: CLOCK_MONOTONIC
// plus KmsgOffset.
func Uptime(t testing.TB) time.Duration {
	t.Helper()
	return Monotonic(t) + KmsgOffset(t)
}

// Monotonic returns CLOCK_MONOTONIC, the clock of cgroup.Event.Monotonic.
func Monotonic(t testing.TB) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatalf("clock_gettime: %v", err)
	}
	return time.Duration(ts.Nano())
}

var (
	kmsgOnce sync.Once
	kmsgOff  time.Duration
)

// KmsgOffset returns how far the clock of /dev/kmsg stamps (the kernel's
// local clock) is ahead of CLOCK_MONOTONIC. They are not the same clock: on
// the virtual machines oomkit is tested on they were seen 1.4 ms apart after
// 40 minutes of uptime, more than the latencies measured. It is measured
// once per test binary by writing a probe line to /dev/kmsg between two
// clock readings (to within tens of microseconds); 0 when /dev/kmsg cannot
// be written.
func KmsgOffset(t testing.TB) time.Duration {
	t.Helper()
	kmsgOnce.Do(func() { kmsgOff = measureKmsgOffset(t) })
	return kmsgOff
}

func measureKmsgOffset(t testing.TB) time.Duration {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		return 0
	}
	probe := fmt.Sprintf("oomkit-testenv: clock probe %d-%d", os.Getpid(), time.Now().UnixNano())
	before := Monotonic(t)
	if _, err := unix.Write(fd, []byte(probe+"\n")); err != nil {
		return 0
	}
	after := Monotonic(t)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) {
			continue
		}
		if err != nil || n <= 0 {
			return 0
		}
		rec := buf[:n]
		if !bytes.Contains(rec, []byte(probe)) {
			continue
		}
		at, ok := kmsgStamp(rec)
		if !ok {
			return 0
		}
		return at - (before+after)/2
	}
}

// kmsgStamp reads the time since boot of a /dev/kmsg record
// ("level,seq,usec,flags;message").
func kmsgStamp(rec []byte) (time.Duration, bool) {
	semi := bytes.IndexByte(rec, ';')
	if semi < 0 {
		return 0, false
	}
	fields := bytes.Split(rec[:semi], []byte(","))
	if len(fields) < 3 {
		return 0, false
	}
	us, err := strconv.ParseInt(string(fields[2]), 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// The kernel prints at most ten OOM report headers (the lines that name the
// cgroups) per five seconds, for every process on the host; past that it
// keeps only each "Killed process" line. go test runs packages in
// parallel, so a burst of kills in one package would strip the reports
// another package's test reads. Tests coordinate through a file lock.
var reportsLock = filepath.Join(os.TempDir(), "oomkit-oom-reports.lock")

// KernelReports holds the report budget shared for the rest of the test:
// call it before killing in a test that reads the kernel's reports.
func KernelReports(t testing.TB) { holdReports(t, unix.LOCK_SH, 0) }

// KillBurst holds the report budget alone for a test that kills more than
// the kernel reports, and keeps it five seconds after the test, until the
// kernel's rate limit has reset.
func KillBurst(t testing.TB) { holdReports(t, unix.LOCK_EX, 5*time.Second) }

func holdReports(t testing.TB, how int, after time.Duration) {
	t.Helper()
	fd, err := unix.Open(reportsLock, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
	if err != nil {
		t.Fatalf("open %s: %v", reportsLock, err)
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		t.Fatalf("lock %s: %v", reportsLock, err)
	}
	t.Cleanup(func() {
		time.Sleep(after)
		_ = unix.Close(fd) // releases the lock
	})
}
