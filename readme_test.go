package oomkit_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleLines returns the code lines of every example_test.go file of the
// module (Examples and the helpers they call) and their Output lines,
// trimmed, with trailing comments dropped.
func exampleLines(t *testing.T) (code, output map[string]bool) {
	t.Helper()
	code, output = map[string]bool{}, map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") || !strings.Contains(filepath.Base(p), "example") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			body := string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset])
			inOutput := false
			for _, l := range strings.Split(body, "\n") {
				l = strings.TrimSpace(l)
				if strings.HasPrefix(l, "// Output:") {
					inOutput = true
					if rest := strings.TrimSpace(strings.TrimPrefix(l, "// Output:")); rest != "" {
						output[rest] = true
					}
					continue
				}
				if inOutput && strings.HasPrefix(l, "//") {
					output[strings.TrimSpace(strings.TrimPrefix(l, "//"))] = true
					continue
				}
				inOutput = false
				if c := codeLine(l); c != "" {
					code[c] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return code, output
}

// codeLine trims a Go line and drops a trailing // comment (outside a
// string); "" for a blank or comment-only line or a lone brace.
func codeLine(l string) string {
	l = strings.TrimSpace(l)
	inStr := byte(0)
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case inStr != 0:
			if c == '\\' && inStr == '"' {
				i++
			} else if c == inStr {
				inStr = 0
			}
		case c == '"' || c == '`' || c == '\'':
			inStr = c
		case c == '/' && i+1 < len(l) && l[i+1] == '/':
			l = strings.TrimSpace(l[:i])
			i = len(l)
		}
	}
	if l == "}" || l == "{" || l == ")" {
		return ""
	}
	return l
}

// TestSnippetsAreExamples: every line of the README's Go and JSON
// snippets, and of the package doc's example, is in an Example of the
// module (code, or its checked Output), so the snippets compile and say
// what the code prints.
func TestSnippetsAreExamples(t *testing.T) {
	code, output := exampleLines(t)
	check := func(where string, lang string, lines []string) {
		for _, l := range lines {
			if lang == "json" {
				if l = strings.TrimSpace(l); l != "" && !output[l] {
					t.Errorf("%s: JSON line %q is no Example's output", where, l)
				}
				continue
			}
			if c := codeLine(l); c != "" && !code[c] {
				t.Errorf("%s: %q is in no Example", where, c)
			}
		}
	}
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lang, n, start := "", 0, 0
	var block []string
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case lang == "" && (l == "```go" || l == "```json"):
			lang, start, block = strings.TrimPrefix(l, "```"), n, nil
		case lang != "" && l == "```":
			check("README.md:"+itoa(start), lang, block)
			lang = ""
		case lang != "":
			block = append(block, l)
		}
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var docLines []string
	for _, l := range strings.Split(string(doc), "\n") {
		if c, ok := strings.CutPrefix(l, "//\t"); ok {
			docLines = append(docLines, c)
		}
	}
	if len(docLines) == 0 {
		t.Error("doc.go: no example")
	}
	check("doc.go", "go", docLines)
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
