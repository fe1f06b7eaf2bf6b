package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/oomkit/oomkit/internal/promtest"
	"github.com/oomkit/oomkit/internal/testenv"
)

// TestPrometheus runs fleet mode against a real Prometheus holding a
// small synthetic fleet: the binary's table, and each format in process.
func TestPrometheus(t *testing.T) {
	fl := promtest.NewFleet(13, 1, time.Minute, nil)
	srv := promtest.Serve(t, fl)
	end := promtest.Epoch.Format(time.RFC3339)

	bin := testenv.Build(t, "github.com/oomkit/oomkit/examples/recommend")
	out, err := exec.Command(bin, "--prometheus", srv.URL, "--since", "1d", "--end", end).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(fl.Workloads)+1, "%s", out)
	assert.True(t, strings.HasPrefix(lines[0], "WORKLOAD "), lines[0])
	assert.Contains(t, string(out), "container_limit")
	assert.Contains(t, string(out), "host_pressure")

	run := func(format, selector string) string {
		var w, ew bytes.Buffer
		err := runPrometheus(context.Background(), &w, &ew, promArgs{url: srv.URL, selector: selector, since: "1d", end: end}, "generic", format)
		require.NoError(t, err, "%s\n%s", format, ew.String())
		return w.String()
	}
	js := strings.Split(strings.TrimSpace(run("json", `{namespace="shop-0"}`)), "\n")
	require.NotEmpty(t, js)
	for _, l := range js {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		assert.Equal(t, "shop-0", m["workload"].(map[string]any)["namespace"])
		assert.Contains(t, m, "recommendation")
	}
	docs := strings.Split(run("k8s", ""), "---\n")[1:]
	require.NotEmpty(t, docs)
	for _, d := range docs {
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(d), &obj), d)
		assert.Contains(t, []any{"Deployment", "StatefulSet"}, obj["kind"])
	}
	assert.Contains(t, run("compose", ""), "services:")

	var w, ew bytes.Buffer
	err = runPrometheus(context.Background(), &w, &ew, promArgs{url: srv.URL, selector: `{namespace="none"}`, since: "1d", end: end}, "generic", "table")
	assert.ErrorContains(t, err, "no container_memory_working_set_bytes series matched")
	err = runPrometheus(context.Background(), &w, &ew, promArgs{url: srv.URL, since: "two weeks"}, "generic", "table")
	assert.ErrorContains(t, err, "--since")
}
