package oom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// DefaultMaxLineLength is the longest line the parser reads; longer lines
// are skipped whole, never buffered without bound.
const DefaultMaxLineLength = 8 << 10

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
	skipped int // lines skipped for length
	err     error
}

// reportState is what the parser knows of the open report.
type reportState struct {
	header, summary, victim bool
	group                   bool
	sinceKill               int // lines since the kill line, -1 before it
	cols                    [16]column
	ncols                   int
	inStats                 bool
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
	p.r = bufio.NewReaderSize(r, max(p.maxLine, 64<<10))
	return p, nil
}

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
		if p.cur == nil {
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
	_, _ = p.r.Discard(bytes.LastIndexByte(region[:hit], '\n') + 1)
}

var (
	// Every line that can open a report holds one of these: the header
	// ("invoked oom-killer"), the summary ("oom-kill:"), the kill lines
	// ("Killed process", "Kill process"). Both start with a letter rare in
	// logs, which makes the search fast.
	kwKill   = []byte("kill")
	kwKillUp = []byte("Kill")
)

// line handles one raw line.
func (p *Parser) line(raw []byte) {
	if p.cur == nil {
		// Fast path: a line outside a report matters only if it can start
		// one, and every such line holds one of two words.
		if !bytes.Contains(raw, kwKill) && !bytes.Contains(raw, kwKillUp) {
			return
		}
	}
	pre := p.prefix(raw)
	msg := pre.msg
	kind := classify(msg)
	if p.cur == nil && !kind.starts() {
		return
	}
	if p.cur != nil && p.st.victim {
		p.st.sinceKill++
	}
	switch kind {
	case lineHeader:
		p.finish()
		p.begin(pre)
		p.st.header = true
		parseHeader(msg, &p.cur.Invoker)
		p.evidence(msg)
	case lineSummary, lineSummaryPiece:
		if p.cur == nil || (kind == lineSummary && (p.st.summary || p.st.victim)) {
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
			p.cur.Victim = t
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
	switch {
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
	if r.Scope == ScopeCgroup && r.Victim.PID == 0 && r.Memcg.Known && r.Memcg.UsageKB < r.Memcg.LimitKB {
		r.Scope = ScopeUnknown
	}
	p.ready = append(p.ready, *r)
	p.cur = nil
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
