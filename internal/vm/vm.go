// Package vm runs a package's tests inside a small virtual machine: a
// Debian kernel booted by QEMU under software emulation, with the memory
// controller on cgroup v2, swap on zram and nothing else, so tests can make
// what this host cannot (a v2 hierarchy, a host-wide OOM, swap) without
// endangering it.
//
// A package has one parent test that calls Run; Run builds the package's
// test binary statically, packs it with busybox (and the kernel modules it
// needs) into an initramfs, boots the VM once, runs the tests named by
// Config.Tests (default ^TestInVM) inside as the child of PID 1 with
// cgroup2 mounted at /sys/fs/cgroup and +memory enabled at the root, and
// reports each of them as a subtest, with its output, read back over a
// second serial port. The in-VM tests start with testenv.InVM(t), which
// skips them outside the VM.
//
// Outside the VM, a missing qemu-system-x86_64 or kernel skips the parent
// test, or fails it under OOMKIT_INTEGRATION=1 (testenv.Unavailable).
package vm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// Dir is where the test binary and the packed binaries live in the VM.
const Dir = "/oomkit"

// BinDir holds the binaries of Config.Binaries in the VM (also in $PATH).
const BinDir = Dir + "/bin"

// Config says what to pack and run.
type Config struct {
	// Binaries are packages of this module built statically and put in the
	// VM as BinDir/<last path element> (testenv.Build finds them there).
	Binaries []string
	// Tests is the -test.run pattern of the tests run in the VM; default
	// "^TestInVM". A parent run as -run 'TestVM/X' runs only X in the VM.
	Tests string
	// Args are more flags for the test binary in the VM (e.g. -update).
	Args []string
	// Export lists directories (relative to the package) that tests in the
	// VM may send back with Export; each one sent is replaced on the host.
	Export []string
	// MemoryMiB is the VM's memory; default 256 (a host-wide OOM fills it).
	MemoryMiB int
	// Timeout bounds the boot and the run; default 5 minutes.
	Timeout time.Duration
}

// Modules are the kernel modules packed (with what they depend on) and
// loaded at boot when the kernel has them: zram for swap in a VM that has
// no disk.
var Modules = []string{"zram"}

// Inside reports whether this process runs in the test VM.
func Inside() bool { return testenv.InsideVM() }

