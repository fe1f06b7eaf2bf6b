package oom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/oomkit/oomkit/cgroup"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// DefaultMaxLineLength is the longest line the parser reads; longer lines
// are skipped whole, never buffered without bound.
const DefaultMaxLineLength = 8 << 10

// wrapContext is how many lines before a line holding "kill" the fast
// path keeps, for the pieces of a report line a terminal cut.
const wrapContext = 8

// reportGrace is how many lines after a kill the parser keeps a report open
// for its oom_reaper line and group victims, when no new report starts.
const reportGrace = 64

// ParserOption configures NewParser.
type ParserOption func(*Parser) error

// WithYear sets the year of syslog and journal prefixes, which print none
// (default: the current year).
func WithYear(year int) ParserOption {
	return func(p *Parser) error {
		if year < 1970 || year > 9999 {
			return fmt.Errorf("oom: WithYear(%d): out of range", year)
		}
		p.year = year
		return nil
	}
}

// WithMaxLineLength sets the longest line read (default 8 KiB, at least
// 256 bytes); longer lines are skipped.
func WithMaxLineLength(n int) ParserOption {
	return func(p *Parser) error {
		if n < 256 {
			return fmt.Errorf("oom: WithMaxLineLength(%d): below 256", n)
		}
		p.maxLine = n
		return nil
	}
}

// WithLocation sets the time zone of prefixes that print none (default UTC).
func WithLocation(loc *time.Location) ParserOption {
	return func(p *Parser) error {
		if loc == nil {
			return errors.New("oom: WithLocation(nil)")
		}
		p.loc = loc
		return nil
	}
}

// Parser reads kernel logs and yields one Report per OOM kill. It accepts
// raw dmesg, dmesg -T, syslog and journalctl -k lines, /dev/kmsg records and
// bare messages, mixed with any other lines. It is not safe for concurrent
// use.
type Parser struct {
	r       *bufio.Reader
	maxLine int
	year    int
	loc     *time.Location

	cur     *Report
	st      reportState
	ready   []Report
	held    *Report // a victim-only report whose scope the next report may tell
	skipped int     // lines skipped for length
	hold    int     // context lines before a hit that skipUnrelated keeps
	enc     string  // "utf-8", "utf-16le" or "utf-16be"
	err     error

	// wrap is the last line that may go on on the next one: a report line, or
	// a line holding "kill" that started nothing (a terminal or a mailer may
	// have cut it). wrapKind is what it was read as; wrapPre its prefix.
	wrap     []byte
	wrapKind lineKind
	wrapPre  prefix
	wrapLive bool
	joined   []byte
}

// reportState is what the parser knows of the open report.
type reportState struct {
	header, summary, victim bool
	group                   bool
	sinceKill               int // lines since the kill line, -1 before it
	cols                    [16]column
	ncols                   int
	inStats                 bool
	taskIn                  bool  // a "Task in ... killed as a result of limit of" line was read
	hint                    Scope // from the kill line's prefix or the selected line
}

type column uint8

const (
	colSkip column = iota
	colUID
	colTGID
	colTotalVM
	colRSS
	colRSSAnon
	colRSSFile
	colRSSShmem
	colPgtables
	colNrPtes
	colSwapents
	colScoreAdj
)

// NewParser returns a parser reading r.
func NewParser(r io.Reader, opts ...ParserOption) (*Parser, error) {
	p := &Parser{maxLine: DefaultMaxLineLength, year: time.Now().Year(), loc: time.UTC}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	br := bufio.NewReaderSize(r, max(p.maxLine, 64<<10))
	enc, err := sniffEncoding(br)
	if err != nil {
		return nil, err
	}
	p.enc = enc
	switch enc {
	case "utf-16le", "utf-16be":
		endian, bom := unicode.LittleEndian, unicode.IgnoreBOM
		if enc == "utf-16be" {
			endian = unicode.BigEndian
		}
		if head, _ := br.Peek(2); len(head) == 2 && (head[0] == 0xff && head[1] == 0xfe || head[0] == 0xfe && head[1] == 0xff) {
			bom = unicode.ExpectBOM
		}
		br = bufio.NewReaderSize(transform.NewReader(br, unicode.UTF16(endian, bom).NewDecoder()), max(p.maxLine, 64<<10))
	}
	p.r = br
	return p, nil
}

