package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/internal/testenv"
)

func TestParseLimitValue(t *testing.T) {
	for in, want := range map[string]Limit{
		"max\n":                 NoLimit(),
		"9223372036854771712\n": NoLimit(),
		"9223372036854775807":   NoLimit(),
		"33554432\n":            LimitOf(32 << 20),
		"0\n":                   LimitOf(0),
		"  8388608  \n":         LimitOf(8 << 20),
		"4611686018427387903\n": LimitOf(4611686018427387903),
	} {
		got, err := parseLimitValue([]byte(in), "f")
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "\n", "-1", "1e9", "max max", "18446744073709551616", "12k"} {
		_, err := parseLimitValue([]byte(in), "memory.max")
		var pe *ParseError
		require.ErrorAs(t, err, &pe, in)
		assert.Equal(t, "memory.max", pe.Path)
	}
	_, err := parseLimitValue([]byte("abc"), "f")
	require.ErrorIs(t, err, strconv.ErrSyntax)
	_, err = parseLimitValue([]byte("99999999999999999999"), "f")
	require.ErrorIs(t, err, strconv.ErrRange)
}

func TestParseOOMControl(t *testing.T) {
	oc, err := parseOOMControl([]byte("oom_kill_disable 0\nunder_oom 1\noom_kill 7\n"), "f")
	require.NoError(t, err)
	assert.Equal(t, oomControl{underOOM: true, oomKill: CountOf(7)}, oc)
	oc, err = parseOOMControl([]byte("oom_kill_disable 1\nunder_oom 0\n"), "f")
	require.NoError(t, err)
	assert.False(t, oc.oomKill.Known, "oom_kill arrived in 4.13: absent is unknown, not 0")
	assert.True(t, oc.killDisable)
}

func TestParsePressure(t *testing.T) {
	p, err := parsePressure([]byte("some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=99\n"), "f")
	require.NoError(t, err)
	assert.True(t, p.Known)
	assert.InDelta(t, 1.5, p.Some.Avg10, 1e-9)
	assert.EqualValues(t, 99_000, p.Full.Total)
	for _, bad := range []string{"", "some avg10=1\n", "half avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", "some avg10=x avg60=0.00 avg300=0.00 total=0\n", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0"} {
		_, err := parsePressure([]byte(bad), "memory.pressure")
		var pe *ParseError
		require.ErrorAs(t, err, &pe, bad)
	}
}

func TestParseStatus(t *testing.T) {
	p, err := parseStatus([]byte("Name:\tmy (odd) comm\nVmRSS:\t  2048 kB\nRssAnon:\t 1024 kB\nVmSwap:\t0 kB\n"), "status")
	require.NoError(t, err)
	assert.Equal(t, "my (odd) comm", p.Comm)
	assert.Equal(t, AmountOf(2<<20), p.RSS)
	assert.Equal(t, AmountOf(1<<20), p.Anon)
	assert.False(t, p.File.Known)
	_, err = parseStatus([]byte("VmRSS:\t12 MB\n"), "status")
	require.Error(t, err)
}

