package oom_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/oom"
)

// victimFacts are what a person reads from a report.
type victimFacts struct {
	pid      int
	comm     string
	scope    oom.Scope
	oomMemcg string
	selected int // 0: none printed
	reaped   bool
}

// TestGolden parses every report under testdata/kernel, checks the facts
// read by hand (SOURCES.md), and compares the whole output with the golden
// file beside it.
func TestGolden(t *testing.T) {
	ownPath := func(name string) string {
		// The recorded kills name the cgroups the recording test created.
		data, err := os.ReadFile(filepath.Join("testdata", "kernel", name))
		require.NoError(t, err)
		i := strings.Index(string(data), "oom_memcg=")
		j := strings.Index(string(data)[i:], ",")
		return string(data)[i+len("oom_memcg=") : i+j]
	}
	facts := map[string][]victimFacts{
		"doris-3525-centos7-3.10-memcg-syslog.log":               {{pid: 18177, comm: "palo_be", scope: oom.ScopeCgroup, selected: 24984}},
		"kubernetes-56891-el7-3.10-kubepods-dmesg-T.log":         {{pid: 28438, comm: "java", scope: oom.ScopeCgroup, selected: 24572}, {scope: oom.ScopeUnknown}},
		"docker-for-linux-1001-ubuntu-5.4-kmem-rate-limited.log": {{pid: 15617, comm: "python3", scope: oom.ScopeCgroup, reaped: true}, {pid: 15674, comm: "python3", scope: oom.ScopeCgroup, reaped: true}, {pid: 15623, comm: "python3", scope: oom.ScopeCgroup, reaped: true}},
		"pandora-49-global-journal-4.x.log":                      {{pid: 27438, comm: "R", scope: oom.ScopeGlobal, selected: 27438}},
		"this-host-6.18-v1-own-limit.kmsg":                       {{comm: "memhog", scope: oom.ScopeCgroup, oomMemcg: ownPath("this-host-6.18-v1-own-limit.kmsg")}},
		"this-host-6.18-v1-parent-limit.kmsg":                    {{comm: "memhog", scope: oom.ScopeCgroup, oomMemcg: ownPath("this-host-6.18-v1-parent-limit.kmsg")}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "kernel", "*"))
	require.NoError(t, err)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") || strings.HasSuffix(f, ".md") {
			continue
		}
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := facts[name]
			require.True(t, ok, "every report file has its facts in this test")
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			rs, err := oom.ParseAll(strings.NewReader(string(data)), oom.WithYear(2020))
			require.NoError(t, err)
			require.Len(t, rs, len(want))
			for i, w := range want {
				r := rs[i]
				if w.pid != 0 {
					assert.Equal(t, w.pid, r.Victim.PID)
				}
				assert.Equal(t, w.comm, r.Victim.Comm)
				assert.Equal(t, w.scope, r.Scope)
				if w.oomMemcg != "" {
					assert.Equal(t, w.oomMemcg, r.OOMMemcg)
					assert.True(t, strings.HasPrefix(r.TaskMemcg, r.OOMMemcg), "task_memcg %s under oom_memcg", r.TaskMemcg)
					assert.Positive(t, r.Victim.PID)
				}
				if w.selected != 0 {
					require.NotNil(t, r.Selected)
					assert.Equal(t, w.selected, r.Selected.PID)
				}
				assert.Equal(t, w.reaped, r.Reaped != nil)
			}
			got, err := json.MarshalIndent(rs, "", "  ")
			require.NoError(t, err)
			golden := f + ".golden.json"
			if *update {
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			exp, err := os.ReadFile(golden)
			require.NoError(t, err, "run: go test ./oom -run Golden -args -update")
			assert.JSONEq(t, string(exp), string(got))
		})
		seen++
	}
	assert.Len(t, facts, seen)
}