// ErrUnsupportedEncoding is returned for a log in an encoding the parser
// does not read (UTF-32, or bytes that are mostly NULs).
var ErrUnsupportedEncoding = errors.New("oom: unsupported text encoding")

// sniffEncoding tells UTF-16 from ASCII-compatible text by a byte order mark
// or, failing that, by where the NUL bytes of the first 256 bytes fall (a
// kernel log is ASCII text, so UTF-16 puts a NUL beside every character).
func sniffEncoding(br *bufio.Reader) (string, error) {
	head, _ := br.Peek(256)
	switch {
	case len(head) >= 4 && (bytes.HasPrefix(head, []byte{0xff, 0xfe, 0, 0}) || bytes.HasPrefix(head, []byte{0, 0, 0xfe, 0xff})):
		return "", fmt.Errorf("%w: UTF-32 (byte order mark %x)", ErrUnsupportedEncoding, head[:4])
	case len(head) >= 2 && head[0] == 0xff && head[1] == 0xfe:
		return "utf-16le", nil
	case len(head) >= 2 && head[0] == 0xfe && head[1] == 0xff:
		return "utf-16be", nil
	}
	n := len(head) &^ 1
	if n < 4 {
		return "utf-8", nil
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	half := n / 2
	switch {
	case odd*10 >= half*9 && even*10 < half:
		return "utf-16le", nil
	case even*10 >= half*9 && odd*10 < half:
		return "utf-16be", nil
	case even+odd > half:
		return "", fmt.Errorf("%w: %d of the first %d bytes are NUL", ErrUnsupportedEncoding, even+odd, n)
	}
	return "utf-8", nil
}

// Encoding returns the encoding the parser found: "utf-8" (which also
// stands for ASCII and Latin-1 text), "utf-16le" or "utf-16be".
func (p *Parser) Encoding() string { return p.enc }

// ParseAll reads r to the end and returns every report in it.
func ParseAll(r io.Reader, opts ...ParserOption) ([]Report, error) {
	p, err := NewParser(r, opts...)
	if err != nil {
		return nil, err
	}
	var out []Report
	for {
		rep, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rep)
	}
}

// Reports iterates over the reports in r; a read error ends the iteration
// after it is yielded.
func Reports(r io.Reader, opts ...ParserOption) iter.Seq2[Report, error] {
	return func(yield func(Report, error) bool) {
		p, err := NewParser(r, opts...)
		if err != nil {
			yield(Report{}, err)
			return
		}
		for {
			rep, err := p.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(rep, err) || err != nil {
				return
			}
		}
	}
}

// SkippedLines returns how many lines were skipped for being longer than
// the maximum line length.
func (p *Parser) SkippedLines() int { return p.skipped }

// Next returns the next report. It returns io.EOF after the last one, and
// the reader's error (wrapped, with the line number) if reading fails;
// reports complete before the error are returned first.
func (p *Parser) Next() (Report, error) {
	for len(p.ready) == 0 {
		if p.err != nil {
			if rep, ok := p.Flush(); ok {
				return rep, nil
			}
			return Report{}, p.err
		}
		line, err := p.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				p.err = io.EOF
			} else {
				p.err = fmt.Errorf("oom: read kernel log: %w", err)
			}
			if line == nil {
				continue
			}
		}
		p.line(line)
	}
	rep := p.ready[0]
	p.ready[0] = Report{}
	p.ready = p.ready[1:]
	return rep, nil
}

// Flush ends the open report, if any, and returns it. A caller following a
// live log calls it when no line has come for a while, since a report is
// otherwise held open for its reaper line.
func (p *Parser) Flush() (Report, bool) {
	if len(p.ready) > 0 {
		rep := p.ready[0]
		p.ready = p.ready[1:]
		return rep, true
	}
	if p.cur == nil {
		if p.held != nil {
			p.ready = append(p.ready, *p.held)
			p.held = nil
			return p.Flush()
		}
		return Report{}, false
	}
	p.finish()
	return p.Flush()
}

