// Package testenv holds what oomkit's integration tests share: the rule that
// a missing component skips a test (or fails it under OOMKIT_INTEGRATION=1),
// child memory cgroups that are always removed, the memhog helper binary and
// the Docker Engine the CI starts.
package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
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

// CI reports whether the tests run in CI (CI=true, as .ci/run and the
// usual CI services set) or under OOMKIT_INTEGRATION=1.
func CI() bool {
	return Integration() || os.Getenv("CI") == "true" || os.Getenv("CI") == "1"
}

// StartDaemons is called by a test before it starts a daemon of its own
// (a private dockerd, say). A plain go test must not start daemons on a
// developer's machine: the test is skipped, with the reason, unless
// OOMKIT_INTEGRATION=1 or OOMKIT_START_DAEMONS=1.
func StartDaemons(t testing.TB, what string) {
	t.Helper()
	if Integration() || os.Getenv("OOMKIT_START_DAEMONS") == "1" {
		return
	}
	t.Skipf("this test starts %s: set OOMKIT_INTEGRATION=1 or OOMKIT_START_DAEMONS=1 to run it", what)
}

// SharedCorpus returns the path of elem inside the project's shared corpus
// (shared/corpus, which sits beside the repository: <repo>/../shared). It
// is looked for in $OOMKIT_SHARED (the shared directory itself), then
// beside the repository root, found by walking up from the test's
// directory to the top of the git work tree (also beside the main work
// tree when the checkout is a git worktree). When it is absent the test
// is skipped, or fails in CI (CI=true or OOMKIT_INTEGRATION=1), where the
// corpus is always checked out beside the repository.
func SharedCorpus(t testing.TB, elem ...string) string {
	t.Helper()
	var tried []string
	for _, shared := range sharedDirs() {
		p := filepath.Join(append([]string{shared, "corpus"}, elem...)...)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	msg := fmt.Sprintf("shared corpus not present (looked for %s; set OOMKIT_SHARED to the shared directory)", strings.Join(tried, ", "))
	if CI() {
		t.Fatalf("in CI the corpus must be beside the repository, but %s", msg)
	}
	t.Skip(msg)
	return ""
}

// sharedDirs lists where the shared directory may be, best first.
func sharedDirs() []string {
	var out []string
	if d := os.Getenv("OOMKIT_SHARED"); d != "" {
		out = append(out, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return out
	}
	for dir := wd; ; {
		if info, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			out = append(out, filepath.Join(filepath.Dir(dir), "shared"))
			if !info.IsDir() { // a worktree: .git names the main repository's git dir
				if main := mainWorkTree(filepath.Join(dir, ".git")); main != "" && main != dir {
					out = append(out, filepath.Join(filepath.Dir(main), "shared"))
				}
			}
			return out
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return out
		}
		dir = parent
	}
}

// mainWorkTree reads a worktree's .git file ("gitdir: <main>/.git/worktrees/<name>")
// and returns the main work tree, or "".
func mainWorkTree(gitFile string) string {
	data, err := os.ReadFile(gitFile)
	if err != nil {
		return ""
	}
	gitdir, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir: ")
	if !ok {
		return ""
	}
	if !filepath.IsAbs(gitdir) {
		gitdir = filepath.Join(filepath.Dir(gitFile), gitdir)
	}
	common := filepath.Join(gitdir, "..", "..") // <main>/.git
	if c, err := os.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		common = strings.TrimSpace(string(c))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitdir, common)
		}
	}
	common = filepath.Clean(common)
	if filepath.Base(common) != ".git" {
		return "" // a bare repository: no work tree
	}
	return filepath.Dir(common)
}

// InsideVM reports whether this process runs in the test VM that
// internal/vm boots (it sets OOMKIT_IN_VM=1).
func InsideVM() bool { return os.Getenv("OOMKIT_IN_VM") == "1" }

// InVM skips the test unless it runs in the test VM: such tests are run
// there by the package's parent test (internal/vm.Run), which boots the VM
// or skips (fails under OOMKIT_INTEGRATION=1) when qemu or a kernel is
// missing.
func InVM(t testing.TB) {
	t.Helper()
	if !InsideVM() {
		t.Skip("runs inside the test VM, booted by the package's TestVM")
	}
}

// vmBinDir is where internal/vm packs Config.Binaries; Build and
// BuildStatic return them there in the VM.
const vmBinDir = "/oomkit/bin"

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

