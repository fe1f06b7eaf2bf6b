package oom

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// Scope says what ran out of memory: a cgroup's limit, or the whole host.
type Scope int

const (
	// ScopeUnknown is the zero Scope: the report does not say.
	ScopeUnknown Scope = iota
	// ScopeCgroup is a memory cgroup hitting its limit (CONSTRAINT_MEMCG).
	ScopeCgroup
	// ScopeGlobal is the host running out of memory (global_oom).
	ScopeGlobal
)

// String returns "unknown", "cgroup" or "global".
func (s Scope) String() string {
	switch s {
	case ScopeCgroup:
		return "cgroup"
	case ScopeGlobal:
		return "global"
	default:
		return "unknown"
	}
}

// MarshalText returns String().
func (s Scope) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what MarshalText produces.
func (s *Scope) UnmarshalText(b []byte) error {
	switch string(b) {
	case "cgroup":
		*s = ScopeCgroup
	case "global":
		*s = ScopeGlobal
	case "unknown", "":
		*s = ScopeUnknown
	default:
		return fmt.Errorf("oom: unknown scope %q", b)
	}
	return nil
}

// Invoker is the task whose allocation invoked the OOM killer (the
// "<comm> invoked oom-killer: gfp_mask=..., order=N, oom_score_adj=N" line
// and the "CPU: N PID: N Comm: ..." line after it).
type Invoker struct {
	PID         int    `json:"pid,omitempty"`
	Comm        string `json:"comm,omitempty"`
	GFPMask     string `json:"gfp_mask,omitempty"`
	Order       int    `json:"order"`
	OOMScoreAdj int    `json:"oom_score_adj"`
}

// Task is a killed task as the kill line prints it. The sizes are in bytes
// (the *Bytes fields: null in JSON when the line did not print them, or
// when there was no kill line at all); the *KB fields are the same as
// printed, kept for the JSON keys examples printed before (deprecated).
// Fields a kernel did not print are zero with their Known flag false (UID,
// pgtables and oom_score_adj arrived in 5.4, shmem-rss in 4.x).
type Task struct {
	PID              int    `json:"pid"`
	Comm             string `json:"comm"`
	UID              int    `json:"uid"`
	UIDKnown         bool   `json:"uid_known"`
	TotalVMKB        uint64 `json:"total_vm_kb"`
	AnonRSSKB        uint64 `json:"anon_rss_kb"`
	FileRSSKB        uint64 `json:"file_rss_kb"`
	ShmemRSSKB       uint64 `json:"shmem_rss_kb"`
	PgtablesKB       uint64 `json:"pgtables_kb"`
	OOMScoreAdj      int    `json:"oom_score_adj"`
	OOMScoreAdjKnown bool   `json:"oom_score_adj_known"`

	TotalVMBytes  cgroup.Amount `json:"total_vm_bytes"`
	AnonRSSBytes  cgroup.Amount `json:"anon_rss_bytes"`
	FileRSSBytes  cgroup.Amount `json:"file_rss_bytes"`
	ShmemRSSBytes cgroup.Amount `json:"shmem_rss_bytes"`
	PgtablesBytes cgroup.Amount `json:"pgtables_bytes"`
}

// Selected is the task the pre-5.1 "Kill process N (comm) score S or
// sacrifice child" line chose; the kernel may then kill a child instead.
type Selected struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Score int    `json:"score"`
}

// Counter is one "memory: usage XkB, limit YkB, failcnt Z" style line of a
// memory cgroup report (also memory+swap, kmem and the v2 swap line).
// The *KB fields are as printed (deprecated JSON keys); Usage and Limit
// return bytes, and the JSON has them as usage_bytes and limit_bytes (null
// when the line was not printed; the kernel's "none", 9007199254740988kB,
// is "max").
type Counter struct {
	UsageKB uint64 `json:"usage_kb"`
	LimitKB uint64 `json:"limit_kb"`
	Failcnt uint64 `json:"failcnt"`
	Known   bool   `json:"known"`
}

