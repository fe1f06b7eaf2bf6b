package exporter_test

import (
	"compress/gzip"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oomkit/oomkit/exporter"
	"github.com/oomkit/oomkit/oom"
)

// TestCausesComplete: every oom.Cause constant package oom declares is
// among the exporter's causes, so a cause Diagnose gains starts at 0 too.
func TestCausesComplete(t *testing.T) {
	files, err := filepath.Glob("../oom/*.go")
	require.NoError(t, err)
	var declared []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		for _, d := range af.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Cause" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok, "%s: %s is not a string literal", f, n.Name)
					declared = append(declared, strings.Trim(lit.Value, `"`))
				}
			}
		}
	}
	require.Contains(t, declared, string(oom.CauseDescendantKill), "the parse found oom's causes")
	var have []string
	for _, c := range exporter.Causes {
		have = append(have, string(c))
	}
	slices.Sort(declared)
	slices.Sort(have)
	assert.Equal(t, declared, have)
}

// TestTextLikeRegistry: the handler's own text rendering gives the same
// headers, families and series as promhttp over the registry, for the
// requests a scraper makes, label values that need escaping included, and
// stays right as targets change, appear and go.
func TestTextLikeRegistry(t *testing.T) {
	e, d := filled()
	odd := exporter.Target{Namespace: "a\"b", Pod: "c\\d\ne", Container: "ünï"}
	e.Kill(odd, oom.CauseDescendantKill, 1)
	e.Warning(odd, 0.85)
	e.Recommend(odd, 1<<30, -1, 0)
	for _, x := range []*exporter.Exporter{e, d, exporter.New(exporter.Docker)} {
		h := x.Handler()
		ref := promhttp.HandlerFor(x.Registry(), promhttp.HandlerOpts{})
		for step := range 3 {
			for _, hdr := range [][2]string{
				{promAccept, "gzip"}, {"", ""}, {"text/plain", "identity"}, {"*/*", "gzip;q=0.5, identity"},
				{"text/plain;version=0.0.4;escaping=underscores", "*"}, {promAccept, "gzip;q=0"},
			} {
				gotH, got := serve(t, h, hdr)
				wantH, want := serve(t, ref, hdr)
				for _, k := range []string{"Content-Type", "Content-Encoding", "Vary"} {
					assert.Equal(t, wantH.Values(k), gotH.Values(k), "%s for %q", k, hdr)
				}
				assert.Equal(t, sortedLines(want), sortedLines(got), "for %q", hdr)
				p := expfmt.NewTextParser(model.UTF8Validation)
				_, err := p.TextToMetricFamilies(strings.NewReader(got))
				require.NoError(t, err)
			}
			switch step {
			case 0:
				x.Kill(web, oom.CauseLeak, 1)
				x.Warning(api, 0.95)
			case 1:
				x.Forget(web)
				x.Forget(odd)
			}
		}
	}
	// Protobuf is still served, through the registry.
	hdr, body := serve(t, e.Handler(), [2]string{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", ""})
	assert.Contains(t, hdr.Get("Content-Type"), "application/vnd.google.protobuf")
	assert.NotEmpty(t, body)
}

func serve(t *testing.T, h http.Handler, hdr [2]string) (http.Header, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if hdr[0] != "" {
		req.Header.Set("Accept", hdr[0])
	}
	if hdr[1] != "" {
		req.Header.Set("Accept-Encoding", hdr[1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)
	var r io.Reader = w.Body
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(w.Body)
		require.NoError(t, err)
		r = zr
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return w.Header(), string(b)
}

// sortedLines: series order within a family is free in the text format;
// the families' order and their HELP and TYPE lines are kept in place.
func sortedLines(s string) []string {
	var out, fam []string
	flush := func() { slices.Sort(fam); out = append(out, fam...); fam = nil }
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, "#") {
			flush()
			out = append(out, l)
		} else if l != "" {
			fam = append(fam, l)
		}
	}
	flush()
	return out
}
