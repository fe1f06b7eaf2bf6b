// Package promtest runs a real Prometheus server for oomkit's tests: it
// writes a fixed-date OpenMetrics fixture of a fleet (real cAdvisor and
// kube-state-metrics names and labels), backfills it with promtool, starts
// Debian's prometheus on a free loopback port in a temporary directory, waits
// for /-/ready, and stops it by its PID when the test ends.
//
// A missing prometheus or promtool skips the test, or fails it under
// OOMKIT_INTEGRATION=1 (testenv.Unavailable).
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/testenv"
)

// Binaries returns the paths of prometheus and promtool, or calls
// testenv.Unavailable.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Unavailable(t, "no prometheus binary (apt-get install prometheus): %v", err)
	}
	q, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Unavailable(t, "no promtool binary (apt-get install prometheus): %v", err)
	}
	return p, q
}

// Backfill turns an OpenMetrics file into TSDB blocks under dataDir.
// promtool re-reads the input once per block: one block spans the whole
// fixture.
func Backfill(t testing.TB, omFile, dataDir string) {
	t.Helper()
	_, promtool := Binaries(t)
	if err := BackfillBinary(promtool, omFile, dataDir); err != nil {
		t.Fatal(err)
	}
}

// BackfillBinary is Backfill with promtool's path, for a TestMain.
func BackfillBinary(promtool, omFile, dataDir string) error {
	cmd := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=8760h", omFile, dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("promtool backfill of %s: %w\n%s", omFile, err, tail(out.Bytes(), 2000))
	}
	return nil
}

// fixtureVersion changes whenever NewFleet or WriteOpenMetrics change what
// they write (kept fixtures of another version are not reused).
const fixtureVersion = 2

// Shared is a fleet fixture served by one Prometheus for a whole test
// binary: built on first use, stopped and removed by Close (from TestMain).
type Shared struct {
	Workloads, Days int
	Step            time.Duration

	// Written and Backfilled say how long building the fixture took.
	Written, Backfilled time.Duration
	Bytes               int64

	once   sync.Once
	dir    string
	kept   string
	fleet  *Fleet
	server *Server
	err    error
}