// Cgroup is a memory cgroup a test created (v1 by NewCgroup, v2 by
// NewCgroupV2); it is removed when the test ends, its processes killed
// first, also when the test fails.
type Cgroup struct {
	Path string // as the kernel prints it, from the hierarchy root
	Dir  string // its directory under V1MemoryMount (v1) or the cgroup2 mount
	t    testing.TB
	v2   bool
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

// NewCgroupV2 creates the cgroup2 cgroup name under parent (nil: the root
// of the hierarchy mounted at mount) and enables the memory controller for
// parent's children; an error fails the test. What it starts runs with
// oom_score_adj 0 (the test VM's test binary runs with -1000); it is
// emptied with cgroup.kill (Linux 5.14+) before removal.
func NewCgroupV2(t testing.TB, mount string, parent *Cgroup, name string) *Cgroup {
	t.Helper()
	ppath, pdir := "/", mount
	if parent != nil {
		ppath, pdir = parent.Path, parent.Dir
		parent.Write("cgroup.subtree_control", "+memory")
	}
	dir := filepath.Join(pdir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup %s: %v", dir, err)
	}
	c := &Cgroup{Path: filepath.Join(ppath, name), Dir: dir, t: t, v2: true}
	t.Cleanup(c.remove)
	return c
}

// SetLimit writes memory.limit_in_bytes (v1).
func (c *Cgroup) SetLimit(bytes int64) {
	c.t.Helper()
	c.Write("memory.limit_in_bytes", strconv.FormatInt(bytes, 10))
}

// SetMax writes memory.max (v2).
func (c *Cgroup) SetMax(bytes int64) {
	c.t.Helper()
	c.Write("memory.max", strconv.FormatInt(bytes, 10))
}

// Write writes a value to a file of the cgroup, failing the test on error.
func (c *Cgroup) Write(file, value string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, file), []byte(value), 0o644); err != nil {
		c.t.Fatalf("write %q to %s: %v", value, filepath.Join(c.Dir, file), err)
	}
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

// Value returns the number after key in a flat-keyed file (memory.stat,
// memory.events), failing the test when it is missing.
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

// Start starts argv as a process inside the cgroup (it joins before exec)
// and returns it; the caller waits for it.
func (c *Cgroup) Start(argv ...string) *exec.Cmd {
	c.t.Helper()
	script := `echo $$ > "$0/cgroup.procs" && exec "$@"`
	if c.v2 {
		// The test VM's test binary runs with oom_score_adj -1000 (so a
		// host-wide OOM in the VM never kills it); what it starts takes
		// its chances again.
		script = `echo 0 > /proc/self/oom_score_adj && ` + script
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, c.Dir}, argv...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %v in %s: %v", argv, c.Path, err)
	}
	// The shell moves itself (the same pid after exec) into the cgroup:
	// wait until it is there, so callers can look the process up at once.
	want := strconv.Itoa(cmd.Process.Pid)
	for range 1000 {
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
			(&Cgroup{Path: filepath.Join(c.Path, e.Name()), Dir: filepath.Join(c.Dir, e.Name()), t: c.t, v2: c.v2}).remove()
		}
	}
	if c.v2 { // cgroup.kill (5.14+) kills every process of the subtree at once
		_ = os.WriteFile(filepath.Join(c.Dir, "cgroup.kill"), []byte("1"), 0o644)
	}
	for range 250 {
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

// RemoveCgroupParent removes /name, the cgroup a Docker Engine started
// with --cgroup-parent=/name made, and what is left under it, under every
// controller mounted in /sys/fs/cgroup (v1) and in the v2 root, deepest
// first. Call it once the Engine has stopped; a cgroup still holding
// processes is reported, not forced.
func RemoveCgroupParent(t testing.TB, name string) {
	t.Helper()
	if name == "" || strings.ContainsAny(name, "/.") {
		t.Fatalf("RemoveCgroupParent(%q): want a single path element", name)
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	roots = append(roots, "/sys/fs/cgroup/"+name)
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("remove the Engine's cgroup %s: %v", dirs[i], err)
			}
		}
	}
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

// How long an unused entry stays in BuildDir: a test's copy of a binary
// (needed only while tests run), and a checkout's build output (kept so an
// unchanged binary is not linked again).
const (
	binaryCacheAge = time.Hour
	workCacheAge   = 6 * time.Hour
)

// BuildDir is where Build keeps the binaries it made: a cache beside Go's
// own (the user cache directory, e.g. ~/.cache/oomkit-testbin), not the temp
// dir, so test runs leave nothing there. Each binary the tests run sits in a
// directory named by its content (package base name and a hash), so test
// binaries of different checkouts never overwrite each other's; the next
// Build removes those unused for an hour, and a checkout's build output
// unused for six hours (seven people testing at once made 3.6 GB in two
// hours here).
func BuildDir() string {
	if d := os.Getenv("OOMKIT_BUILD_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "oomkit-testbin")
	}
	return filepath.Join(os.TempDir(), "oomkit-testbin")
}

// Build builds a package of this module once per test binary, for running
// on this host, and returns the binary's path in BuildDir; a failed build
// fails the test. It builds with go test's own settings, so the packages
// go test has compiled are reused and a build is mostly a link (a build
// with cgo off recompiled the whole Docker client the first time: tens of
// seconds on a loaded machine, inside a test's timing).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return buildOnce(t, pkg, false)
}

