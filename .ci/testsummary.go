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
	flag.Parse()

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
