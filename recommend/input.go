package recommend

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/cgroup"
)

// CSVError reports a CSV row that could not be read.
type CSVError struct {
	Line int
	Err  error
}

// Error returns "recommend: csv line N: ERR".
func (e *CSVError) Error() string { return fmt.Sprintf("recommend: csv line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *CSVError) Unwrap() error { return e.Err }

// CSVRow is one row of a usage CSV: a sample, and whether the container
// was OOM-killed at that time under Limit.
type CSVRow struct {
	cgroup.Sample
	Line  int
	OOM   bool
	Limit cgroup.Amount
}

// CSVReader streams a usage CSV row by row in bounded memory. Columns are
// found by their header names (case and surrounding space ignored):
//
//   - time: "time", "time_s", "timestamp" or "ts" (seconds from base,
//     possibly fractional, or RFC 3339); else the first column;
//   - the working set: "working_set_bytes" (or "working_set"); a file with
//     only "usage_bytes" is read as usage, page cache included, with a
//     warning; a file with neither has its second column read as the
//     working set, with a warning;
//   - non-reclaimable memory: "rss_bytes", "anon_bytes" or
//     "nonreclaimable_bytes";
//   - "cache_bytes", "swap_bytes", "limit_bytes" (the limit in force) and
//     "oom" (a kill at this row: 1/true, or a kill counter that grew).
//
// A row older than the one before it is an error naming its line.
type CSVReader struct {
	cr                                            *csv.Reader
	base                                          time.Time
	line                                          int
	timeCol, wsCol, nrCol, cacheCol, swapCol, lim int
	usageCol                                      int
	oomCol                                        int
	lastOOM                                       float64
	last                                          time.Time
	started                                       bool
	unordered                                     bool
	moved                                         int
	warnings                                      []string
}

// NewCSVReader reads the header and returns a reader of the rows.
func NewCSVReader(r io.Reader, base time.Time) (*CSVReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, &CSVError{Line: 1, Err: fmt.Errorf("no header: %w", err)}
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	find := func(names ...string) int {
		for _, n := range names {
			if i, ok := col[n]; ok {
				return i
			}
		}
		return -1
	}
	c := &CSVReader{cr: cr, base: base, line: 1,
		timeCol:  find("time", "time_s", "timestamp", "ts"),
		wsCol:    find("working_set_bytes", "working_set"),
		nrCol:    find("rss_bytes", "anon_bytes", "nonreclaimable_bytes"),
		cacheCol: find("cache_bytes"), swapCol: find("swap_bytes"), lim: find("limit_bytes"),
		oomCol: find("oom", "oom_kill", "oom_kills"), usageCol: find("usage_bytes", "usage"),
	}
	if c.timeCol < 0 {
		c.timeCol = 0
	}
	if c.wsCol < 0 {
		if u := find("usage_bytes", "usage"); u >= 0 {
			c.wsCol = u
			c.warnings = append(c.warnings, "no working_set_bytes column: sized on usage_bytes, which counts page cache the kernel can reclaim (the limit may come out high)")
		} else if len(head) >= 2 {
			c.wsCol = 1
			if c.timeCol == 1 {
				c.wsCol = 0
			}
			c.warnings = append(c.warnings, fmt.Sprintf("no working_set_bytes column: column %d (%q) read as the working set", c.wsCol+1, head[c.wsCol]))
		} else {
			return nil, &CSVError{Line: 1, Err: errors.New("need a time column and a working_set_bytes column")}
		}
	}
	if c.wsCol == c.timeCol {
		return nil, &CSVError{Line: 1, Err: errors.New("the time and working-set columns are the same")}
	}
	return c, nil
}

// Warnings returns what the reader noticed about the file's columns.
func (c *CSVReader) Warnings() []string { return c.warnings }

// Next returns the next row, or io.EOF after the last.
func (c *CSVReader) Next() (CSVRow, error) {
	rec, err := c.cr.Read()
	c.line++
	if err != nil {
		if errors.Is(err, io.EOF) {
			return CSVRow{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			c.line = pe.Line
		}
		return CSVRow{}, &CSVError{Line: c.line, Err: err}
	}
	row := CSVRow{Line: c.line}
	if c.timeCol >= len(rec) || c.wsCol >= len(rec) {
		return row, &CSVError{Line: c.line, Err: fmt.Errorf("%d columns: no time or working set", len(rec))}
	}
	t, err := parseTime(strings.TrimSpace(rec[c.timeCol]), c.base)
	if err != nil {
		return row, &CSVError{Line: c.line, Err: err}
	}
	if c.started && t.Before(c.last) && c.unordered {
		c.moved++
	} else if c.started && t.Before(c.last) {
		return row, &CSVError{Line: c.line, Err: fmt.Errorf("%w: time %s is before the previous row's %s (sort the file by time, or use ReadCSVSorted)",
			ErrOutOfOrder, strings.TrimSpace(rec[c.timeCol]), c.last.Format(time.RFC3339Nano))}
	}
	c.last, c.started = t, true
	ws, err := parseBytes(rec[c.wsCol])
	if err != nil {
		return row, &CSVError{Line: c.line, Err: err}
	}
	row.Sample = cgroup.Sample{Time: t, WorkingSet: cgroup.AmountOf(ws)}
	usageCol := c.usageCol
	if usageCol == c.wsCol {
		usageCol = -1
	}
	for _, f := range []struct {
		i   int
		dst *cgroup.Amount
	}{{c.nrCol, &row.NonReclaimable}, {c.cacheCol, &row.PageCache}, {c.swapCol, &row.Swap}, {c.lim, &row.Limit}, {usageCol, &row.Usage}} {
		if f.i >= 0 && f.i < len(rec) && strings.TrimSpace(rec[f.i]) != "" {
			v, err := parseBytes(rec[f.i])
			if err != nil {
				return row, &CSVError{Line: c.line, Err: err}
			}
			*f.dst = cgroup.AmountOf(v)
		}
	}
	if c.oomCol >= 0 && c.oomCol < len(rec) {
		switch v := strings.ToLower(strings.TrimSpace(rec[c.oomCol])); v {
		case "", "0", "false", "no":
		case "true", "yes", "oom", "killed":
			row.OOM = true
		default:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 {
				return row, &CSVError{Line: c.line, Err: fmt.Errorf("oom %q is neither a flag nor a kill count", v)}
			}
			// A flag (1) or a counter: a kill when it grew.
			row.OOM = n > c.lastOOM || (n == 1 && c.lastOOM == 0)
			c.lastOOM = n
		}
	}
	return row, nil
}

// ReadCSV reads every row of a usage CSV (see CSVReader) into memory. Use
// CSVReader or Recommender.AddCSV for files too large to hold.
func ReadCSV(r io.Reader, base time.Time) ([]cgroup.Sample, error) {
	c, err := NewCSVReader(r, base)
	if err != nil {
		return nil, err
	}
	var out []cgroup.Sample
	for {
		row, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, row.Sample)
	}
}

// ReadCSVSorted reads a usage CSV whose rows may be out of time order: it
// holds them all, sorts them by time and warns how many were out of order.
func ReadCSVSorted(r io.Reader, base time.Time) ([]cgroup.Sample, []string, error) {
	c, err := NewCSVReader(r, base)
	if err != nil {
		return nil, nil, err
	}
	c.unordered = true
	var out []cgroup.Sample
	for {
		row, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, c.warnings, err
		}
		out = append(out, row.Sample)
	}
	if c.moved > 0 {
		slices.SortStableFunc(out, func(a, b cgroup.Sample) int { return a.Time.Compare(b.Time) })
		c.warnings = append(c.warnings, fmt.Sprintf("%d of %d rows were out of time order: sorted by time", c.moved, len(out)))
	}
	return out, c.warnings, nil
}

// CSVStats says what AddCSV read.
type CSVStats struct {
	Rows, Skipped, OOMs int
	Warnings            []string
}

// AddCSV streams a usage CSV (see CSVReader) into the Recommender in
// bounded memory: each row a sample, each row marked oom a kill under the
// row's limit_bytes (or its working set when no limit is given). A row the
// Recommender refuses (an absurd size) is counted as skipped; a row out of
// time order stops the read with an error naming its line.
func (r *Recommender) AddCSV(rd io.Reader, base time.Time) (CSVStats, error) {
	var st CSVStats
	c, err := NewCSVReader(rd, base)
	if err != nil {
		return st, err
	}
	st.Warnings = c.Warnings()
	for {
		row, err := c.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		st.Rows++
		if err := r.Add(row.Sample); err != nil {
			st.Skipped++
			continue
		}
		if row.OOM {
			used := row.WorkingSetOrUsage().Bytes
			lim := cgroup.NoLimit() // no limit_bytes: what it used is the basis
			if row.Limit.Known && row.Limit.Bytes > 0 {
				lim = cgroup.LimitOf(row.Limit.Bytes)
			}
			if r.AddOOM(row.Time, used, lim) == nil {
				st.OOMs++
			}
		}
	}
}
func parseTime(s string, base time.Time) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		return base.Add(time.Duration(f * float64(time.Second))), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither seconds nor RFC 3339", s)
	}
	return t, nil
}

func parseBytes(s string) (cgroup.Bytes, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bytes %q: %w", s, strconv.ErrSyntax)
	}
	if n < 0 || n >= absurd {
		return 0, fmt.Errorf("bytes %q: %w", s, ErrBadSample)
	}
	return cgroup.Bytes(n), nil
}
