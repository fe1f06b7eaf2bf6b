// Command testsummary reads `go test -json` on stdin and prints what a plain
// `go test` prints (the output of failed tests, package-level output, build
// errors, and one ok/FAIL line per package), then the slowest tests, the
// skipped tests with their reasons, a count, and again the ok/FAIL lines of
// every package, so the log ends with go test's verdict. It exits 1 when a
// test or a build failed. .ci/run uses it; it needs only the standard
// library (go run .ci/testsummary.go).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

type testKey struct{ pkg, test string }

type result struct {
	key     testKey
	elapsed float64
	reason  string
}

func main() {
	top := flag.Int("top", 15, "how many of the slowest tests to list")
	final := flag.String("final", "", "also write the closing lines (count and ok/FAIL per package) to this file")
	aggregate := flag.Bool("aggregate", false, "summarise the go test -json files named as arguments, one per round")
	flag.Parse()
	if *aggregate {
		os.Exit(aggregateRounds(flag.Args()))
	}

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	pending := map[testKey][]string{} // output of running tests
	var done []result                 // finished top-level tests
	var skipped []result
	var pkgLines []string
	passed, failed := 0, 0
	bad := false

	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadString('\n')
		if line != "" {
			var e event
			if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
				fmt.Fprint(out, line) // not go test -json: pass it on
				out.Flush()
			} else {
				handle(e, out, pending, &done, &skipped, &pkgLines, &passed, &failed, &bad)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(out, "testsummary:", err)
			bad = true
			break
		}
	}

	sort.Slice(done, func(i, j int) bool { return done[i].elapsed > done[j].elapsed })
	if len(done) > 0 {
		fmt.Fprintf(out, "\nslowest tests:\n")
		for _, r := range done[:min(*top, len(done))] {
			fmt.Fprintf(out, "  %7.2fs  %s %s\n", r.elapsed, short(r.key.pkg), r.key.test)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(out, "\nskipped tests:\n")
		for _, r := range skipped {
			fmt.Fprintf(out, "  %s %s: %s\n", short(r.key.pkg), r.key.test, r.reason)
		}
	}
	closing := []string{fmt.Sprintf("tests: %d passed, %d failed, %d skipped", passed, failed, len(skipped))}
	closing = append(closing, pkgLines...)
	fmt.Fprintln(out)
	for _, l := range closing {
		fmt.Fprintln(out, l)
	}
	if *final != "" {
		if err := os.WriteFile(*final, []byte(strings.Join(closing, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(out, "testsummary:", err)
			bad = true
		}
	}
	out.Flush()
	if bad || failed > 0 {
		os.Exit(1)
	}
}

func handle(e event, out *bufio.Writer, pending map[testKey][]string, done, skipped *[]result, pkgLines *[]string, passed, failed *int, bad *bool) {
	defer out.Flush()
	switch e.Action {
	case "build-output":
		fmt.Fprint(out, e.Output)
		return
	case "build-fail":
		*bad = true
		return
	}
	if e.Test != "" {
		k := testKey{e.Package, e.Test}
		switch e.Action {
		case "output":
			pending[k] = append(pending[k], e.Output)
		case "pass", "fail", "skip":
			lines := pending[k]
			delete(pending, k)
			sub := strings.Contains(e.Test, "/")
			switch e.Action {
			case "fail":
				// A failed subtest's output is printed with its parent's.
				if !sub {
					for _, l := range lines {
						if !strings.HasPrefix(l, "=== ") {
							fmt.Fprint(out, l)
						}
					}
					*failed++
				}
			case "pass":
				if !sub {
					*passed++
				}
			case "skip":
				*skipped = append(*skipped, result{key: k, elapsed: e.Elapsed, reason: skipReason(lines)})
			}
			if !sub {
				*done = append(*done, result{key: k, elapsed: e.Elapsed})
			} else if e.Action == "fail" {
				// keep it for the parent's failure output
				parent := testKey{e.Package, e.Test[:strings.LastIndex(e.Test, "/")]}
				pending[parent] = append(pending[parent], lines...)
			}
		}
		return
	}
	switch e.Action {
	case "output":
		// Package-level output: go test's own lines. test2json's framing
		// and the verbose PASS marker are not part of plain go test output.
		o := e.Output
		if o == "PASS\n" || strings.HasPrefix(o, "=== ") {
			return
		}
		if strings.HasPrefix(o, "ok  \t") || strings.HasPrefix(o, "FAIL\t") || strings.HasPrefix(o, "?   \t") {
			*pkgLines = append(*pkgLines, strings.TrimRight(o, "\n"))
		}
		fmt.Fprint(out, o)
	case "fail":
		*bad = true
		// A test still running when its package failed (a timeout's panic,
		// a crash): print what it said.
		for k, lines := range pending {
			if k.pkg == e.Package {
				fmt.Fprintf(out, "--- unfinished: %s\n%s", k.test, strings.Join(lines, ""))
				delete(pending, k)
			}
		}
	case "pass", "skip":
		for k := range pending {
			if k.pkg == e.Package {
				delete(pending, k)
			}
		}
	}
}

// skipReason is the last line a skipped test logged before its --- SKIP.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}

func short(pkg string) string {
	if i := strings.Index(pkg, "/oomkit/"); i >= 0 {
		return pkg[i+len("/oomkit/"):]
	}
	return pkg
}

type testRuns struct {
	key     testKey
	times   []float64
	fails   []int // rounds
	skips   int
	longest int // round of the slowest run
	maxTime float64
}

// aggregateRounds prints the per-test table of several rounds; it returns
// 1 when a test failed in any round (or a round's package failed).
func aggregateRounds(files []string) int {
	runs := map[testKey]*testRuns{}
	var order []testKey
	pkgFails := map[int][]string{}
	for round, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Println("testsummary:", err)
			return 1
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			var e event
			if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if e.Test == "" {
				if e.Action == "fail" {
					pkgFails[round+1] = append(pkgFails[round+1], short(e.Package))
				}
				continue
			}
			if strings.Contains(e.Test, "/") || (e.Action != "pass" && e.Action != "fail" && e.Action != "skip") {
				continue
			}
			k := testKey{e.Package, e.Test}
			r := runs[k]
			if r == nil {
				r = &testRuns{key: k}
				runs[k] = r
				order = append(order, k)
			}
			switch e.Action {
			case "skip":
				r.skips++
				continue
			case "fail":
				r.fails = append(r.fails, round+1)
			}
			r.times = append(r.times, e.Elapsed)
			if e.Elapsed > r.maxTime {
				r.maxTime, r.longest = e.Elapsed, round+1
			}
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].pkg != order[j].pkg {
			return order[i].pkg < order[j].pkg
		}
		return order[i].test < order[j].test
	})
	failed := 0
	fmt.Printf("%d rounds\n%-52s %5s %5s %8s %8s  %s\n", len(files), "test", "runs", "fails", "median", "slowest", "notes")
	for _, k := range order {
		r := runs[k]
		t := append([]float64(nil), r.times...)
		sort.Float64s(t)
		med := 0.0
		if len(t) > 0 {
			med = t[len(t)/2]
		}
		var notes []string
		if len(r.fails) > 0 {
			failed++
			notes = append(notes, fmt.Sprintf("FAILED in rounds %v", r.fails))
		}
		if r.skips > 0 {
			notes = append(notes, fmt.Sprintf("skipped %d", r.skips))
		}
		if r.maxTime > 5 && r.maxTime > 3*med {
			notes = append(notes, fmt.Sprintf("stall: %.1fs in round %d", r.maxTime, r.longest))
		}
		fmt.Printf("%-52s %5d %5d %7.2fs %7.2fs  %s\n", short(k.pkg)+" "+k.test, len(r.times), len(r.fails), med, r.maxTime, strings.Join(notes, "; "))
	}
	rounds := make([]int, 0, len(pkgFails))
	for r := range pkgFails {
		rounds = append(rounds, r)
	}
	sort.Ints(rounds)
	for _, r := range rounds {
		fmt.Printf("round %d: package failed: %s\n", r, strings.Join(pkgFails[r], ", "))
	}
	if failed > 0 || len(pkgFails) > 0 {
		fmt.Printf("stress: %d of %d tests failed in some round\n", failed, len(order))
		return 1
	}
	fmt.Printf("stress: all %d tests passed in all %d rounds\n", len(order), len(files))
	return 0
}