// Run boots the VM and runs the package's in-VM tests there, each reported
// as a subtest of t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if Inside() {
		t.Skip("already inside the VM")
	}
	testenv.StartDaemons(t, "a QEMU virtual machine")
	if cfg.Tests == "" {
		cfg.Tests = "^TestInVM"
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 256
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		testenv.Unavailable(t, "no qemu-system-x86_64 to boot the test VM (Debian: qemu-system-x86): %v", err)
	}
	kernel := findKernel(t)
	busybox := findBusybox(t)

	start := time.Now()
	work := t.TempDir()
	// This very binary runs in the VM when it is static (go test with
	// cgo off); else the package's tests are built again without cgo.
	test, err := os.Executable()
	if err != nil || !isStatic(test) {
		test = filepath.Join(work, "pkg.test")
		goBuild(t, "test", "-c", "-o", test, ".")
	}
	bins := map[string]string{}
	for _, pkg := range cfg.Binaries {
		bins[path.Base(pkg)] = testenv.BuildStatic(t, pkg)
	}

	run := cfg.Tests
	if f := flag.Lookup("test.run"); f != nil {
		if _, inner, ok := strings.Cut(f.Value.String(), "/"); ok && inner != "" {
			run = inner // the parent's subtest filter selects the in-VM tests
		}
	}
	args := []string{"-test.v", "-test.run", run, "-test.timeout", (cfg.Timeout - 30*time.Second).String()}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	args = append(args, cfg.Args...)

	a := newArchive()
	a.chr("dev/console", 5, 1)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "root", "etc", "run/lock"} {
		a.dir(d)
	}
	a.file("bin/busybox", 0o755, mustRead(t, busybox))
	a.file("oomkit/pkg.test", 0o755, mustRead(t, test))
	for name, p := range bins {
		a.file("oomkit/bin/"+name, 0o755, mustRead(t, p))
	}
	mods := packModules(t, a, kernel)
	a.file("init", 0o755, []byte(initScript(args, mods)))
	initrd := filepath.Join(work, "initramfs.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := a.writeTo(w); err != nil {
		t.Fatalf("write initramfs: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)

	console := filepath.Join(work, "console.log")
	output := filepath.Join(work, "output.log")
	qargs := []string{
		"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(cfg.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", bootImage(t, kernel), "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 random.trust_cpu=on",
		"-serial", "file:" + console, "-serial", "file:" + output,
	}
	// qboot starts the kernel sooner than SeaBIOS (0.5 s of CPU saved).
	if _, err := os.Stat("/usr/share/qemu/qboot.rom"); err == nil {
		qargs = append(qargs, "-bios", "/usr/share/qemu/qboot.rom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, qargs...)
	var qerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qerr, &qerr
	boot := time.Now()
	runErr := cmd.Run()
	wall := time.Since(boot)
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	out, _ := os.ReadFile(output)
	res := parseOutput(out)
	t.Logf("VM: build and pack %v; qemu %v wall, %v CPU; kernel up %s s when the tests started; %d in-VM tests took %v, the VM itself (boot, test binary start, power-off) %v wall",
		built.Round(time.Millisecond), wall.Round(time.Millisecond), cpu.Round(time.Millisecond), res.bootUptime, len(res.tests),
		res.testTime.Round(time.Millisecond), (wall - res.testTime).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Errorf("the VM did not finish within %v", cfg.Timeout)
	}
	if !res.exited {
		cons, _ := os.ReadFile(console)
		t.Fatalf("the VM stopped before the tests ended (qemu: %v %s)\ntest output:\n%s\nconsole (tail):\n%s", runErr, qerr.String(), out, tail(cons, 60))
	}
	if err := writeExports(cfg.Export, res.exported); err != nil {
		t.Error(err)
	}
	for _, tr := range res.tests {
		t.Run(tr.name, func(t *testing.T) {
			t.Log("in the VM:\n" + strings.Join(tr.lines, "\n"))
			switch tr.result {
			case "FAIL":
				t.Fail()
			case "SKIP":
				t.SkipNow()
			case "PASS":
			default:
				t.Errorf("no result (the test binary stopped: exit %d)", res.exit)
			}
		})
	}
	if res.exit != 0 && !res.anyFailed() {
		t.Errorf("test binary in the VM exited %d:\n%s", res.exit, out)
	}
	if len(res.tests) == 0 && run == cfg.Tests {
		t.Errorf("no test matching %q ran in the VM:\n%s", run, out)
	}
}

func goBuild(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("pack %s: %v", p, err)
	}
	return data
}

// findKernel returns $OOMKIT_VM_KERNEL or the newest /boot/vmlinuz-*.
func findKernel(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("OOMKIT_VM_KERNEL"); k != "" {
		if _, err := os.Stat(k); err != nil {
			testenv.Unavailable(t, "OOMKIT_VM_KERNEL: %v", err)
		}
		return k
	}
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	var readable []string
	for _, k := range ks {
		if f, err := os.Open(k); err == nil {
			_ = f.Close()
			readable = append(readable, k)
		}
	}
	if len(readable) == 0 {
		testenv.Unavailable(t, "no readable kernel /boot/vmlinuz-* to boot the test VM (Debian: linux-image-amd64)")
	}
	sort.Slice(readable, func(i, j int) bool { return versionLess(readable[i], readable[j]) })
	return readable[len(readable)-1]
}

var numRE = regexp.MustCompile(`\d+|\D+`)

// versionLess compares "vmlinuz-6.1.0-56-amd64" style names numerically.
func versionLess(a, b string) bool {
	pa, pb := numRE.FindAllString(a, -1), numRE.FindAllString(b, -1)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			return na < nb
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

func findBusybox(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if isStatic(p) {
			return p
		}
	}
	testenv.Unavailable(t, "no static busybox for the test VM (Debian: busybox-static)")
	return ""
}

// isStatic reports whether p is an ELF executable with no program
// interpreter (it needs no dynamic loader, so it runs in the VM).
func isStatic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return f.Type == elf.ET_EXEC || f.Type == elf.ET_DYN
}

// packModules adds the Modules the kernel has (dependencies first) to the
// archive and returns their names in load order.
func packModules(t *testing.T, a *archive, kernel string) []string {
	t.Helper()
	release := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	dir := filepath.Join("/lib/modules", release)
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Logf("VM: no modules for kernel %s (%v): no zram in the VM", release, err)
		return nil
	}
	deps := map[string][]string{} // module name -> its file, then its dependencies' files
	for line := range strings.SplitSeq(string(dep), "\n") {
		file, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[modName(file)] = append([]string{file}, strings.Fields(rest)...)
	}
	var order []string
	seen := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		files, ok := deps[name]
		if !ok {
			return
		}
		for _, d := range files[1:] {
			add(modName(d))
		}
		data, err := readModule(filepath.Join(dir, files[0]))
		if err != nil {
			t.Logf("VM: module %s not packed: %v", name, err)
			return
		}
		a.file("lib/modules/"+name+".ko", 0o644, data)
		order = append(order, name)
	}
	for _, m := range Modules {
		add(m)
	}
	return order
}

