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
	read := readVictims(t)
	files, err := filepath.Glob(filepath.Join("testdata", "kernel", "*"))
	require.NoError(t, err)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") || strings.HasSuffix(f, ".md") || strings.HasSuffix(f, ".jsonl") {
			continue
		}
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			if want, ok := read[name]; ok {
				checkVictims(t, f, want)
				return
			}
			want, ok := facts[name]
			require.True(t, ok, "every report file has its facts in this test or in victims.jsonl")
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
			checkGolden(t, f, rs)
		})
		seen++
	}
	assert.Equal(t, len(facts)+len(read), seen)
}

// readVictims reads testdata/kernel/victims.jsonl: per file, the reports in
// the order the log holds them, as a person read them (SOURCES.md says
// where each log comes from). A pid of 0 is a report whose victim the log
// does not name (its "Killed process" line is missing); invoker names the
// task of a report that is only a header.
func readVictims(t *testing.T) map[string][]victimLine {
	data, err := os.ReadFile(filepath.Join("testdata", "kernel", "victims.jsonl"))
	require.NoError(t, err)
	out := map[string][]victimLine{}
	for l := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var v victimLine
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		out[v.File] = append(out[v.File], v)
	}
	return out
}

type victimLine struct {
	File          string `json:"file"`
	PID           int    `json:"pid"`
	Comm          string `json:"comm"`
	Scope         string `json:"scope"`
	OOMMemcg      string `json:"oom_memcg"`
	TaskMemcg     string `json:"task_memcg"`
	Selected      int    `json:"selected"`
	ScopeInferred bool   `json:"scope_inferred"`
	Invoker       string `json:"invoker"`
}

// checkVictims parses one log and compares every report with the facts a
// person read, then the whole output with the golden file.
func checkVictims(t *testing.T, f string, want []victimLine) {
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	rs, err := oom.ParseAll(strings.NewReader(string(data)), oom.WithYear(2020))
	require.NoError(t, err)
	require.Len(t, rs, len(want), "reports in %s", f)
	for i, w := range want {
		r := rs[i]
		assert.Equal(t, w.PID, r.Victim.PID, "report %d pid", i)
		assert.Equal(t, w.Comm, r.Victim.Comm, "report %d comm", i)
		assert.Equal(t, w.Scope, r.Scope.String(), "report %d scope", i)
		assert.Equal(t, w.OOMMemcg, r.OOMMemcg, "report %d oom_memcg", i)
		assert.Equal(t, w.TaskMemcg, r.TaskMemcg, "report %d task_memcg", i)
		assert.Equal(t, w.ScopeInferred, r.ScopeInferred, "report %d scope inferred", i)
		if w.Selected != 0 {
			if assert.NotNil(t, r.Selected, "report %d selected", i) {
				assert.Equal(t, w.Selected, r.Selected.PID, "report %d selected", i)
			}
		} else {
			assert.Nil(t, r.Selected, "report %d selected", i)
		}
		if w.Invoker != "" {
			assert.Equal(t, w.Invoker, r.Invoker.Comm, "report %d invoker", i)
		}
	}
	checkGolden(t, f, rs)
}

// checkGolden compares the reports parsed from f with f.golden.json
// (rewritten first under -update).
func checkGolden(t *testing.T, f string, rs []oom.Report) {
	t.Helper()
	got, err := json.MarshalIndent(rs, "", "  ")
	require.NoError(t, err)
	golden := f + ".golden.json"
	if *update {
		require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
	}
	exp, err := os.ReadFile(golden)
	require.NoError(t, err, "run: go test ./oom -run Golden -args -update")
	assert.JSONEq(t, string(exp), string(got))
}

// TestGoldenReshaped reprints every real report of victims.jsonl the way
// people paste logs: quoted by a mail reader ("> ") or an issue tracker
// ("| "), and hard-wrapped by an 80- or 132-column terminal (every line cut
// mid-word, a path or a "Killed process" line included). The victims must
// not change.
func TestGoldenReshaped(t *testing.T) {
	read := readVictims(t)
	reshape := map[string]func(string) string{
		"quoted-mail": func(s string) string { return prefixLines(s, "> ") },
		"quoted-bar":  func(s string) string { return prefixLines(s, "| ") },
		"wrapped-80":  func(s string) string { return wrapLines(s, 80) },
		"wrapped-132": func(s string) string { return wrapLines(s, 132) },
		"quoted-wrapped-80": func(s string) string {
			return prefixLines(wrapLines(s, 80), "> ")
		},
	}
	for name, want := range read {
		if strings.HasSuffix(name, ".utf16") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "kernel", name))
		require.NoError(t, err)
		for how, f := range reshape {
			t.Run(name+"/"+how, func(t *testing.T) {
				rs, err := oom.ParseAll(strings.NewReader(f(string(data))), oom.WithYear(2020))
				require.NoError(t, err)
				require.Len(t, rs, len(want))
				for i, w := range want {
					r := rs[i]
					assert.Equal(t, w.PID, r.Victim.PID, "report %d pid", i)
					assert.Equal(t, w.Comm, r.Victim.Comm, "report %d comm", i)
					assert.Equal(t, w.Scope, r.Scope.String(), "report %d scope", i)
					assert.Equal(t, w.OOMMemcg, r.OOMMemcg, "report %d oom_memcg", i)
					assert.Equal(t, w.TaskMemcg, r.TaskMemcg, "report %d task_memcg", i)
				}
			})
		}
	}
}

func prefixLines(s, p string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(p + l + "\n")
	}
	return b.String()
}

// wrapLines cuts every line into pieces of n bytes, as a terminal's
// hard wrap does when a log is copied from it.
func wrapLines(s string, n int) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		for len(l) > n {
			b.WriteString(l[:n] + "\n")
			l = l[n:]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}