// BuildStatic is Build with cgo off: a static binary that also runs inside
// a busybox container.
func BuildStatic(t testing.TB, pkg string) string {
	t.Helper()
	return buildOnce(t, pkg, true)
}

func buildOnce(t testing.TB, pkg string, static bool) string {
	t.Helper()
	key := pkg
	if static {
		key += " static"
	}
	buildMu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &built{}
		builds[key] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		if InsideVM() { // no go there: internal/vm packed the binary
			b.path = filepath.Join(vmBinDir, path.Base(pkg))
			if _, err := os.Stat(b.path); err != nil {
				b.err = fmt.Errorf("%s was not packed into the test VM (internal/vm Config.Binaries): %w", pkg, err)
			}
			return
		}
		start := time.Now()
		b.path, b.err = build(pkg, static)
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("testenv: building %s took %v", pkg, d.Round(time.Millisecond))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func build(pkg string, static bool) (string, error) {
	dir := BuildDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	pruneBuildDir(dir)
	// go build writes to a path fixed per checkout and package, so that
	// when nothing changed it finds the binary up to date and does not even
	// link (0.8 s instead of 4.5 s for examples/diagnose here). A lock
	// keeps test binaries of the same checkout from writing it at once.
	wd, _ := os.Getwd()
	key := sha256.Sum256([]byte(moduleRoot(wd) + "\x00" + pkg + "\x00" + strconv.FormatBool(static)))
	work := filepath.Join(dir, fmt.Sprintf(".work-%x", key[:8]))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	lock, err := unix.Open(work, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	defer unix.Close(lock)
	if err := flockRetry(lock, unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("build %s: lock %s: %w", pkg, work, err)
	}
	now := time.Now()
	_ = os.Chtimes(work, now, now) // in use: not pruned
	name := filepath.Base(pkg)
	out := filepath.Join(work, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if static {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	// The tests get a copy named by its content, which a later build of a
	// changed checkout never overwrites under a running test.
	data, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	sum := sha256.Sum256(data)
	final := filepath.Join(dir, fmt.Sprintf("%s-%x", name, sum[:8]))
	if _, err := os.Stat(filepath.Join(final, name)); err != nil {
		tmp, err := os.MkdirTemp(dir, ".copy-")
		if err != nil {
			return "", fmt.Errorf("build %s: %w", pkg, err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		_ = os.Chmod(tmp, 0o755) // containers' users may run it
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o755); err != nil {
			return "", fmt.Errorf("build %s: %w", pkg, err)
		}
		// Atomic; when another test binary got there first, its copy
		// has the same content.
		if err := os.Rename(tmp, final); err != nil {
			if _, serr := os.Stat(filepath.Join(final, name)); serr != nil {
				return "", fmt.Errorf("build %s: %w", pkg, err)
			}
		}
	}
	_ = os.Chtimes(final, now, now)
	return filepath.Join(final, name), nil
}

// moduleRoot returns the nearest directory at or above dir holding a
// go.mod, or dir.
func moduleRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// pruneBuildDir removes the entries (and abandoned copies) not used for
// their age.
func pruneBuildDir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		age := binaryCacheAge
		if strings.HasPrefix(e.Name(), ".work-") {
			age = workCacheAge
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// MemHog builds internal/cmd/memhog (static: tests bind it into busybox
// containers) once per test binary and returns its path.
func MemHog(t testing.TB) string {
	t.Helper()
	return BuildStatic(t, "github.com/oomkit/oomkit/internal/cmd/memhog")
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
// The lock file lives in /run/lock (the system's directory for lock files,
// a tmpfs emptied at boot), not in the temp dir; os.TempDir() only where
// /run/lock is missing. The file stays: removing a lock file others may
// hold would let two holders lock two different files.
func reportsLock() string {
	if st, err := os.Stat("/run/lock"); err == nil && st.IsDir() && unix.Access("/run/lock", unix.W_OK) == nil {
		return "/run/lock/oomkit-oom-reports.lock"
	}
	return filepath.Join(os.TempDir(), "oomkit-oom-reports.lock")
}

// KernelReports holds the report budget shared for the rest of the test:
// call it before killing in a test that reads the kernel's reports.
func KernelReports(t testing.TB) { holdReports(t, unix.LOCK_SH, 0) }

// KillBurst holds the report budget alone for a test that kills more than
// the kernel reports, and keeps it five seconds after the test, until the
// kernel's rate limit has reset.
func KillBurst(t testing.TB) { holdReports(t, unix.LOCK_EX, 5*time.Second) }

func holdReports(t testing.TB, how int, after time.Duration) {
	t.Helper()
	path := reportsLock()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o666)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	start := time.Now()
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		_ = unix.Close(fd)
		t.Fatalf("lock %s: %v", path, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("testenv: waited %v for the kernel-report lock %s (another test killing in a burst)", d.Round(time.Millisecond), path)
	}
	t.Cleanup(func() {
		time.Sleep(after)
		_ = unix.Close(fd) // releases the lock
	})
}