// readLine returns the next line without its line ending; a line longer
// than the maximum is skipped. The slice is valid until the next call.
// Outside a report it first skips, a buffer at a time, every line that
// cannot start one.
func (p *Parser) readLine() ([]byte, error) {
	for {
		if p.cur == nil && !p.wrapLive {
			p.skipUnrelated()
		}
		line, err := p.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			p.skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = p.r.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if len(line) == 0 && err != nil {
			return nil, err
		}
		if len(line) > p.maxLine {
			p.skipped++
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		return line, err
	}
}

// skipUnrelated discards the buffered complete lines before the first one
// that holds a word every report-starting line holds. It never blocks: it
// looks only at what is already buffered.
func (p *Parser) skipUnrelated() {
	if p.hold > 0 {
		p.hold-- // a context line kept by the last call: read it
		return
	}
	n := p.r.Buffered()
	if n == 0 {
		return
	}
	buf, _ := p.r.Peek(n)
	last := bytes.LastIndexByte(buf, '\n')
	if last < 0 {
		return
	}
	region := buf[:last+1]
	hit := -1
	for _, kw := range [...][]byte{kwKill, kwKillUp} {
		lim := region
		if hit >= 0 {
			lim = region[:hit]
		}
		if i := bytes.Index(lim, kw); i >= 0 {
			hit = i
		}
	}
	if hit < 0 {
		_, _ = p.r.Discard(last + 1)
		return
	}
	// Keep a few lines before the hit too: a terminal may have cut a long
	// report line (a "Task in" line with two long paths) before the word.
	start := bytes.LastIndexByte(region[:hit], '\n') + 1
	for range wrapContext {
		if start == 0 {
			break
		}
		start = bytes.LastIndexByte(region[:start-1], '\n') + 1
		p.hold++
	}
	_, _ = p.r.Discard(start)
}

var (
	// Every line that can open a report holds one of these: the header
	// ("invoked oom-killer"), the summary ("oom-kill:"), the kill lines
	// ("Killed process", "Kill process"). Both start with a letter rare in
	// logs, which makes the search fast.
	kwKill   = []byte("kill")
	kwKillUp = []byte("Kill")
	// kwEmory is in "Out of memory: " and "Memory cgroup out of memory: ",
	// which a terminal may have cut from the "Kill..." that follows.
	kwEmory = []byte("emory")
)

// line handles one raw line.
func (p *Parser) line(raw []byte) {
	if p.cur == nil && !p.wrapLive {
		// Fast path: a line outside a report matters only if it can start
		// one, and every such line holds one of two words (or, cut by a
		// terminal before "killed", begins a "Task in" line).
		if !bytes.Contains(raw, kwKill) && !bytes.Contains(raw, kwKillUp) && !bytes.Contains(raw, pTaskIn) && !bytes.Contains(raw, kwEmory) {
			return
		}
	}
	pre := p.prefix(raw)
	kind := classify(pre.msg)
	if p.wrapLive {
		p.wrapLive = false
		if len(p.wrap)+len(pre.rest) <= p.maxLine && p.continues(pre, kind) {
			p.joined = append(append(p.joined[:0], p.wrap...), pre.rest...)
			if p.wrapKind != lineOther {
				p.rehandle(p.joined)
				return
			}
			// a line cut before the words that say what it is
			if k := classify(p.joined); k != lineOther {
				p.handle(p.wrapPre, p.joined, k)
				return
			}
			if kind == lineOther && opens(p.joined) {
				p.keepWrap(p.wrapPre, p.joined, lineOther)
				return
			}
		}
	}
	p.handle(pre, pre.msg, kind)
}

// continues reports whether a line with this prefix can be the rest of the
// line kept in p.wrap: it has no log prefix of its own, and the kept line
// is visibly incomplete, or is a "Task in" line going on with a path, or
// was cut before its telling words (then the joined line must be one the
// parser knows).
func (p *Parser) continues(pre prefix, kind lineKind) bool {
	if pre.found || len(pre.msg) == 0 {
		return false
	}
	if kind != lineOther {
		// "Memory cgroup " + "out of memory: Kill process ...": a known
		// line may be the rest of a piece that begins like a report line.
		return p.wrapKind == lineOther && cutOpener(p.wrap)
	}
	if startsLikeReport(pre.msg) {
		return false // a line of its own, itself cut short
	}
	switch p.wrapKind {
	case lineOther:
		return true
	case lineTaskIn:
		return incomplete(p.wrapKind, p.wrap) || !bytes.ContainsAny(pre.rest, " \t") && bytes.ContainsFunc(pre.rest, isAlnum)
	}
	return incomplete(p.wrapKind, p.wrap)
}

// keepWrap remembers a line that may continue on the next one.
func (p *Parser) keepWrap(pre prefix, msg []byte, kind lineKind) {
	if len(msg) > p.maxLine {
		return
	}
	p.wrap = append(p.wrap[:0], msg...)
	p.wrapPre, p.wrapKind, p.wrapLive = pre, kind, true
}

// rehandle parses again, whole, a report line that went on on the next
// raw line.
func (p *Parser) rehandle(msg []byte) {
	if p.cur == nil {
		p.handle(p.wrapPre, msg, p.wrapKind) // the first piece told too little to start a report
		return
	}
	switch p.wrapKind {
	case lineHeader:
		p.cur.Invoker = Invoker{PID: p.cur.Invoker.PID}
		parseHeader(msg, &p.cur.Invoker)
	case lineSummary, lineSummaryPiece:
		parseSummary(msg, p.cur)
	case lineSelected:
		p.cur.Selected = parseSelected(msg, &p.st.hint)
	case lineKilled:
		var t Task
		if hint := parseKilled(msg, &t); hint != ScopeUnknown {
			p.st.hint = hint
		}
		if !p.st.victim || t.PID != p.cur.Victim.PID {
			p.handle(p.wrapPre, msg, lineKilled)
			return
		}
		p.cur.Victim = t
	case lineTaskIn:
		p.cur.TaskMemcg, p.cur.OOMMemcg = "", ""
		parseTaskIn(msg, p.cur)
	case lineCounter:
		parseCounterLine(msg, p.cur)
	default:
		return
	}
	if n := len(p.cur.Evidence); n > 0 {
		p.cur.Evidence[n-1] = string(msg)
	}
	p.keepWrap(p.wrapPre, msg, p.wrapKind)
}

// incomplete reports whether a report line of this kind stops before its
// last field: cut by a terminal or a mailer.
func incomplete(kind lineKind, msg []byte) bool {
	has := func(s string) bool { return bytes.Contains(msg, []byte(s)) }
	switch kind {
	case lineHeader:
		return !has("oom_score_adj=") && !has("oomkilladj=") || bytes.HasSuffix(msg, []byte("="))
	case lineSummary, lineSummaryPiece:
		return !has(",uid=") || bytes.HasSuffix(msg, []byte("="))
	case lineKilled:
		return !has("file-rss:") || has("UID:") && !has("oom_score_adj:") || bytes.HasSuffix(msg, []byte(":"))
	case lineSelected:
		return !has("sacrifice child")
	case lineTaskIn:
		return bytes.HasSuffix(msg, pAsResult[:len(pAsResult)-1]) || bytes.HasSuffix(msg, pAsResult)
	case lineCounter:
		return !has("failcnt ") || bytes.HasSuffix(msg, []byte("failcnt"))
	}
	return false
}

// handle handles one message of the given kind.
func (p *Parser) handle(pre prefix, msg []byte, kind lineKind) {
	if kind == lineOther {
		// in a report only a line that begins like a report line may have
		// been cut; outside one, any line with "kill" (it got here for it)
		if startsLikeReport(msg) || p.cur == nil && opens(msg) {
			p.keepWrap(pre, msg, kind)
		}
	}
	if p.cur == nil && !kind.starts() {
		return
	}
	if p.cur != nil && p.st.victim {
		p.st.sinceKill++
	}
	p.handleKind(pre, msg, kind)
	switch kind {
	case lineHeader, lineSummary, lineSummaryPiece, lineSelected, lineKilled, lineTaskIn, lineCounter:
		p.keepWrap(pre, msg, kind) // it may go on on the next raw line
	}
}

// handleKind applies one line of a known kind to the open report.
func (p *Parser) handleKind(pre prefix, msg []byte, kind lineKind) {
	switch kind {
	case lineHeader:
		p.finish()
		p.begin(pre)
		p.st.header = true
		parseHeader(msg, &p.cur.Invoker)
		p.evidence(msg)
	case lineSummary, lineSummaryPiece:
		if p.cur == nil || (kind == lineSummary && (p.st.summary || p.st.victim && !summaryOf(msg, p.cur.Victim.PID))) {
			p.finish()
			p.begin(pre)
		}
		p.st.summary = true
		parseSummary(msg, p.cur)
		p.evidence(msg)
	case lineSelected:
		if p.cur == nil || p.st.victim || p.cur.Selected != nil {
			p.finish()
			p.begin(pre)
		}
		p.cur.Selected = parseSelected(msg, &p.st.hint)
		p.evidence(msg)
	case lineKilled:
		var t Task
		hint := parseKilled(msg, &t)
		switch {
		case t.PID == 0:
			// cut off before the pid: nothing to report
		case p.cur != nil && p.st.victim && t.PID == p.cur.Victim.PID:
			// the same line again (a duplicated log): nothing new
		case p.cur != nil && p.st.victim && p.st.group:
			addGroupVictim(p.cur, t)
			p.evidence(msg)
		default:
			if p.cur == nil || p.st.victim {
				p.finish()
				p.begin(pre)
			}
			comm := p.cur.Victim.Comm
			p.cur.Victim = t
			if t.Comm == "" && p.cur.Victim.PID == t.PID {
				p.cur.Victim.Comm = comm // cut inside the comm: the summary named it
			}
			p.st.victim, p.st.sinceKill = true, 0
			if hint != ScopeUnknown {
				p.st.hint = hint
			}
			p.evidence(msg)
		}
	case lineReaper:
		if p.cur == nil {
			return // a reaper line for a report already ended
		}
		p.cur.Reaped = parseReaper(msg)
		p.evidence(msg)
	case lineGroup:
		if p.cur == nil {
			p.begin(pre)
		}
		p.st.group = true
		p.cur.GroupMemcg = parseGroupMemcg(msg)
		p.evidence(msg)
	case lineExiting:
		if p.cur == nil {
			p.begin(pre)
		}
		if pid, ok := parseExiting(msg); ok && len(p.cur.AlreadyExiting) < MaxGroupVictims {
			p.cur.AlreadyExiting = append(p.cur.AlreadyExiting, pid)
		}
		p.evidence(msg)
	case lineTaskIn:
		if p.cur == nil || p.st.victim || p.st.taskIn {
			p.finish()
			p.begin(pre)
		}
		p.st.taskIn = true
		parseTaskIn(msg, p.cur)
		p.st.hint = ScopeCgroup
		p.evidence(msg)
	case lineCounter:
		parseCounterLine(msg, p.cur)
		p.evidence(msg)
	case lineCPU:
		if p.cur.Invoker.PID == 0 {
			p.cur.Invoker.PID = parseCPULine(msg)
		}
		p.st.sinceKill = min(p.st.sinceKill, 0)
	case lineStats:
		p.st.inStats = true
	case lineTableHeader:
		p.st.ncols = parseTableHeader(msg, &p.st.cols)
		p.st.inStats = false
	case lineTableRow:
		if p.st.ncols > 0 {
			if row, ok := parseTableRow(msg, p.st.cols[:p.st.ncols]); ok {
				p.cur.TasksSeen++
				addRow(p.cur, row)
			}
		}
	default:
		if p.cur != nil && p.st.victim && p.st.sinceKill > reportGrace {
			p.finish()
		}
	}
}

// begin opens a report stamped with the prefix's time.
func (p *Parser) begin(pre prefix) {
	p.cur = &Report{Time: pre.wall, Uptime: pre.uptime, Host: pre.host}
	p.hold = 0
	p.st = reportState{sinceKill: -1}
}

// finish closes the open report, if any, and queues it. A report with
// neither a victim nor a summary (a header whose kill was never logged)
// is still a report: the OOM killer ran.
func (p *Parser) finish() {
	if p.cur == nil {
		return
	}
	r := p.cur
	p.cur = nil
	switch {
	case r.OOMMemcg == "/":
		r.Scope = ScopeGlobal // the root has no limit: the host ran out
	case r.OOMMemcg != "":
		r.Scope = ScopeCgroup
	case r.Scope == ScopeGlobal:
	case r.Constraint == "CONSTRAINT_MEMCG":
		r.Scope = ScopeCgroup
	case p.st.hint != ScopeUnknown:
		r.Scope = p.st.hint
	case r.Constraint != "":
		r.Scope = ScopeGlobal
	}
	pageBytes(r)
	if r.Scope == ScopeCgroup && r.Victim.PID == 0 && !p.st.taskIn && r.Memcg.Known && r.Memcg.UsageKB < r.Memcg.LimitKB {
		r.Scope = ScopeUnknown
	}
	bare := r.Scope == ScopeUnknown && r.Victim.PID != 0 && !p.st.header && !p.st.summary && r.TaskMemcg == "" && r.Selected == nil
	if h := p.held; h != nil {
		p.held = nil
		if stormOf(h, r, p.st.header) {
			h.Scope, h.ScopeInferred = r.Scope, true
		}
		p.ready = append(p.ready, *h)
	}
	if bare && (r.Uptime != 0 || !r.Time.IsZero()) {
		p.held = r // the next kill, a moment later, may tell its scope
		return
	}
	p.ready = append(p.ready, *r)
}

// stormOf reports whether next, a kill logged in the same second on the
// same host right after held with no report header between them, tells
// held's scope: in a storm of kills the kernel rate-limits the report
// headers, and the first kill logged may have lost the line that said
// whose limit was hit.
func stormOf(held, next *Report, nextHeader bool) bool {
	if nextHeader || next.Scope == ScopeUnknown || next.Victim.PID == 0 || held.Host != next.Host {
		return false
	}
	if held.Uptime != 0 && next.Uptime != 0 {
		d := next.Uptime - held.Uptime
		return d >= 0 && d <= time.Second
	}
	if !held.Time.IsZero() && !next.Time.IsZero() {
		d := next.Time.Sub(held.Time)
		return d >= 0 && d <= time.Second
	}
	return false
}

func (p *Parser) evidence(msg []byte) {
	if p.cur != nil && len(p.cur.Evidence) < MaxEvidence {
		p.cur.Evidence = append(p.cur.Evidence, string(msg))
	}
}

func addGroupVictim(r *Report, t Task) {
	if len(r.GroupVictims) >= MaxGroupVictims {
		return
	}
	for _, v := range r.GroupVictims {
		if v.PID == t.PID {
			return
		}
	}
	r.GroupVictims = append(r.GroupVictims, t)
}

// addRow keeps the MaxTaskRows largest rows by RSS, biggest first.
func addRow(r *Report, row TaskRow) {
	n := len(r.Tasks)
	if n == MaxTaskRows && r.Tasks[n-1].RSSPages >= row.RSSPages {
		return
	}
	if n < MaxTaskRows {
		r.Tasks = append(r.Tasks, row)
	} else {
		r.Tasks[n-1] = row
	}
	for i := len(r.Tasks) - 1; i > 0 && r.Tasks[i].RSSPages > r.Tasks[i-1].RSSPages; i-- {
		r.Tasks[i], r.Tasks[i-1] = r.Tasks[i-1], r.Tasks[i]
	}
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// pageBytes finds the page size of the task table, where the victim's row
// (pages) and its kill line (kB) print the same memory, and fills the rows'
// sizes in bytes with it.
func pageBytes(r *Report) {
	if r.Victim.PID == 0 || len(r.Tasks) == 0 {
		return
	}
	var ps float64
	for _, row := range r.Tasks {
		if row.PID != r.Victim.PID && row.TGID != r.Victim.PID {
			continue
		}
		v := r.Victim
		switch {
		case row.RSSAnonPages > 0 && v.AnonRSSBytes.Known:
			ps = float64(v.AnonRSSBytes.Bytes) / float64(row.RSSAnonPages)
		case row.RSSPages > 0 && v.AnonRSSBytes.Known && v.FileRSSBytes.Known:
			ps = float64(v.AnonRSSBytes.Bytes+v.FileRSSBytes.Bytes+v.ShmemRSSBytes.Bytes) / float64(row.RSSPages)
		}
		break
	}
	size := cgroup.Bytes(0)
	for _, s := range [...]cgroup.Bytes{4 << 10, 16 << 10, 64 << 10} {
		if ps > 0.9*float64(s) && ps < 1.1*float64(s) {
			size = s
		}
	}
	if size == 0 {
		return
	}
	r.PageSize = cgroup.AmountOf(size)
	for i := range r.Tasks {
		r.Tasks[i].PageSize = uint32(size)
	}
}
