package vm

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchiveExtracts writes an initramfs and has the cpio tool (the
// reference reader, when installed) unpack it.
func TestArchiveExtracts(t *testing.T) {
	a := newArchive()
	a.file("bin/busybox", 0o755, []byte("abc"))  // 3 bytes: padded
	a.file("oomkit/bin/memhog", 0o755, []byte{}) // empty
	a.file("init", 0o755, []byte("#!/bin/sh\necho hi\n"))
	a.dir("run/lock")
	var buf bytes.Buffer
	require.NoError(t, a.writeTo(&buf))
	assert.Zero(t, buf.Len()%4, "entries are 4-byte aligned")
	entries := readNewc(t, buf.Bytes())
	assert.Equal(t, []string{"bin", "bin/busybox", "init", "oomkit", "oomkit/bin", "oomkit/bin/memhog", "run", "run/lock", "TRAILER!!!"}, names(entries))
	assert.Equal(t, "abc", string(entries[1].data))

	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("no cpio tool to unpack the archive with")
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-idm", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(filepath.Join(dir, "init"))
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\necho hi\n", string(data))
	st, err := os.Stat(filepath.Join(dir, "bin", "busybox"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	st, err = os.Stat(filepath.Join(dir, "run", "lock"))
	require.NoError(t, err)
	assert.True(t, st.IsDir())
}

type newcEntry struct {
	name string
	mode uint64
	data []byte
}

func names(es []newcEntry) []string {
	var ns []string
	for _, e := range es {
		ns = append(ns, e.name)
	}
	return ns
}

// readNewc reads a newc archive the way the kernel does.
func readNewc(t *testing.T, b []byte) []newcEntry {
	t.Helper()
	var es []newcEntry
	for off := 0; off < len(b); {
		require.Equal(t, "070701", string(b[off:off+6]), "magic at %d", off)
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			require.NoError(t, err)
			return v
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		name := string(b[off+110 : off+110+nameSize-1])
		off += (110 + nameSize + 3) &^ 3
		es = append(es, newcEntry{name: name, mode: mode, data: b[off : off+size]})
		off += (size + 3) &^ 3
		if name == "TRAILER!!!" {
			require.Equal(t, len(b), off, "nothing after the trailer")
			break
		}
	}
	return es
}

func TestParseOutput(t *testing.T) {
	data := base64.StdEncoding.EncodeToString([]byte("low 0\n"))
	out := "OOMKIT-VM-BOOTED 6.28\r\n" +
		"=== RUN   TestInVMA\n" +
		"    a_test.go:10: hello\n" +
		"--- PASS: TestInVMA (1.50s)\n" +
		"=== RUN   TestInVMB\n" +
		"=== RUN   TestInVMB/sub\n" +
		"    --- FAIL: TestInVMB/sub (0.10s)\n" +
		exportPrefix + "testdata/x/memory.events " + data + "\n" +
		"--- FAIL: TestInVMB (0.25s)\n" +
		"=== RUN   TestInVMC\n" +
		"    c_test.go:3: no zram\n" +
		"--- SKIP: TestInVMC (0.00s)\n" +
		"=== RUN   TestInVMD\n" +
		"panic: boom\n" +
		"FAIL\n" +
		"OOMKIT-VM-EXIT 2\n"
	o := parseOutput([]byte(out))
	require.True(t, o.exited)
	assert.Equal(t, 2, o.exit)
	assert.Equal(t, "6.28", o.bootUptime)
	assert.Equal(t, 1750*time.Millisecond, o.testTime)
	require.Len(t, o.tests, 4)
	for i, want := range []struct{ name, result string }{{"TestInVMA", "PASS"}, {"TestInVMB", "FAIL"}, {"TestInVMC", "SKIP"}, {"TestInVMD", ""}} {
		assert.Equal(t, want.name, o.tests[i].name)
		assert.Equal(t, want.result, o.tests[i].result, want.name)
	}
	assert.Contains(t, o.tests[0].lines, "    a_test.go:10: hello")
	assert.Contains(t, o.tests[3].lines, "panic: boom", "a crash stays with the test that ran")
	assert.True(t, o.anyFailed())
	require.Len(t, o.exported, 1)
	assert.Equal(t, "testdata/x/memory.events", o.exported[0].rel)
	assert.Equal(t, "low 0\n", string(o.exported[0].data))
}

func TestParseOutputCutShort(t *testing.T) {
	o := parseOutput([]byte("=== RUN   TestInVMA\n[ 5.1] Kernel panic\n"))
	assert.False(t, o.exited, "no exit marker: the VM died")
}

func TestWriteExports(t *testing.T) {
	t.Chdir(t.TempDir())
	allowed := []string{"testdata/captured-v2"}
	require.NoError(t, os.MkdirAll("testdata/captured-v2/old", 0o755))
	require.NoError(t, os.WriteFile("testdata/captured-v2/old/stale", nil, 0o644))
	require.NoError(t, writeExports(allowed, []exportedFile{{rel: "testdata/captured-v2/own/kmsg.log", data: []byte("x")}}))
	data, err := os.ReadFile("testdata/captured-v2/own/kmsg.log")
	require.NoError(t, err)
	assert.Equal(t, "x", string(data))
	assert.NoFileExists(t, "testdata/captured-v2/old/stale", "the directory is replaced")
	for _, bad := range []string{"testdata/other/x", "/etc/passwd", "testdata/captured-v2/../../x"} {
		assert.Error(t, writeExports(allowed, []exportedFile{{rel: bad, data: []byte("x")}}), bad)
	}
	assert.NoFileExists(t, "x")
}

func TestVersionLess(t *testing.T) {
	assert.True(t, versionLess("/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-56-amd64"))
	assert.True(t, versionLess("/boot/vmlinuz-5.10.0-30-amd64", "/boot/vmlinuz-6.1.0-1-amd64"))
	assert.False(t, versionLess("/boot/vmlinuz-6.12.1", "/boot/vmlinuz-6.2.0"))
}

func TestShellQuote(t *testing.T) {
	out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(`^TestInVM(A|B)$ it's`)).Output()
	require.NoError(t, err)
	assert.Equal(t, `^TestInVM(A|B)$ it's`, string(out))
}

func TestIsStatic(t *testing.T) {
	// ldd, the reference, on busybox (static in busybox-static).
	if out, err := exec.Command("ldd", "/bin/busybox").CombinedOutput(); bytes.Contains(out, []byte("not a dynamic executable")) {
		assert.True(t, isStatic("/bin/busybox"))
	} else if err == nil {
		assert.False(t, isStatic("/bin/busybox"))
	}
	assert.False(t, isStatic("/bin/sh"), "dash is dynamically linked on Debian")
	assert.False(t, isStatic("/etc/passwd"), "not ELF")
	assert.False(t, isStatic("/nonexistent"))
}

// TestMissingComponents runs Run in a child process whose PATH has no qemu
// or whose kernel is missing: skipped with the reason, or failed under
// OOMKIT_INTEGRATION=1.
func TestMissingComponents(t *testing.T) {
	if os.Getenv("OOMKIT_VM_CHILD") == "1" {
		Run(t, Config{})
		return
	}
	for _, tc := range []struct {
		name, path, kernel, want string
	}{
		{"no qemu", t.TempDir(), "", "no qemu-system-x86_64"},
		{"no kernel", os.Getenv("PATH"), "/nonexistent/vmlinuz", "OOMKIT_VM_KERNEL"},
	} {
		for _, integration := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: " integration"}[integration], func(t *testing.T) {
				if tc.kernel != "" {
					if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
						t.Skip("needs qemu to get as far as the kernel")
					}
				}
				cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingComponents$", "-test.v")
				cmd.Env = append(os.Environ(), "OOMKIT_VM_CHILD=1", "PATH="+tc.path, "OOMKIT_START_DAEMONS=1", "OOMKIT_VM_KERNEL="+tc.kernel, "OOMKIT_INTEGRATION=")
				if integration {
					cmd.Env = append(cmd.Env, "OOMKIT_INTEGRATION=1")
				}
				out, err := cmd.CombinedOutput()
				assert.Contains(t, string(out), tc.want)
				if integration {
					assert.Error(t, err, "fails under OOMKIT_INTEGRATION=1:\n%s", out)
					assert.Contains(t, string(out), "--- FAIL: TestMissingComponents")
				} else {
					assert.NoError(t, err, "skips:\n%s", out)
					assert.Contains(t, string(out), "--- SKIP: TestMissingComponents")
				}
			})
		}
	}
}
