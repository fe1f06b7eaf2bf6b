package fleet

import (
	"errors"
	"strings"
	"testing"
)

func FuzzMatchers(f *testing.F) {
	for _, s := range []string{``, `{}`, `{namespace="shop"}`, `{namespace=~"a|b",pod!="x"}`, `{a="}"}`, `{a="\"}"}`, `namespace="x"`, `{a="b"}[5m]`, `{a="b"`, `{{}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := matchers(s)
		if err != nil {
			if !errors.Is(err, ErrSelector) {
				t.Fatalf("%q: %v is not ErrSelector", s, err)
			}
			return
		}
		if m != "" && !strings.HasPrefix(strings.TrimSpace(s), "{") {
			t.Fatalf("%q accepted without braces", s)
		}
		if strings.HasSuffix(m, ",") {
			t.Fatalf("%q: trailing comma kept in %q", s, m)
		}
	})
}