// Usage returns the usage in bytes, unknown when the line was not printed.
func (c Counter) Usage() cgroup.Amount {
	if !c.Known {
		return cgroup.Amount{}
	}
	return cgroup.AmountOf(cgroup.Bytes(c.UsageKB) * 1024)
}

// Limit returns the limit in bytes: unlimited for the kernel's "none"
// (9007199254740988kB), unknown when the line was not printed.
func (c Counter) Limit() cgroup.Limit {
	switch {
	case !c.Known:
		return cgroup.Limit{}
	case c.LimitKB >= noLimitKB:
		return cgroup.NoLimit()
	}
	return cgroup.LimitOf(cgroup.Bytes(c.LimitKB) * 1024)
}

// MarshalJSON adds usage_bytes and limit_bytes to the fields.
func (c Counter) MarshalJSON() ([]byte, error) {
	type plain Counter
	return json.Marshal(struct {
		plain
		Usage cgroup.Amount `json:"usage_bytes"`
		Limit cgroup.Limit  `json:"limit_bytes"`
	}{plain(c), c.Usage(), c.Limit()})
}

// TaskRow is one row of the "Tasks state" table. The *Pages fields are as
// printed, in pages (pgtables_bytes in bytes); in JSON, *_bytes keys give
// the same in bytes when the report tells its page size (Report.PageSize),
// null otherwise and for a column the kernel did not print. Columns a
// kernel did not print are 0 in the *Pages fields.
type TaskRow struct {
	PID           int    `json:"pid"`
	UID           int    `json:"uid"`
	TGID          int    `json:"tgid"`
	TotalVMPages  uint64 `json:"total_vm_pages"`
	RSSPages      uint64 `json:"rss_pages"`
	RSSAnonPages  uint64 `json:"rss_anon_pages,omitempty"`
	RSSFilePages  uint64 `json:"rss_file_pages,omitempty"`
	RSSShmemPages uint64 `json:"rss_shmem_pages,omitempty"`
	PgtablesBytes uint64 `json:"pgtables_bytes,omitempty"`
	NrPtes        uint64 `json:"nr_ptes,omitempty"`
	Swapents      uint64 `json:"swapents"`
	OOMScoreAdj   int    `json:"oom_score_adj"`
	Name          string `json:"name"`

	// PageSize is the report's page size in bytes (Report.PageSize), 0
	// when unknown; the row's JSON gives its sizes in bytes with it.
	PageSize uint32 `json:"-"`
}

// Bytes returns a number of pages of the row in bytes, unknown when the
// page size is.
func (t TaskRow) Bytes(pages uint64) cgroup.Amount {
	if t.PageSize == 0 {
		return cgroup.Amount{}
	}
	return cgroup.AmountOf(cgroup.Bytes(pages) * cgroup.Bytes(t.PageSize))
}

// MarshalJSON adds the sizes in bytes (null when the page size or the
// column is unknown) to the fields.
func (t TaskRow) MarshalJSON() ([]byte, error) {
	type plain TaskRow
	split := t.RSSAnonPages+t.RSSFilePages+t.RSSShmemPages > 0
	opt := func(pages uint64) cgroup.Amount {
		if !split {
			return cgroup.Amount{}
		}
		return t.Bytes(pages)
	}
	return json.Marshal(struct {
		plain
		TotalVM  cgroup.Amount `json:"total_vm_bytes"`
		RSS      cgroup.Amount `json:"rss_bytes"`
		RSSAnon  cgroup.Amount `json:"rss_anon_bytes"`
		RSSFile  cgroup.Amount `json:"rss_file_bytes"`
		RSSShmem cgroup.Amount `json:"rss_shmem_bytes"`
		Swap     cgroup.Amount `json:"swap_bytes"`
	}{plain(t), t.Bytes(t.TotalVMPages), t.Bytes(t.RSSPages), opt(t.RSSAnonPages), opt(t.RSSFilePages), opt(t.RSSShmemPages), t.Bytes(t.Swapents)})
}

