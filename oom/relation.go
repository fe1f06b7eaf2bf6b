package oom

import (
	"fmt"
	"path"
	"strings"
)

// CleanPath is the one spelling of a cgroup path used for finding,
// matching and printing: a leading slash, no trailing slash, no "//",
// "/./" or "..": "docker/x/", "//docker//x" and "/docker/./x" are all
// "/docker/x". The root is "/"; "" stays "" (no path).
func CleanPath(p string) string {
	if p == "" {
		return ""
	}
	return path.Clean("/" + p)
}

// Relation is how a kernel report relates to the cgroup asked about.
type Relation int

const (
	// RelationUnknown: the report names no cgroup (its header was
	// rate-limited away, or an old kernel printed none); only a pid can
	// tie it to a cgroup.
	RelationUnknown Relation = iota
	// RelationOwn: the cgroup's own limit was hit (oom_memcg is the
	// cgroup; the victim is in it or below it), or, when the report names
	// no oom_memcg, the victim was in the cgroup itself.
	RelationOwn
	// RelationAncestor: the limit of an ancestor was hit and the victim was
	// in the cgroup or below it.
	RelationAncestor
	// RelationDescendant: the kill happened below the cgroup, at a limit
	// of a descendant (oom_memcg below the cgroup) or, naming no
	// oom_memcg, in a descendant. The descendant's kill, not the cgroup's.
	RelationDescendant
	// RelationUnrelated: the report is about another part of the tree.
	RelationUnrelated
	// RelationGlobal: the host ran out of memory (global OOM) and the
	// victim was in the cgroup or below it.
	RelationGlobal
)

var relationNames = [...]string{"unknown", "own", "ancestor", "descendant", "unrelated", "global"}

// String returns "unknown", "own", "ancestor", "descendant", "unrelated"
// or "global".
func (r Relation) String() string {
	if r < 0 || int(r) >= len(relationNames) {
		return fmt.Sprintf("Relation(%d)", int(r))
	}
	return relationNames[r]
}

// MarshalText returns String().
func (r Relation) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts what MarshalText produces.
func (r *Relation) UnmarshalText(b []byte) error {
	for i, n := range relationNames {
		if string(b) == n {
			*r = Relation(i)
			return nil
		}
	}
	return fmt.Errorf("oom: unknown relation %q", b)
}

// Relation tells how the report relates to the cgroup at path cg (any
// spelling: it is cleaned with CleanPath). Paths the report prints with a
// segment elided ("/lxc.payload....-lxc/kubepods.slice") match the
// segments they could stand for. The limit that was hit (oom_memcg)
// decides first; a report that names only the victim's cgroup
// (task_memcg) is placed by it.
func (r Report) Relation(cg string) Relation {
	cg = CleanPath(cg)
	task, limit := CleanPath(r.TaskMemcg), CleanPath(r.OOMMemcg)
	if r.Scope == ScopeGlobal {
		limit = "" // "limit of /" on old kernels: the host, not a cgroup
	}
	if cg == "" || task == "" && limit == "" {
		return RelationUnknown
	}
	if limit != "" {
		switch pathRelation(limit, cg) {
		case 0:
			return RelationOwn
		case 1: // the limit is above: whose kill depends on the victim
			if tr := pathRelation(task, cg); task == "" || tr == 0 || tr == -1 {
				return RelationAncestor
			}
			return RelationUnrelated
		case -1:
			return RelationDescendant
		}
		return RelationUnrelated
	}
	switch pathRelation(task, cg) {
	case 0:
		if r.Scope == ScopeGlobal {
			return RelationGlobal
		}
		return RelationOwn
	case -1:
		if r.Scope == ScopeGlobal {
			return RelationGlobal
		}
		return RelationDescendant
	}
	return RelationUnrelated
}

// pathRelation compares two clean cgroup paths: 0 when a is b, 1 when a is
// a proper ancestor of b, -1 when a is a proper descendant of b, 2 when
// neither. A segment of a holding "..." (an elision in a pasted log)
// matches any segment that begins with what precedes the dots and ends
// with what follows them.
func pathRelation(a, b string) int {
	if a == b {
		return 0
	}
	as, bs := segments(a), segments(b)
	n := min(len(as), len(bs))
	for i := range n {
		if !segmentMatch(as[i], bs[i]) {
			return 2
		}
	}
	switch {
	case len(as) == len(bs):
		return 0
	case len(as) < len(bs):
		return 1
	default:
		return -1
	}
}

func segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func segmentMatch(a, b string) bool {
	if a == b {
		return true
	}
	for _, x := range [2][2]string{{a, b}, {b, a}} {
		if before, after, ok := strings.Cut(x[0], "..."); ok && len(x[1]) >= len(before)+len(after) &&
			strings.HasPrefix(x[1], before) && strings.HasSuffix(x[1], strings.TrimLeft(after, ".")) {
			return true
		}
	}
	return false
}
