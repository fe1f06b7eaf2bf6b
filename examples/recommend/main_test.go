package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
