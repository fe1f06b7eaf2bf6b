package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormats(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, "", "", 0, "slow-leak", "generic", "json", ""))
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	for _, k := range []string{"memory_bytes", "memory_swap_bytes", "memory_reservation_bytes", "confidence", "rationale", "warnings", "leak"} {
		assert.Contains(t, m, k)
	}
	leak, ok := m["leak"].(map[string]any)
	require.True(t, ok, "the slow-leak trace is a leak")
	assert.Positive(t, leak["bytes_per_hour"])
	assert.Contains(t, leak, "hours_to_limit")

	for _, f := range []string{"docker", "compose", "k8s"} {
		out.Reset()
		require.NoError(t, run(&out, "", "", 0, "steady-server", "go", f, ""), f)
		assert.NotEmpty(t, out.String())
	}
	require.Error(t, run(&out, "", "", 0, "steady-server", "generic", "xml", ""))
	require.Error(t, run(&out, "", "", 0, "steady-server", "cobol", "json", ""))
}

func TestCSV(t *testing.T) {
	f := filepath.Join(t.TempDir(), "u.csv")
	data := "time,bytes\n"
	for i := range 100 {
		data += time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339) + ",209715200\n"
	}
	require.NoError(t, os.WriteFile(f, []byte(data), 0o644))
	var out bytes.Buffer
	require.NoError(t, run(&out, f, "", 0, "", "database", "json", ""))
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	assert.Equal(t, m["memory_bytes"], m["memory_swap_bytes"], "database: no swap")
	require.NoError(t, os.WriteFile(f, []byte("time,bytes\n1,abc\n"), 0o644))
	err := run(&out, f, "", 0, "", "generic", "json", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
}

// TestLeakAtCLIDefaults is issue 15's leak figure through the command with
// its default flags: the recorded short leak (--csv) is flagged with a rate
// within 50% of the least-squares slope of its non-reclaimable memory; the
// recorded compile and step change are not flagged.
func TestLeakAtCLIDefaults(t *testing.T) {
	for _, tc := range []struct {
		trace string
		leak  bool
	}{{"short-leak", true}, {"compile", false}, {"step-change", false}} {
		file := filepath.Join("..", "..", "recommend", "testdata", "traces", tc.trace+".csv")
		var out bytes.Buffer
		require.NoError(t, run(&out, file, "", time.Minute, "steady-server", "generic", "json", ""), tc.trace)
		var m struct {
			Leak *struct {
				BytesPerHour float64 `json:"bytes_per_hour"`
			} `json:"leak"`
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &m), tc.trace)
		if !tc.leak {
			assert.Nil(t, m.Leak, "%s is no leak", tc.trace)
			continue
		}
		require.NotNil(t, m.Leak, "%s is a leak", tc.trace)
		truth := anonSlope(t, file) * 3600
		t.Logf("%s: flagged %.0f MiB/h, least-squares slope of anon %.0f MiB/h", tc.trace, m.Leak.BytesPerHour/(1<<20), truth/(1<<20))
		assert.InEpsilon(t, truth, m.Leak.BytesPerHour, 0.5)
	}
}

// anonSlope returns the least-squares slope (bytes per second) of a
// recorded trace's anon_bytes column over its time_s column.
func anonSlope(t *testing.T, file string) float64 {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	head := strings.Split(lines[0], ",")
	ti, ai := slices.Index(head, "time_s"), slices.Index(head, "anon_bytes")
	require.True(t, ti >= 0 && ai >= 0, "columns time_s and anon_bytes in %s", file)
	var n, sx, sy, sxx, sxy float64
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		x, err1 := strconv.ParseFloat(f[ti], 64)
		y, err2 := strconv.ParseFloat(f[ai], 64)
		require.NoError(t, errors.Join(err1, err2), l)
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
