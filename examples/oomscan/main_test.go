package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{
		"../../oom/testdata/kernel/docker-for-linux-1001-ubuntu-5.4-kmem-rate-limited.log",
		"../../oom/testdata/kernel/this-host-6.18-v1-parent-limit.kmsg",
	}, true, &out))
	var recs []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		recs = append(recs, m)
	}
	require.Len(t, recs, 4)
	for _, k := range []string{"time", "victim_pid", "victim_comm", "constraint", "scope", "oom_memcg", "task_memcg",
		"total_vm_kb", "anon_rss_kb", "file_rss_kb", "shmem_rss_kb", "oom_score_adj", "memcg_usage_kb", "memcg_limit_kb", "group_victims"} {
		assert.Contains(t, recs[0], k)
	}
	assert.InDelta(t, 15617, recs[0]["victim_pid"], 0)
	assert.Equal(t, "cgroup", recs[0]["scope"])
	last := recs[3]
	assert.Equal(t, "memhog", last["victim_comm"])
	assert.Equal(t, "CONSTRAINT_MEMCG", last["constraint"])
	assert.InDelta(t, 24*1024, last["memcg_limit_kb"], 0)
	assert.NotEqual(t, last["oom_memcg"], last["task_memcg"], "the limit was the parent's")
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run([]string{"../../oom/testdata/kernel/pandora-49-global-journal-4.x.log"}, false, &out))
	assert.Contains(t, out.String(), "27438")
	assert.Contains(t, out.String(), "global")
	assert.Contains(t, out.String(), "1 OOM kill(s)")
	require.Error(t, run([]string{"/nonexistent/log"}, false, &out))
}