// Reaped is the "oom_reaper: reaped process N (comm), now anon-rss:..."
// line: what was left of the victim after the reaper ran.
type Reaped struct {
	PID        int    `json:"pid"`
	Comm       string `json:"comm"`
	AnonRSSKB  uint64 `json:"anon_rss_kb"`
	FileRSSKB  uint64 `json:"file_rss_kb"`
	ShmemRSSKB uint64 `json:"shmem_rss_kb"`

	AnonRSSBytes  cgroup.Amount `json:"anon_rss_bytes"`
	FileRSSBytes  cgroup.Amount `json:"file_rss_bytes"`
	ShmemRSSBytes cgroup.Amount `json:"shmem_rss_bytes"`
}

// MaxTaskRows is how many rows of the task table a Report keeps: the
// largest by RSS.
const MaxTaskRows = 16

// MaxGroupVictims is how many other victims of a memory.oom.group kill (and
// how many already-exiting victims) a Report keeps.
const MaxGroupVictims = 256

// MaxEvidence is how many verbatim lines a Report keeps.
const MaxEvidence = 16

// Report is one OOM kill as the kernel reported it. Fields the report did
// not print are zero (strings empty), with Known flags where zero is a value.
type Report struct {
	// Time is the wall time from a dmesg -T, syslog or journal prefix;
	// zero when the prefix has none.
	Time time.Time `json:"time"`
	// Uptime is the monotonic stamp of a dmesg or /dev/kmsg prefix; 0 when
	// the prefix has none.
	Uptime time.Duration `json:"uptime"`
	// Host is the host name of a syslog or journal prefix.
	Host string `json:"host,omitempty"`

	Invoker Invoker `json:"invoker"`
	// Constraint is the summary's constraint ("CONSTRAINT_MEMCG",
	// "CONSTRAINT_NONE", "CONSTRAINT_CPUSET", "CONSTRAINT_MEMORY_POLICY").
	Constraint string `json:"constraint,omitempty"`
	Scope      Scope  `json:"scope"`
	// ScopeInferred is set when the report itself did not say its scope (a
	// kill line with no prefix, its header rate-limited) and the parser took
	// it from the next kill of the same storm: logged within a second on the
	// same host with no report header between them.
	ScopeInferred bool `json:"scope_inferred,omitempty"`
	// OOMMemcg is the cgroup whose limit was hit; empty for a global OOM.
	OOMMemcg string `json:"oom_memcg,omitempty"`
	// TaskMemcg is the victim's cgroup.
	TaskMemcg string `json:"task_memcg,omitempty"`

	Victim   Task      `json:"victim"`
	Selected *Selected `json:"selected,omitempty"`

	Memcg Counter `json:"memcg"` // "memory: usage ..., limit ..., failcnt ..."
	MemSw Counter `json:"memsw"` // "memory+swap: ..." (v1)
	Kmem  Counter `json:"kmem"`  // "kmem: ..." (v1)
	Swap  Counter `json:"swap"`  // "swap: ..." (v2)

	// Tasks holds the largest rows of the task table, biggest RSS first.
	Tasks []TaskRow `json:"tasks,omitempty"`
	// TasksSeen counts all rows of the task table.
	TasksSeen int `json:"tasks_seen"`
	// PageSize is the size of the pages the task table counts, found where
	// the victim's row and its kill line print the same memory in pages and
	// in kB; unknown (null) otherwise.
	PageSize cgroup.Amount `json:"page_size_bytes"`

	Reaped *Reaped `json:"reaped,omitempty"`
	// GroupVictims holds the other tasks killed with the victim because of
	// memory.oom.group, deduplicated by pid.
	GroupVictims []Task `json:"group_victims,omitempty"`
	// GroupMemcg is the cgroup of a memory.oom.group kill.
	GroupMemcg string `json:"group_memcg,omitempty"`
	// AlreadyExiting lists "OOM victim N (comm) is already exiting" pids.
	AlreadyExiting []int `json:"already_exiting,omitempty"`

	// Evidence holds the report's key lines verbatim, without prefix.
	Evidence []string `json:"evidence,omitempty"`
}