// Get builds the fixture once (writing, backfilling, starting Prometheus)
// and returns it, or calls testenv.Unavailable when prometheus or promtool
// is missing.
func (s *Shared) Get(t testing.TB) (*Server, *Fleet) {
	t.Helper()
	testenv.StartDaemons(t, "a Prometheus server")
	prom, promtool := Binaries(t)
	s.once.Do(func() {
		s.fleet = NewFleet(s.Workloads, s.Days, s.Step, PublicTraces())
		// OOMKIT_PROM_KEEP=DIR keeps the backfilled TSDB in DIR across runs
		// (for benchmark work: the 200-container fleet takes minutes to
		// build); the caller removes DIR.
		if keep := os.Getenv("OOMKIT_PROM_KEEP"); keep != "" {
			s.kept = filepath.Join(keep, fmt.Sprintf("fleet-%d-%dd-%s-v%d", s.Workloads, s.Days, s.Step, fixtureVersion))
			if _, err := os.Stat(filepath.Join(s.kept, "complete")); err == nil {
				s.dir, s.err = os.MkdirTemp("", "oomkit-prom-")
				if s.err == nil {
					s.server, s.err = StartBinary(prom, filepath.Join(s.kept, "data"), s.dir, "")
				}
				return
			}
		}
		s.dir, s.err = os.MkdirTemp("", "oomkit-prom-")
		if s.err != nil {
			return
		}
		om := filepath.Join(s.dir, "fleet.om")
		t0 := time.Now()
		if s.err = s.fleet.WriteFile(om); s.err != nil {
			return
		}
		s.Written = time.Since(t0)
		if st, err := os.Stat(om); err == nil {
			s.Bytes = st.Size()
		}
		data := filepath.Join(s.dir, "data")
		t0 = time.Now()
		if s.err = BackfillBinary(promtool, om, data); s.err != nil {
			return
		}
		s.Backfilled = time.Since(t0)
		_ = os.Remove(om)
		if s.kept != "" {
			_ = os.MkdirAll(s.kept, 0o755)
			if err := os.Rename(data, filepath.Join(s.kept, "data")); err == nil {
				data = filepath.Join(s.kept, "data")
				_ = os.WriteFile(filepath.Join(s.kept, "complete"), nil, 0o644)
			}
		}
		s.server, s.err = StartBinary(prom, data, s.dir, "")
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.server, s.fleet
}

// Close stops the server and removes the fixture.
func (s *Shared) Close() {
	if s.server != nil {
		s.server.Stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Server is a running Prometheus.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	Dir    string
	cmd    *exec.Cmd
	logf   *os.File
	exited chan struct{}
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts prometheus on a free loopback port over the TSDB in dataDir
// (which may hold backfilled blocks) with the given configuration (empty:
// no scrape job), waits until /-/ready answers, and stops it by its PID when
// the test ends. Retention is long so that fixed-date blocks stay.
func Start(t testing.TB, dataDir, config string) *Server {
	t.Helper()
	testenv.StartDaemons(t, "a Prometheus server")
	prom, _ := Binaries(t)
	s, err := StartBinary(prom, dataDir, t.TempDir(), config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartBinary is Start for a caller without a testing.TB (a TestMain):
// the caller stops the server with Stop. workDir holds the configuration
// and the log.
func StartBinary(prom, dataDir, workDir, config string) (*Server, error) {
	cfg := filepath.Join(workDir, "prometheus.yml")
	if config == "" {
		config = "global:\n  scrape_interval: 1m\n"
	}
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(workDir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command(prom,
			"--config.file="+cfg,
			"--storage.tsdb.path="+dataDir,
			"--storage.tsdb.retention.time=100y",
			"--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
			"--web.console.templates="+workDir, "--web.console.libraries="+workDir,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Dir = workDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("promtest: start prometheus: %w", err)
		}
		s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dataDir, cmd: cmd, logf: logf, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(s.exited) }()
		if s.waitReady(60 * time.Second) {
			return s, nil
		}
		s.stop()
	}
	log, _ := os.ReadFile(logf.Name())
	_ = logf.Close()
	return nil, fmt.Errorf("promtest: prometheus did not become ready:\n%s", tail(log, 3000))
}

func (s *Server) waitReady(within time.Duration) bool {
	deadline := time.Now().Add(within)
	cl := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		resp, err := cl.Get(s.URL + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// Stop sends SIGTERM to the server's PID, SIGKILL if it has not exited
// after ten seconds, and waits for it.
func (s *Server) Stop() {
	s.stop()
	_ = s.logf.Close()
}

func (s *Server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// CPU returns the CPU time (user + system) the server has used so far.
func (s *Server) CPU() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// after the command name in parentheses: fields 14 and 15 of stat(5)
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / 100 // USER_HZ
}

// Log returns what the server wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logf.Name())
	return string(b)
}

// WaitFor polls check every 200 ms until it returns true or ctx ends.
func WaitFor(ctx context.Context, check func() bool) error {
	for {
		if check() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("promtest: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Serve writes the fleet's OpenMetrics, backfills it and starts a
// Prometheus over it for one test (everything removed when it ends).
func Serve(t testing.TB, f *Fleet) *Server {
	t.Helper()
	testenv.StartDaemons(t, "a Prometheus server")
	Binaries(t)
	dir := t.TempDir()
	om := filepath.Join(dir, "fleet.om")
	if err := f.WriteFile(om); err != nil {
		t.Fatal(err)
	}
	Backfill(t, om, filepath.Join(dir, "data"))
	_ = os.Remove(om)
	return Start(t, filepath.Join(dir, "data"), "")
}
