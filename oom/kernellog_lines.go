package oom

import (
	"bytes"
	"strconv"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// prefix is what a log line carries before the kernel's message.
type prefix struct {
	msg    []byte
	wall   time.Time
	uptime time.Duration
	host   string
	found  bool   // a log prefix (stamp, syslog, kmsg) was stripped
	rest   []byte // what follows the quote marks and log prefix, blanks kept
}

// prefix strips the known prefixes: quote marks of mail and issue
// trackers ("> ", "| "), /dev/kmsg "pri,seq,usec,flags;", syslog/journal
// "Mar  3 12:00:01 host kernel: " (or an RFC 3339 stamp, or any line that
// names "kernel:" after a month or a date), then dmesg's "[  123.456789] ",
// dmesg -T's "[Tue Mar  3 12:00:01 2026] ", dmesg --human's "[  +0.000003] "
// and "[Oct28 16:58] ", and a dmesg stamp behind a foreign prefix (a test
// driver's "vm # ", a hypervisor's "Guest: <6>", a stamp cut to
// "123.456] "). Leading blanks of what is left are dropped (journald
// indents the continuation lines of multi-line messages). pre.found says
// whether any prefix was there.
func (p *Parser) prefix(b []byte) prefix {
	var pre prefix
	b = cutQuote(b)
	if len(b) > 0 && isDigit(b[0]) {
		if rest, us, ok := cutKmsg(b); ok {
			pre.uptime = time.Duration(us) * time.Microsecond
			pre.msg, pre.rest = rest, rest
			pre.found = true
			return pre
		}
		if rest, t, host, ok := p.cutISO(b); ok {
			pre.wall, pre.host, b = t, host, rest
			pre.found = true
		}
	} else if rest, t, host, ok := p.cutSyslog(b); ok {
		pre.wall, pre.host, b = t, host, rest
		pre.found = true
	}
	if !pre.found && len(b) > 0 && b[0] != '[' {
		if rest, ok := cutKernelTag(b); ok {
			b, pre.found = rest, true
		}
	}
	if len(b) > 0 && b[0] == '[' {
		if end := bytes.IndexByte(b[:min(len(b), 64)], ']'); end > 0 {
			inner := b[1:end]
			if us, ok := parseUptime(inner); ok {
				pre.uptime = us
				b, pre.found = b[end+1:], true
			} else if t, ok := p.parseCtime(inner); ok {
				pre.wall = t
				b, pre.found = b[end+1:], true
			} else if looksLikeStamp(inner) {
				b, pre.found = b[end+1:], true // a localised or relative stamp
			}
		}
	} else if rest, us, ok := cutEmbeddedStamp(b); ok {
		pre.uptime = us
		b, pre.found = rest, true
	}
	pre.rest = b
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	pre.msg = b
	return pre
}

// cutQuote strips the quote marks a mail reply or an issue tracker puts
// before pasted lines: any run of '>' and '|', each maybe followed by a
// blank.
func cutQuote(b []byte) []byte {
	i := 0
	for i < len(b) && (b[i] == '>' || b[i] == '|') {
		i++
		if i < len(b) && b[i] == ' ' {
			i++
		}
	}
	return b[i:]
}

// cutKernelTag strips a syslog-like prefix the strict forms miss ("Feb 4
// 16:15:15 kernel: " with no host, "Aug 30 06:58:55.050705 ... kernel: "
// with the host elided): a line that starts with a month name or a digit
// and holds "kernel: " in its first 96 bytes.
func cutKernelTag(b []byte) ([]byte, bool) {
	if len(b) < 8 || !isDigit(b[0]) && (b[0] < 'A' || b[0] > 'Z') {
		return nil, false
	}
	if _, ok := monthOf(b[:3]); !ok && !isDigit(b[0]) {
		return nil, false
	}
	i := bytes.Index(b[:min(len(b), 96)], []byte(" kernel: "))
	if i < 0 {
		return nil, false
	}
	return b[i+len(" kernel: "):], true
}

// cutEmbeddedStamp finds a dmesg stamp "[  123.456789] " behind a foreign
// prefix in the first 112 bytes, or a stamp cut to "123.456789] " at the
// start, and returns what follows it. A bracket after the words that open
// a kernel message ("process", "invoked") is part of the message.
func cutEmbeddedStamp(b []byte) ([]byte, time.Duration, bool) {
	head := b[:min(len(b), 112)]
	if len(head) > 0 && isDigit(head[0]) {
		if end := bytes.IndexByte(head, ']'); end > 0 {
			if us, ok := parseUptime(head[:end]); ok {
				return b[end+1:], us, true
			}
		}
		return nil, 0, false
	}
	open := bytes.IndexByte(head, '[')
	if open < 0 {
		return nil, 0, false
	}
	before := head[:open]
	if bytes.Contains(before, []byte("process")) || bytes.Contains(before, []byte("invoked")) || bytes.Contains(before, []byte("oom")) {
		return nil, 0, false
	}
	end := bytes.IndexByte(head[open:], ']')
	if end < 0 {
		return nil, 0, false
	}
	us, ok := parseUptime(head[open+1 : open+end])
	if !ok {
		return nil, 0, false
	}
	return b[open+end+1:], us, true
}

// cutKmsg strips a /dev/kmsg record prefix "6,1234,5678901,-;" and returns
// the microseconds since boot.
func cutKmsg(b []byte) ([]byte, int64, bool) {
	semi := bytes.IndexByte(b[:min(len(b), 64)], ';')
	if semi < 0 {
		return nil, 0, false
	}
	head := b[:semi]
	c1 := bytes.IndexByte(head, ',')
	if c1 < 0 {
		return nil, 0, false
	}
	c2 := bytes.IndexByte(head[c1+1:], ',')
	if c2 < 0 {
		return nil, 0, false
	}
	c2 += c1 + 1
	c3 := bytes.IndexByte(head[c2+1:], ',')
	end := len(head)
	if c3 >= 0 {
		end = c2 + 1 + c3
	}
	if _, ok := atoi(head[:c1]); !ok {
		return nil, 0, false
	}
	us, ok := atoi(head[c2+1 : end])
	if !ok {
		return nil, 0, false
	}
	return b[semi+1:], int64(us), true
}

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func monthOf(b []byte) (time.Month, bool) {
	for i, m := range months {
		if string(b) == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// cutSyslog strips "Mar  3 12:00:01 host kernel: ".
func (p *Parser) cutSyslog(b []byte) ([]byte, time.Time, string, bool) {
	if len(b) < 16 || b[3] != ' ' || b[6] != ' ' || b[9] != ':' || b[12] != ':' || b[15] != ' ' {
		return nil, time.Time{}, "", false
	}
	mon, ok := monthOf(b[:3])
	if !ok {
		return nil, time.Time{}, "", false
	}
	day, ok1 := atoi(bytes.TrimLeft(b[4:6], " "))
	hh, ok2 := atoi(b[7:9])
	mm, ok3 := atoi(b[10:12])
	ss, ok4 := atoi(b[13:15])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, time.Time{}, "", false
	}
	t := time.Date(p.year, mon, day, hh, mm, ss, 0, p.loc)
	rest, host, ok := cutHostTag(b[16:])
	if !ok {
		return nil, time.Time{}, "", false
	}
	return rest, t, host, true
}

// cutISO strips "2024-05-17T12:00:01.123456+00:00 host kernel: ".
func (p *Parser) cutISO(b []byte) ([]byte, time.Time, string, bool) {
	if len(b) < 20 || b[4] != '-' || b[10] != 'T' {
		return nil, time.Time{}, "", false
	}
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return nil, time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return nil, time.Time{}, "", false
	}
	rest, host, ok := cutHostTag(b[sp+1:])
	if !ok {
		return nil, time.Time{}, "", false
	}
	return rest, t, host, true
}

// cutHostTag strips "host kernel: " (the tag must be the kernel's).
func cutHostTag(b []byte) ([]byte, string, bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 {
		return nil, "", false
	}
	host, rest := b[:sp], b[sp+1:]
	if !bytes.HasPrefix(rest, []byte("kernel:")) {
		return nil, "", false
	}
	rest = rest[len("kernel:"):]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return rest, string(host), true
}

// parseUptime parses dmesg's "  123.456789".
func parseUptime(b []byte) (time.Duration, bool) {
	b = bytes.TrimLeft(b, " ")
	dot := bytes.IndexByte(b, '.')
	if dot <= 0 {
		return 0, false
	}
	sec, ok := atoi(b[:dot])
	if !ok {
		return 0, false
	}
	frac := b[dot+1:]
	if len(frac) == 0 || len(frac) > 9 {
		return 0, false
	}
	ns, ok := atoi(frac)
	if !ok {
		return 0, false
	}
	for i := len(frac); i < 9; i++ {
		ns *= 10
	}
	return time.Duration(sec)*time.Second + time.Duration(ns), true
}

// parseCtime parses dmesg -T's "Tue Mar  3 12:00:01 2026".
func (p *Parser) parseCtime(b []byte) (time.Time, bool) {
	if len(b) != 24 || b[3] != ' ' || b[7] != ' ' {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", string(b), p.loc)
	return t, err == nil
}

// looksLikeStamp reports a bracketed time in a form we cannot read: a
// localised dmesg -T (digits and two colons), dmesg --human's relative
// "+0.000003" or its "Oct28 16:58". A task-table pid ("  1957") or header
// ("  pid  ") has no '.', ':' or '+'.
func looksLikeStamp(b []byte) bool {
	if len(b) >= 48 {
		return false
	}
	if bytes.Count(b, []byte(":")) == 2 {
		return true
	}
	digit, mark := false, false
	for _, c := range b {
		switch {
		case isDigit(c):
			digit = true
		case c == '.' || c == ':' || c == '+':
			mark = true
		case c == ' ' || c == '-' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return digit && mark
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// atoi parses a non-negative decimal int without allocating.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// satoi parses a decimal int with an optional sign.
func satoi(b []byte) (int, bool) {
	if len(b) > 0 && b[0] == '-' {
		n, ok := atoi(b[1:])
		return -n, ok
	}
	return atoi(b)
}

// leadingInt parses the digits at the start of b.
func leadingInt(b []byte) (int, []byte, bool) {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	n, ok := atoi(b[:i])
	return n, b[i:], ok
}

// setKB parses "1234kB" into a field as printed (KiB) and its bytes, which
// stays unknown when the value does not parse.
func setKB(dst *uint64, b *cgroup.Amount, v []byte) {
	n, ok := kb(v)
	*dst = n
	if ok && n < 1<<53 {
		*b = cgroup.AmountOf(cgroup.Bytes(n) * 1024)
	}
}

// noLimitKB is where the kernel's "no limit" starts in a counter line:
// 9007199254740988kB is v1's PAGE_COUNTER_MAX pages in kB.
const noLimitKB = 1 << 50

// kb parses "1234kB".
func kb(b []byte) (uint64, bool) {
	b = bytes.TrimSuffix(b, []byte("kB"))
	n, ok := atoi(b)
	return uint64(n), ok
}

type lineKind uint8

const (
	lineOther lineKind = iota
	lineHeader
	lineSummary
	lineSummaryPiece
	lineSelected
	lineKilled
	lineReaper
	lineGroup
	lineExiting
	lineTaskIn
	lineCounter
	lineCPU
	lineStats
	lineTableHeader
	lineTableRow
)

// starts reports whether a line of this kind can begin a report.
func (k lineKind) starts() bool {
	switch k {
	case lineHeader, lineSummary, lineSelected, lineKilled, lineGroup, lineExiting, lineTaskIn:
		return true
	}
	return false
}

var (
	pInvoked   = []byte(" invoked oom-killer:")
	pSummary   = []byte("oom-kill:")
	pKilled    = []byte("Killed process ")
	pKill      = []byte("Kill process ")
	pSacrifice = []byte(" score ")
	pReaper    = []byte("oom_reaper: reaped process ")
	pTasksIn   = []byte("Tasks in ")
	pGroup     = []byte("memory.oom.group")
	pVictim    = []byte("OOM victim ")
	pExiting   = []byte("already exiting")
	pTaskIn    = []byte("Task in ")
	pAsResult  = []byte(" killed as a result of limit of ")
	pCPU       = []byte("CPU: ")
	pPID       = []byte(" PID: ")
	pPid       = []byte("Pid: ")
	pPidComm   = []byte(", comm: ")
	pStats     = []byte("Memory cgroup stats for ")
)

var counterPrefixes = [...][]byte{[]byte("memory: usage "), []byte("memory+swap: usage "), []byte("kmem: usage "), []byte("swap: usage ")}

func classify(msg []byte) lineKind {
	if len(msg) == 0 {
		return lineOther
	}
	switch msg[0] {
	case 'o':
		if bytes.HasPrefix(msg, pSummary) {
			return lineSummary
		}
		if bytes.HasPrefix(msg, pReaper) {
			return lineReaper
		}
	case ',':
		if bytes.IndexByte(msg, '=') > 0 {
			return lineSummaryPiece
		}
	case '[':
		return classifyTable(msg)
	case 'T':
		if bytes.HasPrefix(msg, pTasksIn) && bytes.Contains(msg, pGroup) {
			return lineGroup
		}
		if bytes.HasPrefix(msg, pTaskIn) && bytes.Contains(msg, pAsResult) {
			return lineTaskIn
		}
	case 'O':
		if bytes.HasPrefix(msg, pVictim) && bytes.Contains(msg, pExiting) {
			return lineExiting
		}
	case 'm', 'k', 's':
		for _, c := range counterPrefixes {
			if bytes.HasPrefix(msg, c) {
				return lineCounter
			}
		}
	case 'C':
		if bytes.HasPrefix(msg, pCPU) && bytes.Contains(msg, pPID) {
			return lineCPU
		}
	case 'M':
		if bytes.HasPrefix(msg, pStats) {
			return lineStats
		}
	case 'P':
		if bytes.HasPrefix(msg, pPid) && bytes.Contains(msg, pPidComm) {
			return lineCPU // 2.6.32: "Pid: 14043, comm: mysqld Not tainted ..."
		}
	case '/':
		if bytes.Contains(msg, pAsResult) {
			return lineTaskIn // "Task in " lost when the line was quoted
		}
	}
	if bytes.Contains(msg, pInvoked) {
		return lineHeader
	}
	if bytes.Contains(msg, pKilled) {
		return lineKilled
	}
	if i := bytes.Index(msg, pKill); i >= 0 && bytes.Contains(msg[i:], pSacrifice) {
		return lineSelected
	}
	return lineOther
}

func classifyTable(msg []byte) lineKind {
	end := bytes.IndexByte(msg, ']')
	if end < 2 {
		return lineOther
	}
	inner := bytes.TrimSpace(msg[1:end])
	if string(inner) == "pid" {
		return lineTableHeader
	}
	if _, ok := atoi(inner); ok {
		return lineTableRow
	}
	return lineOther
}

// parseHeader reads "<comm> invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL),
// order=0, oom_score_adj=0".
func parseHeader(msg []byte, inv *Invoker) {
	i := bytes.Index(msg, pInvoked)
	inv.Comm = string(msg[:i])
	for f := range bytes.SplitSeq(msg[i+len(pInvoked):], []byte(",")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(f), []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "gfp_mask":
			inv.GFPMask = string(v)
		case "order":
			if n, ok := satoi(v); ok {
				inv.Order = n
			}
		case "oom_score_adj":
			if n, ok := satoi(v); ok {
				inv.OOMScoreAdj = n
			}
		}
	}
}

// parseCPULine reads the pid of "CPU: 1 UID: 0 PID: 17020 Comm: memhog ..."
// or 2.6.32's "Pid: 14043, comm: mysqld ...".
func parseCPULine(msg []byte) int {
	if bytes.HasPrefix(msg, pPid) {
		n, _, _ := leadingInt(msg[len(pPid):])
		return n
	}
	i := bytes.Index(msg, pPID)
	n, _, _ := leadingInt(msg[i+len(pPID):])
	return n
}

// summaryOf reports whether the summary line msg names pid as its victim:
// a journal export that orders lines of equal stamps by their text puts
// the "oom-kill:" summary after the "Killed process" line it belongs to.
func summaryOf(msg []byte, pid int) bool {
	i := bytes.LastIndex(msg, []byte(",pid="))
	if i < 0 || pid == 0 {
		return false
	}
	n, _, ok := leadingInt(msg[i+len(",pid="):])
	return ok && n == pid
}

// parseSummary reads the 5.0+ summary "oom-kill:constraint=CONSTRAINT_MEMCG,
// nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,
// task=comm,pid=1,uid=0" (or "global_oom" in place of oom_memcg), or a
// piece of it continued on a line of its own. The comm may hold commas:
// it runs from "task=" to the last ",pid=".
func parseSummary(msg []byte, r *Report) {
	s := bytes.TrimPrefix(msg, pSummary)
	var tail []byte
	if i := bytes.LastIndex(s, []byte("task=")); i >= 0 && (i == 0 || s[i-1] == ',') {
		rest := s[i+len("task="):]
		if j := bytes.LastIndex(rest, []byte(",pid=")); j >= 0 {
			r.Victim.Comm = string(rest[:j])
			tail = rest[j+1:]
		} else {
			r.Victim.Comm = string(rest)
		}
		s = s[:i]
	}
	for _, part := range [2][]byte{s, tail} {
		for f := range bytes.SplitSeq(part, []byte(",")) {
			k, v, _ := bytes.Cut(f, []byte("="))
			switch string(k) {
			case "constraint":
				r.Constraint = string(v)
			case "oom_memcg":
				r.OOMMemcg = string(v)
			case "task_memcg":
				r.TaskMemcg = string(v)
			case "global_oom":
				r.Scope = ScopeGlobal
			case "pid":
				if n, ok := atoi(v); ok {
					r.Victim.PID = n
				}
			case "uid":
				if n, ok := atoi(v); ok {
					r.Victim.UID, r.Victim.UIDKnown = n, true
				}
			}
		}
	}
}

// scopeHint reads the prefix of a kill line: "Memory cgroup out of memory"
// is a cgroup OOM, "Out of memory" the host's.
func scopeHint(prefix []byte) Scope {
	switch {
	case bytes.Contains(prefix, []byte("Memory cgroup out of memory")):
		return ScopeCgroup
	case bytes.Contains(prefix, []byte("Out of memory")):
		return ScopeGlobal
	}
	return ScopeUnknown
}

// opens reports whether a line that is no report line may be one cut
// before its telling words by a terminal or a mailer: it holds "kill", or
// begins the way a report line begins.
func opens(msg []byte) bool {
	return startsLikeReport(msg) || bytes.Contains(msg, kwKill) || bytes.Contains(msg, kwKillUp)
}

// startsLikeReport reports whether msg begins the way a report line
// begins, or is the beginning of such a line.
func startsLikeReport(msg []byte) bool {
	if len(msg) < 3 {
		return false
	}
	switch msg[0] {
	case 'T', 'O', 'M', 'o', 'm', 'K':
	default:
		return false
	}
	for _, o := range openers {
		if bytes.HasPrefix(msg, o[:min(len(o), len(msg))]) {
			return true
		}
	}
	return false
}

// cutOpener reports whether msg is the beginning of a report line's
// opening words and no more ("Memory cgroup ", "Out of mem").
func cutOpener(msg []byte) bool {
	for _, o := range openers {
		if len(msg) >= 3 && len(msg) < len(o) && bytes.HasPrefix(o, msg) {
			return true
		}
	}
	return false
}

var openers = [...][]byte{pKilled, pKill, pTaskIn, []byte("Out of memory: "), []byte("Memory cgroup out of memory: "), pSummary, pReaper, counterPrefixes[0], counterPrefixes[1]}

// pidComm reads "N (comm)" where comm ends at the last occurrence of end
// (or, when end is missing, at the last parenthesis). It returns what
// follows and whether end was found.
func pidComm(b []byte, end []byte) (int, string, []byte, bool) {
	pid, rest, ok := leadingInt(b)
	if !ok || !bytes.HasPrefix(rest, []byte(" (")) {
		return 0, "", nil, false
	}
	rest = rest[2:]
	if j := bytes.LastIndex(rest, end); j >= 0 {
		return pid, string(rest[:j]), rest[j+len(end):], true
	}
	if j := bytes.LastIndexByte(rest, ')'); j >= 0 {
		return pid, string(rest[:j]), rest[j+1:], false
	}
	return pid, string(rest), nil, false // cut off inside the comm
}

// parseKilled reads "[Memory cgroup out of memory: |Out of memory: ]Killed
// process N (comm) total-vm:XkB, anon-rss:XkB, file-rss:XkB, shmem-rss:XkB,
// UID:N pgtables:XkB oom_score_adj:N" and returns the prefix's scope hint.
func parseKilled(msg []byte, t *Task) Scope {
	i := bytes.Index(msg, pKilled)
	hint := scopeHint(msg[:i])
	b := msg[i+len(pKilled):]
	if pid, rest, ok := leadingInt(b); ok && bytes.HasPrefix(rest, []byte(", UID ")) {
		// 2.6.32 (RHEL 6): "Killed process 11726, UID 498, (mysqld) total-vm:..."
		uid, rest, ok := leadingInt(rest[len(", UID "):])
		if ok && bytes.HasPrefix(rest, []byte(", (")) {
			t.UID, t.UIDKnown = uid, true
			b = append(strconv.AppendInt(make([]byte, 0, 24+len(rest)), int64(pid), 10), rest[1:]...)
		}
	}
	pid, comm, rest, found := pidComm(b, []byte(") total-vm:"))
	t.PID, t.Comm = pid, comm
	if found {
		var tv []byte
		tv, rest, _ = bytes.Cut(rest, []byte(","))
		setKB(&t.TotalVMKB, &t.TotalVMBytes, bytes.TrimSpace(tv))
	}
	prevUID := false
	for f := range bytes.FieldsFuncSeq(rest, func(r rune) bool { return r == ' ' || r == ',' }) {
		if prevUID { // the RHEL 7 backport prints "UID 0," before total-vm
			if n, ok := atoi(f); ok {
				t.UID, t.UIDKnown = n, true
			}
		}
		prevUID = string(f) == "UID"
		k, v, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "total-vm":
			setKB(&t.TotalVMKB, &t.TotalVMBytes, v)
		case "anon-rss":
			setKB(&t.AnonRSSKB, &t.AnonRSSBytes, v)
		case "file-rss":
			setKB(&t.FileRSSKB, &t.FileRSSBytes, v)
		case "shmem-rss":
			setKB(&t.ShmemRSSKB, &t.ShmemRSSBytes, v)
		case "pgtables":
			setKB(&t.PgtablesKB, &t.PgtablesBytes, v)
		case "UID":
			if n, ok := atoi(v); ok {
				t.UID, t.UIDKnown = n, true
			}
		case "oom_score_adj":
			if n, ok := satoi(v); ok {
				t.OOMScoreAdj, t.OOMScoreAdjKnown = n, true
			}
		}
	}
	return hint
}

// parseSelected reads "[Memory cgroup out of memory: |Out of memory: ]Kill
// process N (comm) score S or sacrifice child".
func parseSelected(msg []byte, hint *Scope) *Selected {
	i := bytes.Index(msg, pKill)
	if h := scopeHint(msg[:i]); h != ScopeUnknown {
		*hint = h
	}
	pid, comm, rest, found := pidComm(msg[i+len(pKill):], []byte(") score "))
	s := &Selected{PID: pid, Comm: comm}
	if found {
		s.Score, _, _ = leadingInt(rest)
	}
	return s
}

// parseReaper reads "oom_reaper: reaped process N (comm), now
// anon-rss:XkB, file-rss:XkB, shmem-rss:XkB".
func parseReaper(msg []byte) *Reaped {
	pid, comm, rest, _ := pidComm(msg[len(pReaper):], []byte("), now "))
	r := &Reaped{PID: pid, Comm: comm}
	for f := range bytes.FieldsFuncSeq(rest, func(r rune) bool { return r == ' ' || r == ',' }) {
		k, v, _ := bytes.Cut(f, []byte(":"))
		switch string(k) {
		case "anon-rss":
			setKB(&r.AnonRSSKB, &r.AnonRSSBytes, v)
		case "file-rss":
			setKB(&r.FileRSSKB, &r.FileRSSBytes, v)
		case "shmem-rss":
			setKB(&r.ShmemRSSKB, &r.ShmemRSSBytes, v)
		}
	}
	return r
}

// parseGroupMemcg reads "Tasks in /x are going to be killed due to
// memory.oom.group set".
func parseGroupMemcg(msg []byte) string {
	rest := msg[len(pTasksIn):]
	if j := bytes.Index(rest, []byte(" are going to be killed")); j >= 0 {
		return string(rest[:j])
	}
	return ""
}

// parseExiting reads "OOM victim N (comm) is already exiting. Skip killing
// the task".
func parseExiting(msg []byte) (int, bool) {
	n, _, ok := leadingInt(msg[len(pVictim):])
	return n, ok
}

// parseTaskIn reads the pre-5.0 "Task in /a killed as a result of limit of
// /b".
func parseTaskIn(msg []byte, r *Report) {
	rest := bytes.TrimPrefix(msg, pTaskIn)
	j := bytes.Index(rest, pAsResult)
	if r.TaskMemcg == "" {
		r.TaskMemcg = string(rest[:j])
	}
	if r.OOMMemcg == "" {
		r.OOMMemcg = string(bytes.TrimSpace(rest[j+len(pAsResult):]))
	}
}

// parseCounterLine reads "memory: usage 32768kB, limit 32768kB, failcnt 9"
// and its memory+swap, kmem and swap twins.
func parseCounterLine(msg []byte, r *Report) {
	var dst *Counter
	switch msg[0] {
	case 'k':
		dst = &r.Kmem
	case 's':
		dst = &r.Swap
	default:
		if bytes.HasPrefix(msg, []byte("memory+swap")) {
			dst = &r.MemSw
		} else {
			dst = &r.Memcg
		}
	}
	_, rest, _ := bytes.Cut(msg, []byte(": "))
	var c Counter
	for f := range bytes.SplitSeq(rest, []byte(",")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(f), []byte(" "))
		if !ok {
			continue
		}
		switch string(k) {
		case "usage":
			c.UsageKB, ok = kb(v)
			c.Known = ok
		case "limit":
			c.LimitKB, _ = kb(v)
		case "failcnt":
			n, _ := atoi(v)
			c.Failcnt = uint64(n)
		}
	}
	*dst = c
}

// parseTableHeader maps the columns of "[  pid  ]   uid  tgid total_vm
// rss ... oom_score_adj name" and returns how many precede the name.
func parseTableHeader(msg []byte, cols *[16]column) int {
	end := bytes.IndexByte(msg, ']')
	n := 0
	for f := range bytes.FieldsSeq(msg[end+1:]) {
		var c column
		switch string(f) {
		case "name":
			return n
		case "uid":
			c = colUID
		case "tgid":
			c = colTGID
		case "total_vm":
			c = colTotalVM
		case "rss":
			c = colRSS
		case "rss_anon":
			c = colRSSAnon
		case "rss_file":
			c = colRSSFile
		case "rss_shmem":
			c = colRSSShmem
		case "pgtables_bytes":
			c = colPgtables
		case "nr_ptes":
			c = colNrPtes
		case "swapents":
			c = colSwapents
		case "oom_score_adj":
			c = colScoreAdj
		}
		if n == len(cols) {
			return 0
		}
		cols[n] = c
		n++
	}
	return 0 // no name column: not a header we know
}

// parseTableRow reads "[   1957]     0  1957    29742 ... python3".
func parseTableRow(msg []byte, cols []column) (TaskRow, bool) {
	end := bytes.IndexByte(msg, ']')
	var row TaskRow
	pid, ok := atoi(bytes.TrimSpace(msg[1:end]))
	if !ok {
		return row, false
	}
	row.PID = pid
	rest := msg[end+1:]
	for _, c := range cols {
		rest = bytes.TrimLeft(rest, " ")
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return row, false
		}
		v, ok := satoi(rest[:sp])
		if !ok {
			return row, false
		}
		rest = rest[sp:]
		u := uint64(max(v, 0))
		switch c {
		case colUID:
			row.UID = v
		case colTGID:
			row.TGID = v
		case colTotalVM:
			row.TotalVMPages = u
		case colRSS:
			row.RSSPages = u
		case colRSSAnon:
			row.RSSAnonPages = u
		case colRSSFile:
			row.RSSFilePages = u
		case colRSSShmem:
			row.RSSShmemPages = u
		case colPgtables:
			row.PgtablesBytes = u
		case colNrPtes:
			row.NrPtes = u
		case colSwapents:
			row.Swapents = u
		case colScoreAdj:
			row.OOMScoreAdj = v
		}
	}
	row.Name = string(bytes.TrimSpace(rest))
	return row, row.Name != ""
}