func modName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// readModule reads a module, decompressing .ko.xz and .ko.zst (busybox's
// insmod takes only plain modules) with the xz or zstd tool.
func readModule(p string) ([]byte, error) {
	switch {
	case strings.HasSuffix(p, ".ko.xz"):
		return exec.Command("xz", "-dc", p).Output()
	case strings.HasSuffix(p, ".ko.zst"):
		return exec.Command("zstd", "-dc", p).Output()
	case strings.HasSuffix(p, ".ko.gz"):
		return exec.Command("gzip", "-dc", p).Output()
	}
	return os.ReadFile(p)
}

// initScript is PID 1: it mounts what the tests need, enables the memory
// controller for the root's children, loads the modules, runs the test
// binary with its output on the second serial port, prints its exit status
// and powers off.
func initScript(args, mods []string) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
exec >/dev/ttyS1 2>&1
`)
	for _, m := range mods {
		fmt.Fprintf(&b, "insmod /lib/modules/%s.ko || echo 'OOMKIT-VM: insmod %s failed'\n", m, m)
	}
	// The tests (and this shell) must survive a host-wide OOM in the VM;
	// Cgroup.Start sets 0 again for what they start.
	b.WriteString("echo -1000 > /proc/self/oom_score_adj\n")
	b.WriteString("echo \"OOMKIT-VM-BOOTED $(cut -d' ' -f1 /proc/uptime)\"\n")
	b.WriteString("cd " + Dir + "\n")
	b.WriteString("export OOMKIT_IN_VM=1 HOME=/root TMPDIR=/tmp PATH=" + BinDir + ":/bin\n")
	if testenv.Integration() {
		b.WriteString("export OOMKIT_INTEGRATION=1\n")
	}
	b.WriteString("./pkg.test")
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\necho \"OOMKIT-VM-EXIT $?\"\nsync\npoweroff -f\n")
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// bootImage returns the kernel to hand qemu: the uncompressed vmlinux
// inside the bzImage when it can be extracted (qemu boots it through its
// PVH entry, which saves the kernel's own decompression, seconds of
// emulated CPU), else the bzImage itself. The vmlinux is cached in the
// user's cache directory, keyed by the kernel's name, size and time.
func bootImage(t *testing.T, kernel string) string {
	t.Helper()
	st, err := os.Stat(kernel)
	if err != nil {
		return kernel
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return kernel
	}
	dir := filepath.Join(cache, "oomkit-vm")
	out := filepath.Join(dir, fmt.Sprintf("vmlinux-%s-%d-%d", strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-"), st.Size(), st.ModTime().Unix()))
	if _, err := os.Stat(out); err == nil {
		return out
	}
	vmlinux, err := extractVmlinux(kernel)
	if err != nil {
		t.Logf("VM: booting the compressed kernel: %v", err)
		return kernel
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return kernel
	}
	tmp, err := os.CreateTemp(dir, "vmlinux-*")
	if err != nil {
		return kernel
	}
	_, werr := tmp.Write(vmlinux)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), out) != nil {
		_ = os.Remove(tmp.Name())
		return kernel
	}
	return out
}

var extractMu sync.Mutex

// extractVmlinux finds the compressed payload of a bzImage by its magic and
// decompresses it with the matching tool; the result must be an ELF file
// with a PVH note (CONFIG_PVH), or qemu could not boot it.
func extractVmlinux(kernel string) ([]byte, error) {
	extractMu.Lock()
	defer extractMu.Unlock()
	data, err := os.ReadFile(kernel)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		magic string
		tool  []string
	}{
		{"\xfd7zXZ\x00", []string{"xz", "-dcq"}},
		{"\x28\xb5\x2f\xfd", []string{"zstd", "-dcq"}},
		{"\x1f\x8b\x08", []string{"gzip", "-dcq"}},
	} {
		i := bytes.Index(data, []byte(c.magic))
		if i < 0 {
			continue
		}
		cmd := exec.Command(c.tool[0], c.tool[1:]...)
		cmd.Stdin = bytes.NewReader(data[i:])
		out, _ := cmd.Output() // trailing data after the stream makes the tools complain
		if len(out) > 1<<20 && string(out[:4]) == "\x7fELF" && bytes.Contains(out, []byte("Xen\x00")) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("no vmlinux with a PVH entry found in %s", kernel)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type testResult struct {
	name   string
	result string // PASS, FAIL, SKIP or "" when the binary stopped
	lines  []string
}

type output struct {
	tests      []*testResult
	exited     bool
	exit       int
	bootUptime string
	testTime   time.Duration // the in-VM tests' own durations, summed
	exported   []exportedFile
}

func (o *output) anyFailed() bool {
	for _, t := range o.tests {
		if t.result != "PASS" && t.result != "SKIP" {
			return true
		}
	}
	return false
}

type exportedFile struct {
	rel  string
	data []byte
}

var resultRE = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)

// parseOutput reads go test -test.v output (tests run one at a time) and
// the init script's markers.
func parseOutput(out []byte) *output {
	o := &output{}
	byName := map[string]*testResult{}
	var cur *testResult
	for raw := range strings.SplitSeq(string(out), "\n") {
		line := strings.TrimRight(raw, "\r")
		switch {
		case strings.HasPrefix(line, "OOMKIT-VM-BOOTED "):
			o.bootUptime = strings.TrimPrefix(line, "OOMKIT-VM-BOOTED ")
			continue
		case strings.HasPrefix(line, "OOMKIT-VM-EXIT "):
			o.exited = true
			o.exit, _ = strconv.Atoi(strings.TrimPrefix(line, "OOMKIT-VM-EXIT "))
			continue
		case strings.HasPrefix(line, exportPrefix):
			if f, ok := parseExport(line); ok {
				o.exported = append(o.exported, f)
			}
			continue
		case strings.HasPrefix(line, "=== RUN   "):
			name := strings.TrimPrefix(line, "=== RUN   ")
			if !strings.Contains(name, "/") {
				cur = &testResult{name: name}
				byName[name] = cur
				o.tests = append(o.tests, cur)
			}
		}
		if m := resultRE.FindStringSubmatch(line); m != nil {
			if tr := byName[m[2]]; tr != nil {
				tr.result = m[1]
				if secs, err := strconv.ParseFloat(m[3], 64); err == nil {
					o.testTime += time.Duration(secs * float64(time.Second))
				}
				tr.lines = append(tr.lines, line)
				cur = nil
				continue
			}
		}
		if cur != nil {
			cur.lines = append(cur.lines, line)
		}
	}
	return o
}

const exportPrefix = "OOMKIT-VM-FILE "

// Export sends the files under dir (relative to the package directory, as
// the test's working directory in the VM is) back to the host, where Run
// writes them if dir is one of Config.Export. It is called in the VM.
func Export(t testing.TB, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		// One line each, on stdout, which is the serial port Run reads.
		fmt.Printf("%s%s %s\n", exportPrefix, filepath.ToSlash(p), base64.StdEncoding.EncodeToString(data))
		return nil
	})
	if err != nil {
		t.Fatalf("export %s: %v", dir, err)
	}
}

func parseExport(line string) (exportedFile, bool) {
	rest := strings.TrimPrefix(line, exportPrefix)
	rel, b64, ok := strings.Cut(rest, " ")
	if !ok {
		return exportedFile{}, false
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return exportedFile{}, false
	}
	return exportedFile{rel: path.Clean(rel), data: data}, true
}

// writeExports writes the files the VM sent, each under one of the allowed
// directories (relative to the package), which it empties first.
func writeExports(allowed []string, files []exportedFile) error {
	cleared := map[string]bool{}
	for _, f := range files {
		var root string
		for _, a := range allowed {
			a = path.Clean(a)
			if f.rel == a || strings.HasPrefix(f.rel, a+"/") {
				root = a
			}
		}
		if root == "" || strings.HasPrefix(f.rel, "/") || slices.Contains(strings.Split(f.rel, "/"), "..") {
			return fmt.Errorf("the VM sent %s, outside the exported directories %v", f.rel, allowed)
		}
		if !cleared[root] {
			if err := os.RemoveAll(filepath.FromSlash(root)); err != nil {
				return err
			}
			cleared[root] = true
		}
		p := filepath.FromSlash(f.rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
