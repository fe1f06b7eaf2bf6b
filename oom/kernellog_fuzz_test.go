package oom_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oomkit/oomkit/oom"
)

// FuzzParse feeds arbitrary logs to the parser: it must never panic, and
// what it keeps is bounded whatever the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(report618))
	f.Add([]byte("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=x,pid=1,uid=0\nMemory cgroup out of memory: Killed process 1 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n"))
	f.Add([]byte("6,1,2,-;x invoked oom-killer: gfp_mask=0x0(), order=0, oom_score_adj=0\n6,2,3,-;Out of memory: Kill process 1 (x) score 1 or sacrifice child\n6,3,4,-;Killed process 1 (x) total-vm:1kB\n"))
	f.Add([]byte("Mar  3 12:00:01 h kernel: [ 1.0] Tasks in /g are going to be killed due to memory.oom.group set\nOOM victim 4 (d) is already exiting.\n,task=a,pid=9\n[ pid ] uid name\n[ 1] 0 x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := oom.ParseAll(bytes.NewReader(data), oom.WithMaxLineLength(512))
		if errors.Is(err, oom.ErrUnsupportedEncoding) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if len(r.Tasks) > oom.MaxTaskRows || len(r.Evidence) > oom.MaxEvidence || len(r.GroupVictims) > oom.MaxGroupVictims || len(r.AlreadyExiting) > oom.MaxGroupVictims {
				t.Fatalf("unbounded report: %d tasks, %d evidence lines", len(r.Tasks), len(r.Evidence))
			}
			for _, e := range r.Evidence {
				if len(e) > 512 {
					t.Fatalf("evidence line of %d bytes past the line bound", len(e))
				}
			}
		}
	})
}
