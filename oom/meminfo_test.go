package oom

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/cgroup"
)

func TestParseMemInfo(t *testing.T) {
	m, err := parseMemInfo([]byte("MemTotal:       24576000 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n"), "meminfo")
	require.NoError(t, err)
	assert.Equal(t, cgroup.Bytes(24576000*1024), m.Total)
	assert.Equal(t, cgroup.Bytes(20000000*1024), m.Available)
	_, err = parseMemInfo([]byte("MemTotal: x kB\n"), "meminfo")
	var pe *cgroup.ParseError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, strconv.ErrSyntax)
	_, err = parseMemInfo([]byte("MemTotal: 1 kB\n"), "meminfo")
	require.ErrorIs(t, err, cgroup.ErrNotFound, "MemAvailable is required")
	m, err = ReadMemInfo("/proc")
	require.NoError(t, err)
	assert.Positive(t, m.Total)
}

func FuzzParseMemInfo(f *testing.F) {
	f.Add([]byte("MemTotal:       24576000 kB\nMemAvailable:   20000000 kB\n"))
	f.Add([]byte("MemTotal: 99999999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseMemInfo(b, "f"); err == nil && (m.Total < 0 || m.Available < 0) {
			t.Fatal("negative size")
		}
	})
}