func TestParseProcCgroup(t *testing.T) {
	data := []byte("12:cpu,cpuacct:/a\n4:memory:/docker/x\n0::/unified/y\n")
	p, err := parseProcCgroup(data, "f", V1)
	require.NoError(t, err)
	assert.Equal(t, "/docker/x", p)
	p, err = parseProcCgroup(data, "f", V2)
	require.NoError(t, err)
	assert.Equal(t, "/unified/y", p)
	_, err = parseProcCgroup([]byte("garbage\n"), "f", V1)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	_, err = parseProcCgroup([]byte("1:cpu:/\n"), "f", V1)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestMountinfoEscapes(t *testing.T) {
	assert.Equal(t, "/a b", unescapeMount(`/a\040b`))
	assert.Equal(t, `/a\04`, unescapeMount(`/a\04`))
	_, err := parseMountinfo(strings.NewReader("garbage line\n"), "mountinfo")
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
}

// TestCorpusFiles reads the real cgroup files of the shared corpus (skipped
// when ../shared is absent, failing in CI).
func TestCorpusFiles(t *testing.T) {
	dir := testenv.SharedCorpus(t, "cgroup-files")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}
	l, err := parseLimitValue(read("01-cakemanny-docker-v2-memory.max-limited"), "f")
	require.NoError(t, err)
	assert.Equal(t, LimitOf(8<<20), l)
	l, err = parseLimitValue(read("02-cakemanny-docker-v2-memory.max-unlimited"), "f")
	require.NoError(t, err)
	assert.Equal(t, NoLimit(), l)
	var st MemoryStat
	require.NoError(t, parseV2Stat(read("08-elastic-fixture-ubuntu-6.x-session-scope-v2-memory.stat"), "f", &st))
	assert.True(t, st.Anon.Known && st.InactiveFile.Known && st.Slab.Known && st.Sock.Known)
	var ev Events
	require.NoError(t, parseEvents(read("09-elastic-fixture-ubuntu-6.x-session-scope-v2-memory.events"), "f", &ev))
	assert.Equal(t, CountOf(0), ev.OOMGroupKill)
	p, err := parsePressure(read("11-elastic-fixture-ubuntu-6.x-session-scope-v2-memory.pressure"), "f")
	require.NoError(t, err)
	assert.EqualValues(t, 1677369_000, p.Full.Total)
	oc, err := parseOOMControl(read("15-elastic-fixture-amzn2-eks-cri-containerd-v1-memory.oom_control-no-oom_kill-line"), "f")
	require.NoError(t, err)
	// SOURCES.md says this file lacks the oom_kill line; the file has it.
	assert.Equal(t, CountOf(0), oc.oomKill)
	var st1 MemoryStat
	require.NoError(t, parseV1Stat(read("14-elastic-fixture-amzn2-eks-cri-containerd-v1-memory.stat"), "f", &st1))
	assert.Equal(t, AmountOf(1119465472), st1.Anon)
	// Thousands separators as posted in an issue thread are rejected, not misread.
	err = parseV1Stat(read("04-harvester-k8s-pod-slice-v1-memory.stat-thousands-separators"), "memory.stat", &st1)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"max\n", "9223372036854771712\n", "0\n", "33554432\n", "-1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLimitValue(b, "f")
		if err == nil && !l.Known {
			t.Fatal("no error but unknown")
		}
		if err == nil && !l.Unlimited && l.Bytes < 0 {
			t.Fatal("negative limit")
		}
	})
}

func FuzzParseKV(f *testing.F) {
	for _, s := range []string{"low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n", "cache 1\nrss 2\ntotal_rss 3\n", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", "a", "a 1\n\n\nb x\n",
		"total_rss 18446744073709551615\n", "anon 9223372036854775808\nfile 1\n",
		"anon 9223372036854775807\nshmem 9223372036854775807\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Events
		_ = parseEvents(b, "f", &ev)
		var st MemoryStat
		_ = parseV1Stat(b, "f", &st)
		_ = parseV2Stat(b, "f", &st)
		for _, a := range []Amount{st.Anon, st.File, st.ActiveAnon, st.InactiveAnon, st.ActiveFile, st.InactiveFile, st.Shmem,
			st.Slab, st.SlabReclaimable, st.SlabUnreclaimable, st.Sock, st.Kernel, st.Swap, st.Unevictable, st.NonReclaimable()} {
			if a.Known && a.Bytes < 0 {
				t.Fatalf("negative size %d from %q", a.Bytes, b)
			}
		}
		_, _ = parseOOMControl(b, "f")
		var se SwapEvents
		_ = parseSwapEvents(b, "f", &se)
	})
}

func FuzzParsePressure(f *testing.F) {
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Add([]byte("some avg10=1e308 avg60=NaN avg300=-1 total=18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePressure(b, "f")
		if err == nil && (!p.Known || p.Some.Total < 0 || p.Full.Total < 0) {
			t.Fatalf("bad result without error: %+v", p)
		}
	})
}

func FuzzParseProcFiles(f *testing.F) {
	f.Add([]byte("12:cpu,cpuacct:/a\n4:memory:/docker/x\n0::/y\n"), []byte("Name:\tx\nVmRSS:\t  12 kB\n"))
	f.Add([]byte("0::/\n"), []byte("VmRSS:\t 99999999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, cg, status []byte) {
		_, _ = parseProcCgroup(cg, "f", V1)
		_, _ = parseProcCgroup(cg, "f", V2)
		if p, err := parseStatus(status, "f"); err == nil && p.RSS.Bytes < 0 {
			t.Fatal("negative RSS")
		}
		_, _ = parseMountinfo(strings.NewReader(string(cg)), "f")
	})
}
