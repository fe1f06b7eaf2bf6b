package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// containerNames asks the Docker Engine for every container's name by full
// ID; nil when no Engine answers within a second. It sends one HTTP/1.0 GET
// to the Engine's unix socket itself: the Docker client (or even net/http)
// would pull a hundred packages or more into a log parser for one request,
// and a name is a nicety here, not the job. A tcp:// DOCKER_HOST (TLS and
// all) gets IDs only.
func containerNames() map[string]string {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return nil
		}
		sock = p
	}
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	// HTTP/1.0: the Engine answers with the whole body and closes.
	if _, err := io.WriteString(conn, "GET /containers/json?all=1 HTTP/1.0\r\nHost: docker\r\n\r\n"); err != nil {
		return nil
	}
	resp, err := io.ReadAll(io.LimitReader(conn, 64<<20))
	if err != nil {
		return nil
	}
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.")) || !bytes.Contains(bytes.SplitN(head, []byte("\r\n"), 2)[0], []byte(" 200 ")) {
		return nil
	}
	var list []struct {
		ID    string `json:"Id"`
		Names []string
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil
	}
	names := make(map[string]string, len(list))
	for _, c := range list {
		if len(c.Names) > 0 {
			names[c.ID] = strings.TrimPrefix(c.Names[0], "/")
		}
	}
	return names
}
