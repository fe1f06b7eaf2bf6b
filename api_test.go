package oomkit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportedAPIShowsNoUnexportedType: no exported type, field or
// function signature of the library packages names an unexported type (an
// option type was a func of an unexported struct: a reader of the docs
// could not see what it takes).
func TestExportedAPIShowsNoUnexportedType(t *testing.T) {
	for _, dir := range []string{"cgroup", "oom", "oom/docker", "recommend"} {
		fset := token.NewFileSet()
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]*ast.File{}
		for _, n := range names {
			if strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, n, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files[n] = f
		}
		{
			for name, f := range files {
				var check func(where string, e ast.Expr)
				check = func(where string, e ast.Expr) {
					switch x := e.(type) {
					case *ast.Ident:
						if !x.IsExported() && !builtin[x.Name] {
							t.Errorf("%s: %s names the unexported type %s", filepath.Base(name), where, x.Name)
						}
					case *ast.StarExpr:
						check(where, x.X)
					case *ast.ArrayType:
						check(where, x.Elt)
					case *ast.Ellipsis:
						check(where, x.Elt)
					case *ast.MapType:
						check(where, x.Key)
						check(where, x.Value)
					case *ast.ChanType:
						check(where, x.Value)
					case *ast.IndexExpr:
						check(where, x.X)
						check(where, x.Index)
					case *ast.FuncType:
						for _, fl := range []*ast.FieldList{x.Params, x.Results} {
							if fl != nil {
								for _, fld := range fl.List {
									check(where, fld.Type)
								}
							}
						}
					}
				}
				for _, d := range f.Decls {
					switch d := d.(type) {
					case *ast.GenDecl:
						for _, s := range d.Specs {
							ts, ok := s.(*ast.TypeSpec)
							if !ok || !ts.Name.IsExported() {
								continue
							}
							if st, ok := ts.Type.(*ast.StructType); ok {
								for _, fld := range st.Fields.List {
									for _, n := range fld.Names {
										if n.IsExported() {
											check(ts.Name.Name+"."+n.Name, fld.Type)
										}
									}
								}
								continue
							}
							if _, ok := ts.Type.(*ast.InterfaceType); ok {
								continue
							}
							check("type "+ts.Name.Name, ts.Type)
						}
					case *ast.FuncDecl:
						if !d.Name.IsExported() {
							continue
						}
						if d.Recv != nil {
							recv := d.Recv.List[0].Type
							if s, ok := recv.(*ast.StarExpr); ok {
								recv = s.X
							}
							if id, ok := recv.(*ast.Ident); ok && !id.IsExported() {
								continue
							}
						}
						check(dir+"."+d.Name.Name, d.Type)
					}
				}
			}
		}
	}
}

var builtin = map[string]bool{
	"bool": true, "byte": true, "complex64": true, "complex128": true, "error": true, "float32": true, "float64": true,
	"int": true, "int8": true, "int16": true, "int32": true, "int64": true, "rune": true, "string": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true, "uintptr": true, "any": true,
}

// TestLibraryDependencies: the library packages link no Docker client,
// Docker API types, OpenTelemetry or gRPC (they came with the Docker
// client: a program that only parses kernel reports linked 271 packages);
// package oom/docker holds what needs them. recommend keeps go-units, the
// Docker CLI's own size syntax, which it renders.
func TestLibraryDependencies(t *testing.T) {
	for _, pkg := range []string{"cgroup", "oom", "recommend"} {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			l := strings.ToLower(dep)
			if dep == "github.com/docker/go-units" && pkg == "recommend" {
				continue
			}
			if strings.Contains(l, "docker") || strings.Contains(l, "opentelemetry") || strings.Contains(l, "grpc") {
				t.Errorf("package %s links %s", pkg, dep)
			}
		}
	}
}
